"""OTLP receivers of the query service: `POST /v1/logs` and `/v1/traces` (routes.py), and the gRPC LogsService
and TraceService (grpc.py).

Both transports decode with `observ.otlp`, store through one `LogsReceiver` (log records) or `TracesReceiver`
(spans) and answer as the OTLP spec says.
"""
