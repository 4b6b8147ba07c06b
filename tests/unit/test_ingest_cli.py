"""`observ ingest` and `observ serve --bootstrap` settings: a bad value or combination is one line and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from observ.api.config import KafkaIngestConfig, ServeConfig
from observ.cli.ingest import ingest_config
from observ.cli.main import app
from observ.cli.refusal import Refused
from observ.cli.serve import run_serve


def test_the_same_topic_for_logs_and_spans_is_refused_in_one_line() -> None:
    with pytest.raises(Refused) as e:
        ingest_config({"topic": "observ.logs", "spans_topic": "observ.logs"})
    assert str(e.value) == "the log and span topics must differ: both are 'observ.logs'"


def test_observ_ingest_refuses_bad_flags_without_a_traceback(tmp_path: Path) -> None:
    for args, why in (
        (["--spans-topic", "observ.logs"], "the log and span topics must differ: both are 'observ.logs'"),
        (["--backend", "librdkafka"], "bus.backend: Input should be 'confluent' or 'kafka-python'"),
    ):
        result = CliRunner().invoke(app, ["ingest", "--data", str(tmp_path / "d"), *args])
        assert result.exit_code == 1, result.output
        assert result.output == f"observ ingest: {why}\n"
    assert not (tmp_path / "d").exists(), "refused before anything was created"


def test_observ_serve_refuses_equal_topics_before_opening_the_stores(tmp_path: Path) -> None:
    kafka = KafkaIngestConfig(topic="t", spans_topic="t")
    with pytest.raises(Refused, match="the log and span topics must differ: both are 't'"):
        run_serve(ServeConfig(data=tmp_path / "d", kafka=kafka), None, create=True)  # type: ignore[arg-type]
    assert not (tmp_path / "d").exists()


def test_spans_topic_empty_or_null_means_logs_only() -> None:
    assert ingest_config({"spans_topic": None}).spans_topic is None
    assert ingest_config({}).spans_topic == "observ.spans"
