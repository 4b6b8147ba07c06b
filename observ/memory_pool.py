"""Which allocator Arrow's buffers come from in observ's processes."""

from __future__ import annotations

import pyarrow as pa


def use_jemalloc() -> None:
    """Arrow's buffers from jemalloc rather than pyarrow's default, mimalloc, when this pyarrow has it.

    The spans store allocates and frees tens of MB a second (decoded requests, hot-table merges, compactions).
    With mimalloc, freeing returned memory to the kernel and taking it back cost system time, up to 60 ms for a
    6 MB merge on this machine's VM; with jemalloc, 1,000,000 spans of bench/traces.py through 2 decoder
    processes ingested at 100-102k spans/s against 78-94k (the serving process's CPU 7.9 against 9.1-10.9 us a
    span). Call it before the first Arrow allocation: `observ`'s commands and the decoder processes do."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc keeps its default
        return
    pa.set_memory_pool(pool)
