"""`| regexp`: named groups of an RE2 expression become labels."""

from __future__ import annotations

from observ.logql.errors import LogQLError
from observ.logql.goregexp import compile_regex
from observ.logql.log.names import valid_label_name


class RegexpExtractor:
    """`| regexp "<re>"`: named groups become labels; a group that did not take part gives ""."""

    def __init__(self, pattern: str) -> None:
        self.regex = compile_regex(pattern)
        names = list(self.regex.groupindex)
        if not names:
            raise LogQLError("at least one named capture must be supplied")
        for name in names:
            if not valid_label_name(name):
                raise LogQLError(f"invalid extracted label name '{name}'")
        self.names = tuple(sorted(names, key=self.regex.groupindex.__getitem__))
        self._slots = [(name, self.regex.groupindex[name] - 1) for name in self.names]

    def extract(self, line: str) -> list[tuple[str, str]]:
        m = self.regex.search(line)
        if m is None:
            return []
        groups = m.groups()
        return [(name, groups[idx] or "") for name, idx in self._slots]
