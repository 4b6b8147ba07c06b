"""Go text/template as Loki's `line_format` and `label_format` run it: labels are the data (a missing label
is ""), `__line__` and `__timestamp__` are functions, and unknown functions are refused when the query is
parsed, not per line.

Supported: text and actions with `{{-`/`-}}` trimming and comments, pipelines, parenthesised pipelines,
fields and field chains, variables (`$x := ...`, `$x = ...`, `$`), string/raw/char/number/bool/nil
literals, if / else if / else, with / else, range (with `$i, $v :=`, break, continue), and the function
map in funcs.py. Not supported: define / template / block / call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from observ.logql.errors import LimitError, LogQLError
from observ.logql.log.template.funcs import (
    FUNCTIONS,
    MAX_LINE_SIZE,
    Func,
    GoTime,
    TemplateError,
    check_size,
    sprint_value,
    truth,
    type_name,
)

__all__ = ["Template", "TemplateError", "compile_template"]

_SPACE = " \t\r\n"
_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
_ENGINE_FUNCS = {"and", "or", "not", "len", "index", "slice", "eq", "ne", "lt", "le", "gt", "ge",
                 "__line__", "__timestamp__", "call"}  # fmt: skip


class _ParseError(Exception):
    pass


# --- lexer -----------------------------------------------------------------------------------------


class _Tok:
    __slots__ = ("kind", "pos", "val")

    def __init__(self, kind: str, val: str, pos: int) -> None:
        self.kind, self.val, self.pos = kind, val, pos


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalnum()


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    trim_next = False
    while True:
        j = text.find("{{", i)
        seg = text[i:] if j < 0 else text[i:j]
        if trim_next:
            seg = seg.lstrip(_SPACE)
        if j < 0:
            if seg:
                toks.append(_Tok("text", seg, i))
            toks.append(_Tok("eof", "", n))
            return toks
        k = j + 2
        if text.startswith("-", k) and k + 1 < n and text[k + 1] in _SPACE:
            seg = seg.rstrip(_SPACE)
            k += 2
        if seg:
            toks.append(_Tok("text", seg, i))
        if text.startswith("/*", k):
            end = text.find("*/", k + 2)
            if end < 0:
                raise _ParseError(_at(text, j, "unclosed comment"))
            i, trim_next = _right_delim(text, end + 2)
            if i < 0:
                raise _ParseError(_at(text, j, "comment ends before closing delimiter"))
            continue
        toks.append(_Tok("{{", "{{", j))
        i, trim_next = _lex_action(text, k, toks)


def _right_delim(text: str, i: int) -> tuple[int, bool]:
    """Position after `}}` (or ` -}}`) at i, and whether it trims; -1 if there is none."""
    if i + 1 < len(text) and text[i] in _SPACE and text[i + 1] == "-" and text.startswith("}}", i + 2):
        return i + 4, True
    if text.startswith("}}", i):
        return i + 2, False
    return -1, False


def _lex_action(text: str, i: int, toks: list[_Tok]) -> tuple[int, bool]:
    n = len(text)
    depth = 0
    while True:
        end, trim = _right_delim(text, i)
        if end >= 0:
            if depth:
                raise _ParseError(_at(text, i, "unclosed left paren"))
            toks.append(_Tok("}}", "}}", i))
            return end, trim
        if i >= n:
            raise _ParseError(_at(text, i, "unclosed action"))
        c = text[i]
        start = i
        if c in _SPACE:
            while i < n and text[i] in _SPACE and _right_delim(text, i)[0] < 0:
                i += 1
            toks.append(_Tok("space", text[start:i], start))
            continue
        if c == "=":
            toks.append(_Tok("=", c, i))
            i += 1
        elif c == ":":
            if not text.startswith(":=", i):
                raise _ParseError(_at(text, i, "expected :="))
            toks.append(_Tok(":=", ":=", i))
            i += 2
        elif c in "|,":
            toks.append(_Tok(c, c, i))
            i += 1
        elif c == "(":
            depth += 1
            toks.append(_Tok("(", c, i))
            i += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise _ParseError(_at(text, i, "unexpected right paren"))
            toks.append(_Tok(")", c, i))
            i += 1
        elif c == '"':
            i = _scan_quoted(text, i, '"')
            toks.append(_Tok("string", text[start:i], start))
        elif c == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise _ParseError(_at(text, i, "unterminated raw quoted string"))
            i = end + 1
            toks.append(_Tok("rawstring", text[start + 1 : end].replace("\r", ""), start))
        elif c == "'":
            i = _scan_quoted(text, i, "'")
            toks.append(_Tok("char", text[start:i], start))
        elif c == "$":
            i += 1
            while i < n and _is_alnum(text[i]):
                i += 1
            toks.append(_Tok("var", text[start:i], start))
            _check_terminator(text, i)
        elif (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9") or c in "+-" or "0" <= c <= "9":
            i = _scan_number(text, i)
            toks.append(_Tok("number", text[start:i], start))
        elif c == ".":
            i += 1
            while i < n and _is_alnum(text[i]):
                i += 1
            toks.append(_Tok("field" if i > start + 1 else "dot", text[start:i], start))
            _check_terminator(text, i)
        elif _is_alnum(c):
            while i < n and _is_alnum(text[i]):
                i += 1
            word = text[start:i]
            kind = "bool" if word in ("true", "false") else "nil" if word == "nil" else "ident"
            toks.append(_Tok("keyword" if word in _KEYWORDS else kind, word, start))
            _check_terminator(text, i)
        else:
            raise _ParseError(_at(text, i, f"unrecognized character in action: U+{ord(c):04X} '{c}'"))


def _check_terminator(text: str, i: int) -> None:
    if i >= len(text) or text[i] in _SPACE + ".,|:()" or _right_delim(text, i)[0] >= 0:
        return
    raise _ParseError(_at(text, i, f"bad character U+{ord(text[i]):04X} '{text[i]}'"))


def _scan_quoted(text: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == "\n":
            break
        if c == quote:
            return j + 1
        j += 1
    what = "quoted string" if quote == '"' else "character constant"
    raise _ParseError(_at(text, i, f"unterminated {what}"))


def _scan_number(text: str, i: int) -> int:
    n = len(text)
    if i < n and text[i] in "+-":
        i += 1
    digits = "0123456789_"
    if text.startswith("0", i) and i + 1 < n and text[i + 1] in "xXoObB":
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[text[i + 1].lower()]
        i += 2
    while i < n and text[i] in digits:
        i += 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i] in digits:
            i += 1
    exp = "eE" if len(digits) == 11 else "pP" if len(digits) == 23 else ""
    if exp and i < n and text[i] in exp:
        i += 1
        if i < n and text[i] in "+-":
            i += 1
        while i < n and text[i] in "0123456789_":
            i += 1
    if i < n and _is_alnum(text[i]):
        raise _ParseError(_at(text, i, f"bad number syntax: {text[: i + 1]!r}"))
    return i


def _at(text: str, pos: int, msg: str) -> str:
    return f"{text.count(chr(10), 0, pos) + 1}: {msg}"


# --- nodes -----------------------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("check", "line", "name", "root", "size", "ts", "vars")

    def __init__(self, name: str, root: dict[str, str], line: str, ts: int, check: Callable[[], None]) -> None:
        self.name, self.root, self.line, self.ts, self.check = name, root, line, ts, check
        self.vars: list[list[Any]] = [["$", root]]
        self.size = 0
        """Characters written so far: the output stops at MAX_LINE_SIZE, however many actions or loops."""

    def emit(self, out: list[str], text: str) -> None:
        self.size += len(text)
        check_size(self.size)
        out.append(text)


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_NO_FINAL = object()


class _Arg:
    """An operand. `literal` operands convert to the parameter's type the way Go's untyped constants do."""

    literal = False
    src = ""

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        raise NotImplementedError

    def const(self, kind: str) -> Any:
        raise NotImplementedError


class _Field(_Arg):
    def __init__(self, idents: list[str], src: str) -> None:
        self.idents, self.src = idents, src

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return _fields(ctx, dot, self.idents)


class _Var(_Arg):
    def __init__(self, name: str, idents: list[str], src: str) -> None:
        self.name, self.idents, self.src = name, idents, src

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        for name, value in reversed(ctx.vars):
            if name == self.name:
                return _fields(ctx, value, self.idents) if self.idents else value
        raise TemplateError(f"undefined variable: {self.name}")


class _Dot(_Arg):
    src = "."

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return dot


class _Chain(_Arg):
    def __init__(self, node: _Arg, idents: list[str], src: str) -> None:
        self.node, self.idents, self.src = node, idents, src

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return _fields(ctx, self.node.eval(ctx, dot), self.idents)


class _Const(_Arg):
    literal = True

    def __init__(self, value: Any, src: str, number: tuple[bool, bool, int, float] | None = None) -> None:
        self.value, self.src, self.number = value, src, number

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return self.value

    def const(self, kind: str) -> Any:
        v = self.value
        if kind == "a":
            return v
        if self.number is not None:
            is_int, _, i, f = self.number
            if kind == "i" and is_int:
                return i
            if kind == "f":
                return f
        elif kind == "s" and type(v) is str:
            return v
        raise TemplateError(f"expected {_KIND_NAMES[kind]}; found {self.src}")


_KIND_NAMES = {"s": "string", "i": "integer", "f": "float", "t": "time.Time"}


class _Ident(_Arg):
    """A function name; as an argument (`date "2006" now`) it is called without arguments, as in Go."""

    def __init__(self, name: str) -> None:
        self.name, self.src = name, name

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return _call(self.name, [], _NO_FINAL, ctx, dot)


class _Nil(_Arg):
    src = "nil"

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        return None


class _Command:
    __slots__ = ("args", "src", "where")

    def __init__(self, args: list[_Arg], where: str, src: str) -> None:
        self.args, self.where, self.src = args, where, src


class _Pipe(_Arg):
    def __init__(self, cmds: list[_Command], decl: list[str], assign: bool, src: str) -> None:
        self.cmds, self.decl, self.assign, self.src = cmds, decl, assign, src

    def eval(self, ctx: _Ctx, dot: Any) -> Any:
        value: Any = _NO_FINAL
        for cmd in self.cmds:
            value = _command(cmd, ctx, dot, value)
        for name in self.decl:
            if self.assign:
                for var in reversed(ctx.vars):
                    if var[0] == name:
                        var[1] = value
                        break
            else:
                ctx.vars.append([name, value])
        return value


class _Node:
    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        raise NotImplementedError


class _Text(_Node):
    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        ctx.emit(out, self.text)


class _Action(_Node):
    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        value = self.pipe.eval(ctx, dot)
        if not self.pipe.decl:
            ctx.emit(out, value if type(value) is str else sprint_value(value))


class _LabelAction(_Node):
    """`{{ .name }}`: the common case, without the general machinery."""

    def __init__(self, name: str) -> None:
        self.name = name

    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        if dot is ctx.root:
            ctx.emit(out, ctx.root.get(self.name, ""))
        else:
            ctx.emit(out, sprint_value(_fields(ctx, dot, [self.name])))


class _Branch(_Node):
    def __init__(self, kind: str, pipe: _Pipe, body: list[_Node], other: list[_Node]) -> None:
        self.kind, self.pipe, self.body, self.other = kind, pipe, body, other

    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        mark = len(ctx.vars)
        try:
            value = self.pipe.eval(ctx, dot)
            if self.kind == "range":
                self._range(ctx, dot, value, out)
            elif truth(value):
                _render(self.body, ctx, value if self.kind == "with" else dot, out)
            else:
                _render(self.other, ctx, dot, out)
        finally:
            del ctx.vars[mark:]

    def _range(self, ctx: _Ctx, dot: Any, value: Any, out: list[str]) -> None:
        if type(value) is dict:
            items = [(k, value[k]) for k in sorted(value)]
        elif type(value) is list:
            items = list(enumerate(value))
        elif value is None:
            items = []
        else:
            raise TemplateError(f"range can't iterate over {sprint_value(value)}")
        if not items:
            _render(self.other, ctx, dot, out)
            return
        base = len(ctx.vars)
        decl = self.pipe.decl
        for key, elem in items:
            del ctx.vars[base:]
            if len(decl) == 1:
                ctx.vars[base - 1][1] = elem
            elif len(decl) == 2:
                ctx.vars[base - 2][1] = key
                ctx.vars[base - 1][1] = elem
            try:
                _render(self.body, ctx, elem, out)
            except _Continue:
                continue
            except _Break:
                break


class _Flow(_Node):
    def __init__(self, exc: type[Exception]) -> None:
        self.exc = exc

    def render(self, ctx: _Ctx, dot: Any, out: list[str]) -> None:
        raise self.exc


def _render(nodes: list[_Node], ctx: _Ctx, dot: Any, out: list[str]) -> None:
    for node in nodes:
        node.render(ctx, dot, out)


# --- execution -------------------------------------------------------------------------------------


def _fields(ctx: _Ctx, value: Any, idents: list[str]) -> Any:
    for name in idents:
        if type(value) is dict:
            # labels are map[string]string: a missing one is ""; maps from fromJson hold interface{}: nil
            value = value.get(name, "" if value is ctx.root else None)
        elif value is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type_name(value)}")
    return value


def _command(cmd: _Command, ctx: _Ctx, dot: Any, final: Any) -> Any:
    first = cmd.args[0]
    try:
        if isinstance(first, _Ident):
            return _call(first.name, cmd.args[1:], final, ctx, dot)
        if len(cmd.args) > 1 or final is not _NO_FINAL:
            if isinstance(first, _Field | _Var | _Chain) and first.idents:
                raise TemplateError(f"{first.idents[-1]} is not a method but has arguments")
            raise TemplateError(f"can't give argument to non-function {first.src}")
        if isinstance(first, _Nil):
            raise TemplateError("nil is not a command")
        return first.eval(ctx, dot)
    except _Located:
        raise
    except TemplateError as e:
        raise _Located(f'template: {ctx.name}:{cmd.where}: executing "{ctx.name}" at <{cmd.src}>: {e}') from None


class _Located(TemplateError):
    """An error already prefixed with the template position (raised through enclosing commands as is)."""


def _check(value: Any, kind: str) -> Any:
    t = type(value)
    if kind == "a":
        return value
    expected = {"s": str, "i": int, "f": float, "t": GoTime}[kind]
    if t is expected:
        return value
    if value is None:
        raise TemplateError(f"invalid value; expected {_GO_TYPES[kind]}")
    raise TemplateError(f"wrong type for value; expected {_GO_TYPES[kind]}; got {type_name(value)}")


_GO_TYPES = {"s": "string", "i": "int", "f": "float64", "t": "time.Time"}


def _arg(node: _Arg, kind: str, ctx: _Ctx, dot: Any) -> Any:
    if node.literal:
        return node.const(kind)
    if isinstance(node, _Nil):
        if kind == "a":
            return None
        raise TemplateError(f"cannot assign nil to {_GO_TYPES[kind]}")
    return _check(node.eval(ctx, dot), kind)


def _call(name: str, nodes: list[_Arg], final: Any, ctx: _Ctx, dot: Any) -> Any:
    if name in ("and", "or"):
        return _and_or(name, nodes, final, ctx, dot)
    if name == "__line__":
        _arity(name, 0, None, len(nodes) + (final is not _NO_FINAL))
        return ctx.line
    if name == "__timestamp__":
        _arity(name, 0, None, len(nodes) + (final is not _NO_FINAL))
        return GoTime(ctx.ts)
    ctx.check()
    fn = _BUILTINS.get(name) or FUNCTIONS[name]
    given = len(nodes) + (final is not _NO_FINAL)
    _arity(name, len(fn.params), fn.variadic, given)
    args: list[Any] = []
    for i, node in enumerate(nodes):
        args.append(_arg(node, fn.params[i] if i < len(fn.params) else fn.variadic or "a", ctx, dot))
    if final is not _NO_FINAL:
        i = len(nodes)
        args.append(_check(final, fn.params[i] if i < len(fn.params) else fn.variadic or "a"))
    try:
        if name == "index":
            return _index(ctx, *args)
        result = fn.fn(*args, check=ctx.check) if fn.checked else fn.fn(*args)
        if type(result) is str and len(result) > MAX_LINE_SIZE:
            check_size(len(result))
        return result
    except LimitError:
        raise
    except TemplateError as e:
        raise TemplateError(f"error calling {name}: {e}") from None
    except (ArithmeticError, ValueError, TypeError, IndexError, KeyError) as e:
        raise TemplateError(f"error calling {name}: {e}") from None


def _arity(name: str, params: int, variadic: str | None, given: int) -> None:
    if variadic is None and given != params:
        raise TemplateError(f"wrong number of args for {name}: want {params} got {given}")
    if variadic is not None and given < params:
        raise TemplateError(f"wrong number of args for {name}: want at least {params} got {given}")


def _and_or(name: str, nodes: list[_Arg], final: Any, ctx: _Ctx, dot: Any) -> Any:
    count = len(nodes) + (final is not _NO_FINAL)
    if count == 0:
        raise TemplateError(f"wrong number of args for {name}: want at least 1 got 0")
    value: Any = None
    for i in range(count):
        value = nodes[i].eval(ctx, dot) if i < len(nodes) else final
        if truth(value) == (name == "or"):
            return value
    return value


def _basic_kind(v: Any) -> str | None:
    t = type(v)
    return "bool" if t is bool else "int" if t is int else "float" if t is float else "string" if t is str else None


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise TemplateError("missing argument for comparison")
    ka = _basic_kind(a)
    for b in bs:
        kb = _basic_kind(b)
        if ka != kb:
            if a is not None and b is not None:
                raise TemplateError("incompatible types for comparison")
            same = False
        elif ka is None:
            if type(a) in (dict, list) or type(b) in (dict, list):
                raise TemplateError(f"non-comparable type {sprint_value(a)}: {type_name(a)}")
            same = (a is None and b is None) or (type(a) is GoTime and type(b) is GoTime and a.ns == b.ns)
        else:
            same = a == b
        if same:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _basic_kind(a), _basic_kind(b)
    if ka is None or kb is None or ka == "bool" or kb == "bool":
        raise TemplateError("invalid type for comparison")
    if ka != kb:
        raise TemplateError("incompatible types for comparison")
    return a < b


def _len(v: Any) -> int:
    if type(v) is str:
        return len(v.encode())
    if type(v) in (dict, list):
        return len(v)
    raise TemplateError(f"len of type {type_name(v)}")


def _index(ctx: _Ctx, item: Any, *indices: Any) -> Any:
    for idx in indices:
        if type(item) is dict:
            if type(idx) is not str:
                raise TemplateError(f"value has type {type_name(idx)}; should be string")
            item = item.get(idx, "" if item is ctx.root else None)
        elif type(item) in (list, str):
            if type(idx) is not int:
                raise TemplateError(f"cannot index slice/array with type {type_name(idx)}")
            seq = item.encode() if type(item) is str else item
            if not 0 <= idx < len(seq):
                raise TemplateError(f"index out of range: {idx}")
            item = seq[idx]
        elif item is None:
            raise TemplateError("index of untyped nil")
        else:
            raise TemplateError(f"can't index item of type {type_name(item)}")
    return item


def _slice(item: Any, *idx: int) -> Any:
    if type(item) not in (str, list):
        raise TemplateError(f"can't slice item of type {type_name(item)}")
    if len(idx) > 2 + (type(item) is list):
        raise TemplateError("too many slice indexes")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= lo <= hi <= len(item):
        raise TemplateError(f"index out of range: {hi}")
    return item[lo:hi]


_BUILTINS: dict[str, Func] = {
    "not": Func(lambda v: not truth(v), "a"),
    "len": Func(_len, "a"),
    "index": Func(lambda *a: a, "a", "a"),
    "slice": Func(_slice, "a", "i"),
    "eq": Func(_eq, "a", "a"),
    "ne": Func(lambda a, b: not _eq(a, b), "aa"),
    "lt": Func(_lt, "aa"),
    "le": Func(lambda a, b: _lt(a, b) or _eq(a, b), "aa"),
    "gt": Func(lambda a, b: not (_lt(a, b) or _eq(a, b)), "aa"),
    "ge": Func(lambda a, b: not _lt(a, b), "aa"),
}


# --- parser ----------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.scopes: list[list[str]] = [["$"]]
        self.range_depth = 0

    def error(self, tok: _Tok, msg: str) -> _ParseError:
        return _ParseError(_at(self.text, tok.pos, msg))

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def next_non_space(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Tok:
        j = self.i
        while self.toks[j].kind == "space":
            j += 1
        return self.toks[j]

    def parse(self) -> list[_Node]:
        nodes, end = self.list_until()
        if end is not None:
            raise self.error(end, f"unexpected {{{{{end.val}}}}}")
        return nodes

    def list_until(self) -> tuple[list[_Node], _Tok | None]:
        """Nodes up to EOF or to an `{{end}}` / `{{else}}` (returned, its keyword token consumed)."""
        nodes: list[_Node] = []
        while True:
            tok = self.next()
            if tok.kind == "eof":
                return nodes, None
            if tok.kind == "text":
                nodes.append(_Text(tok.val))
                continue
            kw = self.peek_non_space()
            if kw.kind == "keyword" and kw.val in ("end", "else"):
                self.next_non_space()
                return nodes, kw
            nodes.append(self.action())

    def action(self) -> _Node:
        tok = self.peek_non_space()
        if tok.kind == "keyword":
            self.next_non_space()
            if tok.val in ("if", "with", "range"):
                return self.branch(tok.val, tok)
            if tok.val in ("break", "continue"):
                if not self.range_depth:
                    raise self.error(tok, f"{{{{{tok.val}}}}} outside {{{{range}}}}")
                self.expect_close()
                return _Flow(_Break if tok.val == "break" else _Continue)
            raise self.error(tok, f"{{{{{tok.val}}}}} is not supported")
        pipe = self.pipeline("command")
        if not pipe.decl and len(pipe.cmds) == 1 and len(pipe.cmds[0].args) == 1:
            only = pipe.cmds[0].args[0]
            if isinstance(only, _Field) and len(only.idents) == 1:
                return _LabelAction(only.idents[0])
        return _Action(pipe)

    def expect_close(self) -> None:
        tok = self.next_non_space()
        if tok.kind != "}}":
            raise self.error(tok, f"unexpected {tok.val!r} in action")

    def branch(self, kind: str, start: _Tok) -> _Node:
        self.scopes.append([])
        pipe = self.pipeline(kind)
        if kind == "range":
            self.range_depth += 1
        body, end = self.list_until()
        if kind == "range":
            self.range_depth -= 1
        other: list[_Node] = []
        if end is None:
            raise self.error(start, f"unexpected EOF in {kind}")
        if end.val == "else":
            nxt = self.peek_non_space()
            if nxt.kind == "keyword" and nxt.val == kind and kind != "range":
                # `{{else if ...}}` is `{{else}}{{if ...}}...{{end}}{{end}}` sharing the final {{end}}
                self.next_non_space()
                other = [self.branch(nxt.val, nxt)]
                self.scopes.pop()
                return _Branch(kind, pipe, body, other)
            self.expect_close()
            other, end = self.list_until()
            if end is None or end.val != "end":
                raise self.error(start, f"expected end; found {end.val if end else 'EOF'}")
        self.expect_close()
        self.scopes.pop()
        return _Branch(kind, pipe, body, other)

    def declarations(self, context: str) -> tuple[list[_Tok], bool]:
        """`$x :=`, `$x =`, or in a range `$i, $v :=`; nothing consumed when the pipeline has none."""
        save = self.i
        first = self.next_non_space()
        if first.kind == "var":
            op = self.next_non_space()
            if op.kind in (":=", "="):
                return [first], op.kind == "="
            if op.kind == "," and context == "range":
                second, op = self.next_non_space(), self.next_non_space()
                if second.kind == "var" and op.kind in (":=", "="):
                    return [first, second], op.kind == "="
                raise self.error(first, "range can only initialize variables")
            if op.kind == ",":
                raise self.error(first, "too many declarations in command")
        self.i = save
        return [], False

    def pipeline(self, context: str) -> _Pipe:
        start = self.peek_non_space()
        names, assign = self.declarations(context)
        if assign:
            for tok in names:
                if not self.declared(tok.val):
                    raise self.error(tok, f'undefined variable "{tok.val}"')
        decl = [tok.val for tok in names]
        cmds: list[_Command] = []
        end_kind = ")" if context == "paren" else "}}"
        while True:
            tok = self.peek_non_space()
            if tok.kind == end_kind:
                self.next_non_space()
                break
            cmds.append(self.command(end_kind))
            tok = self.peek_non_space()
            if tok.kind == "|":
                self.next_non_space()
        if not cmds:
            raise self.error(start, f"missing value for {context}")
        for idx, cmd in enumerate(cmds[1:], start=1):
            first = cmd.args[0]
            if isinstance(first, _Const | _Dot | _Nil):
                raise self.error(start, f"non executable command in pipeline stage {idx + 1}")
        if not assign:
            self.scopes[-1].extend(decl)
        src = self.text[start.pos : self.toks[self.i - 1].pos].strip()
        return _Pipe(cmds, decl, assign, src)

    def declared(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def command(self, end_kind: str) -> _Command:
        args: list[_Arg] = []
        start = self.peek_non_space()
        while True:
            tok = self.peek_non_space()
            if tok.kind in (end_kind, "|"):
                break
            if tok.kind in ("}}", ")", "eof"):
                raise self.error(tok, f"unexpected {tok.val!r} in operand")
            self.next_non_space()
            args.append(self.operand(tok))
            nxt = self.peek()
            if nxt.kind not in ("space", end_kind, "|", "}}", ")"):
                raise self.error(nxt, f"missing space? unexpected {nxt.val!r}")
        if not args:
            raise self.error(start, "empty command")
        src = self.text[start.pos : self.toks[self.i - 1].pos + len(self.toks[self.i - 1].val)].strip()
        line = self.text.count("\n", 0, start.pos) + 1
        return _Command(args, f"{line}:{start.pos - self.text.rfind(chr(10), 0, start.pos) - 1}", src)

    def operand(self, tok: _Tok) -> _Arg:
        node = self.term(tok)
        idents: list[str] = []
        while self.peek().kind == "field":
            idents.extend(self.next().val[1:].split("."))
        if not idents:
            return node
        src = node.src + "." + ".".join(idents)
        if isinstance(node, _Field):
            return _Field(node.idents + idents, src)
        if isinstance(node, _Var):
            return _Var(node.name, node.idents + idents, src)
        if isinstance(node, _Const | _Nil | _Ident):
            raise self.error(tok, f"unexpected . after term {node.src!r}")
        return _Chain(node, idents, src)

    def term(self, tok: _Tok) -> _Arg:
        k = tok.kind
        if k == "ident":
            if tok.val not in FUNCTIONS and tok.val not in _BUILTINS and tok.val not in _ENGINE_FUNCS:
                raise self.error(tok, f'function "{tok.val}" not defined')
            if tok.val == "call":
                raise self.error(tok, 'function "call" is not supported')
            return _Ident(tok.val)
        if k == "dot":
            return _Dot()
        if k == "nil":
            return _Nil()
        if k == "var":
            if not self.declared(tok.val):
                raise self.error(tok, f'undefined variable "{tok.val}"')
            return _Var(tok.val, [], tok.val)
        if k == "field":
            return _Field([tok.val[1:]], tok.val)
        if k == "bool":
            return _Const(tok.val == "true", tok.val)
        if k == "number":
            return self.number(tok)
        if k == "char":
            value = ord(_unquote(tok.val[1:-1], "'", tok, self))
            return _Const(value, tok.val, (True, True, value, float(value)))
        if k == "string":
            return _Const(_unquote(tok.val[1:-1], '"', tok, self), tok.val)
        if k == "rawstring":
            return _Const(tok.val, f"`{tok.val}`")
        if k == "(":
            self.scopes.append([])
            pipe = self.pipeline("paren")
            self.scopes.pop()
            self.scopes[-1].extend(pipe.decl)
            pipe.src = f"({pipe.src})"
            return pipe
        raise self.error(tok, f"unexpected {tok.val!r} in operand")

    def number(self, tok: _Tok) -> _Const:
        """Go's NumberNode: an int and/or a float; as an interface{} value, a float only if spelled like one."""
        text = tok.val
        is_int, is_float, i, f = False, False, 0, 0.0
        with contextlib.suppress(ValueError):
            i, is_int = _parse_go_int(text), True
        with contextlib.suppress(ValueError):
            f, is_float = _parse_go_float(text), True
        if is_int:
            f, is_float = float(i), True
        elif is_float:
            if not any(c in ".eEpP" for c in text):
                raise self.error(tok, f"integer overflow: {text!r}")
            if f.is_integer() and abs(f) < 2**63:
                is_int, i = True, int(f)
        else:
            raise self.error(tok, f"illegal number syntax: {text!r}")
        hex_int = text.lstrip("+-")[:2].lower() == "0x" and "p" not in text.lower()
        looks_float = any(c in ".eEpP" for c in text) and not hex_int
        return _Const(f if looks_float or not is_int else i, text, (is_int, is_float, i, f))


def _parse_go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64)."""
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign) :]
    if not body or body[0] in "+-_":
        raise ValueError(text)
    if len(body) > 1 and body[0] == "0" and body[1] not in "xXoObB":
        if not body.replace("_", "").isdigit() or "__" in body or body.endswith("_"):
            raise ValueError(text)
        value = int(body.replace("_", ""), 8)
    else:
        value = int(body, 0)
    value = -value if sign == "-" else value
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def _parse_go_float(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body.lower().startswith("0x"):
        return sign * float.fromhex(body.replace("_", ""))
    if body.lower() in ("inf", "infinity", "nan") or body[:1] not in "0123456789.":
        raise ValueError(text)
    return sign * float(body)


_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
               "'": "'", '"': '"'}  # fmt: skip


def _unquote(body: str, quote: str, tok: _Tok, parser: _Parser) -> str:
    """strconv.Unquote for Go string and character literals."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < n else ""
        if e in _GO_ESCAPES and (e != "'" or quote == "'") and (e != '"' or quote == '"'):
            out.append(_GO_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or any(ch not in "0123456789abcdefABCDEF" for ch in digits):
                raise parser.error(tok, f"invalid syntax: {tok.val}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(ch not in "01234567" for ch in digits):
                raise parser.error(tok, f"invalid syntax: {tok.val}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise parser.error(tok, f"invalid syntax: {tok.val}")
    result = "".join(out)
    if quote == "'" and len(result) != 1:
        raise parser.error(tok, f"malformed character constant: {tok.val}")
    return result


# --- public ----------------------------------------------------------------------------------------


def _no_check() -> None:
    pass


class Template:
    """A compiled template: call it with the labels (missing ones read as ""), the line and its timestamp.

    `simple_key` is set for a template that is exactly `{{.name}}`; Loki copies that label without the engine.
    """

    def __init__(self, text: str, name: str) -> None:
        self.name = name
        try:
            self.nodes = _Parser(text).parse()
        except _ParseError as e:
            raise LogQLError(f"template: {name}:{e}") from None
        only = self.nodes[0] if len(self.nodes) == 1 else None
        self.simple_key = only.name if isinstance(only, _LabelAction) else None

    def __call__(self, labels: dict[str, str], line: str, ts: int, check: Callable[[], None] = _no_check) -> str:
        """`check` raises when the query's deadline passed; it runs before every function call."""
        out: list[str] = []
        try:
            _render(self.nodes, _Ctx(self.name, labels, line, ts, check), labels, out)
        except RecursionError:
            raise TemplateError(f"template: {self.name}: exceeded maximum template depth") from None
        return "".join(out)


def compile_template(text: str, name: str = "line") -> Template:
    """Parse once per query; LogQLError (HTTP 400) for what Go's parser refuses, unknown functions included."""
    return Template(text, name)
