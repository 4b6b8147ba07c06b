"""Settings of the parsing stage: container log format, partial-line merging, multiline grouping."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

KiB = 1024

DEFAULT_START_PATTERN = (
    r"^(?!\s|$"
    r"|Caused by:|Suppressed:|\.\.\. \d+ (?:more|common frames omitted)"
    r"|Traceback \(most recent call last\):"
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|[A-Za-z_$][\w$.]*(?:Error|Exception|Throwable)(?::|$))"
)
"""A line starts a new entry unless it is blank, indented, or a known stack-trace line.

Java traces continue with `\\tat ...`, `Caused by:`, `... N more`; Python tracebacks with
`Traceback (most recent call last):`, indented frames and a final `SomeError: message`
line; exception class lines (`java.lang.IllegalStateException: boom`) belong to the
log line above them.
"""


class MultilineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    start_pattern: str = DEFAULT_START_PATTERN
    """Regex (Python `re`, matched at the line start) for the FIRST line of an entry;
    other lines are appended to the entry before them."""
    timeout_ms: int = Field(1000, ge=1)
    """An entry is complete when no line was appended for this long."""
    max_lines: int = Field(500, ge=1)
    max_bytes: int = Field(256 * KiB, ge=1)
    """Like every entry bound, below Kafka's default 1 MB message size: one record must hold the entry."""

    @field_validator("start_pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as e:
            raise ValueError(f"start_pattern is not a valid regular expression: {e}") from e
        return v


class ParseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["auto", "cri", "docker", "raw"] = "auto"
    """`auto` decides per line: CRI, else Docker json-file, else raw text."""
    max_merged_bytes: int = Field(256 * KiB, ge=1)
    """Bound on a line merged from CRI `P` pieces or Docker partial pieces; the excess is cut.
    256 KiB like Loki's max line size, and below Kafka's default 1 MB message size."""
    partial_timeout_ms: int = Field(5000, ge=1)
    """Partial pieces without their final piece are shipped as they are after this long."""
    multiline: MultilineConfig = MultilineConfig()
