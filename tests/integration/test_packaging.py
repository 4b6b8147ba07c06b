"""`pip install .` without extras gives a working `observ`: every subcommand's --help and real calls run.

The venv is built from a copy of the source tree (so no build/ lands in the checkout) with pip's
cache kept in ~/.cache/observ/pip, like the Kafka jars: only the first run downloads wheels.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer.main

from observ.cli.main import app
from tests.integration.harness import ROOT, free_port, wait_for

PIP_CACHE = Path.home() / ".cache" / "observ" / "pip"


def command_paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand of the typer app, as argv prefixes."""
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_paths(sub, (*path, name))


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    for package in ("observ", "collectors"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--cache-dir", str(PIP_CACHE), str(src)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return venv / "bin"


@pytest.mark.timeout(1200)
def test_every_file_of_the_packages_is_installed(venv_bin: Path) -> None:
    """Data files too (the LogQL grammar): a module that reads one fails only when it runs."""
    for package in ("observ", "collectors"):
        where = subprocess.run(
            [str(venv_bin / "python"), "-c", f"import {package}; print({package}.__file__)"],
            capture_output=True, text=True, check=True, cwd="/",
        )  # fmt: skip
        installed = Path(where.stdout.strip()).parent
        assert installed.is_relative_to(venv_bin.parent), installed
        assert _files(ROOT / package) == _files(installed)


@pytest.mark.timeout(1200)
def test_every_subcommand_help_runs_without_extras(venv_bin: Path) -> None:
    paths = list(command_paths(typer.main.get_command(app)))
    assert ("query",) in paths and ("slo", "import") in paths
    for path in paths:
        result = subprocess.run([str(venv_bin / "observ"), *path, "--help"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"observ {' '.join(path)} --help:\n{result.stdout}{result.stderr}"
        assert "Usage" in result.stdout


@pytest.mark.timeout(1200)
def test_real_calls_run_without_extras(venv_bin: Path, tmp_path: Path) -> None:
    observ = str(venv_bin / "observ")
    validate = subprocess.run(
        [observ, "slo", "validate", str(ROOT / "alerts" / "services.yaml")], capture_output=True, text=True, timeout=60
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [observ, "serve", "--create", "--data", str(tmp_path / "data"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _ready(serve, addr), 60, "observ serve /ready from the fresh venv")
        query = subprocess.run(
            [observ, "query", '{service="none"}', "--since", "5m", "--addr", addr],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert query.returncode == 0, query.stdout + query.stderr
        assert "0 results" in query.stderr
    finally:
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err.decode(errors="replace")[-2000:]


BUILD_ONLY = {"Dockerfile"}
"""Files beside the code that build images of it, never read by it at run time."""


def _files(package: Path) -> set[str]:
    return {
        str(p.relative_to(package))
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name not in BUILD_ONLY
    }


def _ready(proc: subprocess.Popen[bytes], addr: str) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"observ serve exited with {proc.returncode}: {proc.stderr.read().decode()[-3000:]}")
    try:
        return httpx.get(f"{addr}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
