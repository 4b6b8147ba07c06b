"""JSON Schema of `alerts/services.yaml`, so editors (yaml-language-server) complete and check it as it is typed."""

from __future__ import annotations

import json
from typing import Any

from observ.slo.model import ServiceDefinitions

SCHEMA_FILE = "services.schema.json"


def definitions_schema() -> dict[str, Any]:
    """The pydantic model's schema with the draft and a title, the one source of truth for the committed file."""
    schema = ServiceDefinitions.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "observ service definitions (alerts/services.yaml)",
    }


def schema_json() -> str:
    """Stable text: the committed `alerts/services.schema.json` must equal this byte for byte."""
    return json.dumps(definitions_schema(), indent=2, ensure_ascii=False) + "\n"
