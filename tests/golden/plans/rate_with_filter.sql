-- sum(rate({service=~".+"} |= "error" [5m]))
SELECT i, sum(c)::DOUBLE, sum(nb)::DOUBLE
FROM (
SELECT unnest(list_prepend(-1, range(greatest((k + ? + ? - 1) // ? - ?, 0), least((k + ? - 1) // ? + 1, ?)))) AS i, c, nb
FROM (
SELECT (ts - ? + ? + ? - 1) // ? - ? AS k, count(*) AS c, sum(strlen(line)) AS nb
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
AND (contains(line, ?))) AS s
GROUP BY ALL))
WHERE i < ?
GROUP BY ALL;
-- params: [5, 1, 1, 5, 5, 1, 121, 1700000000000000000, 300000000000, 60000000000, 60000000000, 5, 0, '<data>/segments/seg-000000000000.parquet', 'acme', 1699999700000000001, 1700007200000000001, 'error', 121]
