"""Realistic benchmark data: the loghub system logs replayed at scale.

Each replay round shifts every number in a line (block ids, IPs, PIDs, sizes),
so the data does not compress better than real logs would just because it repeats.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from collectors.log_adapter.transforms.parse import extract
from observ.model import DecodedBatch, Stream

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
    s = _SEC_CACHE.get(sec)
    if s is None:
        s = _SEC_CACHE[sec] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return s


# --- vectorised replay: whole rounds at a time, for the 10M-line query benchmark ---------------------------------

_MAX_DIGITS = 18
"""Digit runs are shifted in pieces of at most this many digits: each fits a uint64 with room for the shift."""
_POW10 = np.array([10**k for k in range(_MAX_DIGITS + 1)], dtype=np.uint64)


@dataclass(frozen=True, slots=True)
class Compiled:
    """The corpus as one byte buffer plus where its digits are: a round is a copy with new digits written in."""

    text: np.ndarray
    """uint8: every line, joined by newlines."""
    systems: list[str]
    """System (service) of each line."""
    lines: list[str]
    digit_pos: np.ndarray
    digit_num: np.ndarray
    digit_exp: np.ndarray
    num_val: np.ndarray
    num_mod: np.ndarray


def compile_corpus(root: Path = LOGHUB) -> Compiled:
    pairs = loghub_lines(root)
    systems = [s for s, _ in pairs]
    lines = [ln for _, ln in pairs]
    joined = "\n".join(lines)
    raw = joined.encode()
    if len(raw) != len(joined):
        raise SystemExit("the vectorised replay needs an ASCII corpus")
    pos: list[int] = []
    num: list[int] = []
    exp: list[int] = []
    vals: list[int] = []
    mods: list[int] = []
    for m in _DIGITS.finditer(joined):
        start, digits = m.start(), m.group()
        for off in range(0, len(digits), _MAX_DIGITS):
            piece = digits[off : off + _MAX_DIGITS]
            k = len(vals)
            vals.append(int(piece))
            mods.append(10 ** len(piece))
            for i in range(len(piece)):
                pos.append(start + off + i)
                num.append(k)
                exp.append(len(piece) - 1 - i)
    return Compiled(
        text=np.frombuffer(raw, dtype=np.uint8),
        systems=systems,
        lines=lines,
        digit_pos=np.array(pos, dtype=np.int64),
        digit_num=np.array(num, dtype=np.int64),
        digit_exp=np.array(exp, dtype=np.int64),
        num_val=np.array(vals, dtype=np.uint64),
        num_mod=np.array(mods, dtype=np.uint64),
    )


def replay_round(c: Compiled, r: int) -> list[str]:
    """Round r of the corpus: every number shifted by r * 7919 modulo its width (kept zero-padded to its width)."""
    if r == 0:
        return list(c.lines)
    shifted = (c.num_val + np.uint64(r * 7919)) % c.num_mod
    digits = (shifted[c.digit_num] // _POW10[c.digit_exp]) % np.uint64(10)
    buf = c.text.copy()
    buf[c.digit_pos] = digits.astype(np.uint8) + ord("0")
    return buf.tobytes().decode().split("\n")


JSON_SERVICES = ("android", "apache", "hadoop", "mac", "openstack")
"""In a structured replay these services log JSON objects."""
LOGFMT_SERVICES = ("hpc", "openssh", "spark", "windows", "zookeeper")
"""In a structured replay these services log logfmt; the rest stay plain text."""
_STATUS = re.compile(r"status: (\d{3})")
_SECONDS = re.compile(r" time: (\d+\.\d+)")


@dataclass(frozen=True, slots=True)
class Fields:
    """Per corpus line, what a structured replay renders: the fields come from the original (unshifted) line where
    it has them (OpenStack's `status: 200 ... time: 0.2477829`), else from its level (error and fatal lines answer
    5xx, warnings 4xx), so `| json | status >= 500` selects the lines a reader would call failures."""

    fmt: np.ndarray
    """0 plain, 1 JSON, 2 logfmt."""
    level: np.ndarray
    status: np.ndarray
    duration_ms: np.ndarray
    """NaN where the line says nothing: a log-normal draw per round then."""

    @classmethod
    def of(cls, c: Compiled, levels: np.ndarray) -> Fields:
        fmt = np.array([1 if s in JSON_SERVICES else 2 if s in LOGFMT_SERVICES else 0 for s in c.systems])
        level = np.array([lv or "info" for lv in levels], dtype=object)
        status = np.empty(len(c.lines), dtype=np.int64)
        duration = np.full(len(c.lines), np.nan)
        for k, line in enumerate(c.lines):
            m = _STATUS.search(line)
            if m:
                status[k] = int(m.group(1))
            elif level[k] in ("error", "fatal", "critical"):
                status[k] = 500 + k % 4
            elif level[k] == "warn":
                status[k] = (404, 429)[k % 2]
            else:
                status[k] = 200
            m = _SECONDS.search(line)
            if m:
                duration[k] = round(float(m.group(1)) * 1000, 1)
        return cls(fmt=fmt, level=level, status=status, duration_ms=duration)


def render(fmt: int, level: str, status: int, duration_ms: float, msg: str, trace_id: str) -> str:
    """One line as a JSON object (fmt 1) or logfmt (fmt 2), fields in the order services usually write them."""
    if fmt == 1:
        obj: dict[str, object] = {"level": level, "status": status, "duration_ms": duration_ms, "msg": msg}
        if trace_id:
            obj["trace_id"] = trace_id
        return orjson.dumps(obj).decode()
    out = f"level={level} status={status} duration_ms={duration_ms} msg={orjson.dumps(msg).decode()}"
    return f"{out} trace_id={trace_id}" if trace_id else out


T0_NS = 1_795_000_000_000_000_000
ROUND_NS = 60_000_000_000
"""Each replay round covers one minute: 32k lines a minute across 16 services."""


@dataclass(slots=True)
class Replay:
    """Loghub replayed as the store's input: one stream per (service, pod), one batch per stream and round.

    A share of the lines carries a trace: consecutive traced lines (in time, across services) share a
    random 128-bit trace ID, which the line also names (`trace_id=...`), as instrumented services log it.
    With `structured`, JSON_SERVICES and LOGFMT_SERVICES log their lines as JSON or logfmt (`render`): the same
    rows, timestamps and trace IDs as a plain replay, only the text (and the level of those lines) differs.
    """

    traced: float = 0.3
    lines_per_trace: int = 8
    pods: int = 3
    seed: int = 42
    structured: bool = False

    def rounds(self, n: int) -> Iterator[list[DecodedBatch]]:
        """DecodedBatches of n lines in total, one list per round, rounds in time order."""
        c = compile_corpus()
        systems = np.array(c.systems)
        names = sorted(set(c.systems))
        levels = np.array([extract(line)[0] for line in c.lines], dtype=object)
        fields = Fields.of(c, levels) if self.structured else None
        if fields is not None:
            levels = np.where(fields.fmt > 0, fields.level, levels)
        durations = np.random.default_rng(self.seed + 1)
        # position of each line within its system, and the system's line count: spreads a system over the round
        sys_idx = np.array([names.index(s) for s in c.systems])
        within = np.zeros(len(c.lines), dtype=np.int64)
        counts = np.zeros(len(names), dtype=np.int64)
        for i, k in enumerate(sys_idx):
            within[i] = counts[k]
            counts[k] += 1
        offset_in_round = within * ROUND_NS // counts[sys_idx] + sys_idx * 997
        order = np.argsort(offset_in_round, kind="stable")
        streams = {
            (s, p): Stream(
                tenant="default", service=s, namespace="loghub",
                pod=f"{s}-{hashlib.blake2b(s.encode(), digest_size=3).hexdigest()}-{p}", container=s,
                stream="stdout", labels=(("app", s), ("cluster", "bench")),
            )
            for s in names for p in range(self.pods)
        }  # fmt: skip
        pod_of = within % self.pods
        ends: dict[tuple[str, int], int] = dict.fromkeys(streams, 0)
        rng = np.random.default_rng(self.seed)
        done = 0
        r = 0
        while done < n:
            lines = replay_round(c, r)
            take = min(len(lines), n - done)
            ts = T0_NS + r * ROUND_NS + offset_in_round
            trace = np.full(len(lines), "", dtype=object)
            span = np.full(len(lines), "", dtype=object)
            traced_rows = order[rng.random(len(lines)) < self.traced]
            n_traces = -(-len(traced_rows) // self.lines_per_trace)
            trace_hex = np.array(_hex_ids(rng, n_traces, 16), dtype=object)
            trace[traced_rows] = trace_hex[np.arange(len(traced_rows)) // self.lines_per_trace]
            span[traced_rows] = _hex_ids(rng, len(traced_rows), 8)
            line_arr = np.array(lines, dtype=object)
            line_arr[traced_rows] = line_arr[traced_rows] + " trace_id=" + trace[traced_rows]
            if fields is not None:
                drawn = np.round(durations.lognormal(3.0, 1.0, len(lines)), 1)
                dur = np.where(np.isnan(fields.duration_ms), drawn, fields.duration_ms)
                for i in np.nonzero(fields.fmt)[0].tolist():
                    line_arr[i] = render(
                        int(fields.fmt[i]), fields.level[i], int(fields.status[i]), float(dur[i]), lines[i], trace[i]
                    )
            batches = []
            keep = np.arange(len(lines)) < take
            for (s, p), stream in streams.items():
                rows = np.nonzero((systems == s) & (pod_of == p) & keep)[0]
                if not len(rows):
                    continue
                rows = rows[np.argsort(ts[rows], kind="stable")]
                ln = line_arr[rows].tolist()
                end = ends[(s, p)] + np.cumsum([len(x) + 1 for x in ln])
                ends[(s, p)] = int(end[-1])
                batches.append(
                    DecodedBatch(
                        stream=stream, source=f"bench:{stream.pod}", observed_ts=int(ts[rows[-1]]) + 1_000_000,
                        ts=ts[rows].tolist(), level=levels[rows].tolist(), trace_id=trace[rows].tolist(),
                        span_id=span[rows].tolist(), end=end.tolist(), line=ln,
                    )
                )  # fmt: skip
            yield batches
            done += take
            r += 1


def _hex_ids(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    h = rng.bytes(n * nbytes).hex()
    w = 2 * nbytes
    return [h[i : i + w] for i in range(0, n * w, w)]
