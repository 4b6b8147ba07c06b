"""OTLP receivers of the query service: `POST /v1/logs` (routes.py) and the gRPC LogsService (grpc.py).

Both decode with `observ.otlp`, store through one `LogsReceiver` and answer as the OTLP spec says.
"""
