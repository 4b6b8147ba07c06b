"""OTLP in: request bodies -> span records and log rows, and the responses OTLP expects.

Entry points: `observ.otlp.decode` (HTTP bodies), `observ.otlp.spans` / `observ.otlp.logs`
(already-parsed requests, e.g. from gRPC), `observ.otlp.response` (Export*ServiceResponse).
"""
