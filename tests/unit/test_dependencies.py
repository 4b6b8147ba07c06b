"""Every module the shipped packages import is installed by `pip install observ` (no extras)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"observ", "collectors"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalise(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]) for r in requirements}


def _imported_modules(package: Path) -> dict[str, str]:
    """Top-level module -> one file importing it (absolute imports only, wherever they appear)."""
    found: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_runtime_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for package in sorted(FIRST_PARTY):
        for module, where in _imported_modules(ROOT / package).items():
            if module in FIRST_PARTY or module in sys.stdlib_module_names or module == "__future__":
                continue
            providers = {_normalise(d) for d in distributions.get(module, [module])}
            if not providers & declared:
                missing.append(f"{module} (imported by {where}, provided by {sorted(providers)})")
    assert not missing, f"not in [project] dependencies: {missing}"


def test_test_and_benchmark_only_packages_stay_out_of_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = _requirement_names(project["dependencies"])
    dev = _requirement_names(project["optional-dependencies"]["dev"])
    assert not {"psutil", "pytest", "hypothesis", "ruff"} & runtime
    assert "psutil" in dev
