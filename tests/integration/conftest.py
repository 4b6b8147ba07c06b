from __future__ import annotations

from collections.abc import Iterator

import pytest

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
