"""A query's bound parameters cost no module search: DuckDB's client tries `import pandas` per parameter, and
without pandas each try searched sys.path (0.18 ms a parameter)."""

from __future__ import annotations

import importlib.machinery
from pathlib import Path
from typing import Any

import pytest

from observ.store.logstore import LogStore


def test_a_query_with_parameters_searches_for_no_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LogStore(tmp_path / "observ.duckdb")
    searched: list[str] = []
    real = importlib.machinery.PathFinder.find_spec

    def tracking(name: str, *args: Any, **kwargs: Any) -> Any:
        searched.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", tracking)
    params = list(range(32))
    row = store.cursor().execute("SELECT " + " + ".join("?" for _ in params), params).fetchone()
    assert row == (sum(params),)
    assert searched == [], f"searched sys.path for {sorted(set(searched))} while binding parameters"
    store.close()
