"""The per-line LogQL pipeline (filters, parsers, formatters, label stages), as Loki 3 runs it.

Everything is compiled once per query; `process` then runs per entry. Leading line filters test the
raw line before any per-entry state exists, so filter-only pipelines cost a few substring tests per line.

Label semantics follow Loki's LabelsBuilder:
- a parsed label whose name is a stream label or a structured metadata key gets the `_extracted` suffix
  (both are the entry's base labels);
- a parser error keeps the line and sets `__error__` (JSONParserErr, LogfmtParserErr) and
  `__error_details__`; later stages see them, label filters on `__error__` can drop them;
- `drop __error__` / `drop __error_details__` clear them; `keep` never removes them;
- with `preserve_errors` (a metric query that asked for `__error__`, see `preserves_errors` in ranges.py) a
  parser error also sets `__preserve_error__="true"`, Loki's addErrLabel, so the sample is not refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from observ.logql.errors import LogQLError
from observ.logql.goregexp import compile_regex
from observ.logql.log import ip
from observ.logql.log.json import JsonFields, json_labels
from observ.logql.log.label_filters import (
    ERROR_DETAILS_LABEL,
    ERROR_LABEL,
    LineState,
    compile_label_filter,
    compile_matcher,
)
from observ.logql.log.logfmt import logfmt_pairs
from observ.logql.log.names import sanitize_key
from observ.logql.log.pattern import PatternMatcher
from observ.logql.log.regexp import RegexpExtractor
from observ.logql.log.template import Template, TemplateError, compile_template
from observ.logql.log.unpack import unpack
from observ.logql.syntax import ast

__all__ = ["LineState", "Pipeline"]

JSON_ERR = "JSONParserErr"
LOGFMT_ERR = "LogfmtParserErr"
TEMPLATE_ERR = "TemplateFormatErr"
EXTRACTED = "_extracted"

LineFilterFn = Callable[[str], bool]
StageFn = Callable[[LineState], bool]

# https://github.com/acarl005/stripansi, as Loki's decolorize uses it (RE2, like every regex of a query)
_ANSI = compile_regex(
    "[\u001b\u009b][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\u0007)"
    "|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))"
)
_PARSERS = (ast.JsonParser, ast.LogfmtParser, ast.RegexpParser, ast.PatternParser, ast.UnpackParser)


class Pipeline:
    """Compiled pipeline stages of one query.

    `process(ts, line, labels)`: `labels` are the entry's stream labels plus its structured metadata and
    are never modified. Returns (line, labels) after every stage, or None when a filter dropped the entry.
    The returned dict is the input dict itself when no stage can touch labels (`changes_labels` False);
    treat it as read-only either way.
    """

    def __init__(
        self,
        stages: Sequence[ast.Stage],
        check: Callable[[], None] = lambda: None,
        preserve_errors: bool = False,
    ) -> None:
        """`check` raises when the query's deadline passed: called between stages and template function calls."""
        self.stages = tuple(stages)
        self._check = check
        self._preserve = preserve_errors
        n_head = 0
        while n_head < len(self.stages) and isinstance(self.stages[n_head], ast.LineFilter):
            n_head += 1
        self._head = [line_filter(s) for s in self.stages[:n_head] if isinstance(s, ast.LineFilter)]
        self._rest = [self._compile(s) for s in self.stages[n_head:]]
        self._changes = any(not isinstance(s, ast.LineFilter | ast.Decolorize) for s in self.stages)

    @property
    def has_parsers(self) -> bool:
        """Some stage extracts labels from the line (json, logfmt, regexp, pattern, unpack)."""
        return any(isinstance(s, _PARSERS) for s in self.stages)

    @property
    def changes_labels(self) -> bool:
        """Some stage may add, change or remove labels (errors included): labels differ per entry."""
        return self._changes

    @property
    def is_noop(self) -> bool:
        return not self.stages

    def process(self, ts: int, line: str, labels: dict[str, str]) -> tuple[str, dict[str, str]] | None:
        for f in self._head:
            if not f(line):
                return None
        if not self._rest:
            return line, labels
        st = LineState(ts, line, labels)
        check = self._check
        for stage in self._rest:
            check()
            if not stage(st):
                return None
        return st.line, st.result() if self._changes else labels

    # --- stage compilation -------------------------------------------------------------------------

    def _compile(self, stage: ast.Stage) -> StageFn:
        if isinstance(stage, ast.LineFilter):
            f = line_filter(stage)
            return lambda st: f(st.line)
        if isinstance(stage, ast.LabelFilter):
            return compile_label_filter(stage.expr)
        if isinstance(stage, ast.JsonParser):
            return self._json_fields(stage.params) if stage.params else self._json()
        if isinstance(stage, ast.LogfmtParser):
            if stage.params:
                return self._logfmt_fields(stage)
            return self._logfmt(stage.strict, stage.keep_empty)
        if isinstance(stage, ast.RegexpParser):
            return self._regexp(stage.pattern)
        if isinstance(stage, ast.PatternParser):
            return self._pattern(stage.pattern)
        if isinstance(stage, ast.UnpackParser):
            return self._unpack()
        if isinstance(stage, ast.Decolorize):
            return _decolorize
        if isinstance(stage, ast.LineFormat):
            return _line_format(stage.template, self._check)
        if isinstance(stage, ast.LabelFormat):
            return _label_format(stage.items, self._check)
        if isinstance(stage, ast.DropLabels):
            return _drop(stage.labels)
        if isinstance(stage, ast.KeepLabels):
            return _keep(stage.labels)
        raise LogQLError(f"unsupported pipeline stage {type(stage).__name__}")

    def _fail(self, st: LineState, err: str, details: str) -> None:
        """A parser's error (Loki's addErrLabel): kept on the sample when the query asked for `__error__`."""
        st.err = err
        if details:
            st.details = details
        if self._preserve:
            st.preserve = True

    def _name(self, st: LineState, name: str) -> str:
        """Loki's BaseHas rule: a name taken by a stream label or structured metadata gets the `_extracted` suffix."""
        return name + EXTRACTED if name in st.base else name

    def _json(self) -> StageFn:
        def stage(st: LineState) -> bool:
            err = json_labels(st.line, st.labels, st.base)
            if err is not None:
                self._fail(st, JSON_ERR, err)
            return True

        return stage

    def _json_fields(self, params: tuple[tuple[str, str], ...]) -> StageFn:
        fields = JsonFields(params)

        def stage(st: LineState) -> bool:
            line = st.line
            if not line:
                return True
            if line[0] not in '"{[':
                self._fail(st, JSON_ERR, "")  # Loki sets no details here
                return True
            labels = st.labels
            for ident, value in fields.extract(line):
                labels[self._name(st, ident)] = value
            for ident in fields.ids:
                if ident not in labels:
                    labels[ident] = ""
            return True

        return stage

    def _logfmt(self, strict: bool, keep_empty: bool) -> StageFn:
        names: dict[str, str] = {}

        def stage(st: LineState) -> bool:
            pairs, err = logfmt_pairs(st.line, strict)
            labels, base = st.labels, st.base
            for key, value in pairs:
                name = names.get(key)
                if name is None:
                    name = sanitize_key(key)
                    if len(names) < 4096:
                        names[key] = name
                if not name or (not value and not keep_empty):
                    continue
                if name in base:
                    name += EXTRACTED
                labels[name] = value.replace("\ufffd", " ") if "\ufffd" in value else value
            if strict and err is not None:
                self._fail(st, LOGFMT_ERR, err)
            return True

        return stage

    def _logfmt_fields(self, stage_ast: ast.LogfmtParser) -> StageFn:
        """`| logfmt host, ip="fwd"`: every named label exists afterwards ("" when its key is absent)."""
        ids = [ident for ident, _ in stage_ast.params]
        orig_to_id: dict[str, str] = {}
        for ident, key in stage_ast.params:
            orig_to_id.setdefault(key or ident, ident)
        wanted = set(ids)
        strict = stage_ast.strict

        def stage(st: LineState) -> bool:
            labels, base = st.labels, st.base
            for ident in ids:
                if ident not in base:
                    labels[ident] = ""
            pairs, err = logfmt_pairs(st.line, strict)
            for key, value in pairs:
                name = sanitize_key(key)
                name = orig_to_id.get(name, name)
                if name in wanted:
                    labels[self._name(st, name)] = "" if "\ufffd" in value else value
            if strict and err is not None:
                self._fail(st, LOGFMT_ERR, err)
            return True

        return stage

    def _regexp(self, pattern: str) -> StageFn:
        extractor = RegexpExtractor(pattern)

        def stage(st: LineState) -> bool:
            labels = st.labels
            for name, value in extractor.extract(st.line):
                labels[self._name(st, name)] = value
            return True

        return stage

    def _pattern(self, pattern: str) -> StageFn:
        matcher = PatternMatcher(pattern)
        names = matcher.names

        def stage(st: LineState) -> bool:
            labels = st.labels
            for name, value in zip(names, matcher.matches(st.line), strict=False):
                name = self._name(st, name)
                # Loki's pattern parser (unlike the others) does not overwrite a label this entry already
                # got from structured metadata or an earlier stage
                if name not in labels:
                    labels[name] = value
            return True

        return stage

    def _unpack(self) -> StageFn:
        def stage(st: LineState) -> bool:
            if not st.line:
                return True
            entry, fields, err = unpack(st.line)
            if err is not None:
                self._fail(st, JSON_ERR, err)
                return True
            if entry is None:
                return True
            labels = st.labels
            for key, value in fields:
                name = sanitize_key(self._name(st, key))
                if name:
                    labels[name] = value
            st.line = entry
            return True

        return stage


def line_filter(f: ast.LineFilter) -> LineFilterFn:
    """`|= "a" or "b"`, `!= ...`, `|~`, `!~`, `|>`, `!>` as a test of the raw line."""
    op = f.op
    values = [v for v in f.values if isinstance(v, str)]
    if len(values) < len(f.values):
        return _ip_line_filter(f)
    if op in (ast.LineFilterOp.CONTAINS, ast.LineFilterOp.NOT_CONTAINS):
        negate = op is ast.LineFilterOp.NOT_CONTAINS
        if len(values) == 1:
            needle = values[0]
            return (lambda line: needle not in line) if negate else (lambda line: needle in line)
        if negate:
            return lambda line: not any(v in line for v in values)
        return lambda line: any(v in line for v in values)
    if op in (ast.LineFilterOp.MATCH, ast.LineFilterOp.NOT_MATCH):
        searches = [compile_regex(v).search for v in values]
        negate = op is ast.LineFilterOp.NOT_MATCH
        if len(searches) == 1:
            search = searches[0]
            return (lambda line: search(line) is None) if negate else (lambda line: search(line) is not None)
        if negate:
            return lambda line: not any(s(line) for s in searches)
        return lambda line: any(s(line) for s in searches)
    tests = [PatternMatcher(v, line_filter=True).test for v in values]
    if op is ast.LineFilterOp.NOT_PATTERN:
        return lambda line: not any(t(line) for t in tests)
    return lambda line: any(t(line) for t in tests)


def _ip_line_filter(f: ast.LineFilter) -> LineFilterFn:
    """An `or` chain holding ip(): only `|=` and `!=` take one, so the other operands are substrings."""
    tests = [ip.line_filter(v.pattern, f.op) if isinstance(v, ast.IpPattern) else _contains(v) for v in f.values]
    if f.op is ast.LineFilterOp.NOT_CONTAINS:
        return lambda line: not any(t(line) for t in tests)
    return lambda line: any(t(line) for t in tests)


def _contains(needle: str) -> LineFilterFn:
    return lambda line: needle in line


def _decolorize(st: LineState) -> bool:
    if "\u001b" in st.line or "\u009b" in st.line:
        st.line = _ANSI.sub("", st.line)
    return True


def _template_data(st: LineState) -> dict[str, str]:
    """What a template sees: the labels plus `__error__` / `__error_details__` when set."""
    if not st.err and not st.details:
        return st.labels
    data = dict(st.labels)
    if st.err:
        data[ERROR_LABEL] = st.err
    if st.details:
        data[ERROR_DETAILS_LABEL] = st.details
    return data


def _line_format(text: str, check: Callable[[], None]) -> StageFn:
    try:
        tmpl = compile_template(text, "line")
    except LogQLError as e:
        raise LogQLError(f"invalid line template: {e}") from None
    key = tmpl.simple_key
    if key is not None:
        # Loki copies the label as is (the error labels are not labels here, so they read as "")

        def simple(st: LineState) -> bool:
            st.line = st.labels.get(key, "")
            return True

        return simple

    def stage(st: LineState) -> bool:
        try:
            st.line = tmpl(_template_data(st), st.line, st.ts, check)
        except TemplateError as e:
            st.err, st.details = TEMPLATE_ERR, str(e)
        return True

    return stage


def _label_format(items: tuple[ast.LabelFormatItem, ...], check: Callable[[], None]) -> StageFn:
    seen: set[str] = set()
    compiled: list[tuple[str, str, Template | None]] = []
    for item in items:
        if item.dst == ERROR_LABEL:
            raise LogQLError(f"{ERROR_LABEL} cannot be formatted")
        if item.dst in seen:
            raise LogQLError(f"multiple label name '{item.dst}' not allowed in a single format operation")
        seen.add(item.dst)
        if item.template:
            try:
                tmpl = compile_template(item.value, "label")
            except LogQLError as e:
                raise LogQLError(f"invalid template for label '{item.dst}': {e}") from None
            compiled.append((item.dst, item.value, tmpl))
        else:
            compiled.append((item.dst, item.value, None))

    def stage(st: LineState) -> bool:
        labels = st.labels
        data: dict[str, str] | None = None
        for dst, src, tmpl in compiled:
            if tmpl is None:
                if src in labels:
                    value = labels[src]
                    labels[dst] = value
                    del labels[src]
                continue
            if data is None:
                # Loki renders every template of one label_format against the labels as they were
                # when the first template ran
                data = dict(_template_data(st))
            try:
                labels[dst] = tmpl(data, st.line, st.ts, check)
            except TemplateError as e:
                st.err, st.details = TEMPLATE_ERR, str(e)
        return True

    return stage


def _drop(refs: tuple[ast.LabelRef, ...]) -> StageFn:
    plan = [(ref.matcher.name, compile_matcher(ref.matcher)) if ref.matcher else (ref.name, None) for ref in refs]

    def stage(st: LineState) -> bool:
        labels = st.labels
        for name, match in plan:
            if name == ERROR_LABEL:
                if match is None or match(st.err):
                    st.err = ""
            elif name == ERROR_DETAILS_LABEL:
                if match is None or match(st.details):
                    st.details = ""
            elif match is None or match(labels.get(name, "")):
                labels.pop(name, None)
        return True

    return stage


def _keep(refs: tuple[ast.LabelRef, ...]) -> StageFn:
    names = {ref.name for ref in refs if ref.matcher is None}
    matchers = [(ref.matcher.name, compile_matcher(ref.matcher)) for ref in refs if ref.matcher is not None]
    if not refs:
        return lambda st: True

    def keep(name: str, value: str) -> bool:
        if name in names:
            return True
        return any(n == name and match(value) for n, match in matchers)

    def stage(st: LineState) -> bool:
        labels = st.labels
        for name in [n for n, v in labels.items() if not keep(n, v)]:
            del labels[name]
        return True

    return stage
