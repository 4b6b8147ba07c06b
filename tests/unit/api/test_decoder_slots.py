"""Bodies and rows through the decoder processes' slots (`observ.api.otlp.slots`): the same rows as the pipe,
whatever fits; the pipe when nothing does; the files gone after the pool, and those of dead services removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from observ.api.config import ApiConfig
from observ.api.otlp import receiver as receiver_module
from observ.api.otlp import slots as slots_module
from observ.api.otlp.events import OtlpMetrics
from observ.api.otlp.receiver import DecoderPool, PreparedTraces, TracesReceiver
from observ.api.otlp.slots import Slots
from observ.otlp.decode import PROTOBUF
from observ.otlp.limits import OtlpLimits
from observ.traces.store import SpanStore
from tests.unit.traces.test_decoder_pool import body, pb_span, stored

LIMITS = OtlpLimits()


def request(n: int) -> bytes:
    return body(*(pb_span(i) for i in range(1, n + 1))).SerializeToString()


def decoded_through(slots: Slots, raw: bytes) -> tuple[PreparedTraces, PreparedTraces]:
    """(through `slots`, in this thread) for `raw`."""
    with DecoderPool(1, slots) as pool:
        pooled = pool.decode(raw, PROTOBUF, "acme", LIMITS)
    return pooled, receiver_module.decode_and_prepare(raw, PROTOBUF, "acme", LIMITS)


def same(a: PreparedTraces, b: PreparedTraces) -> bool:
    assert a.prepared is not None and b.prepared is not None and a.rows_in_slot == 0
    return a.prepared.rows == b.prepared.rows and a.prepared.keys == b.prepared.keys


@pytest.mark.parametrize(
    ("slot_bytes", "why"),
    [
        (1 << 20, "body and rows fit the slot"),
        (4096, "the body fits, its rows do not: they come back through the pipe"),
        (512, "the body does not fit: all through the pipe"),
    ],
)
def test_a_body_decodes_to_the_same_rows_through_a_slot_or_the_pipe(tmp_path: Path, slot_bytes: int, why: str) -> None:
    raw = request(40)
    assert 512 < len(raw) < 4096, "the sizes above bracket this body"
    pooled, inline = decoded_through(Slots(2, slot_bytes, tmp_path), raw)
    assert same(pooled, inline), why
    assert list(tmp_path.iterdir()) == [], "the pool's end removes its slot files"


@pytest.mark.parametrize(("slot_bytes", "in_slot"), [(1 << 20, True), (4096, False)])
def test_the_rows_come_back_in_the_slot_only_when_they_fit(tmp_path: Path, slot_bytes: int, in_slot: bool) -> None:
    slots = Slots(1, slot_bytes, tmp_path)
    raw = request(40)
    slots.write(0, raw)
    with DecoderPool(1, slots) as pool:
        result = pool._pool.submit(receiver_module.decode_in_slot, slots.path(0), len(raw), PROTOBUF, "acme",
                                   LIMITS).result()  # fmt: skip
    assert result.prepared is not None
    assert (result.rows_in_slot > 0, result.prepared.rows is None) == (in_slot, in_slot)


def test_with_every_slot_taken_a_request_goes_through_the_pipe(tmp_path: Path) -> None:
    slots = Slots(1, 1 << 20, tmp_path)
    metrics = OtlpMetrics(CollectorRegistry())
    with DecoderPool(1, slots) as pool, slots.take() as held:
        assert held == 0
        with slots.take() as none:
            assert none is None
        receiver = TracesReceiver(SpanStore(":memory:"), ApiConfig(), metrics, decoders=pool)
        receiver.export_body(request(5), PROTOBUF, "", "acme")
        assert len(stored(receiver)) == 5


def test_slot_files_of_a_dead_service_are_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"observ-decode-{int(dead.stdout)}-abc"
    live = tmp_path / f"observ-decode-{os.getppid()}-def"
    orphan.write_bytes(b"x")
    live.write_bytes(b"x")
    Slots(1, 4096, tmp_path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name]


def test_no_room_for_every_slot_makes_fewer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slots are reserved when made: a full /dev/shm refuses one then (not SIGBUS on a later write)."""
    calls = []

    def reserve(fd: int, size: int) -> None:
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        os.ftruncate(fd, size)

    monkeypatch.setattr(slots_module, "_reserve", reserve)
    slots = Slots(3, 4096, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    with slots.take() as first, slots.take() as second:
        assert (first, second) == (0, None)
    slots.close()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_where_no_slot_can_be_made_leaves_every_request_to_the_pipe(tmp_path: Path) -> None:
    """A read-only or missing folder must not stop the service from starting: no slots, the pipe for all."""
    slots = Slots(2, 4096, tmp_path / "missing")
    with slots.take() as slot:
        assert slot is None
    pooled, inline = decoded_through(slots, request(5))
    assert same(pooled, inline)
