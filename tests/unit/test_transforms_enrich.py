from __future__ import annotations

import pytest

from collectors.log_adapter.transforms.enrich import StreamResolver, labels_from_path, parse_labels
from observ.model import Stream

CID = "0123456789abcdef" * 4
POD_PATH = "/var/log/pods/shop_payments-7d9f8c-x2k4p_3f1c2b9e-1111-2222-3333-444455556666/api/0.log"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (POD_PATH, {"namespace": "shop", "pod": "payments-7d9f8c-x2k4p", "container": "api"}),
        (
            "/host/var/log/pods/kube-system_coredns-abc_uid/coredns/12.log",
            {"namespace": "kube-system", "pod": "coredns-abc", "container": "coredns"},
        ),
        (
            f"/var/log/containers/payments-7d9f8c-x2k4p_shop_api-{CID}.log",
            {"namespace": "shop", "pod": "payments-7d9f8c-x2k4p", "container": "api"},
        ),
        (
            f"/var/log/containers/web-0_default_istio-proxy-{CID}.log",
            {"namespace": "default", "pod": "web-0", "container": "istio-proxy"},
        ),
        ("/var/log/pods/shop_payments_uid/api/0.log.20240101-120000", {}),  # rotated: not ours
        ("/var/log/pods/nounderscore/api/0.log", {}),
        ("/var/log/pods/shop_payments_uid/api/app.log", {}),
        ("/var/log/containers/payments_shop_api-nothex.log", {}),
        ("/logs/payments.log", {}),
        ("payments.log", {}),
        ("", {}),
    ],
)
def test_labels_from_path(path: str, expected: dict[str, str]) -> None:
    assert labels_from_path(path) == expected


def test_parse_labels() -> None:
    assert parse_labels("team=pay, tier = gold,bad,=x,empty=") == {"team": "pay", "tier": "gold", "empty": ""}
    assert parse_labels("") == {}


@pytest.mark.parametrize(
    ("service", "labels", "env", "path", "expected"),
    [
        ("cfg", {"app": "lbl"}, {"OBSERV_SERVICE": "env"}, POD_PATH, "cfg"),
        (None, {"app": "lbl"}, {"OBSERV_SERVICE": "env"}, POD_PATH, "env"),
        (None, {"app": "lbl"}, {}, POD_PATH, "lbl"),
        (None, {}, {"OBSERV_LABELS": "app=fromenv"}, POD_PATH, "fromenv"),
        (None, {}, {}, POD_PATH, "api"),
        (None, {}, {}, "/logs/payments.log", "payments"),
        (None, {}, {}, "/logs/nova-api.log.1", "nova-api"),
        (None, {}, {}, "-", "unknown_service"),
    ],
)
def test_service_precedence(
    service: str | None, labels: dict[str, str], env: dict[str, str], path: str, expected: str
) -> None:
    assert StreamResolver("default", service, labels, env).resolve(path, "stdout").service == expected


def test_sidecar_stream_from_downward_api() -> None:
    env = {
        "POD_NAME": "payments-1",
        "POD_NAMESPACE": "shop",
        "NODE_NAME": "node-a",
        "OBSERV_TENANT": "acme",
        "OBSERV_LABELS": "team=pay,env=prod",
    }
    r = StreamResolver("default", None, {"env": "staging"}, env)
    s = r.resolve("/logs/payments.log", "stderr")
    assert s == Stream(
        tenant="acme",
        service="payments",
        namespace="shop",
        pod="payments-1",
        container="",
        stream="stderr",
        labels=(("env", "staging"), ("node", "node-a"), ("team", "pay")),
    )


def test_path_beats_downward_api_for_pod_identity() -> None:
    r = StreamResolver("t1", None, {}, {"POD_NAME": "daemonset-xyz", "POD_NAMESPACE": "observ"})
    s = r.resolve(POD_PATH, "stdout")
    assert (s.tenant, s.namespace, s.pod, s.container) == ("t1", "shop", "payments-7d9f8c-x2k4p", "api")


def test_reserved_label_keys_become_fields_not_labels() -> None:
    r = StreamResolver("default", None, {"namespace": "ns1", "service": "svc", "stream": "x", "k": "v"}, {})
    s = r.resolve("/logs/a.log", "stdout")
    assert (s.namespace, s.service, s.stream, s.labels) == ("ns1", "svc", "stdout", (("k", "v"),))


def test_explicit_tenant_beats_env() -> None:
    assert StreamResolver("t1", None, {}, {"OBSERV_TENANT": "t2"}).resolve("/a.log", "stdout").tenant == "t1"
    assert StreamResolver("default", None, {}, {}).resolve("/a.log", "stdout").tenant == "default"


def test_cached_per_path_and_stream() -> None:
    r = StreamResolver("default", None, {}, {})
    a = r.resolve(POD_PATH, "stdout")
    assert r.resolve(POD_PATH, "stdout") is a
    b = r.resolve(POD_PATH, "stderr")
    assert b.stream == "stderr" and b.id != a.id
