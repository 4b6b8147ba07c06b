"""Repeated client errors (a broker down: ~22 a second) become one line per kind per window, with a count."""

from __future__ import annotations

import logging
import re

import pytest

from observ.throttle import LogThrottle, ThrottleFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def logged(clock: Clock) -> tuple[logging.Logger, list[str]]:
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(f"{record.levelname} {record.getMessage()}")  # type: ignore[method-assign]
    logger = logging.getLogger("test.throttle")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.filters = [ThrottleFilter(every_s=10.0, clock=clock)]
    return logger, lines


def test_a_broker_outage_logs_one_line_per_kind_per_window_with_the_count_held_back(
    clock: Clock, logged: tuple[logging.Logger, list[str]]
) -> None:
    logger, lines = logged
    sent = 22 * 25  # 25 s at 22 a second, the retry timing varying in the text
    for i in range(sent):
        logger.error("Connect to ipv4#127.0.0.1:9092 failed: Connection refused (after %dms in state CONNECT)", i % 3)
        clock.now += 1 / 22
    assert len(lines) == 3
    assert all(line.startswith("ERROR Connect to ipv4#127.0.0.1:9092 failed: Connection refused") for line in lines)
    held = [int(m.group(1)) for line in lines[1:] if (m := re.search(r"\((\d+) more like it in the last 10s", line))]
    assert len(held) == 2 and all(215 <= n <= 221 for n in held)
    assert sent - 3 - sum(held) < 22 * 10  # the rest are held back for the next line


def test_kinds_levels_and_quiet_periods_are_kept_apart(clock: Clock, logged: tuple[logging.Logger, list[str]]) -> None:
    logger, lines = logged
    logger.error("coordinator unavailable")
    logger.warning("coordinator unavailable")
    logger.error("commit failed")
    logger.info("joined the group")
    logger.info("joined the group")
    logger.error("coordinator unavailable")
    clock.now += 10.0
    logger.error("coordinator unavailable")
    clock.now += 10.0
    logger.error("coordinator unavailable")
    assert lines == [
        "ERROR coordinator unavailable",
        "WARNING coordinator unavailable",
        "ERROR commit failed",
        "INFO joined the group",
        "INFO joined the group",
        "ERROR coordinator unavailable (1 more like it in the last 10s not logged)",
        "ERROR coordinator unavailable",
    ]


def test_log_throttle_counts_what_it_held_back(clock: Clock) -> None:
    throttle = LogThrottle(every_s=5.0, clock=clock)
    assert throttle.check("k") == 0
    assert throttle.suppressed("k")
    assert throttle.check("k") is None
    clock.now += 5.0
    assert throttle.check("k") == 2
    assert throttle.check("other") == 0
