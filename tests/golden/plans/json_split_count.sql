-- sum by (service) (count_over_time({service="api"} | json | status >= 500 [1m]))
SELECT g0, i, sum(CASE WHEN i < 0 THEN call ELSE c END)::DOUBLE, sum(nb)::DOUBLE
FROM (
SELECT g0, unnest(list_prepend(-1, range(greatest((k + ? + ? - 1) // ? - ?, 0), least((k + ? - 1) // ? + 1, ?)))) AS i, c, call, nb
FROM (
SELECT CASE WHEN keep THEN CASE WHEN service <> '' THEN service ELSE CASE json_type(j[2]) WHEN 'VARCHAR' THEN replace(json_extract_string(j[2], '$'), '�', ' ') WHEN 'BOOLEAN' THEN json_extract_string(j[2], '$') ELSE '' END END ELSE '' END AS g0, (ts - ? + ? + ? - 1) // ? - ? AS k, count(*) FILTER (WHERE keep) AS c, count(*) AS call, sum(strlen(line)) AS nb
FROM (SELECT *, (CASE WHEN json_type(j[1]) IN ('UBIGINT', 'BIGINT', 'DOUBLE') THEN j[1]::DOUBLE >= ? ELSE FALSE END) AS keep
FROM (SELECT *, CASE WHEN ascii(line) = 123
AND NOT regexp_matches(line, ?)
AND json_valid(line) THEN json_extract(line, ?::VARCHAR[]) END AS j
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
AND (service = ?)) AS s OFFSET 0) AS sj
WHERE coalesce(j IS NOT NULL
AND (coalesce(nullif(json_extract_string(metadata, ?), ''), json_extract_string(labels, ?), '') = ''
AND strlen(line) - strlen(replace(line, ?, '')) <= strlen(?)
AND CASE json_type(j[1]) WHEN 'UBIGINT' THEN j[1]::DOUBLE < ? WHEN 'BIGINT' THEN j[1]::DOUBLE > ? WHEN 'DOUBLE' THEN isfinite(j[1]::DOUBLE)
AND j[1]::DOUBLE <> 0 WHEN 'NULL' THEN TRUE WHEN 'ARRAY' THEN TRUE ELSE j[1] IS NULL END)
AND (service <> ''
OR (strlen(line) - strlen(replace(line, ?, '')) <= strlen(?)
AND coalesce(json_type(j[2]) NOT IN ('UBIGINT', 'BIGINT', 'DOUBLE'), TRUE))), FALSE)) AS sk
GROUP BY ALL))
WHERE i < ?
GROUP BY ALL;
-- params: [1, 1, 1, 1, 1, 1, 121, 1700000000000000000, 60000000000, 60000000000, 60000000000, 1, 500.0, '\\\\u|\\\\.[^"\\\\]*"\\s*:|,\\s*[\\]}]|[:,\\[]\\s*-?(?i:nan|inf)|"(?:[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_"]|[^A-Za-z_"])[^"]*"\\s*:|""\\s*:', ['$.status', '$.service'], 0, '<data>/segments/seg-000000000000.parquet', 'acme', 1699999940000000001, 1700007200000000001, 'api', '$.status', '$.status', '"status"', '"status"', 9007199254740992, -9007199254740992, '"service"', '"service"', 121]

SELECT ts, line, service, namespace, pod, container, stream, level, labels, trace_id, span_id, strlen(line), metadata
FROM (SELECT *, CASE WHEN ascii(line) = 123
AND NOT regexp_matches(line, ?)
AND json_valid(line) THEN json_extract(line, ?::VARCHAR[]) END AS j
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
AND (service = ?)) AS s OFFSET 0) AS sj
WHERE NOT coalesce(j IS NOT NULL
AND (coalesce(nullif(json_extract_string(metadata, ?), ''), json_extract_string(labels, ?), '') = ''
AND strlen(line) - strlen(replace(line, ?, '')) <= strlen(?)
AND CASE json_type(j[1]) WHEN 'UBIGINT' THEN j[1]::DOUBLE < ? WHEN 'BIGINT' THEN j[1]::DOUBLE > ? WHEN 'DOUBLE' THEN isfinite(j[1]::DOUBLE)
AND j[1]::DOUBLE <> 0 WHEN 'NULL' THEN TRUE WHEN 'ARRAY' THEN TRUE ELSE j[1] IS NULL END), FALSE)
ORDER BY ts;
-- params: ['\\\\u|\\\\.[^"\\\\]*"\\s*:|,\\s*[\\]}]|[:,\\[]\\s*-?(?i:nan|inf)|"(?:[A-Za-z_][A-Za-z0-9_]*[^A-Za-z0-9_"]|[^A-Za-z_"])[^"]*"\\s*:|""\\s*:', ['$.status'], 0, '<data>/segments/seg-000000000000.parquet', 'acme', 1699999940000000001, 1700007200000000001, 'api', '$.status', '$.status', '"status"', '"status"', 9007199254740992, -9007199254740992]
