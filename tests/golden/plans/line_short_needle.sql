-- {service=~".+"} |= "id"
SELECT ts, line, service, namespace, pod, container, stream, level, labels, trace_id, span_id, strlen(line), metadata
FROM (SELECT *
FROM (SELECT tenant, ts, observed_ts, service, namespace, pod, container, stream, level, trace_id, span_id, labels, line, metadata
FROM logs_hot
WHERE (SELECT CASE WHEN since > ? THEN error('the segment catalog moved on while the query was planned: retry') ELSE true END
FROM logs_cold_tail_since)
UNION ALL
SELECT tenant, ts, observed_ts, service, namespace, pod, container, stream, level, trace_id, span_id, labels, line, metadata
FROM logs_cold_tail
WHERE filename > ?) AS l
WHERE (tenant = ?)
AND (ts >= ?)
AND (ts < ?)
AND (service <> '')
AND (contains(line, ?))
AND (ts >= ?)
AND (ts < ?)) AS s
ORDER BY ts DESC, line DESC
LIMIT ?;
-- params: [0, '<data>/segments/seg-000000000000.parquet', 'acme', 1700000000000000000, 1700007200000000000, 'id', 1700000000000000000, 1700007200000000000, 100]
