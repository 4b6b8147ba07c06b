"""Attribute conditions test a span's JSON text for the member's spelling before parsing it: never a match lost
or gained against the parse alone, whatever the keys and values (quotes, backslashes, slashes, unicode, control
characters, look-alikes inside string values and nested objects, numbers, bools)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observ.store.config import StoreConfig
from observ.traces import query as query_module
from observ.traces.query import Condition, SpanQuery
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, span

KEYS = ["k", 'q"k', "b\\k", "s/k", "é", "line\nk", ""]
_strings = st.sampled_from(["v", 'q"v', "b\\v", '"k":"v"', 'x\\"k\\":', "é", "a\nb", "", "500"])
_compared = st.one_of(_strings, st.integers(-3, 600), st.booleans())
_scalars = st.one_of(_compared, st.floats(-1.0, 600.0, allow_nan=False))
_values = st.one_of(_scalars, st.dictionaries(st.sampled_from(KEYS), _scalars, max_size=2))
_attributes = st.dictionaries(st.sampled_from(KEYS), _values, max_size=4)


def _condition(tag: str, op_value: tuple[str, object]) -> Condition | None:
    try:
        return Condition(tag=tag, op=op_value[0], value=op_value[1])  # type: ignore[arg-type]
    except ValueError:  # what the API refuses before any search
        return None


_conditions = st.builds(
    _condition,
    st.sampled_from([f"{scope}.{k}" for k in KEYS if k for scope in ("span", "resource", "")]),
    st.one_of(st.tuples(st.sampled_from(["=", "!=", ">", "<="]), _compared), st.tuples(st.just("=~"), _strings)),
).filter(lambda c: c is not None)


def matches(store: SpanStore, condition: Condition) -> list[str]:
    try:
        found = store.search("t1", SpanQuery(spansets=[condition], limit=100))
    except ValueError:
        return ["refused"]
    return sorted(m.span_id for t in found for m in t.spans)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spans=st.lists(st.tuples(_attributes, _attributes), min_size=2, max_size=8),
       conditions=st.lists(_conditions, min_size=4, max_size=10))  # fmt: skip
def test_the_text_test_keeps_exactly_what_parsing_alone_matches(
    spans: list[tuple[dict[str, object], dict[str, object]]],
    conditions: list[Condition],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SpanStore(Path(tmp) / "spans.duckdb", StoreConfig(compact_rows=10**9))
        batch = [span(1, n + 1, start=n, attributes=a, resource=r) for n, (a, r) in enumerate(spans)]
        store.append([cols(*batch)])
        for condition in conditions:
            with monkeypatch.context() as m:
                m.setattr(query_module, "_member_text", lambda key, c: "")  # contains(text, '') holds for all
                want = matches(store, condition)
            assert matches(store, condition) == want, condition
        store.close()


def test_a_look_alike_inside_a_string_value_or_a_nested_object_is_no_match() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SpanStore(Path(tmp) / "spans.duckdb", StoreConfig(compact_rows=10**9))
        store.append([cols(span(1, 1, attributes={"note": '"k":"v"'}), span(1, 2, attributes={"o": {"k": "v"}}),
                           span(1, 3, attributes={"k": "v"}))])  # fmt: skip
        assert matches(store, Condition(tag="span.k", op="=", value="v")) == [span(1, 3).span_id]
        store.close()
