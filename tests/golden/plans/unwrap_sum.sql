-- sum_over_time({service="db"} | logfmt | unwrap rows [1m])
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
AND (service = ?)) AS s
ORDER BY ts;
-- params: [0, '<data>/segments/seg-000000000000.parquet', 'acme', 1699999940000000001, 1700007200000000001, 'db']
