"""The committed JSON Schema is the model's, and the example services file is valid."""

from __future__ import annotations

import json
from pathlib import Path

from observ.slo.load import load_definitions
from observ.slo.schema import definitions_schema, schema_json

ALERTS = Path(__file__).resolve().parents[3] / "alerts"


def test_committed_schema_equals_generated() -> None:
    assert (ALERTS / "services.schema.json").read_text() == schema_json(), (
        "alerts/services.schema.json is stale: run `observ slo schema > alerts/services.schema.json`"
    )


def test_schema_forbids_unknown_keys_and_knows_sli_kinds() -> None:
    schema = definitions_schema()
    assert schema["additionalProperties"] is False
    assert json.loads(schema_json()) == schema
    kinds = {d["properties"]["kind"]["const"] for n, d in schema["$defs"].items() if n.endswith("SLI")}
    assert kinds == {"events", "latency", "availability", "logs"}


def test_example_services_file_covers_every_kind() -> None:
    defs = load_definitions(ALERTS / "services.yaml")
    assert {s.name for s in defs.services} == {"checkout", "payments", "frontend", "inventory"}
    slos = [slo for s in defs.services for slo in s.slos]
    assert {slo.sli.kind for slo in slos} == {"events", "latency", "availability", "logs"}
    assert any(slo.group_by for slo in slos)
