"""Every name a package imports from another package's module is in that module's `__all__`, and every name in an
`__all__` exists: a new cross-package import of a private name fails here, not in a later refactoring."""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("observ", "collectors", "bench", "scripts")
SURFACES = (
    "observ.bus",
    "observ.ingester.ingester",
    "observ.ingester.lanes",
    "observ.ingester.metrics",
    "observ.ingester.records",
    "observ.logql.engine",
    "observ.store.config",
    "observ.store.logstore",
    "observ.traces.store",
)
"""The modules other packages build on: each must declare `__all__`."""


def package_of(module: str) -> str:
    """The part a module belongs to: `observ.<part>` for the library's subpackages, the top folder otherwise."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "observ" else parts[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def cross_package_imports() -> dict[str, set[tuple[str, str]]]:
    """Module -> (name, importing module) for every `from module import name` written in another package."""
    found: dict[str, set[tuple[str, str]]] = {}
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            importer = module_name(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and node.module
                    and package_of(node.module) != package_of(importer)
                ):
                    for alias in node.names:
                        found.setdefault(node.module, set()).add((alias.name, importer))
    return found


def declared_surfaces() -> list[str]:
    """SURFACES and every other module under observ/ and collectors/ that declares an `__all__`."""
    declared = set(SURFACES)
    for top in ("observ", "collectors"):
        for path in (ROOT / top).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            if any(isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "__all__" for n in tree.body):
                declared.add(module_name(path))
    return sorted(declared)


def test_the_scan_sees_cross_package_imports() -> None:
    imports = cross_package_imports()
    assert ("Ingester", "observ.cli.serve") in imports["observ.ingester.ingester"]
    assert ("BusConfig", "observ.ingester.ingester") in imports["observ.bus"]
    assert not any(importer.startswith("observ.store.") for _, importer in imports.get("observ.store.config", ()))


@pytest.mark.parametrize("module", declared_surfaces())
def test_surface(module: str) -> None:
    mod = importlib.import_module(module)
    public = getattr(mod, "__all__", None)
    assert public is not None, f"{module} is imported by other packages and declares no __all__"
    assert len(set(public)) == len(public), f"{module}.__all__ lists a name twice"
    missing = sorted(name for name in public if not hasattr(mod, name))
    assert not missing, f"{module}.__all__ lists names it does not define: {missing}"
    private = sorted(
        f"{name} (imported by {importer})"
        for name, importer in cross_package_imports().get(module, ())
        if name not in public and not isinstance(getattr(mod, name, None), type(mod))
    )
    assert not private, f"other packages import names {module}.__all__ does not list: {private}"
