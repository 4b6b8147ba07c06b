"""An OTLP/gRPC server's transport-generic half: one grpcio server of raw-bytes `Export` methods, and aborts
that carry the whole google.rpc.Status.

Methods take the request's bytes unparsed (the generated servicer would let grpcio parse them and
answer INTERNAL to a body it cannot read), so the decoder says what was wrong as INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

import grpc

from observ.otlp.refusal import Refusal

STATUS_DETAILS = "grpc-status-details-bin"
"""Trailing metadata carrying the whole google.rpc.Status, details included (what grpcio-status sends)."""
RETRY_INFO = "google.rpc.retryinfo-bin"
"""Trailing metadata carrying RetryInfo alone: the key OpenTelemetry Python's gRPC exporter reads its delay from."""

Export = Callable[[bytes, grpc.ServicerContext], bytes]


class GrpcBindError(OSError):
    """The configured gRPC port cannot be listened on."""


def abort(context: grpc.ServicerContext, refusal: Refusal) -> NoReturn:
    trailing = [(STATUS_DETAILS, refusal.status().SerializeToString())]
    retry = refusal.retry_info()
    if retry is not None:
        trailing.append((RETRY_INFO, retry.SerializeToString()))
    context.set_trailing_metadata(tuple(trailing))
    context.abort(refusal.grpc_code, refusal.message)
    raise AssertionError("unreachable: ServicerContext.abort raises")


def export_handler(service: str, export: Export) -> grpc.GenericRpcHandler:
    """`<service>/Export` answered by `export`, bytes in and bytes out."""
    method: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(export)
    return grpc.method_handlers_generic_handler(service, {"Export": method})


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(
    handlers: Sequence[grpc.GenericRpcHandler],
    host: str,
    port: int,
    workers: int,
    max_message_bytes: int,
    max_concurrent_rpcs: int | None = None,
) -> tuple[grpc.Server, int]:
    """A started server and the port it listens on; GrpcBindError when `host:port` cannot be listened on.
    Past `max_concurrent_rpcs` calls (answered or waiting for a worker) grpcio answers RESOURCE_EXHAUSTED."""
    server = grpc.server(
        ThreadPoolExecutor(workers, thread_name_prefix="otlp-grpc"),
        handlers=list(handlers),
        maximum_concurrent_rpcs=max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),  # a second server on the port must fail, not share it
        ],
    )
    where = address(host, port)
    try:
        bound = server.add_insecure_port(where)
    except RuntimeError:  # grpcio's whole message is "Failed to bind to address ..."
        server.stop(None)
        raise GrpcBindError(f"cannot listen on {where} for OTLP/gRPC (in use?)") from None
    server.start()
    return server, bound
