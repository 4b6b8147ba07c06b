"""Skip filters of a segment: which needles and trace IDs it cannot hold. Index-free: no per-line postings.

`GramFilter` is a Bloom filter of *winnowed* byte k-grams (the fingerprinting of MOSS,
Schleimer et al. 2003). Of every run of `window` consecutive k-grams of the text only the one
with the smallest hash is kept. Any needle of at least `k + window - 1` bytes contains a whole
run, and that run's minimum is the same gram whether hashed in the needle or in the line, so a
segment holding the needle holds every minimum of the needle's runs: a missing one proves the
needle absent. Keeping ~2/(window+1) of the grams makes the filter a few bytes per line, while
long grams stay selective on numbers and hex, where trigram filters saturate.

`TraceFilter` is the exact set of 32-bit fingerprints of the segment's distinct trace IDs.
"""

from __future__ import annotations

import bisect
import hashlib
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

_MUL = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_CHUNK = 1 << 23
"""Bytes of text hashed per numpy pass: bounds the temporaries to a few hundred MB."""


@dataclass(frozen=True, slots=True)
class GramParams:
    k: int = 8
    """Bytes per gram (at most 8: a gram is one unaligned 64-bit load)."""
    window: int = 4
    """Grams per winnowing window; needles shorter than k + window - 1 bytes cannot be checked."""
    hashes: int = 2
    """Bloom probes per gram."""
    max_fill: float = 0.5
    """The filter is folded in half while it stays below this share of set bits (<= 25% false hits per gram:
    a needle is checked by all its window minima, and one long needle has several)."""

    @property
    def min_needle(self) -> int:
        return self.k + self.window - 1


def _grams(data: np.ndarray, k: int) -> np.ndarray:
    """Hash of the k bytes starting at each offset; `data` ends with 7 padding bytes."""
    n = len(data) - 7
    g = np.ndarray((n,), dtype="<u8", buffer=data, strides=(1,))
    if k < 8:
        g = g & np.uint64((1 << (8 * k)) - 1)
    return g * _MUL


def _window_min(h: np.ndarray, window: int) -> np.ndarray:
    """m[i] = min(h[i : i + window]), by doubling spans."""
    span = 1
    while span < window:
        step = min(span, window - span)
        h = np.minimum(h[:-step], h[step:])
        span += step
    return h


def _mix(h: np.ndarray) -> np.ndarray:
    """murmur3's finaliser: the window minima are small numbers, the Bloom probes need all bits."""
    h = h ^ (h >> np.uint64(33))
    h *= _MIX1
    h ^= h >> np.uint64(33)
    h *= _MIX2
    return h ^ (h >> np.uint64(33))


def _minima(data: bytes | np.ndarray, p: GramParams) -> np.ndarray:
    """Distinct-in-runs window minima of one buffer (mixed), including windows spanning buffer joins."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    n_grams = len(buf) - p.k + 1
    if n_grams < p.window:
        return np.empty(0, dtype=np.uint64)
    padded = np.concatenate([buf, np.zeros(7, dtype=np.uint8)])
    m = _window_min(_grams(padded, p.k)[:n_grams], p.window)
    change = np.empty(len(m), dtype=bool)
    change[0] = True
    np.not_equal(m[1:], m[:-1], out=change[1:])
    return _mix(m[change])


def _probes(h: np.ndarray, nbits: int, hashes: int) -> list[np.ndarray]:
    mask = np.uint64(nbits - 1)
    lo = h & np.uint64(0xFFFFFFFF)
    hi = (h >> np.uint64(32)) | np.uint64(1)
    return [((lo + np.uint64(i) * hi) & mask).astype(np.int64) for i in range(hashes)]


@dataclass(frozen=True, slots=True)
class GramFilter:
    bits: bytes
    """Packed bits (numpy bit order 'big'); the bit count is a power of two."""
    params: GramParams = GramParams()

    @classmethod
    def build(cls, lines: pa.Array | pa.ChunkedArray, params: GramParams = GramParams()) -> GramFilter:
        """The filter of every line; windows spanning two lines only add grams, never lose one."""
        chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
        texts = [_text_bytes(c) for c in chunks if len(c)]
        total = sum(len(t) for t in texts)
        nbits = _pow2(max(1 << 13, total * 4 // (params.window + 1)))
        bits = np.zeros(nbits, dtype=np.uint8)
        overlap = params.k + params.window - 2
        for text in texts:
            for start in range(0, max(len(text) - overlap, 1), _CHUNK):
                h = _minima(text[start : start + _CHUNK + overlap], params)
                for pos in _probes(h, nbits, params.hashes):
                    bits[pos] = 1
        while len(bits) > 1024:
            half = len(bits) // 2
            folded = bits[:half] | bits[half:]
            if folded.mean() > params.max_fill:
                break
            bits = folded
        return cls(np.packbits(bits).tobytes(), params)

    def may_contain(self, needle: str) -> bool:
        """False only if no line of the segment contains `needle` (case-sensitive bytes)."""
        h = _needle_minima(needle, self.params)
        if h is None:
            return True
        bits = np.frombuffer(self.bits, dtype=np.uint8)
        nbits = len(bits) * 8
        for pos in _probes(h, nbits, self.params.hashes):
            if not np.all(bits[pos >> 3] & (np.uint8(0x80) >> (pos & 7).astype(np.uint8))):
                return False
        return True


@lru_cache(maxsize=1024)
def _needle_minima(needle: str, params: GramParams) -> np.ndarray | None:
    """The window minima every segment is probed for; one query checks the same needle against many segments."""
    raw = needle.encode()
    if len(raw) < params.min_needle:
        return None
    h = np.unique(_minima(raw, params))
    h.flags.writeable = False
    return h


def _text_bytes(arr: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of every value of a string array, back to back (zero-copy for plain strings)."""
    if pa.types.is_large_string(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    elif pa.types.is_string(arr.type):
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)
    else:
        return _text_bytes(arr.cast(pa.large_string()))
    data = arr.buffers()[2]
    if data is None:
        return np.empty(0, dtype=np.uint8)
    lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return np.frombuffer(data, dtype=np.uint8)[lo:hi]


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


@lru_cache(maxsize=4096)
def trace_fingerprint(trace_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(trace_id.encode(), digest_size=4).digest(), "little")


@dataclass(frozen=True, slots=True)
class TraceFilter:
    fingerprints: bytes
    """Sorted distinct uint32 fingerprints, little-endian."""

    @classmethod
    def build(cls, trace_ids: Iterable[str]) -> TraceFilter:
        fps = np.unique(np.array([trace_fingerprint(t) for t in trace_ids if t], dtype="<u4"))
        return cls(fps.tobytes())

    def may_contain_any(self, trace_ids: Iterable[str]) -> bool:
        return self.holds_any(sorted({trace_fingerprint(t) for t in trace_ids}))

    def holds_any(self, want: Sequence[int]) -> bool:
        """Whether any of the fingerprints `want` is in the filter (a query computes them once for every segment):
        bisection on the bytes read natively, ~0.5 us a segment against ~15 us through numpy."""
        if sys.byteorder != "little":
            return bool(np.isin(np.frombuffer(self.fingerprints, dtype="<u4"), want).any())
        fps = memoryview(self.fingerprints).cast("I")
        n = len(fps)
        for w in want:
            i = bisect.bisect_left(fps, w)
            if i < n and fps[i] == w:
                return True
        return False
