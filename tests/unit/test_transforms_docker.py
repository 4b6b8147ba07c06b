from __future__ import annotations

import calendar

import pytest

from collectors.log_adapter.transforms.docker import parse_docker

T0 = calendar.timegm((2024, 1, 2, 3, 4, 5, 0, 0, 0)) * 1_000_000_000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b'{"log":"hello\\n","stream":"stdout","time":"2024-01-02T03:04:05.5Z"}',
            (T0 + 500_000_000, "stdout", False, "hello"),
        ),
        (
            b'{"log":"part","stream":"stderr","time":"2024-01-02T03:04:05Z"}',
            (T0, "stderr", True, "part"),
        ),
        (b'{"log":"\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}', (T0, "stdout", False, "")),
        (b'{"log":"caf\\u00e9 \\"q\\"\\n","stream":"stdout"}', (None, "stdout", False, 'café "q"')),
        (b'{"log":"x\\n","time":"yesterday"}', (None, "stdout", False, "x")),
        (b'{"log":"x\\r\\n","stream":"stdout","time":"2024-01-02T03:04:05Z"}', (T0, "stdout", False, "x\r")),
    ],
)
def test_parse_docker(line: bytes, expected: tuple[int | None, str, bool, str]) -> None:
    assert parse_docker(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"plain text",
        b'{"log":"cut in the mid',
        b'{"log":42,"stream":"stdout"}',
        b'{"log":"x\\n","stream":"stdin"}',
        b'["log"]',
        b'{"log":"\xff\\n"}',
    ],
)
def test_not_docker(line: bytes) -> None:
    assert parse_docker(line) is None
