"""A throwaway real Prometheus (Debian's /usr/bin/prometheus) on loopback, for tests of generated rules.

Why not the Debian service: it listens on 0.0.0.0:9090 with state in /var/lib/prometheus and 1m intervals.
This runs a private process instead: config, rule copies and TSDB in a temp dir, a free 127.0.0.1 port,
1s scrape and evaluation intervals, and `--web.enable-lifecycle` so tests can reload it.

CLI for poking at rules by hand:
`python scripts/prometheus_server.py --rules alerts/generated/*.rules.yml --target 127.0.0.1:8000`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from observ.cli.prometheus_runner import die_with_parent, stop_process

BINARY = "/usr/bin/prometheus"
LOOPBACK = "127.0.0.1"

# Loopback only: never through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

Sample = dict[str, Any]
"""One element of an instant-vector result: {"metric": {label: value}, "value": [ts, "string"]}."""


class PrometheusError(RuntimeError):
    """Prometheus could not be started, reached, or answered a query with an error."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def default_config(targets: Sequence[str], interval: str = "1s", job: str = "synthetic") -> dict[str, Any]:
    """prometheus.yml with short intervals so rules over fresh data evaluate within seconds."""
    config: dict[str, Any] = {"global": {"scrape_interval": interval, "evaluation_interval": interval}}
    if targets:
        config["scrape_configs"] = [
            {"job_name": job, "scrape_interval": interval, "static_configs": [{"targets": list(targets)}]}
        ]
    return config


def value(sample: Sample) -> float:
    return float(sample["value"][1])


class PrometheusServer:
    """One Prometheus process; `rule_files` are copied so `group_interval` can rewrite their groups' intervals.

    `flags` are extra command-line flags, e.g. `--enable-feature=exemplar-storage`.
    `group_interval` exists because generated long-window groups may run at a relaxed interval (minutes),
    whose first evaluation would come too late for a test; None leaves the files untouched.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        rule_files: Sequence[Path] = (),
        port: int | None = None,
        *,
        targets: Sequence[str] = (),
        group_interval: str | None = None,
        binary: str = BINARY,
        flags: Sequence[str] = (),
    ) -> None:
        self.config = dict(config) if config is not None else default_config(targets)
        self.rule_files = [Path(p) for p in rule_files]
        self.group_interval = group_interval
        self.binary = binary
        self.flags = list(flags)
        self._fixed_port = port
        self.port = port or 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self.dir is None:
            raise PrometheusError("not started")
        return self.dir / "prometheus.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        if self.running:
            return
        if not Path(self.binary).exists():
            raise PrometheusError(f"{self.binary} not found (Debian: apt-get install prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="observ-prometheus-"))
        config_path = self._write_config()
        # A port picked here may be taken before Prometheus binds it; only then is another one tried.
        for _ in range(3):
            self.port = self._fixed_port or free_port()
            self._spawn(config_path)
            if self._wait_ready(timeout):
                return
            log = self.log_tail()
            self.stop()
            if self._fixed_port is not None or "address already in use" not in log:
                raise PrometheusError(f"prometheus did not become ready on {self.url}:\n{log}")
        raise PrometheusError(f"prometheus found no free port:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, timeout)

    def destroy(self) -> None:
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def reload(self) -> None:
        """Rewrites config and rule copies from the current attributes and asks Prometheus to reload them."""
        if self.dir is None:
            raise PrometheusError("not started")
        self._write_config()
        self._request("/-/reload", method="POST")

    def query(self, expr: str) -> list[Sample]:
        """Instant query; only vectors are expected from rule series."""
        data = self._api("/api/v1/query", {"query": expr})
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr!r} returned a {data['resultType']}, not a vector")
        return list(data["result"])

    def wait_for(
        self,
        expr: str,
        ready: Callable[[list[Sample]], bool] = bool,
        timeout: float = 45.0,
        poll: float = 0.25,
    ) -> list[Sample]:
        """Polls `expr` until `ready(result)`; returns the last result either way, so the caller asserts on it."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if ready(result) or time.monotonic() >= deadline:
                return result
            if not self.running:
                raise PrometheusError(f"prometheus exited:\n{self.log_tail()}")
            time.sleep(poll)

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its group name, health and lastError (from /api/v1/rules)."""
        groups = self._api("/api/v1/rules", {})["groups"]
        return [{**rule, "group": g["name"], "file": g["file"]} for g in groups for rule in g["rules"]]

    def wait_for_rules(self, timeout: float = 45.0, poll: float = 0.25) -> list[dict[str, Any]]:
        """Polls until every loaded rule was evaluated once (health no longer "unknown"); returns them."""
        deadline = time.monotonic() + timeout
        while True:
            rules = self.rules()
            if (rules and all(r["health"] != "unknown" for r in rules)) or time.monotonic() >= deadline:
                return rules
            time.sleep(poll)

    def targets(self) -> list[dict[str, Any]]:
        return list(self._api("/api/v1/targets", {})["activeTargets"])

    def log_tail(self, lines: int = 40) -> str:
        if self.dir is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.destroy()

    def _write_config(self) -> Path:
        assert self.dir is not None
        rules_dir = self.dir / "rules"
        shutil.rmtree(rules_dir, ignore_errors=True)
        rules_dir.mkdir()
        copies = []
        for i, src in enumerate(self.rule_files):
            dst = rules_dir / f"{i:02d}-{src.name}"
            text = src.read_text()
            if self.group_interval is not None:
                doc = yaml.safe_load(text) or {}
                for group in doc.get("groups") or []:
                    group["interval"] = self.group_interval
                text = yaml.safe_dump(doc, sort_keys=False)
            dst.write_text(text)
            copies.append(str(dst))
        path = self.dir / "prometheus.yml"
        # JSON is YAML: no formatting surprises in label values or regexes.
        path.write_text(json.dumps({**self.config, "rule_files": copies}, indent=2))
        return path

    def _spawn(self, config_path: Path) -> None:
        assert self.dir is not None
        args = [
            self.binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
            *self.flags,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent
            )

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                return False
            try:
                self._request("/-/ready")
                return True
            except (PrometheusError, OSError):
                time.sleep(0.1)
        return False

    def _request(self, path: str, method: str = "GET") -> bytes:
        req = urllib.request.Request(self.url + path, method=method)
        try:
            with _OPENER.open(req, timeout=10) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as e:
            raise PrometheusError(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from e

    def _api(self, path: str, params: Mapping[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            body = json.loads(self._request(f"{path}?{query}" if query else path))
        except PrometheusError as e:
            raise PrometheusError(f"{path} {dict(params)}: {e}") from e
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params)}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", nargs="*", type=Path, default=[], help="rule files to load")
    parser.add_argument("--target", action="append", default=[], help="host:port to scrape (repeatable)")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the process is stopped and its temp dir removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with PrometheusServer(rule_files=args.rules, port=args.port, targets=args.target) as server:
        print(f"prometheus on {server.url} (data in {server.dir}); Ctrl-C stops it", flush=True)
        try:
            while server.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
