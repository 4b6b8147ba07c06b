"""ServeConfig: the documented example parses, unknown keys are refused, flags override the file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from observ.api.config import ServeConfig

DOC = Path(__file__).resolve().parents[3] / "docs/loki-api.md"


def test_documented_example_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(# serve.yaml.*?)```", DOC.read_text(), re.S)
    assert block is not None
    path = tmp_path / "serve.yaml"
    path.write_text(block.group(1))
    cfg = ServeConfig.from_yaml(path)
    assert cfg.api.auth.enabled and cfg.api.auth.tokens["s3cr3t-ops"] == ["team-a", "team-b"]
    assert cfg.kafka is not None and cfg.kafka.bus.bootstrap == "kafka:9092"
    assert cfg.api.limits.max_entries == 5000 and cfg.db_path == Path("/var/lib/observ/observ.duckdb")


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("api: {auth: {token: x}}\n")
    with pytest.raises(ValidationError):
        ServeConfig.from_yaml(path)


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("")
    cfg = ServeConfig.from_yaml(path)
    assert (cfg.port, cfg.kafka, cfg.api.auth.enabled) == (3100, None, False)
