"""OTLP in: request bodies -> span records and log rows, and the responses OTLP expects.

Entry points: `observ.otlp.decode` (`decode_traces` / `decode_logs` for HTTP bodies, `traces_result` /
`logs_result` for already-parsed requests, e.g. from gRPC) and `observ.otlp.response` (Export*ServiceResponse).
"""
