"""`POST /v1/logs` and `POST /v1/traces`: OTLP/HTTP as opentelemetry-proto's specification.md says.

200 with an Export*ServiceResponse (partial_success when records or spans were rejected); failures carry a
google.rpc.Status (with a BadRequest detail for bad data), in the request's encoding when it is one
of OTLP's two and protobuf otherwise: 400 undecodable, 413 above the size limit, 415 other content
types, 401/403 as the Loki API's tenancy, 503 with Retry-After while the store cannot write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from observ.api.loki import body
from observ.api.otlp.receiver import LogsReceiver, OtlpReceiver, TracesReceiver
from observ.otlp.decode import Format, body_format
from observ.otlp.refusal import Refusal
from observ.otlp.response import MEDIA_TYPES, answer_format, status_body


def failure(refusal: Refusal, fmt: Format) -> Response:
    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s else None
    return Response(status_body(refusal, fmt), refusal.http_status, headers, MEDIA_TYPES[fmt])


async def export(receiver: OtlpReceiver, request: Request) -> Response:
    tenant = ""
    content_type = request.headers.get("content-type", "")
    fmt = answer_format(content_type)
    try:
        tenant = receiver.tenancy.tenant(request.headers)
        body_format(content_type)  # 415 before the body is read
        data = await body.read_capped(request, receiver.config.max_body_bytes)
        encoding = request.headers.get("content-encoding", "")
        result = await run_in_threadpool(receiver.export_body, data, content_type, encoding, tenant)
    except Exception as e:
        return failure(receiver.refusal(e, "http", tenant), fmt)
    return Response(receiver.response(result, fmt), media_type=MEDIA_TYPES[fmt])


class OtlpApi:
    """`/v1/logs`, and `/v1/traces` when there is a spans store to receive them."""

    def __init__(self, logs: LogsReceiver, traces: TracesReceiver | None = None) -> None:
        self.logs = logs
        self.traces = traces

    def router(self) -> APIRouter:
        r = APIRouter()
        r.add_api_route("/v1/logs", self._endpoint(self.logs), methods=["POST"], name="otlp_v1_logs")
        if self.traces is not None:
            r.add_api_route("/v1/traces", self._endpoint(self.traces), methods=["POST"], name="otlp_v1_traces")
        return r

    @staticmethod
    def _endpoint(receiver: OtlpReceiver) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await export(receiver, request)

        return endpoint
