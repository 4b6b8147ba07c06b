"""Any value of any type anywhere in a spec is either imported or refused with SpecError — never a crash."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from observ.slo.importers import SpecError, import_documents

from .test_import_openslo import OPENSLO
from .test_import_sloth import SLOTH

ODD_VALUES: list[Any] = [None, "x", 7, 0.5, True, [1], {"a": 1}, []]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _mutants(text: str) -> Iterator[list[Any]]:
    docs = list(yaml.safe_load_all(text))
    for d, doc in enumerate(docs):
        for path in _paths(doc):
            if not path:
                continue
            for value in ODD_VALUES:
                mutated = copy.deepcopy(docs)
                target = mutated[d]
                for step in path[:-1]:
                    target = target[step]
                target[path[-1]] = value
                yield mutated


@pytest.mark.parametrize("spec", [SLOTH, OPENSLO], ids=["sloth", "openslo"])
def test_mutated_specs_import_or_refuse_cleanly(spec: str) -> None:
    refused = 0
    for docs in _mutants(spec):
        try:
            import_documents(docs, "m.yaml")
        except SpecError as e:
            assert str(e).startswith("m.yaml"), str(e)
            refused += 1
    assert refused > 50
