"""TraceQL syntax tree: frozen dataclasses that print themselves as Tempo's `String()` does.

Positions (`at`: line, column) are kept for error messages and left out of equality, so tests compare trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

StaticType = Literal["string", "int", "float", "bool", "duration", "status", "kind", "nil"]
Scope = Literal["", "span", "resource", "parent", "event", "link", "instrumentation"]
Pos = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Static:
    """A literal; `duration` values are nanoseconds, `status`/`kind` values their TraceQL names."""

    type: StaticType
    value: str | int | float | bool | None
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        if self.type == "string":
            return f"`{self.value}`"
        if self.type == "bool":
            return "true" if self.value else "false"
        if self.type == "nil":
            return "nil"
        if self.type == "duration":
            return f"{self.value}ns"
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Attribute:
    """`.name` (scope ""), `span.name`, `resource.name`, ... ; the name is unquoted (`span."a b"` -> `a b`)."""

    scope: Scope
    name: str
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.scope}.{_quote_name(self.name)}"


@dataclass(frozen=True, slots=True)
class Intrinsic:
    """`name`, `status`, `duration`, ... ; `scope` is set for scoped intrinsics (`span:name`, `trace:duration`)."""

    name: str
    scope: str = ""
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}" if self.scope else self.name


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: FieldExpr
    right: FieldExpr
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{_wrap(self.left)} {self.op} {_wrap(self.right)}"


@dataclass(frozen=True, slots=True)
class Unary:
    op: Literal["!", "-"]
    operand: FieldExpr
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.op}{_wrap(self.operand)}"


FieldExpr = Union[Static, Attribute, Intrinsic, Binary, Unary]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class SpansetFilter:
    """`{ expr }`; `{ }` holds `true`, as Tempo's parser makes it."""

    expr: FieldExpr
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{{ {self.expr} }}"


@dataclass(frozen=True, slots=True)
class SpansetOp:
    """`&&`, `||`, or a structural operator (`>>`, `>`, `~`, ...) between spansets."""

    op: str
    left: SpansetExpr
    right: SpansetExpr
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"({self.left}) {self.op} ({self.right})"


@dataclass(frozen=True, slots=True)
class Pipeline:
    """`<spansets> | <rest>`: parsed only so far as to be refused by name."""

    spansets: SpansetExpr
    rest: str
    at: Pos = field(default=(0, 0), compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.spansets} | {self.rest}"


SpansetExpr = Union[SpansetFilter, SpansetOp]  # noqa: UP007
Query = Union[SpansetFilter, SpansetOp, Pipeline]  # noqa: UP007


def _wrap(e: FieldExpr) -> str:
    return f"({e})" if isinstance(e, Binary | Unary) else str(e)


def _quote_name(name: str) -> str:
    if name and all(not c.isspace() and c not in '{}()=~!<>&|^,"' for c in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
