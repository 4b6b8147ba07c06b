"""Realistic benchmark data: the loghub system logs replayed at scale.

Each replay round shifts every number in a line (block ids, IPs, PIDs, sizes),
so the data does not compress better than real logs would just because it repeats.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

LOGHUB = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "loghub"
_DIGITS = re.compile(r"\d+")


def loghub_lines(root: Path = LOGHUB) -> list[tuple[str, str]]:
    """(system, line) pairs from every *_2k.log, in file order."""
    files = sorted(root.glob("*_2k.log"))
    if not files:
        raise SystemExit(f"no loghub corpus under {root}: bench needs ../shared/corpora/loghub")
    out = []
    for f in files:
        system = f.name.split("_")[0].lower()
        out.extend((system, line) for line in f.read_text(errors="replace").splitlines() if line.strip())
    return out


def replay(n: int, root: Path = LOGHUB) -> Iterator[tuple[str, str]]:
    """n (system, line) pairs, cycling through the corpus with shifted numbers per round."""
    base = loghub_lines(root)
    for i in range(n):
        r, k = divmod(i, len(base))
        system, line = base[k]
        if r:
            shift = r * 7919
            line = _DIGITS.sub(lambda m, s=shift: str((int(m.group()) + s) % 10 ** len(m.group())), line)
        yield system, line


def write_cri(path: Path, n: int, start_ns: int = 1_795_000_000_000_000_000, step_ns: int = 1_000_000) -> int:
    """A kubelet-style CRI file of n replayed lines; returns its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for i, (_, line) in enumerate(replay(n)):
            ts = start_ns + i * step_ns
            sec, ns = divmod(ts, 1_000_000_000)
            stamp = _rfc3339(sec)
            f.write(f"{stamp}.{ns:09d}Z stdout F {line}\n")
    return path.stat().st_size


_SEC_CACHE: dict[int, str] = {}


def _rfc3339(sec: int) -> str:
    import time

    s = _SEC_CACHE.get(sec)
    if s is None:
        s = _SEC_CACHE[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return s
