"""The k8s/ overlays as `kubectl kustomize` builds them: every object valid against the Kubernetes schemas, and
what users rely on — probes, sizes and a restricted securityContext on every container, sidecars that tail their
app's log volume, one set of topics everywhere, the generated rules, Grafana URLs that reach Services."""

from __future__ import annotations

import base64
import functools
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from collectors.log_adapter.config import AdapterConfig
from observ.api.config import ServeConfig
from observ.deploy.k8s import stale, write

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = ("dev", "prod")
NAMESPACE = "observ"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
SCHEMA_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())
"""1.29: the oldest Kubernetes with native sidecars (init containers with restartPolicy: Always) on by default."""
CUSTOM_KINDS = {
    "Kafka": "Strimzi CRD, no schema in kubernetes-validate: test_kafka_bootstrap_is_served checks it",
    "KafkaNodePool": "Strimzi CRD, no schema in kubernetes-validate: test_kafka_bootstrap_is_served checks it",
    "KafkaTopic": "Strimzi CRD, no schema in kubernetes-validate: test_topics_agree checks it",
    "Prometheus": "prometheus-operator CRD, no schema in kubernetes-validate: test_prometheus_* check it",
    "ServiceMonitor": "prometheus-operator CRD, no schema in kubernetes-validate: test_service_monitors_* check it",
    "PrometheusRule": "prometheus-operator CRD, no schema in kubernetes-validate: test_prometheus_rules_* check it",
}
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
ADAPTER_IMAGE = f"observ-log-adapter:{VERSION}"
Obj = dict[str, Any]


@dataclass(frozen=True)
class Pod:
    kind: str
    name: str
    labels: dict[str, str]
    spec: Obj

    @property
    def containers(self) -> list[Obj]:
        return self.spec.get("initContainers", []) + self.spec["containers"]

    def volume(self, name: str) -> Obj:
        return next(v for v in self.spec.get("volumes", []) if v["name"] == name)


@dataclass(frozen=True)
class Overlay:
    name: str
    objects: list[Obj]

    def of(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def find(self, kind: str, name: str) -> Obj | None:
        return next((o for o in self.of(kind) if o["metadata"]["name"] == name), None)

    def one(self, kind: str, name: str) -> Obj:
        found = self.find(kind, name)
        assert found is not None, f"{self.name}: no {kind} {name}"
        return found

    def generated(self, kind: str, name: str) -> Obj:
        """A ConfigMap or Secret of a generator, whose name carries the hash of its content."""
        (found,) = [o for o in self.of(kind) if re.fullmatch(rf"{name}(-[a-z0-9]{{10}})?", o["metadata"]["name"])]
        return found

    def pods(self) -> list[Pod]:
        return [
            Pod(
                o["kind"],
                o["metadata"]["name"],
                o["spec"]["template"]["metadata"]["labels"],
                o["spec"]["template"]["spec"],
            )
            for kind in WORKLOADS
            for o in self.of(kind)
        ]

    def pod(self, name: str) -> Pod:
        return next(p for p in self.pods() if p.name == name)

    def container(self, pod: str, name: str) -> Obj:
        return next(c for c in self.pod(pod).containers if c["name"] == name)


@functools.cache
def render(name: str) -> Overlay:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH: scripts/test installs Debian's kubernetes-client for these tests")
    done = subprocess.run(
        [kubectl, "kustomize", str(REPO / "k8s" / "overlays" / name)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return Overlay(name, [o for o in yaml.safe_load_all(done.stdout) if o])


def flags(container: Obj) -> dict[str, str]:
    """`--key=value` arguments (the manifests write every flag that way) by key."""
    return dict(a.removeprefix("--").split("=", 1) for a in container.get("args", []) if a.startswith("--"))


def positional(container: Obj) -> list[str]:
    return [a for a in container.get("args", []) if not a.startswith("--")]


def mounted_file(overlay: Overlay, pod: Pod, container: Obj, path: str) -> str:
    """The text of a file a container reads from a mounted ConfigMap or Secret."""
    for mount in container["volumeMounts"]:
        if path.startswith(mount["mountPath"] + "/"):
            key = path.removeprefix(mount["mountPath"] + "/")
            volume = pod.volume(mount["name"])
            if "configMap" in volume:
                return overlay.one("ConfigMap", volume["configMap"]["name"])["data"][key]
            secret = overlay.one("Secret", volume["secret"]["secretName"])
            return base64.b64decode(secret["data"][key]).decode()
    raise AssertionError(f"{pod.name}/{container['name']}: nothing mounted at {path}")


def adapter_settings(overlay: Overlay, pod: Pod, container: Obj) -> AdapterConfig:
    """What `observ ship` runs with: its --config file, with the flags the pod passes over it."""
    given = flags(container)
    raw = yaml.safe_load(mounted_file(overlay, pod, container, given["config"]))
    if positional(container):
        raw.setdefault("tail", {})["include"] = positional(container)
    if "topic" in given:
        raw.setdefault("kafka", {})["topic"] = given["topic"]
    return AdapterConfig.model_validate(raw)


def adapters(overlay: Overlay) -> list[tuple[Pod, Obj]]:
    return [(p, c) for p in overlay.pods() for c in p.containers if c["image"] == ADAPTER_IMAGE]


def service_port(overlay: Overlay, url: str) -> tuple[Obj, Obj]:
    """The Service and port a cluster URL (`http://<service>[.<namespace>.svc]:<port>`) reaches, from this namespace."""
    parts = urlsplit(url)
    host, _, domain = (parts.hostname or "").partition(".")
    assert domain in ("", f"{NAMESPACE}.svc", f"{NAMESPACE}.svc.cluster.local"), url
    service = overlay.find("Service", host)
    assert service is not None, f"{overlay.name}: {url} names no Service of the overlay"
    port = next((p for p in service["spec"]["ports"] if p["port"] == parts.port), None)
    assert port is not None, f"{overlay.name}: Service {host} has no port {parts.port}"
    return service, port


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def container_port(pod: Pod, port: int | str) -> int:
    """A Service's targetPort or a probe's port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for c in pod.containers for p in c.get("ports", []) if p["name"] == port)


def reachable(overlay: Overlay, pod: Pod, port: int, peer: dict[str, str]) -> bool:
    """Whether the NetworkPolicies let a pod with labels `peer` in this namespace reach `port` of `pod`."""
    policies = [n["spec"] for n in overlay.of("NetworkPolicy") if selects(n["spec"]["podSelector"], pod.labels)]
    assert policies, f"{pod.name}: no NetworkPolicy selects it (the default deny must)"
    for rule in (r for p in policies for r in p.get("ingress", [])):
        ports_ok = not rule.get("ports") or any(p["port"] == port for p in rule["ports"])
        from_ok = not rule.get("from") or any(selects(f.get("podSelector", {}), peer) for f in rule["from"])
        if ports_ok and from_ok:
            return True
    return False


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_object_is_valid_kubernetes(name: str) -> None:
    overlay = render(name)
    errors = []
    for obj in overlay.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{version} {obj['kind']}/{obj['metadata']['name']} {list(e.path)}: {e.message}")
    assert errors == []
    assert {o["kind"] for o in overlay.objects} >= {"Namespace", *WORKLOADS[:3], "NetworkPolicy", "Ingress"}
    namespaced = [o for o in overlay.objects if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {NAMESPACE}


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_container_is_probed_sized_and_restricted(name: str) -> None:
    pods = render(name).pods()
    assert len(pods) >= 4
    for pod in pods:
        assert pod.spec["securityContext"]["runAsNonRoot"] is True, pod.name
        for c in pod.containers:
            where = f"{name}: {pod.name}/{c['name']}"
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) >= {"cpu", "memory"}, where
            assert {k: c["securityContext"].get(k) for k in RESTRICTED} == RESTRICTED, where
            long_running = pod.kind != "Job" and (c in pod.spec["containers"] or c.get("restartPolicy") == "Always")
            if long_running:
                assert "livenessProbe" in c and "readinessProbe" in c, where


@pytest.mark.parametrize("name", OVERLAYS)
def test_observ_processes_listen_where_they_are_probed(name: str) -> None:
    """/healthz for liveness, /readyz for readiness, on the port the process serves them on, bound to the pod IP."""
    overlay = render(name)
    listening: list[tuple[Pod, Obj, int]] = []
    for pod in overlay.pods():
        for c in pod.containers:
            if c["image"] == ADAPTER_IMAGE:
                settings = adapter_settings(overlay, pod, c)
                assert settings.http_host == "0.0.0.0"
                listening.append((pod, c, settings.http_port))
            elif c["image"] == f"observ:{VERSION}" and c["args"][0] == "serve":
                assert flags(c)["host"] == "0.0.0.0"
                listening.append((pod, c, int(flags(c)["port"])))
            elif c["image"] == f"observ:{VERSION}" and c["args"][0] == "ingest":
                assert flags(c)["metrics-host"] == "0.0.0.0"
                listening.append((pod, c, int(flags(c)["metrics-port"])))
    assert {pod.name for pod, _, _ in listening} == {"observ", "observ-ingester", "observ-node-adapter", "demo"}
    for pod, c, port in listening:
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert c[probe]["httpGet"]["path"] == path, (pod.name, c["name"])
            assert container_port(pod, c[probe]["httpGet"]["port"]) == port, (pod.name, c["name"])


@pytest.mark.parametrize("name", OVERLAYS)
def test_sidecars_tail_their_apps_log_volume(name: str) -> None:
    overlay = render(name)
    sidecars = 0
    for pod, adapter in adapters(overlay):
        settings = adapter_settings(overlay, pod, adapter)
        assert settings.tail.include, pod.name
        for glob in settings.tail.include:
            (mount,) = [m for m in adapter["volumeMounts"] if glob.startswith(m["mountPath"] + "/")]
            assert mount.get("readOnly") is True, (pod.name, glob)
            volume = pod.volume(mount["name"])
            if pod.kind == "DaemonSet":
                assert volume["hostPath"]["path"] == "/var/log/pods" and mount["mountPath"] == "/var/log/pods"
                continue
            assert "emptyDir" in volume, (pod.name, glob)
            apps = [c for c in pod.spec["containers"] if c is not adapter]
            (app,) = apps
            (app_mount,) = [m for m in app["volumeMounts"] if m["name"] == mount["name"]]
            assert not app_mount.get("readOnly"), pod.name
            assert flags(app)["logs"] == app_mount["mountPath"], "the app writes its logs into the shared volume"
            assert settings.otlp.enabled and settings.otlp.host == "127.0.0.1"
            assert flags(app)["traces-url"] == f"http://127.0.0.1:{settings.otlp.http_port}/v1/traces"
            sidecars += 1
    assert sidecars >= 1
    assert any(pod.kind == "DaemonSet" for pod, _ in adapters(overlay))


@pytest.mark.parametrize("name", OVERLAYS)
def test_topics_agree(name: str) -> None:
    """The ingester, every query replica and every adapter use the same topics, and the overlay creates them."""
    overlay = render(name)
    consumers = [overlay.container("observ-ingester", "ingester"), overlay.container("observ", "observ")]
    used = {(flags(c)["topic"], flags(c)["spans-topic"]) for c in consumers}
    for pod, adapter in adapters(overlay):
        settings = adapter_settings(overlay, pod, adapter)
        assert (settings.kafka.topic, settings.otlp.spans_topic) in used, pod.name
    assert used == {("observ.logs", "observ.spans")}
    if name == "dev":
        env = {e["name"]: e.get("value") for e in overlay.container("kafka-topics", "topics")["env"]}
        created = set(env["TOPICS"].split())
    else:
        cluster = overlay.of("Kafka")[0]["metadata"]["name"]
        topics = overlay.of("KafkaTopic")
        assert {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics} == {cluster}
        created = {t["spec"]["topicName"] for t in topics}
    assert created == {"observ.logs", "observ.spans"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_kafka_bootstrap_is_served(name: str) -> None:
    overlay = render(name)
    bootstrap = overlay.generated("ConfigMap", "observ-env")["data"]["KAFKA_BOOTSTRAP"]
    host, _, port = bootstrap.partition(":")
    if name == "dev":
        service, _ = service_port(overlay, f"tcp://{bootstrap}")
        kafka = overlay.pod("kafka")
        assert selects({"matchLabels": service["spec"]["selector"]}, kafka.labels)
        properties = mounted_file(overlay, kafka, kafka.spec["containers"][0], "/etc/kafka/server.properties")
        assert f"advertised.listeners=PLAINTEXT://{bootstrap}," in properties
        assert "process.roles=broker,controller" in properties
    else:
        (cluster,) = overlay.of("Kafka")
        (listener,) = [x for x in cluster["spec"]["kafka"]["listeners"] if not x["tls"]]
        assert (host, int(port)) == (f"{cluster['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc", listener["port"])
        assert cluster["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
        (pool,) = overlay.of("KafkaNodePool")
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == cluster["metadata"]["name"]
        assert set(pool["spec"]["roles"]) == {"controller", "broker"}


@pytest.mark.parametrize("name", OVERLAYS)
def test_prometheus_rules_are_the_generated_ones(name: str) -> None:
    overlay = render(name)
    rendered = sorted(overlay.of("PrometheusRule"), key=lambda r: r["metadata"]["name"])
    for rule in rendered:
        assert rule["metadata"].pop("namespace") == NAMESPACE
    generated = [
        yaml.safe_load(p.read_text()) for p in sorted((REPO / "alerts/generated/prometheusrule").glob("*.yaml"))
    ]
    assert rendered == sorted(generated, key=lambda r: r["metadata"]["name"])
    (prometheus,) = overlay.of("Prometheus")
    assert all(selects(prometheus["spec"]["ruleSelector"], r["metadata"]["labels"]) for r in rendered)
    assert "exemplar-storage" in prometheus["spec"]["enableFeatures"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_service_monitors_reach_every_observ_process(name: str) -> None:
    """Each ServiceMonitor is picked up by the Prometheus, selects a Service with the named port, and the
    NetworkPolicies let Prometheus reach that port of the pods behind it."""
    overlay = render(name)
    (prometheus,) = overlay.of("Prometheus")
    scraper = prometheus["spec"]["podMetadata"]["labels"] | {"app.kubernetes.io/name": "prometheus"}
    scraped = set()
    for monitor in overlay.of("ServiceMonitor"):
        assert selects(prometheus["spec"]["serviceMonitorSelector"], monitor["metadata"]["labels"])
        (service,) = [s for s in overlay.of("Service") if selects(monitor["spec"]["selector"], s["metadata"]["labels"])]
        pods = [p for p in overlay.pods() if selects({"matchLabels": service["spec"]["selector"]}, p.labels)]
        assert pods, service["metadata"]["name"]
        for endpoint in monitor["spec"]["endpoints"]:
            (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
            for pod in pods:
                assert reachable(overlay, pod, container_port(pod, port["targetPort"]), scraper), (pod.name, port)
                scraped.add(pod.name)
    assert scraped == {"observ", "observ-ingester", "observ-node-adapter", "demo"}
    unlabelled = {"app.kubernetes.io/name": "grafana"}
    query = overlay.pod("observ")
    assert not reachable(overlay, overlay.pod("observ-ingester"), 9181, unlabelled), "default deny"
    assert reachable(overlay, query, 3100, unlabelled), "the API is open to the cluster"


@pytest.mark.parametrize("name", OVERLAYS)
def test_grafana_datasources_reach_services(name: str) -> None:
    overlay = render(name)
    (provisioning,) = [c for c in overlay.of("ConfigMap") if c["metadata"]["labels"].get("grafana_datasource") == "1"]
    (text,) = provisioning["data"].values()
    urls = {ds["uid"]: ds["url"] for ds in yaml.safe_load(text)["datasources"]}
    assert set(urls) == {"prometheus", "loki", "tempo"}
    targets = {uid: service_port(overlay, url)[0]["metadata"]["name"] for uid, url in urls.items()}
    assert targets == {"prometheus": "prometheus", "loki": "observ", "tempo": "observ"}
    service_port(overlay, flags(overlay.container("observ", "observ"))["prometheus-url"])
    boards = {
        key: text
        for c in overlay.of("ConfigMap")
        if c["metadata"]["labels"].get("grafana_dashboard") == "1"
        for key, text in c["data"].items()
    }
    assert boards == {p.name: p.read_text() for p in (REPO / "dashboards").glob("*.json")}


@pytest.mark.parametrize("name", OVERLAYS)
def test_images_are_the_project_version_or_pinned(name: str) -> None:
    images = {c["image"] for pod in render(name).pods() for c in pod.containers}
    ours = {f"observ:{VERSION}", ADAPTER_IMAGE}
    assert images >= ours
    assert all(re.fullmatch(r"apache/kafka:\d+\.\d+\.\d+", i) for i in images - ours), images


def test_copies_under_k8s_are_current() -> None:
    """The rules, dashboards, datasources and services.yaml under k8s/base are what scripts/sync-k8s makes."""
    assert stale(REPO) == []


def test_sync_finds_and_fixes_edited_missing_and_left_over_copies(tmp_path: Path) -> None:
    for source in ("alerts/services.yaml", "alerts/generated/prometheusrule", "dashboards"):
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / source).is_dir() else shutil.copyfile
        copy(REPO / source, tmp_path / source)
    assert len(write(tmp_path)) >= 10 and stale(tmp_path) == []
    base = Path("k8s/base")
    (tmp_path / base / "rules/payments.yaml").write_text("edited")
    (tmp_path / base / "grafana-dashboards/checkout.json").unlink()
    (tmp_path / base / "rules/gone.yaml").write_text("a service removed from alerts/services.yaml")
    expected = sorted(base / p for p in ("grafana-dashboards/checkout.json", "rules/gone.yaml", "rules/payments.yaml"))
    assert stale(tmp_path) == expected
    assert write(tmp_path) == expected and stale(tmp_path) == []
    assert not (tmp_path / base / "rules/gone.yaml").exists()


def test_dev_and_prod_differ_where_they_should() -> None:
    dev, prod = render("dev"), render("prod")
    assert dev.find("StatefulSet", "kafka") is not None and not dev.of("Kafka")
    assert prod.find("StatefulSet", "kafka") is None and len(prod.of("Kafka")) == 1
    for overlay in (dev, prod):
        assert "replicas" not in overlay.one("Deployment", "observ")["spec"], "the HorizontalPodAutoscaler owns them"
    scaling = {o.name: o.one("HorizontalPodAutoscaler", "observ")["spec"] for o in (dev, prod)}
    assert {n: (s["minReplicas"], s["maxReplicas"]) for n, s in scaling.items()} == {"dev": (1, 2), "prod": (3, 12)}
    assert {s["scaleTargetRef"]["name"] for s in scaling.values()} == {"observ"}
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in prod.of("KafkaTopic")}
    ingesters = prod.one("StatefulSet", "observ-ingester")["spec"]["replicas"]
    assert 1 < ingesters <= partitions["observ.logs"], "each ingester holds partitions of its own"
    assert prod.one("Ingress", "observ")["spec"]["tls"]
    query = "observ"
    for overlay in (dev, prod):
        assert overlay.pod(query).volume("api-config")["secret"]["secretName"].startswith("observ-api")
    placeholder = dev.generated("Secret", "observ-api")
    ServeConfig.model_validate(yaml.safe_load(base64.b64decode(placeholder["data"]["observ.yaml"])))
    assert not prod.of("Secret"), "prod reads the Secret observ-api its operators create"
    assert prod.pod(query).volume("api-config")["secret"]["secretName"] == "observ-api"
    assert "ephemeral" in prod.pod(query).volume("data") and "emptyDir" in dev.pod(query).volume("data")
