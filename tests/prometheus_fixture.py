"""Real-Prometheus fixture (scripts/prometheus_server.py), pulled into every test session by tests/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from prometheus_server import PrometheusServer  # noqa: E402

__all__ = ["prometheus_factory"]


@pytest.fixture(scope="session")
def prometheus_factory() -> Iterator[Callable[..., PrometheusServer]]:
    """Factory: prometheus_factory(rule_files, targets=[...], **PrometheusServer kwargs) → a started server.

    Every server started through it is stopped and its temp dir removed at the end of the session;
    tests may destroy() theirs earlier.
    """
    started: list[PrometheusServer] = []

    def start(rule_files: Sequence[Path] = (), targets: Sequence[str] = (), **kwargs: Any) -> PrometheusServer:
        server = PrometheusServer(rule_files=rule_files, targets=targets, **kwargs)
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.destroy()
