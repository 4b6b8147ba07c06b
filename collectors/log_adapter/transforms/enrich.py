"""Stream identity of a file's entries: Kubernetes labels from the path and the Downward API.

Precedence for the service: explicit config > OBSERV_SERVICE > `app` label >
container name > file stem. Pod and namespace come from the path first: a
DaemonSet tails many pods, and its own POD_NAME would be wrong for all of them;
a sidecar tails plain files, where the path says nothing and the env is right.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath

from observ.model import STREAM_LABELS, Stream

_CONTAINERS_NAME = re.compile(r"^([^_]+)_([^_]+)_(.+)-([0-9a-f]{64})\.log$")
_POD_LOG_NAME = re.compile(r"^\d+\.log$")

_CACHE_MAX = 10_000
"""Pods come and go on a node; forgetting old paths keeps a DaemonSet's memory flat."""

UNKNOWN_SERVICE = "unknown_service"
"""OpenTelemetry's name for a service nobody named."""


def labels_from_path(path: str) -> dict[str, str]:
    """namespace/pod/container of a kubelet log path; {} for any other path.

    `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<N>.log` and
    `/var/log/containers/<pod>_<namespace>_<container>-<64 hex>.log`, under any mount prefix.
    """
    parts = PurePosixPath(path).parts
    if len(parts) >= 4 and parts[-4] == "pods" and _POD_LOG_NAME.match(parts[-1]):
        pieces = parts[-3].rsplit("_", 2)
        if len(pieces) == 3 and all(pieces) and parts[-2]:
            return {"namespace": pieces[0], "pod": pieces[1], "container": parts[-2]}
        return {}
    if len(parts) >= 2 and parts[-2] == "containers":
        m = _CONTAINERS_NAME.match(parts[-1])
        if m:
            return {"namespace": m.group(2), "pod": m.group(1), "container": m.group(3)}
    return {}


def parse_labels(text: str) -> dict[str, str]:
    """`k=v,k2=v2` (OBSERV_LABELS); malformed pieces are skipped."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if sep and key:
            out[key] = value.strip()
    return out


def _stem(path: str) -> str:
    """`/logs/payments.log` -> `payments`; rotated `app.log.1` -> `app`."""
    stem = PurePosixPath(path).name.split(".", 1)[0]
    return stem if any(c.isalnum() for c in stem) else ""


class StreamResolver:
    """Maps (path, stream name) to a Stream, once per pair."""

    def __init__(
        self, tenant: str | None, service: str | None, labels: Mapping[str, str], env: Mapping[str, str]
    ) -> None:
        env_labels = parse_labels(env.get("OBSERV_LABELS", ""))
        merged = {**env_labels, **labels}
        if env.get("NODE_NAME"):
            merged.setdefault("node", env["NODE_NAME"])
        reserved = {k: merged.pop(k) for k in (*STREAM_LABELS, "tenant") if k in merged}
        explicit_tenant = tenant if tenant != "default" else None
        self._tenant = explicit_tenant or env.get("OBSERV_TENANT") or reserved.get("tenant") or "default"
        self._service = service or reserved.get("service") or env.get("OBSERV_SERVICE") or merged.get("app")
        self._namespace = reserved.get("namespace") or env.get("POD_NAMESPACE", "")
        self._pod = reserved.get("pod") or env.get("POD_NAME", "")
        self._container = reserved.get("container", "")
        self._labels = tuple(sorted(merged.items()))
        self._cache: dict[tuple[str, str], Stream] = {}

    def resolve(self, path: str, stream: str) -> Stream:
        key = (path, stream)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            found = self._cache[key] = self._build(path, stream)
        return found

    def _build(self, path: str, stream: str) -> Stream:
        k8s = labels_from_path(path)
        container = k8s.get("container") or self._container
        service = self._service or container or _stem(path) or UNKNOWN_SERVICE
        return Stream(
            tenant=self._tenant,
            service=service,
            namespace=k8s.get("namespace") or self._namespace,
            pod=k8s.get("pod") or self._pod,
            container=container,
            stream=stream,
            labels=self._labels,
        )
