"""One path from an OTLP request to its store, and one reading of failures, for both transports and both signals.

Both transports hand over the request's bytes (gRPC's unparsed, so that a body protobuf cannot read
is INVALID_ARGUMENT with the decoder's reason rather than grpcio's INTERNAL). `LogsReceiver` ends in
`observ.otlp.decode_logs`, `to_batches` and the logs store; `TracesReceiver` in `decode_traces` and the
spans store. Retried requests are stored once: the logs store deduplicates pushed (source-less) batches,
the spans store keeps the first copy of a span. A failure becomes a `Refusal` carrying its HTTP status
and gRPC code, as the OTLP spec pairs them (bad data 400 / INVALID_ARGUMENT; the store cannot write
503 / UNAVAILABLE, both retryable).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.synchronize import Semaphore
from typing import ClassVar, Generic, Protocol, TypeVar

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from observ.api.auth import AuthError, Tenancy
from observ.api.config import ApiConfig
from observ.api.loki import body
from observ.api.otlp.events import InternalError, OtlpMetrics, RequestRefused, Signal, Stored, Transport
from observ.api.otlp.slots import Slots, mapped
from observ.memory_pool import use_jemalloc
from observ.model import DecodedBatch
from observ.otlp.body import decoded_body
from observ.otlp.decode import (
    Format,
    LogsResult,
    TracesResult,
    body_format,
    decode_logs,
    decode_traces,
    traces_result,
)
from observ.otlp.limits import OtlpLimits
from observ.otlp.logs import to_batches
from observ.otlp.refusal import Refusal, refusal_for
from observ.otlp.response import logs_response, traces_response
from observ.otlp.spans_arrow import prepared_rows
from observ.store.logstore import AppendResult, StoreWriteError
from observ.traces.hotlog import ipc_rows, ipc_stream
from observ.traces.store import PreparedSpans, SpanAppendResult, prepare

_AUTH_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
}


class Appender(Protocol):
    def append(self, batches: list[DecodedBatch]) -> AppendResult: ...


class SpanWriter(Protocol):
    """A spans store that commits prepared appends (`observ.traces.store.SpanStore`)."""

    def write(self, prepared: PreparedSpans) -> SpanAppendResult: ...

    def maybe_compact(self) -> None: ...


@dataclass(slots=True)
class PreparedTraces(TracesResult):
    """A request decoded and its append prepared (in a decoder process or not): `columns` is empty (the spans
    stay in `prepared`, as Arrow rows, so only they cross back from a process), `rejected` and `error_message`
    as decoded."""

    prepared: PreparedSpans | None = None
    rows_in_slot: int = 0
    """From `decode_in_slot`: the bytes of the rows' Arrow IPC stream left in the request's slot (`prepared` then
    holds no rows until `DecoderPool.decode` reads them back)."""


def decode_in_slot(path: str, size: int, content_type: str, tenant: str, limits: OtlpLimits) -> PreparedTraces:
    """What a decoder process runs for a body in a slot (`observ.api.otlp.slots`): `decode_and_prepare` on its
    first `size` bytes; the rows go back in the same slot when they fit, else through the pipe."""
    slot = mapped(path)
    result = decode_and_prepare(slot[:size], content_type, tenant, limits)
    p = result.prepared
    if p is None or p.rows is None:
        return result
    data = ipc_stream([p.rows], p.rows.schema)
    if data.size > len(slot):
        return result
    slot[: data.size] = memoryview(data)
    return dataclasses.replace(result, prepared=dataclasses.replace(p, rows=None), rows_in_slot=data.size)


def decode_and_prepare(raw: bytes, content_type: str, tenant: str, limits: OtlpLimits) -> PreparedTraces:
    """What a decoder process runs: the body decoded and the append prepared (`observ.traces.store.prepare`).

    A protobuf body is first offered to the Arrow decoder (`observ.otlp.spans_arrow`: twice as fast, same rows),
    which leaves whatever it cannot take exactly (anything rejected, cut or unusual) to the exact path."""
    none = traces_result(ExportTraceServiceRequest(), tenant).columns
    if body_format(content_type) == "protobuf":
        fast = prepared_rows(raw, tenant, limits)
        if fast is not None:
            rows, keys = fast
            return PreparedTraces(none, 0, "", PreparedSpans.of(rows, keys))
    result = decode_traces(raw, content_type, tenant, limits)
    if not len(result.columns):
        return PreparedTraces(result.columns, result.rejected, result.error_message)
    return PreparedTraces(none, result.rejected, result.error_message, prepare([result.columns]))


def _start_decoder(parent: int, started: Semaphore) -> None:
    """A decoder process's initializer: says it has started (its imports done) and exits once the service is gone,
    even killed (the pool's pipes alone leave its workers waiting). `parent` comes from the service: a process
    starting after the service died must not take its new parent for the service. Ctrl-C in a terminal reaches
    the whole process group: a decoder ignores it (no KeyboardInterrupt trace on stop, no request lost during
    the service's graceful shutdown) and leaves stopping to the service."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    use_jemalloc()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit with parent", daemon=True).start()
    started.release()


class DecoderPool:
    """Processes that decode OTLP trace bodies for a `TracesReceiver`, so concurrent requests decode on every core
    while the serving process only commits (started, not forked: the server holds DuckDB and gRPC threads).

    A decoder that dies (killed, out of memory) breaks a ProcessPoolExecutor for good: the pool is then started
    again and the request decoded by the new one, so one lost process costs no request."""

    def __init__(self, processes: int, slots: Slots | None = None) -> None:
        self.processes = processes
        self._lock = threading.Lock()
        self._slots = slots or Slots()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        """A pool with every process started now, from this thread (a task each makes the pool start one)."""
        context = multiprocessing.get_context("spawn")
        self._started = context.Semaphore(0)
        pool = ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_start_decoder, initargs=(os.getpid(), self._started)
        )
        for _ in range(self.processes):
            pool.submit(int)
        return pool

    def wait_ready(self) -> None:
        """Until every process has started, its imports done."""
        for _ in range(self.processes):
            self._started.acquire()

    def decode(self, raw: bytes, content_type: str, tenant: str, limits: OtlpLimits) -> PreparedTraces:
        """The body decoded by a decoder process: through a free slot when it fits one, else the pipe (and the
        pipe for the one retry after a decoder died, since the dead one may have written over the slot)."""
        pool = self._pool
        try:
            with self._slots.take() as slot:
                if slot is None or len(raw) > self._slots.size:
                    return pool.submit(decode_and_prepare, raw, content_type, tenant, limits).result()
                self._slots.write(slot, raw)
                path = self._slots.path(slot)
                result = pool.submit(decode_in_slot, path, len(raw), content_type, tenant, limits).result()
                if result.prepared is None or not result.rows_in_slot:
                    return result
                rows = ipc_rows(self._slots.read(slot, result.rows_in_slot))
                prepared = dataclasses.replace(result.prepared, rows=rows)
                return dataclasses.replace(result, prepared=prepared, rows_in_slot=0)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
                    pool.shutdown(wait=False)
            return self._pool.submit(decode_and_prepare, raw, content_type, tenant, limits).result()

    def shutdown(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._slots.close()

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


R = TypeVar("R", LogsResult, TracesResult)


class OtlpReceiver(ABC, Generic[R]):
    """What both signals share: the body's encoding and size, tenancy, refusals; subclasses decode and store."""

    signal: ClassVar[Signal]
    grpc_service: ClassVar[str]
    """The fully qualified gRPC service whose `Export` this receiver answers."""

    def __init__(self, config: ApiConfig, metrics: OtlpMetrics, *, now_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config.otlp
        self.tenancy = Tenancy(config.auth)
        self.metrics = metrics
        self.now_ns = now_ns

    def export_body(
        self, data: bytes, content_type: str, content_encoding: str, tenant: str, transport: Transport = "http"
    ) -> R:
        """A request body (still Content-Encoded; gRPC's as it came off the wire) -> stored records."""
        raw = decoded_body(data, content_encoding, self.config.max_body_bytes)
        result = self._decode(raw, content_type, tenant)
        stored = self._store(result)
        inserted, duplicates = (stored.inserted, stored.duplicates) if stored else (0, 0)
        dropped = self._dropped_metadata(result)
        Stored(
            self.signal, transport, tenant, inserted, duplicates, result.rejected, result.error_message, dropped
        ).emit(self.metrics)
        return result

    @abstractmethod
    def _decode(self, raw: bytes, content_type: str, tenant: str) -> R: ...

    @abstractmethod
    def _store(self, result: R) -> AppendResult | SpanAppendResult | None:
        """Append what was accepted (None when nothing was)."""

    def _dropped_metadata(self, result: R) -> int:
        return 0

    @abstractmethod
    def response(self, result: R, fmt: Format) -> bytes:
        """The Export*ServiceResponse body, partial_success saying what was rejected."""

    def refusal(self, error: Exception, transport: Transport, tenant: str) -> Refusal:
        """The refusal an exception of `export_*` (or of reading the request) means, counted and logged."""
        r = self._classify(error)
        if r.reason == "internal":
            InternalError(self.signal, transport, error).emit(self.metrics)
        else:
            RequestRefused(transport, r.reason, tenant, r.message).emit(self.metrics)
        return r

    def _classify(self, e: Exception) -> Refusal:
        bad = grpc.StatusCode.INVALID_ARGUMENT
        if isinstance(e, AuthError):
            return Refusal("unauthorized", e.status, _AUTH_CODES.get(e.status, bad), str(e))
        known = refusal_for(e, self.config.retry_after_s)
        if known is not None:
            return known
        if isinstance(e, body.BodyTooLarge):
            return Refusal("too_large", 413, grpc.StatusCode.RESOURCE_EXHAUSTED, str(e))
        if isinstance(e, body.BodyIncomplete):
            return Refusal("invalid", 400, bad, str(e))
        if isinstance(e, StoreWriteError):
            message = f"cannot store the {self.signal} now: {e}"
            return Refusal("store_unavailable", 503, grpc.StatusCode.UNAVAILABLE, message, self.config.retry_after_s)
        return Refusal("internal", 500, grpc.StatusCode.INTERNAL, "internal error")


class LogsReceiver(OtlpReceiver[LogsResult]):
    signal = "log records"
    grpc_service = "opentelemetry.proto.collector.logs.v1.LogsService"

    def __init__(
        self, store: Appender, config: ApiConfig, metrics: OtlpMetrics, *, now_ns: Callable[[], int] = time.time_ns
    ) -> None:
        super().__init__(config, metrics, now_ns=now_ns)
        self.store = store
        self.push = config.push
        """`service_name` and `detected_level` as the push API adds them."""

    def _decode(self, raw: bytes, content_type: str, tenant: str) -> LogsResult:
        return decode_logs(raw, content_type, tenant, self.now_ns(), self.config.limits, self.push)

    def _store(self, result: LogsResult) -> AppendResult | None:
        return self.store.append(to_batches(result.records, self.now_ns())) if result.records else None

    def _dropped_metadata(self, result: LogsResult) -> int:
        return sum(r.dropped for r in result.records)

    def response(self, result: LogsResult, fmt: Format) -> bytes:
        return logs_response(result.rejected, result.error_message, fmt)


class TracesReceiver(OtlpReceiver[TracesResult]):
    """Spans into the spans store, every attribute kept (log records' metadata the logs store drops).

    Each body is decoded and its append prepared by `decode_and_prepare`: with `decoders` (a `DecoderPool`) in one
    of those processes, else on the request's thread; then committed here."""

    signal = "spans"
    grpc_service = "opentelemetry.proto.collector.trace.v1.TraceService"

    def __init__(
        self,
        store: SpanWriter,
        config: ApiConfig,
        metrics: OtlpMetrics,
        *,
        now_ns: Callable[[], int] = time.time_ns,
        decoders: DecoderPool | None = None,
    ) -> None:
        super().__init__(config, metrics, now_ns=now_ns)
        self.store = store
        self.decoders = decoders

    def _decode(self, raw: bytes, content_type: str, tenant: str) -> TracesResult:
        if self.decoders is not None:
            return self.decoders.decode(raw, content_type, tenant, self.config.limits)
        return decode_and_prepare(raw, content_type, tenant, self.config.limits)

    def _store(self, result: TracesResult) -> SpanAppendResult | None:
        assert isinstance(result, PreparedTraces)
        if result.prepared is None:
            return None
        stored = self.store.write(result.prepared)
        self.store.maybe_compact()
        return stored

    def response(self, result: TracesResult, fmt: Format) -> bytes:
        return traces_response(result.rejected, result.error_message, fmt)
