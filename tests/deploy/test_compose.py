"""docker-compose.yml read as compose would: its services, ports, volumes and configs agree with each other, with
Grafana's provisioning and with the code's own settings models, so `docker compose up` gives a connected stack.

The file is validated against the Compose Specification schema that `docker compose` itself embeds (compose-go's
schema/compose-spec.json, copied to compose-spec.json beside this module; its source, version and Apache-2.0 licence
in compose-spec.SOURCE), so a file compose would reject fails here without Docker; `docker compose config` runs too
where the compose plugin is installed."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from jsonschema.exceptions import ValidationError
from jsonschema.validators import validator_for

from collectors.demo.control import switch_fault
from collectors.demo.faults import FaultMode
from collectors.demo.podlog import PodLog
from collectors.demo.topology import SERVICES as DEMO_SERVICES
from collectors.log_adapter.config import AdapterConfig, load_config
from observ.api.config import ServeConfig
from observ.cli.prometheus_runner import find_rule_files
from tests.integration.harness import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
VERSION_TAG = re.compile(r"^[a-z0-9./_-]+:v?\d+\.\d+\.\d+$")
COMPOSE_SPEC = json.loads(Path(__file__).with_name("compose-spec.json").read_text())


def _bind_mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (short syntax, relative to the compose file)."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (ROOT / source).resolve()
    return mounts


def _named_volumes(service: str) -> dict[str, str]:
    """Volume name -> its container path in the service."""
    pairs = (v.split(":")[:2] for v in SERVICES[service].get("volumes", []))
    return {source: target for source, target in pairs if not source.startswith((".", "/"))}


def _host_config(service: str, container_path: str) -> Path:
    """The repository file mounted at `container_path` in the service."""
    return _bind_mounts(service)[container_path]


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _ports(service: str) -> set[int]:
    """Ports other containers reach on the service: published and exposed container ports. A service in another's
    network namespace (`network_mode: service:X`) is reached at X's name, so it has none of its own."""
    spec = SERVICES[service]
    published = {int(str(p).rsplit(":", 1)[-1]) for p in spec.get("ports", [])}
    return published | {int(p) for p in spec.get("expose", [])}


def _reachable(host: str, port: int) -> bool:
    return host in SERVICES and "network_mode" not in SERVICES[host] and port in _ports(host)


def _observ() -> ServeConfig:
    return ServeConfig.from_yaml(_host_config("observ", _flag(SERVICES["observ"]["command"], "--config")))


def _adapter() -> AdapterConfig:
    return load_config(_host_config("sidecar", _flag(SERVICES["sidecar"]["command"], "--config")))


def _prometheus() -> dict[str, Any]:
    config = next(a.split("=", 1)[1] for a in SERVICES["prometheus"]["command"] if a.startswith("--config.file="))
    return dict(yaml.safe_load(_host_config("prometheus", config).read_text()))


def _scrape_targets() -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """(job, address scraped, metrics path, target labels) of every static target, after the blackbox relabelling."""
    for job in _prometheus()["scrape_configs"]:
        replaced = next((r["replacement"] for r in job.get("relabel_configs", []) if r.get("target_label") ==
                         "__address__"), None)  # fmt: skip
        for group in job["static_configs"]:
            labels = dict(group.get("labels", {}))
            path = labels.pop("__metrics_path__", job.get("metrics_path", "/metrics"))
            for target in group["targets"]:
                yield job["job_name"], replaced or target, path, {**labels, "target": target}


def test_the_stack_has_every_part_the_issue_names() -> None:
    assert {"kafka", "kafka-init", "observ", "demo", "sidecar", "prometheus", "alertmanager", "grafana"} <= set(
        SERVICES
    )


def test_images_are_pinned_to_full_versions_and_ours_are_built_here() -> None:
    version = _observ_version()
    for name, spec in SERVICES.items():
        image = spec["image"]
        assert VERSION_TAG.match(image), f"{name}: {image} is not pinned to a full version"
        if "build" in spec:
            assert (ROOT / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file(), name
            assert image.endswith(f":{version}"), f"{name}: built images carry the package version {version}"


def _observ_version() -> str:
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def test_every_published_port_is_bound_to_loopback() -> None:
    for name, spec in SERVICES.items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} would listen on every host address"


def test_every_mounted_host_path_exists_in_the_repository() -> None:
    for name in SERVICES:
        for target, source in _bind_mounts(name).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert ROOT in source.parents, f"{name}: {source} is outside the repository"
    declared = set(COMPOSE.get("volumes", {}))
    used = {v for name in SERVICES for v in _named_volumes(name)}
    assert used == declared, "named volumes are declared once and all used"


def test_grafanas_datasource_urls_resolve_to_compose_services_listening_there() -> None:
    mounts = _bind_mounts("grafana")
    datasources = yaml.safe_load(mounts["/etc/grafana/provisioning/datasources/observ.yaml"].read_text())
    urls = {ds["type"]: urlsplit(ds["url"]) for ds in datasources["datasources"]}
    assert urls
    for name, url in urls.items():
        assert url.hostname and url.port, f"{name}: {url.geturl()} names no host and port"
        assert _reachable(url.hostname, url.port), f"{name}: no compose service {url.hostname} on {url.port}"
    assert {u.hostname for u in urls.values()} == {"prometheus", "observ"}
    observ = _observ()
    assert (observ.host, observ.port) == ("0.0.0.0", urls["loki"].port), "the API binds 127.0.0.1 unless told"
    assert f"--web.listen-address=:{urls['prometheus'].port}" in SERVICES["prometheus"]["command"]


def test_grafana_provisions_the_generated_dashboards_where_its_provider_reads() -> None:
    mounts = _bind_mounts("grafana")
    provider = yaml.safe_load(mounts["/etc/grafana/provisioning/dashboards/observ.yaml"].read_text())
    (path,) = (p["options"]["path"] for p in provider["providers"])
    assert mounts[path] == ROOT / "dashboards"
    assert sorted(mounts[path].glob("*.json")), "no dashboards generated"


def test_the_ingester_reads_the_topics_the_sidecar_writes_and_kafka_init_creates() -> None:
    observ, adapter = _observ(), _adapter()
    assert observ.kafka is not None, "observ serve runs the ingester (kafka: in its --config)"
    ingested = {observ.kafka.topic, observ.kafka.spans_topic}
    shipped = {adapter.kafka.topic, adapter.otlp.spans_topic}
    assert ingested == shipped == {"observ.logs", "observ.spans"}
    created = set(re.findall(r"--topic (\S+)", " ".join(SERVICES["kafka-init"]["command"])))
    assert created == shipped
    kafka = SERVICES["kafka"]["environment"]
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false", "topics exist because kafka-init made them"
    advertised = dict(a.split("://") for a in kafka["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert observ.kafka.bus.bootstrap == adapter.kafka.bus.bootstrap == advertised["PLAINTEXT"]
    host, port = advertised["PLAINTEXT"].split(":")
    assert _reachable(host, int(port))


def test_the_sidecar_shares_the_demos_network_and_tails_the_log_volume_it_writes() -> None:
    adapter, demo, sidecar = _adapter(), SERVICES["demo"], SERVICES["sidecar"]
    assert sidecar["network_mode"] == "service:demo", "a pod's localhost: the OTLP ambassador on 127.0.0.1"
    traces = urlsplit(_flag(demo["command"], "--traces-url"))
    assert adapter.otlp.enabled and (traces.hostname, traces.port) == (adapter.otlp.host, adapter.otlp.http_port)
    logs = _flag(demo["command"], "--logs")
    (volume,) = (v for v, path in _named_volumes("demo").items() if path == logs)
    mounted = next(v for v in sidecar["volumes"] if v.startswith(f"{volume}:"))
    assert mounted.endswith(":ro"), "the sidecar reads its app's logs, never writes them"
    assert adapter.tail.include == [PodLog.glob(PurePosixPath(mounted.split(":")[1]))]  # type: ignore[arg-type]
    assert str(adapter.data) in _named_volumes("sidecar").values(), "checkpoints survive a restart"
    assert adapter.http_host == "0.0.0.0" and adapter.http_port in _ports("demo"), "Prometheus scrapes it"


def test_health_checks_ask_each_service_where_it_listens_and_dependencies_wait_for_them() -> None:
    listens = {
        "observ": _observ().port,
        "demo": int(_flag(SERVICES["demo"]["command"], "--port")),
        "sidecar": _adapter().http_port,
    }
    for name, port in listens.items():
        assert SERVICES[name]["environment"]["OBSERV_HEALTHZ_URL"] == f"http://127.0.0.1:{port}/healthz"
    for name, spec in SERVICES.items():
        if spec.get("restart") != "no":
            assert "healthcheck" in spec, f"{name} has no health check"
        for dependency, condition in spec.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if SERVICES[dependency].get("restart") == "no" else "service_healthy"
            )
            assert condition == {"condition": wanted}, f"{name} -> {dependency}"


def test_prometheus_loads_the_generated_rules_with_exemplars_and_alertmanager() -> None:
    command = SERVICES["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command
    config = _prometheus()
    mounts = _bind_mounts("prometheus")
    rules = set()
    for pattern in config["rule_files"]:
        folder, glob = pattern.rsplit("/", 1)
        rules |= set(mounts[folder].glob(glob))
    assert sorted(rules) == find_rule_files(ROOT), "the rule files are alerts/generated/*.rules.yml"
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    for target in alertmanagers["static_configs"][0]["targets"]:
        host, port = target.split(":")
        assert host == "alertmanager" and _reachable(host, int(port))


def test_prometheus_scrapes_every_part_of_the_stack_at_an_address_that_exists() -> None:
    jobs: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
    for job, address, path, labels in _scrape_targets():
        host, port = address.split(":")
        assert host == "localhost" or _reachable(host, int(port)), f"{job}: nothing listens on {address}"
        jobs.setdefault(job, []).append((address, path, labels))
    assert jobs["observ"] == [(f"observ:{_observ().port}", "/metrics", {"target": f"observ:{_observ().port}"})]
    assert [a for a, _, _ in jobs["log-adapter"]] == [f"demo:{_adapter().http_port}"]
    demo = {labels["service"]: path for _, path, labels in jobs["demo"]}
    assert demo == {service: f"/metrics/{service}" for service in DEMO_SERVICES}
    (probe,) = jobs["blackbox"]
    assert urlsplit(probe[2]["target"]).hostname in DEMO_SERVICES


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_prometheus_config_with_its_mounted_rules(tmp_path: Path) -> None:
    text = _host_config("prometheus", "/etc/prometheus/prometheus.yml").read_text()
    for target, source in _bind_mounts("prometheus").items():
        text = text.replace(target, str(source))
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    done = subprocess.run(["promtool", "check", "config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(find_rule_files(ROOT))} rule files found" in done.stdout


def test_the_demo_gateway_serves_what_prometheus_scrapes_and_the_fault_switch(tmp_path: Path) -> None:
    """The demo container's command, run here on a free loopback port: every demo and blackbox target of
    prometheus.yml answers, the sidecar's glob finds its log files, and `observ demo fault --addr` works on it."""
    demo = SERVICES["demo"]
    port = free_port()
    args = [*demo["command"]]
    for flag, value in (("--logs", str(tmp_path)), ("--host", "127.0.0.1"), ("--port", str(port))):
        args[args.index(flag) + 1] = value
    args[args.index("--traces-url") + 1] = ""
    assert demo["entrypoint"][:3] == ["python", "-m", "collectors.demo"]
    proc = subprocess.Popen([sys.executable, "-m", "collectors.demo", *args], cwd=ROOT, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as client:

            def up() -> bool:
                try:
                    return client.get("/healthz").status_code == 200
                except httpx.TransportError:
                    return proc.poll() is not None

            wait_for(up, 30, "the demo's gateway")
            assert proc.poll() is None
            for job, _, path, labels in _scrape_targets():
                if job == "demo":
                    got = client.get(path, headers={"accept": "application/openmetrics-text"})
                    assert got.status_code == 200 and "# TYPE http_requests counter" in got.text, path
                if job == "blackbox":
                    got = client.get(path, params={"target": labels["target"], "module": "http_2xx"})
                    assert got.status_code == 200 and "probe_success 1.0" in got.text, got.text
            assert client.get("/metrics/nope").status_code == 404
        wait_for(lambda: len(list(tmp_path.glob("var/log/pods/*/*/*.log"))) == len(DEMO_SERVICES), 30, "log files")
        glob = PodLog.glob(tmp_path)
        assert sorted(Path(p).parent.name for p in Path("/").glob(glob.lstrip("/"))) == sorted(DEMO_SERVICES)
        modes = switch_fault(base, "payments", FaultMode.error)
        assert modes["payments"] == "error" and modes["checkout"] == "off"
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0, "SIGTERM stops the demo cleanly"


def _compose_available() -> bool:
    docker = shutil.which("docker")
    return docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0


def _strings(node: object) -> Iterator[str]:
    """Every string value in the document: what compose interpolates (`${VAR:-default}`, `$$`)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _most_specific(error: ValidationError) -> ValidationError:
    """Of a oneOf/anyOf failure's causes the one deepest in the document, as compose-go reports it: `depends_on`
    is a list or a mapping, and a misspelt condition is the news, not that neither matched."""
    return max((_most_specific(c) for c in error.context or []), key=lambda e: len(e.absolute_path), default=error)


def _spec_errors(document: dict[str, Any]) -> list[str]:
    """`path: message` of each way the document breaks the Compose Specification schema, in the draft the schema
    declares. Like compose-go, the document goes through JSON first (a YAML date fails there) and formats are not
    asserted."""
    validator = validator_for(COMPOSE_SPEC)
    validator.check_schema(COMPOSE_SPEC)
    errors = map(_most_specific, validator(COMPOSE_SPEC).iter_errors(json.loads(json.dumps(document))))
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}" for e in errors)


def test_the_compose_specification_accepts_the_file_and_so_does_docker_compose_where_installed() -> None:
    interpolated = [s for s in _strings(COMPOSE) if "$" in s]
    assert not interpolated, f"compose interpolates these before validating; interpolate them here too: {interpolated}"
    errors = _spec_errors(COMPOSE)
    assert not errors, "\n".join(errors)
    if _compose_available():
        done = subprocess.run(
            ["docker", "compose", "-f", "docker-compose.yml", "config", "-q"], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        (("services", "observ", "ports"), "3100", "services.observ.ports: '3100' is not of type 'array'"),
        (("servicez",), {}, "(top level): 'servicez' does not match any of the regexes: '^x-'"),
        (
            ("services", "grafana", "depends_on", "observ", "condition"),
            "service_healty",
            "services.grafana.depends_on.observ.condition: 'service_healty' is not one of",
        ),
    ],
)
def test_the_compose_specification_rejects_a_broken_copy_of_the_file(
    path: tuple[str, ...], value: object, error: str
) -> None:
    broken = copy.deepcopy(COMPOSE)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    errors = _spec_errors(broken)
    assert any(e.startswith(error) for e in errors), errors
