"""OTLP/gRPC: TraceService and LogsService `Export` on one grpcio server, over the same Ambassador as HTTP.

The tenant comes from the `x-scope-orgid` metadata. Refusals carry the google.rpc.Status (and RetryInfo when
retryable) in trailing metadata; a message above `max_body_bytes` is grpcio's own RESOURCE_EXHAUSTED, and so is
a call beyond twice `workers` under way (their messages are what the sidecar's memory would grow by).
"""

from __future__ import annotations

import grpc

from collectors.log_adapter.sources.otlp.ambassador import GRPC_SERVICES, Ambassador
from collectors.log_adapter.sources.otlp.events import Signal
from observ.otlp.decode import PROTOBUF
from observ.otlp.grpc import Export, abort, export_handler, listen


def _export(ambassador: Ambassador, signal: Signal) -> Export:
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            tenant = dict(context.invocation_metadata()).get("x-scope-orgid", "")
            return ambassador.export(signal, request, PROTOBUF, "", str(tenant), "grpc")
        except Exception as e:
            abort(context, ambassador.refusal(e, "grpc"))

    return export


def serve_grpc(ambassador: Ambassador) -> tuple[grpc.Server, int]:
    """Listening on `otlp.host:otlp.grpc_port` (GrpcBindError when it cannot); the server and its port."""
    config = ambassador.config
    handlers = [export_handler(service, _export(ambassador, signal)) for signal, service in GRPC_SERVICES.items()]
    return listen(handlers, config.host, config.grpc_port, config.workers, config.max_body_bytes, 2 * config.workers)
