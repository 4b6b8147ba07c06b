"""OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` and `...trace.v1.TraceService/Export`
on one grpcio server with a thread pool.

Each method is registered with raw bytes in (the generated servicer would let grpcio parse them and
answer INTERNAL to a body it cannot read); the receiver decodes them as OTLP/HTTP's protobuf. The
tenant comes from the `x-scope-orgid` metadata (and `authorization`, as the HTTP API's tenancy).
Status codes as the OTLP spec pairs them: INVALID_ARGUMENT for bad data (with a BadRequest detail),
UNAVAILABLE with RetryInfo while the store cannot write (clients retry), RESOURCE_EXHAUSTED from
grpcio itself for a message above `max_body_bytes` (after decompression; clients do not retry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from observ.api.config import OTLP_GRPC_PORT, OtlpConfig
from observ.api.otlp.receiver import OtlpReceiver
from observ.otlp.decode import PROTOBUF
from observ.otlp.grpc import STATUS_DETAILS, GrpcBindError, abort, address, export_handler, listen

__all__ = ["STATUS_DETAILS", "ExportService", "GrpcBindError", "OtlpGrpcServer", "start_grpc"]


class ExportService:
    """One signal's `Export` method over its receiver."""

    def __init__(self, receiver: OtlpReceiver) -> None:
        self.receiver = receiver

    def export(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """An Export*ServiceRequest's bytes -> an Export*ServiceResponse's."""
        tenant = ""
        try:
            # keys are lower case in gRPC; `-bin` keys carry bytes, and no header the tenancy reads is one
            metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
            tenant = self.receiver.tenancy.tenant(metadata)
            result = self.receiver.export_body(request, PROTOBUF, "", tenant, "grpc")
        except Exception as e:
            abort(context, self.receiver.refusal(e, "grpc", tenant))
        return self.receiver.response(result, "protobuf")

    def handler(self) -> grpc.GenericRpcHandler:
        return export_handler(self.receiver.grpc_service, self.export)


@dataclass(slots=True)
class OtlpGrpcServer:
    server: grpc.Server | None
    address: str
    """host:port it listens on, or where it tried to."""
    note: str = ""
    """Why it is off, when the default port was taken."""

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1]) if self.server else 0

    def stop(self, grace_s: float = 5) -> None:
        """Refuses new calls and waits up to `grace_s` for those under way."""
        if self.server is not None:
            self.server.stop(grace_s).wait()


def start_grpc(receivers: Sequence[OtlpReceiver], config: OtlpConfig, default_host: str) -> OtlpGrpcServer:
    """Listening on `config.grpc_port` (off when 0); the default port being taken turns gRPC off with a note,
    a configured port being taken raises GrpcBindError."""
    if config.grpc_port == 0:
        return OtlpGrpcServer(None, "")
    host = config.grpc_host or default_host
    port = OTLP_GRPC_PORT if config.grpc_port is None else config.grpc_port
    handlers = [ExportService(r).handler() for r in receivers]
    try:
        server, bound = listen(handlers, host, port, config.grpc_workers, config.max_body_bytes)
    except GrpcBindError:
        if config.grpc_port is not None:
            raise
        where = address(host, port)
        return OtlpGrpcServer(None, where, f"cannot listen on {where} (in use?); set api.otlp.grpc_port")
    return OtlpGrpcServer(server, address(host, bound))
