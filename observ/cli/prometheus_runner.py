"""The Prometheus of `observ up --demo`: the `prometheus` binary on PATH, run on loopback with its data in the data
folder, scraping the demo services, their blackbox probe and observ's own /metrics every 5 s, with the generated
SLO rules loaded.

Exemplar storage is on, so the histograms' `trace_id` exemplars can be read back (`/api/v1/query_exemplars`).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from observ.cli.datadir import listen
from observ.cli.refusal import Refused

DEFAULT_PORT = 9090
SCRAPE_INTERVAL = "5s"
PERIOD_INTERVAL = "30s"
"""Generated full-period groups run every 5m; a fresh demo would wait that long for its first budget figures."""
ROOT = Path(__file__).resolve().parents[2]


def find_rule_files(cwd: Path) -> list[Path]:
    """`alerts/generated/*.rules.yml` (what `observ slo generate` writes) of the working folder, else of the source
    tree observ runs from; none when neither has them."""
    for folder in (cwd / "alerts" / "generated", ROOT / "alerts" / "generated"):
        files = sorted(folder.glob("*.rules.yml"))
        if files:
            return files
    return []


def choose_port(host: str, requested: int | None) -> int:
    """`requested` when free, else Refused. Without one, 9090 when free, else any free port: on Debian the
    prometheus package runs its own server on 9090, which the demo leaves alone."""
    try:
        listen(host, requested or DEFAULT_PORT).close()
        return requested or DEFAULT_PORT
    except Refused as e:
        if requested is not None:
            raise Refused(f"Prometheus {e} (pick another with --prometheus-port)") from None
    with listen(host, 0) as sock:
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Targets:
    """What the demo's Prometheus scrapes."""

    services: Mapping[str, str]
    """Demo service name → `host:port` of its /metrics."""
    observ: str
    """`host:port` of observ's own /metrics."""
    prober: str | None = None
    """`host:port` of the blackbox prober, which probes `probes` (URLs) when scraped."""
    probes: Sequence[str] = ()


def scrape_config(targets: Targets, rules: Sequence[str]) -> dict[str, object]:
    """prometheus.yml: each demo service a target labelled with its `service` (as Kubernetes relabelling would),
    observ itself a target of job `observ`, and the probes through the prober as blackbox_exporter's README
    configures it (job `blackbox`, `instance` = the probed URL)."""
    demo = [{"targets": [address], "labels": {"service": name}} for name, address in sorted(targets.services.items())]
    jobs: list[dict[str, object]] = [
        {"job_name": "demo", "static_configs": demo},
        {"job_name": "observ", "static_configs": [{"targets": [targets.observ]}]},
    ]
    if targets.prober and targets.probes:
        relabel = [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": targets.prober},
        ]
        jobs.append({
            "job_name": "blackbox", "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": list(targets.probes)}], "relabel_configs": relabel,
        })  # fmt: skip
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": jobs,
        "rule_files": list(rules),
    }


def sooner_period_groups(text: str) -> str:
    """A rule file whose groups with an interval of their own (the relaxed full-period ones) run every
    PERIOD_INTERVAL; the others keep the global evaluation interval."""
    doc = yaml.safe_load(text) or {}
    for group in doc.get("groups") or []:
        if "interval" in group:
            group["interval"] = PERIOD_INTERVAL
    return yaml.safe_dump(doc, sort_keys=False)


def die_with_parent() -> None:
    """In the child before exec: Prometheus gets SIGTERM when its parent dies, even by SIGKILL."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM, then SIGKILL past `timeout` (Prometheus flushes its head block on the way out)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


class PrometheusRunner:
    """Files under `<data>/prometheus/`: prometheus.yml, rules/, tsdb/ and prometheus.log."""

    def __init__(self, binary: str, port: int, data: Path, host: str = "127.0.0.1") -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self.dir = data / "prometheus"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_config(self, targets: Targets, rule_files: Sequence[Path]) -> Path:
        rules = self.dir / "rules"
        shutil.rmtree(rules, ignore_errors=True)
        rules.mkdir(parents=True)
        copies = []
        for src in rule_files:
            dst = rules / src.name
            dst.write_text(sooner_period_groups(src.read_text()))
            copies.append(str(dst))
        path = self.dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(scrape_config(targets, copies), sort_keys=False))
        return path

    def start(self, config: Path, timeout: float = 30.0) -> None:
        """Start and wait until ready; Refused with the end of its log when it exits or never gets ready."""
        args = [
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.dir / 'tsdb'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
        ]
        with (self.dir / "prometheus.log").open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2.0) as client:
            while self.proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.stop()
        raise Refused(f"Prometheus did not start on {self.url}: {self.log_tail() or 'no output'}")

    def log_tail(self) -> str:
        path = self.dir / "prometheus.log"
        lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        return lines[-1] if lines else ""

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, timeout)
