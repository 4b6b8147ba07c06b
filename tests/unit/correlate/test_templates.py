"""Message templates: variable parts masked, JSON messages found, groups ranked by count then recency."""

from __future__ import annotations

import pytest

from observ.correlate.templates import MAX_MESSAGE, message_of, template, top_templates


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("order 1234 failed after 87ms", "order <*> failed after <*>ms"),
        ("order 99 failed after 5ms", "order <*> failed after <*>ms"),
        ("user 42 paid -3.50 EUR", "user <*> paid <*> EUR"),
        ("trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7", "trace <*> span <*>"),
        ("request 123e4567-e89b-12d3-a456-426614174000 timed out", "request <*> timed out"),
        ("connect to 10.0.12.7:5432 refused", "connect to <*> refused"),
        ("pointer 0xDEADBEEF freed twice", "pointer <*> freed twice"),
        ("at 2024-05-01T12:00:03.123Z the cache was cold", "at <*> the cache was cold"),
        ("version 1.2.3 is not supported", "version <*> is not supported"),
        ("deadbeef is a word here, cafe too", "deadbeef is a word here, cafe too"),
        ("no variables at all", "no variables at all"),
        ("", ""),
    ],
)
def test_template_masks_what_varies(message: str, expected: str) -> None:
    assert template(message) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"level":"error","msg":"payment declined","order":7}', "payment declined"),
        ('{"message":"db down","error":"ignored when message is there"}', "db down"),
        ('{"error":{"message":"nested ECS error"}}', "nested ECS error"),
        ('{"level":"error","msg":""}', '{"level":"error","msg":""}'),
        ('{"msg": 42}', '{"msg": 42}'),
        ("{not json at all", "{not json at all"),
        ("[1, 2]", "[1, 2]"),
        ("Traceback (most recent call last):\n  File x.py line 3\nValueError", "Traceback (most recent call last):"),
        ("  padded  ", "padded"),
    ],
)
def test_message_of_a_line(line: str, expected: str) -> None:
    assert message_of(line) == expected


def test_a_huge_line_is_cut_before_grouping() -> None:
    assert len(message_of("x" * 10_000_000)) == MAX_MESSAGE


def test_top_templates_count_keep_the_newest_example_and_some_trace_ids() -> None:
    lines = [
        (10, "order 1 failed after 5ms", "a" * 32),
        (30, "order 2 failed after 7ms", "b" * 32),
        (20, "cache miss", ""),
        (25, "order 3 failed after 9ms", "a" * 32),
    ]
    top = top_templates(lines, 10)
    assert [(t.template, t.count, t.example, t.last_ns) for t in top] == [
        ("order <*> failed after <*>ms", 3, "order 2 failed after 7ms", 30),
        ("cache miss", 1, "cache miss", 20),
    ]
    assert top[0].trace_ids == ["a" * 32, "b" * 32]
    assert top[1].trace_ids == []


def test_ties_rank_the_most_recent_first_and_top_cuts() -> None:
    lines = [(1, "old error", ""), (5, "new error", ""), (3, "middle error", "")]
    assert [t.template for t in top_templates(lines, 2)] == ["new error", "middle error"]


def test_at_most_five_trace_ids_per_template() -> None:
    lines = [(i, f"boom {i}", f"{i:032x}") for i in range(20)]
    (only,) = top_templates(lines, 3)
    assert only.count == 20 and len(only.trace_ids) == 5
