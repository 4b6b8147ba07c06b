"""The stdin source: same API as the tailer, over any binary stream."""

from __future__ import annotations

import io
import os
import threading
import time

from collectors.log_adapter.events import Metrics
from collectors.log_adapter.sources.stdin import StdinSource
from collectors.log_adapter.sources.tail.lines import Lines


def drain(src: StdinSource, until_done: bool = True) -> list[Lines]:
    out: list[Lines] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out += src.read(1 << 20)
        if not until_done or src.done:
            break
        time.sleep(0.001)
    return out


def test_reads_a_stream_to_its_end() -> None:
    metrics = Metrics()
    src = StdinSource(metrics=metrics, stream=io.BytesIO(b"one\r\ntwo\n\xff\nlast without newline"))
    chunks = drain(src)
    assert src.done
    rows = [
        (c.source, c.path, line, s, e) for c in chunks for line, s, e in zip(c.lines, c.starts, c.ends, strict=True)
    ]
    assert rows == [
        ("stdin", "-", b"one", 0, 5),
        ("stdin", "-", b"two", 5, 9),
        ("stdin", "-", b"\xff", 9, 11),
        ("stdin", "-", b"last without newline", 11, 31),
    ]
    assert metrics.registry.get_sample_value("observ_adapter_lines_read_total") == 4
    src.commit("stdin", 9)
    assert src.committed == 9
    src.save_checkpoints()
    src.close()


def test_partial_line_waits_for_the_timeout() -> None:
    r, w = os.pipe()
    now = [0.0]
    with os.fdopen(r, "rb", buffering=0) as stream:
        src = StdinSource(Metrics(), stream, partial_line_timeout_ms=5000, clock=lambda: now[0])
        os.write(w, b"complete\npartial")
        got: list[Lines] = []
        while sum(len(c.lines) for c in got) < 1:
            got += src.read(1 << 20)
        assert got[0].lines == [b"complete"]
        now[0] = 4.0
        assert src.read(1 << 20) == []
        now[0] = 9.0
        late = src.read(1 << 20)
        assert [(c.lines, c.starts, c.ends) for c in late] == [([b"partial"], [9], [16])]
        os.close(w)
        drain(src)
        assert src.done


def test_a_slow_consumer_bounds_what_is_buffered() -> None:
    r, w = os.pipe()
    chunk = 4096

    def writer() -> None:
        try:
            for _ in range(100):
                os.write(w, (b"x" * 99 + b"\n") * 100)
        finally:
            os.close(w)

    with os.fdopen(r, "rb", buffering=0) as stream:
        src = StdinSource(Metrics(), stream, read_chunk_bytes=chunk, queue_chunks=2)
        t = threading.Thread(target=writer)
        t.start()
        deadline = time.monotonic() + 30
        while src.lag_bytes() < 2 * chunk and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.05)
        assert src.lag_bytes() <= 3 * chunk
        lines = sum(len(c.lines) for c in drain(src))
        t.join()
        assert lines == 10_000 and src.lag_bytes() == 0
