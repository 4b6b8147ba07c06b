"""Differential fuzzing: random pipelines, each built twice — as LogQL text and as oracle steps.

The golden tables pin down chosen queries; this explores combinations nobody wrote down (a parser
after a line_format, a keep before a number filter, an error label meeting a drop...). Hypothesis
draws stages from a vocabulary the oracle models exactly, and the engine's answer must equal the
oracle's: the same entries with the same labels, or the same series, or both refusing the query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, note
from hypothesis import strategies as st

from observ.logql.errors import PipelineError
from tests.golden import oracle as o
from tests.golden.conftest import assert_log_lines, assert_series, flatten_streams, matrix_series
from tests.golden.corpus import MINUTE, SPAN, T0, TENANT, Corpus
from tests.golden.oracle import Entry
from tests.golden.test_fuzz_engine import FUZZ, go_quote

Step = tuple[str, Callable[[Entry], bool]]
"""A stage as LogQL text and as the oracle step that keeps (True) or drops the entry."""

SERVICES = ["api", "web", "worker", "db", "nginx", "packed"]
WORDS = ["error", "GET", "POST", "200", "job", "checkpoint", "warn", "✓", "DROP TABLE", '"status": 5', "level=info"]
REGEX_WORDS = ["error", "get", "job", "checkpoint", "warn", "resize"]
NAMES = ["level", "status", "method", "job", "msg", "service", "pod", "level_extracted", "trace_id", "user_name",
         "path", "duration", "items", "env", "__error__"]  # fmt: skip
VALUES = ["info", "error", "warn", "200", "GET", "POST", "resize", "api", "web-0", "", "JSONParserErr", "job finished"]
REGEXES = ["info|warn", ".+", "GET|POST", ".*error.*", "(?i)RESIZE"]
NUMBERS = {"status": [200, 404, 500], "items": [0, 10, 30], "bytes": [1000, 25000], "duration_ms": [5, 20.5],
           "level": [1], "pod": [0], "service": [0]}  # fmt: skip
"""Numbers to compare with; stream labels too: a typed filter before any parser sets LabelFilterErr on them."""
DURATIONS = {"latency": ["1ms", "250ms", "1s"], "duration": ["500ms", "30s", "1m"]}
SIZES = {"size": ["1KB", "20KiB", "1MB"], "payload_size": ["100KiB", "1MiB"]}
CMP = ["==", "!=", ">", ">=", "<", "<="]


def _parse_json(e: Entry) -> bool:
    o.json_parse(e)
    return True


def _parse_logfmt(e: Entry) -> bool:
    o.logfmt_parse(e)
    return True


@st.composite
def step(draw: st.DrawFn) -> Step:
    kind = draw(st.integers(0, 11))
    if kind in (0, 1):
        word = draw(st.sampled_from(WORDS))
        if draw(st.booleans()):
            return f"|= {go_quote(word)}", lambda e: word in e.line
        return f"!= {go_quote(word)}", lambda e: word not in e.line
    if kind == 2:
        word = draw(st.sampled_from(REGEX_WORDS))
        return f"|~ {go_quote('(?i)' + word)}", lambda e: o.regex(e.line, "(?i)" + word)
    if kind in (3, 4):
        return "| json", _parse_json
    if kind == 5:
        return "| logfmt", _parse_logfmt
    if kind == 6:
        name, op = draw(st.sampled_from(NAMES)), draw(st.sampled_from(["=", "!=", "=~", "!~"]))
        value = draw(st.sampled_from(REGEXES if op in ("=~", "!~") else VALUES))
        return f"| {name}{op}{go_quote(value)}", lambda e: o.lbl(e, name, op, value)
    if kind == 7:
        name = draw(st.sampled_from(sorted(NUMBERS)))
        op, num = draw(st.sampled_from(CMP)), draw(st.sampled_from(NUMBERS[name]))
        return f"| {name} {op} {num}", lambda e: o.num(e, name, op, num)
    if kind == 8:
        table = draw(st.sampled_from([DURATIONS, SIZES]))
        name = draw(st.sampled_from(sorted(table)))
        op, lit = draw(st.sampled_from(CMP)), draw(st.sampled_from(table[name]))
        check = o.dur if table is DURATIONS else o.size
        return f"| {name} {op} {lit}", lambda e: check(e, name, op, lit)
    if kind == 9:
        names = draw(st.lists(st.sampled_from(NAMES[:-1]), min_size=1, max_size=3, unique=True))
        dropping = draw(st.booleans())

        def drop_or_keep(e: Entry) -> bool:
            (o.drop if dropping else o.keep)(e, *names)
            return True

        return f"| {'drop' if dropping else 'keep'} {', '.join(names)}", drop_or_keep
    if kind == 10:
        name = draw(st.sampled_from(NAMES[:-1]))

        def fmt_line(e: Entry) -> bool:
            e.line = e.template_data().get(name, "")
            return True

        return f'| line_format "{{{{.{name}}}}}"', fmt_line
    name, dst = draw(st.sampled_from(NAMES[:-1])), draw(st.sampled_from(["lf", "tag"]))

    def fmt_label(e: Entry) -> bool:
        e.set(dst, e.template_data().get(name, "") + "-x")
        return True

    return f'| label_format {dst}="{{{{.{name}}}}}-x"', fmt_label


@st.composite
def pipeline(draw: st.DrawFn) -> tuple[str, str, list[Step]]:
    service = draw(st.sampled_from(SERVICES))
    steps: list[Step] = []
    for s in draw(st.lists(step(), max_size=4)):
        # `| keep a != "x"` parses as keep's matcher a!="x" (Loki's grammar too), not as a line filter
        if not (s[0].startswith("!=") and steps and steps[-1][0].startswith(("| drop", "| keep"))):
            steps.append(s)
    return service, f'{{service="{service}"}}', steps


def _kept(corpus: Corpus, service: str, steps: list[Step], start: int | None, end: int | None) -> list[Entry]:
    rows = o.select(corpus.by_tenant[TENANT], ("service", "=", service), start=start, end=end)
    out = []
    for e in o.entries(rows):
        if all(keep(e) for _, keep in steps):
            out.append(e)
    return out


def _text(selector: str, steps: list[Step]) -> str:
    return " ".join([selector, *(text for text, _ in steps)])


@FUZZ
@given(
    p=pipeline(),
    limit=st.sampled_from([5, 100, 1000]),
    backward=st.booleans(),
    window=st.sampled_from([(0, SPAN), (30 * MINUTE, 45 * MINUTE), (7 * MINUTE, 8 * MINUTE)]),
)
def test_random_log_pipelines_match_the_oracle(
    engine: Any, corpus: Corpus, p: tuple[str, str, list[Step]], limit: int, backward: bool, window: tuple[int, int]
) -> None:
    service, selector, steps = p
    start, end = T0 + window[0], T0 + window[1]
    query = _text(selector, steps)
    note(f"query: {query}")
    want = o.log_result(_kept(corpus, service, steps, start, end), limit, backward)
    result = engine.query_range(query, tenant=TENANT, start_ns=start, end_ns=end, step_ns=0,
                                limit=limit, direction="backward" if backward else "forward")  # fmt: skip
    assert_log_lines(flatten_streams(result.data, backward), want)


@FUZZ
@given(
    p=pipeline(),
    op=st.sampled_from(["count_over_time", "bytes_over_time"]),
    by=st.sampled_from(["level", "pod", "status", "method", "job", "lf"]),
    range_step=st.sampled_from([(5, 5), (10, 5), (2, 7)]),
)
def test_random_metric_pipelines_match_the_oracle(
    engine: Any, corpus: Corpus, p: tuple[str, str, list[Step]], op: str, by: str, range_step: tuple[int, int]
) -> None:
    service, selector, steps = p
    range_ns, step_ns = range_step[0] * MINUTE, range_step[1] * MINUTE
    at = o.steps(T0, T0 + SPAN, step_ns)
    kept = _kept(corpus, service, steps, None, None)
    query = f"sum by ({by}) ({op}({_text(selector, steps)} [{range_step[0]}m]))"
    note(f"query: {query} step {range_step[1]}m")
    value = o.line_bytes if op == "bytes_over_time" else (lambda e: 1.0)
    try:
        want = o.vector_agg(o.range_agg(o.log_samples(kept, value), op, range_ns, at), at, "sum", by=(by,))
    except o.PipelineErrorExpected:
        try:
            engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN, step_ns=step_ns)
        except PipelineError:
            return
        raise AssertionError(f"{query}: the oracle finds __error__ in a window, the engine answered") from None
    result = engine.query_range(query, tenant=TENANT, start_ns=T0, end_ns=T0 + SPAN, step_ns=step_ns)
    assert_series(matrix_series(result.data), want)
