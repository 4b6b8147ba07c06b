"""The sidecar with its OTLP ambassador keeps the lean import path DESIGN.md asks of it: no DuckDB, no web stack."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ["duckdb", "pyarrow", "fastapi", "starlette", "uvicorn"]


def test_the_sidecar_with_the_otlp_source_imports_no_store_and_no_web_framework() -> None:
    code = (
        "import sys\n"
        "import collectors.log_adapter.cli, collectors.log_adapter.main\n"
        "from collectors.log_adapter.config import AdapterConfig\n"
        "from collectors.log_adapter.sources.otlp.source import OtlpSource\n"
        "OtlpSource(AdapterConfig.model_validate({'otlp': {'enabled': True}}), __import__('prometheus_client')"
        ".CollectorRegistry())\n"
        f"print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"the sidecar imports {out.strip()}"
