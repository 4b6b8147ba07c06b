"""`observ up`: the single-node default — collectors, store and API in one process, no broker.

With `--demo` it also runs the demo services (collectors/demo) and, when `prometheus` is on PATH, a Prometheus
scraping them and observ with the generated SLO rules loaded, whose URL the correlation API then reads.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from types import FrameType

import uvicorn
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live
from rich.table import Table

from collectors.log_adapter.config import AdapterConfig
from collectors.log_adapter.events import Metrics
from collectors.log_adapter.main import build_topology
from collectors.log_adapter.sinks.store import StoreSink
from collectors.log_adapter.sources.tail.config import TailConfig
from observ.api.app import create_app
from observ.api.config import ServeConfig
from observ.cli.datadir import listen, open_stores
from observ.cli.prometheus_runner import DEFAULT_PORT, PrometheusRunner, Targets, choose_port, find_rule_files
from observ.cli.refusal import Refused
from observ.cli.serve import Server, close_stores, start_otlp, uvicorn_config
from observ.ingester.metrics import IngestMetrics
from observ.model import DecodedBatch
from observ.store.lifecycle import start_maintenance
from observ.store.logstore import AppendResult, LogStore, Prepared

LOOPBACK = "127.0.0.1"


def reachable(host: str) -> str:
    """The address the demo and Prometheus send to when observ listens on `host` (a wildcard is this machine)."""
    if host in ("", "0.0.0.0"):
        return LOOPBACK
    if ":" in host:
        return "[::1]" if host == "::" else f"[{host}]"
    return host


class CountedStore:
    """The store as the in-process sink writes to it, counting what it stored in the ingester's metrics
    (`observ_ingested_lines_total{tenant,service,level}`, which the log-based SLIs read)."""

    def __init__(self, store: LogStore, metrics: IngestMetrics) -> None:
        self._store = store
        self._metrics = metrics
        metrics.rows.set(store.count())

    def prepare(self, batches: list[DecodedBatch]) -> Prepared:
        return self._store.prepare(batches)

    def write(self, prepared: Prepared) -> AppendResult:
        started = time.perf_counter()
        result = self._store.write(prepared)
        self._metrics.commit_seconds.observe(time.perf_counter() - started)
        self._metrics.written(result)
        self._metrics.last_commit.set_to_current_time()
        return result

    def maybe_compact(self) -> None:
        self._store.maybe_compact()

    def discard(self, prepared: Prepared) -> None:
        self._store.discard(prepared)


def _status(store: LogStore, metrics: Metrics, url: str, started: float) -> Table:
    table = Table(title=f"observ up — {url}  (Ctrl-C to stop)", title_justify="left")
    for col in ("service", "lines stored", "last entry"):
        table.add_column(col)
    for s in store.services():
        last = time.strftime("%H:%M:%S", time.localtime(int(str(s["last_ts"])) / 1e9))
        table.add_row(str(s["service"]), f"{s['lines']:,}", last)
    reg = metrics.registry
    read = reg.get_sample_value("observ_adapter_lines_read_total") or 0
    shipped = reg.get_sample_value("observ_adapter_entries_shipped_total") or 0
    table.caption = f"{read:,.0f} lines read, {shipped:,.0f} entries stored, up {time.monotonic() - started:.0f}s"
    return table


class DemoRun:
    """The demo workload and, when the binary is on PATH, its Prometheus; `stop()` ends both."""

    def __init__(self, config: ServeConfig, rate: float, prometheus_port: int | None, console: Console) -> None:
        from collectors.demo.workload import DemoWorkload

        self.prometheus: PrometheusRunner | None = None
        binary = shutil.which("prometheus")
        port = choose_port(LOOPBACK, prometheus_port) if binary else DEFAULT_PORT
        self._default_taken = prometheus_port is None and port != DEFAULT_PORT
        if binary:
            self.prometheus = PrometheusRunner(binary, port, config.data, host=LOOPBACK)
        observ = f"{reachable(config.host)}:{config.port}"
        tokens = list(config.api.auth.tokens)
        headers = {"authorization": f"Bearer {tokens[0]}"} if tokens else {}
        traces = f"http://{observ}/v1/traces" if config.api.otlp.enabled else None
        self.workload = DemoWorkload(config.data / "demo-logs", rate=rate, traces_url=traces, otlp_headers=headers)
        self.rules: list[Path] = []
        self._stopped = False
        if self.prometheus is None:
            console.print(
                "[yellow]prometheus is not on PATH: metrics correlation is off[/] (apt-get install prometheus)"
            )
            return
        self.rules = find_rule_files(Path.cwd())
        w = self.workload
        targets = Targets(w.targets, observ, w.prober.address, w.probes)
        try:
            self._start_prometheus(targets, retry=prometheus_port is None)
        except Refused:
            self.workload.stop()
            raise

    def _start_prometheus(self, targets: Targets, retry: bool) -> None:
        """A port chosen for the user was free when chosen; another demo starting at the same moment may take it
        first, so a chosen port gets one more try on any free one."""
        assert self.prometheus is not None
        try:
            self.prometheus.start(self.prometheus.write_config(targets, self.rules))
        except Refused:
            if not retry:
                raise
            with listen(LOOPBACK, 0) as sock:
                self.prometheus.port = int(sock.getsockname()[1])
            self._default_taken = True
            self.prometheus.start(self.prometheus.write_config(targets, self.rules))

    def with_prometheus(self, config: ServeConfig) -> ServeConfig:
        """`config` reading metrics and exemplars from this Prometheus (unless the settings name another one)."""
        if self.prometheus is None or config.api.prometheus is not None:
            return config
        return config.with_prometheus(self.prometheus.url)

    def banner(self, url: str) -> list[str]:
        targets = ", ".join(f"{name} {address}" for name, address in self.workload.targets.items())
        lines = [f"  demo services (/metrics on each): {targets}"]
        if self.prometheus:
            rules = f"{len(self.rules)} SLO rule files" if self.rules else "no SLO rules (no alerts/generated)"
            taken = f", {DEFAULT_PORT} is taken" if self._default_taken else ""
            lines.append(f"  Prometheus on {self.prometheus.url} (scrapes every 5s, exemplars on, {rules}{taken})")
        lines.append(f"  fault switch: observ demo fault payments --mode error|slow|off --addr {url}")
        return lines

    def start_when_serving(self, server: Server) -> None:
        """Start the traffic once observ answers, so the first spans have somewhere to go."""

        def wait() -> None:
            while not server.started and not self._stopped:
                time.sleep(0.05)
            if not self._stopped:
                self.workload.start()

        threading.Thread(target=wait, name="demo-start", daemon=True).start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.workload.stop()
        if self.prometheus:
            self.prometheus.stop()


class DemoFirstServer(Server):
    """On SIGINT/SIGTERM the demo stops before the server, so its last spans still reach /v1/traces."""

    def __init__(self, config: uvicorn.Config, demo_run: DemoRun) -> None:
        super().__init__(config)
        self._demo_run = demo_run
        self._exiting = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exiting:
            super().handle_exit(sig, frame)
            return
        self._exiting = True

        def stop() -> None:
            self._demo_run.stop()
            Server.handle_exit(self, sig, frame)

        threading.Thread(target=stop, name="demo-stop", daemon=True).start()


def run_up(
    config: ServeConfig,
    demo: bool,
    include: list[str],
    demo_rate: float,
    console: Console,
    prometheus_port: int | None = None,
) -> None:
    """Run until SIGINT/SIGTERM; the data folder and its store are created when missing. The demo's Prometheus
    takes `prometheus_port`, or without one 9090 when free, else any free port."""
    if config.kafka is not None:
        raise Refused("`kafka` in --config is for `observ serve`: observ up writes straight into the store")
    data = config.data
    store, spans = open_stores(data, create=True, settings=config.store)
    try:
        sock = listen(config.host, config.port)
    except Refused:
        close_stores(store, spans)
        raise
    metrics = Metrics(CollectorRegistry())
    try:
        otlp = start_otlp(store, spans, metrics.registry, config, console)
    except Refused:
        sock.close()
        close_stores(store, spans)
        raise
    try:
        demo_run = DemoRun(config, demo_rate, prometheus_port, console) if demo else None
    except Refused:
        otlp.stop()
        sock.close()
        close_stores(store, spans)
        raise
    globs = list(include)
    if demo_run:
        globs.append(demo_run.workload.glob)
        config = demo_run.with_prometheus(config)
    adapter_config = AdapterConfig(
        tail=TailConfig(include=globs, checkpoint_path=str(data / "adapter-checkpoints.json")),
        http_port=0,
        batch_linger_ms=100,
    )
    sink = StoreSink(CountedStore(store, IngestMetrics(metrics.registry)), defaults=config.api.push)
    topology = build_topology(adapter_config, metrics, sink=sink)
    adapter = threading.Thread(target=topology.run, name="log-adapter", daemon=True)
    app = create_app(
        store,
        metrics.registry,
        ready=adapter.is_alive,
        config=config.api,
        otlp_logs=otlp.logs,
        otlp_traces=otlp.traces,
        spans=spans,
    )
    if demo_run:
        from collectors.demo.control import fault_router
        from observ.api.auth import Tenancy

        app.include_router(fault_router(demo_run.workload.faults, Tenancy(config.api.auth)))
    uvicorn_settings = uvicorn_config(app, config.host, config.port, config.log_level)
    server = DemoFirstServer(uvicorn_settings, demo_run) if demo_run else Server(uvicorn_settings)
    url = f"http://{config.host}:{config.port}"
    adapter.start()
    if demo_run:
        demo_run.start_when_serving(server)
    started = time.monotonic()
    stop_status = threading.Event()

    def show() -> None:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while not stop_status.wait(1.0):
                live.update(_status(store, metrics, url, started))

    if globs:
        console.print(f"[bold]observ[/] tailing {', '.join(globs)}; data in {data}")
    else:
        console.print("[yellow]nothing to tail: pass --demo or --include GLOB[/]")
    console.print(f"Loki API on {url} (Grafana datasource URL); also /api/v1/services, /metrics, /healthz, /readyz")
    if otlp.logs:
        console.print(otlp.banner(url))
    if demo_run:
        for line in demo_run.banner(url):
            console.print(line, highlight=False)
    console.print(f'  try: observ query \'{{service=~".+"}} |= "error"\' --since 15m --addr {url}')
    status = threading.Thread(target=show, name="status", daemon=True)
    status.start()
    maintainer = start_maintenance({"logs": store, "spans": spans}, config.store, metrics.registry)
    try:
        server.run(sockets=[sock])
    finally:
        stop_status.set()
        status.join(timeout=2)
        if demo_run:
            demo_run.stop()
        otlp.stop()
        topology.stop()
        adapter.join(timeout=15)
        maintainer.stop()
        close_stores(store, spans)
        console.print("[bold]observ[/] stopped; checkpoints saved")
