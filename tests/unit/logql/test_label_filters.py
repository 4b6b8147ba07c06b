"""Label filters and unwrap, per Loki 3's label_filter.go and metrics_extraction.go.

A number/duration/bytes filter drops an entry without the label, keeps (with `LabelFilterErr` and Go's
message) one whose value does not convert, and never overwrites an earlier error; string matchers read a
missing label as "" and `__error__` as the pipeline error.
"""

from __future__ import annotations

import pytest

from observ.logql.log.label_filters import LineState, compile_label_filter
from observ.logql.syntax import ast
from observ.logql.unwrap import Unwrapper

Op = ast.CmpOp


def num(name: str, op: ast.CmpOp, value: float) -> ast.NumberLabelFilter:
    return ast.NumberLabelFilter(name, op, value)


def string(name: str, op: str, value: str) -> ast.StringLabelFilter:
    return ast.StringLabelFilter(ast.Matcher(name, ast.MatchOp(op), value))


def state(labels: dict[str, str], err: str = "", details: str = "") -> LineState:
    st = LineState(0, "line", labels)
    st.err, st.details = err, details
    return st


@pytest.mark.parametrize(
    ("expr", "labels", "keep", "err", "details"),
    [
        (num("status", Op.GTE, 500), {"status": "503"}, True, "", ""),
        (num("status", Op.GTE, 500), {"status": "200"}, False, "", ""),
        (num("status", Op.EQ, 200), {"status": "200.0"}, True, "", ""),
        (num("status", Op.NEQ, 200), {"status": "2e2"}, False, "", ""),
        (num("status", Op.LT, 1), {"status": "-Inf"}, True, "", ""),
        (num("status", Op.GT, 1), {"status": "1_000"}, True, "", ""),
        (num("status", Op.LTE, 1), {"status": "0x1p-2"}, True, "", ""),
        (num("status", Op.GTE, 500), {}, False, "", ""),
        (
            num("status", Op.GTE, 500),
            {"status": "abc"},
            True,
            "LabelFilterErr",
            'strconv.ParseFloat: parsing "abc": invalid syntax',
        ),
        (
            num("status", Op.GTE, 500),
            {"status": " 1"},
            True,
            "LabelFilterErr",
            'strconv.ParseFloat: parsing " 1": invalid syntax',
        ),
        (
            num("status", Op.GTE, 500),
            {"status": ""},
            True,
            "LabelFilterErr",
            'strconv.ParseFloat: parsing "": invalid syntax',
        ),
        (ast.DurationLabelFilter("took", Op.GT, 10.0), {"took": "11s"}, True, "", ""),
        (ast.DurationLabelFilter("took", Op.GT, 0.01), {"took": "58.126671ms"}, True, "", ""),
        (ast.DurationLabelFilter("took", Op.EQ, 5400.0), {"took": "1h30m"}, True, "", ""),
        (ast.DurationLabelFilter("took", Op.LT, 1.0), {"took": "-1s"}, True, "", ""),
        (
            ast.DurationLabelFilter("took", Op.GT, 1.0),
            {"took": "1d"},
            True,
            "LabelFilterErr",
            'time: unknown unit "d" in duration "1d"',
        ),
        (
            ast.DurationLabelFilter("took", Op.GT, 1.0),
            {"took": "12"},
            True,
            "LabelFilterErr",
            'time: missing unit in duration "12"',
        ),
        (
            ast.DurationLabelFilter("took", Op.GT, 1.0),
            {"took": "fast"},
            True,
            "LabelFilterErr",
            'time: invalid duration "fast"',
        ),
        (ast.BytesLabelFilter("size", Op.GT, 20e6), {"size": "21MB"}, True, "", ""),
        (ast.BytesLabelFilter("size", Op.GT, 20e6), {"size": "19MiB"}, False, "", ""),
        (ast.BytesLabelFilter("size", Op.EQ, 1536), {"size": "1.5 kib"}, True, "", ""),
        (ast.BytesLabelFilter("size", Op.EQ, 1000), {"size": "1,000"}, True, "", ""),
        (ast.BytesLabelFilter("size", Op.GT, 1), {"size": "12XB"}, True, "LabelFilterErr", "unhandled size name: xb"),
        (string("method", "=", "GET"), {"method": "GET"}, True, "", ""),
        (string("method", "!=", "GET"), {"method": "GET"}, False, "", ""),
        (string("method", "=~", "G.*|P.*"), {"method": "PUT"}, True, "", ""),
        (string("method", "=~", "GE"), {"method": "GET"}, False, "", ""),
        (string("method", "!~", "(?i)get"), {"method": "GET"}, False, "", ""),
        (string("method", "=", ""), {}, True, "", ""),
        (string("method", "=~", ".+"), {}, False, "", ""),
        (string("msg", "=~", "a.b"), {"msg": "a\nb"}, False, "", ""),
        (string("msg", "=~", "(?s)a.b"), {"msg": "a\nb"}, True, "", ""),
        (string("msg", "=~", "x$"), {"msg": "x\n"}, False, "", ""),
        (string("n", "=~", "\\d+"), {"n": "١٢"}, False, "", ""),
        (ast.LabelFilterAnd(string("a", "=", "1"), string("b", "=", "2")), {"a": "1", "b": "2"}, True, "", ""),
        (ast.LabelFilterAnd(string("a", "=", "1"), string("b", "=", "2")), {"a": "1", "b": "3"}, False, "", ""),
        (ast.LabelFilterOr(string("a", "=", "x"), string("b", "=", "2")), {"a": "1", "b": "2"}, True, "", ""),
        (ast.LabelFilterOr(string("a", "=", "x"), string("b", "=", "y")), {"a": "1", "b": "2"}, False, "", ""),
        (
            ast.LabelFilterAnd(string("a", "=", "x"), num("n", Op.GT, 1)),
            {"a": "1", "n": "bad"},
            False,
            "LabelFilterErr",
            'strconv.ParseFloat: parsing "bad": invalid syntax',
        ),
        (ast.LabelFilterOr(string("a", "=", "1"), num("n", Op.GT, 1)), {"a": "1", "n": "bad"}, True, "", ""),
    ],
)
def test_label_filter(expr: ast.LabelFilterExpr, labels: dict[str, str], keep: bool, err: str, details: str) -> None:
    st = state(labels)
    assert compile_label_filter(expr)(st) is keep
    assert (st.err, st.details) == (err, details)
    assert st.labels == labels


@pytest.mark.parametrize(
    ("matcher", "err", "keep"),
    [
        (("=", ""), "", True),
        (("=", ""), "JSONParserErr", False),
        (("!=", ""), "JSONParserErr", True),
        (("=", "JSONParserErr"), "JSONParserErr", True),
        (("=~", "JSON.*"), "JSONParserErr", True),
        (("!~", "JSON.*|Logfmt.*"), "LogfmtParserErr", False),
    ],
)
def test_error_label_filter(matcher: tuple[str, str], err: str, keep: bool) -> None:
    """`| __error__ = ""` reads the pipeline error, not a label (doc: pipeline errors)."""
    st = state({}, err=err)
    assert compile_label_filter(string("__error__", *matcher))(st) is keep


def test_number_filter_keeps_earlier_error() -> None:
    st = state({"n": "x"}, err="JSONParserErr", details="first")
    assert compile_label_filter(num("n", Op.GT, 1))(st) is True
    assert (st.err, st.details) == ("JSONParserErr", "first")


def test_error_details_is_not_a_label_for_filters() -> None:
    """Loki's labelValue special-cases only `__error__`: `__error_details__` reads as an absent label."""
    st = state({}, err="JSONParserErr", details="boom")
    assert compile_label_filter(string("__error_details__", "=", ""))(st) is True


@pytest.mark.parametrize(
    ("unwrap", "labels", "expected"),
    [
        (ast.Unwrap("latency"), {"app": "a", "latency": "0.25"}, (0.25, {"app": "a"})),
        (ast.Unwrap("latency"), {"app": "a", "latency": "1e3"}, (1000.0, {"app": "a"})),
        (ast.Unwrap("latency", "duration"), {"latency": "1.5s"}, (1.5, {})),
        (ast.Unwrap("latency", "duration_seconds"), {"latency": "250ms"}, (0.25, {})),
        (ast.Unwrap("size", "bytes"), {"size": "1.5KiB"}, (1536.0, {})),
        (ast.Unwrap("latency"), {"app": "a"}, None),
        (ast.Unwrap("latency"), {"latency": ""}, None),
        (
            ast.Unwrap("latency"),
            {"app": "a", "latency": "fast"},
            (
                0.0,
                {
                    "app": "a",
                    "latency": "fast",
                    "__error__": "SampleExtractionErr",
                    "__error_details__": 'strconv.ParseFloat: parsing "fast": invalid syntax',
                },
            ),
        ),
        (
            ast.Unwrap("latency", "duration"),
            {"latency": "5"},
            (
                0.0,
                {
                    "latency": "5",
                    "__error__": "SampleExtractionErr",
                    "__error_details__": 'time: missing unit in duration "5"',
                },
            ),
        ),
        (ast.Unwrap("latency", post_filters=(string("__error__", "=", ""),)), {"latency": "fast"}, None),
        (ast.Unwrap("latency", post_filters=(string("__error__", "=", ""),)), {"latency": "2"}, (2.0, {})),
        (ast.Unwrap("latency", post_filters=(num("latency", Op.GT, 5),)), {"latency": "2"}, None),
        (
            ast.Unwrap("latency"),
            {"latency": "2", "__error__": "JSONParserErr", "__error_details__": "x"},
            (2.0, {"latency": "2", "__error__": "JSONParserErr", "__error_details__": "x"}),
        ),
        (ast.Unwrap("latency"), {"latency": "2", "__error_details__": "left after drop"}, (2.0, {})),
    ],
)
def test_unwrap(unwrap: ast.Unwrap, labels: dict[str, str], expected: tuple[float, dict[str, str]] | None) -> None:
    """An absent or empty label gives no sample (Loki issue 6713); a bad value gives 0 with SampleExtractionErr;
    the unwrapped label leaves the series labels unless an error keeps them all."""
    given = dict(labels)
    assert Unwrapper(unwrap).extract(given) == expected
    assert given == labels
