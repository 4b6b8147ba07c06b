"""The OTLP spec's own JSON request examples (opentelemetry-proto `examples/`, see data/SOURCE.md)."""

from __future__ import annotations

from pathlib import Path

from observ.model import Stream
from observ.otlp.decode import decode_logs, decode_traces
from observ.traces.model import Span

DATA = Path(__file__).parent / "data"
NOW = 1_800_000_000_000_000_000


def test_trace_example() -> None:
    result = decode_traces((DATA / "trace.json").read_bytes(), "application/json", "default")
    assert (result.rejected, result.error_message) == (0, "")
    assert result.spans == [
        Span(
            tenant="default",
            trace_id="5b8efff798038103d269b633813fc60c",
            span_id="eee19b7ec3c1b174",
            parent_span_id="eee19b7ec3c1b173",
            name="I'm a server span",
            start_ns=1544712660000000000,
            end_ns=1544712661000000000,
            kind=2,
            service="my.service",
            attributes={"my.span.attr": "some value"},
            resource={"service.name": "my.service"},
            scope_name="my.library",
            scope_version="1.0.0",
        )
    ]


def test_logs_example() -> None:
    result = decode_logs((DATA / "logs.json").read_bytes(), "application/json", "default", NOW)
    assert (result.rejected, result.error_message) == (0, "")
    (rec,) = result.records
    assert rec.stream == Stream(
        tenant="default", service="my.service", stream="", labels=(("service_name", "my.service"),)
    )
    assert (rec.ts, rec.line, rec.level) == (1544712660300000000, "Example log record", "info")
    assert (rec.trace_id, rec.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert rec.metadata == {
        "my_scope_attribute": "some scope attribute",
        "scope_name": "my.library",
        "scope_version": "1.0.0",
        "string_attribute": "some string",
        "boolean_attribute": "true",
        "int_attribute": "10",
        "double_attribute": "637.704",
        "array_attribute": '["many","values"]',
        "map_attribute_some_map_key": "some value",
        "observed_timestamp": "1544712660300000000",
        "severity_number": "10",
        "severity_text": "Information",
        "detected_level": "info",  # Loki 3: severity_text is a level field, "Information" normalised
    }


def test_events_example_map_body_is_json_with_sorted_keys() -> None:
    result = decode_logs((DATA / "events.json").read_bytes(), "application/json", "default", NOW)
    (rec,) = result.records
    assert rec.line == (
        '{"referrer":"https://wwww.google.com","title":"Free Online GUID Generator","type":0,'
        '"url":"https://www.guidgenerator.com/online-guid-generator.aspx"}'
    )
    assert (rec.level, rec.trace_id, rec.metadata["event_name"]) == ("info", "", "browser.page_view")
