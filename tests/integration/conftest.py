from __future__ import annotations

from collections.abc import Iterator

import pytest

from observ.bus import Consumer
from tests.integration.harness import RUNNING


@pytest.fixture(autouse=True)
def _reap_processes() -> Iterator[None]:
    """A failing test must not leave sidecars or ingesters running into the next ones."""
    yield
    while RUNNING:
        p = RUNNING.pop().proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    """Consumers a test made; closed (leaving their group) whatever the outcome."""
    made: list[Consumer] = []
    yield made
    for c in made:
        c.close()
