"""The sidecar (an OTLP ambassador) imports these: they must not pull in the store or the web stack."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("observ.traces.model", ["duckdb", "fastapi", "starlette", "google.protobuf"]),
        ("observ.otlp.decode", ["duckdb", "fastapi", "starlette"]),
        ("observ.otlp.response", ["duckdb", "fastapi", "starlette"]),
    ],
)
def test_light_imports(module: str, forbidden: list[str]) -> None:
    code = f"import sys, {module}; print(' '.join(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"{module} imports {out.strip()}"
