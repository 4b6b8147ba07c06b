"""Any value of any type anywhere in a services file loads or yields positioned issues — never a crash."""

from __future__ import annotations

import yaml

from observ.slo.load import DefinitionError, parse_definitions

from .test_import_robust import ODD_VALUES, _paths
from .test_load import GOOD


def test_mutated_definitions_load_or_report_positions() -> None:
    doc = yaml.safe_load(GOOD)
    reported = 0
    for path in _paths(doc):
        if not path:
            continue
        for value in ODD_VALUES:
            mutated = yaml.safe_load(GOOD)
            target = mutated
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
            text = yaml.safe_dump(mutated, sort_keys=False)
            try:
                parse_definitions(text, "m.yaml")
            except DefinitionError as e:
                reported += 1
                assert e.issues
                for issue in e.issues:
                    assert issue.file == "m.yaml" and issue.message
                    assert 1 <= issue.line <= len(text.splitlines()) + 1, str(issue)
    assert reported > 100
