"""Group timing reaches both client libraries under their own names; a heartbeat slower than a third of
the session is refused before any client sees it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from observ.bus import BusConfig, confluent, kafka_python


def test_group_timing_defaults_suit_a_laptop_and_reach_both_clients() -> None:
    config = BusConfig()
    assert (config.session_timeout_ms, config.heartbeat_interval_ms) == (10_000, 1000)
    librdkafka = confluent.consumer_settings(config, "g")
    assert (librdkafka["session.timeout.ms"], librdkafka["heartbeat.interval.ms"]) == (10_000, 1000)
    assert librdkafka["reconnect.backoff.max.ms"] == confluent.producer_settings(config)["reconnect.backoff.max.ms"]
    python = kafka_python.consumer_settings(config, "g")
    assert (python["session_timeout_ms"], python["heartbeat_interval_ms"]) == (10_000, 1000)
    assert python["reconnect_backoff_max_ms"] == kafka_python.producer_settings(config)["reconnect_backoff_max_ms"]


def test_extra_still_overrides_and_a_slow_heartbeat_is_refused() -> None:
    config = BusConfig(session_timeout_ms=30_000, extra={"session.timeout.ms": 45_000})
    assert confluent.consumer_settings(config, "g")["session.timeout.ms"] == 45_000
    with pytest.raises(ValidationError, match="heartbeat_interval_ms"):
        BusConfig(session_timeout_ms=6000, heartbeat_interval_ms=3000)
