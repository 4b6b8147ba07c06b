"""Tenancy: X-Scope-OrgID, Loki's auth_enabled behaviour, bearer tokens."""

from __future__ import annotations

import base64

import pytest

from observ.api.auth import AuthError, Tenancy
from observ.api.config import AuthConfig


def h(**kw: str) -> dict[str, str]:
    return {k.replace("_", "-").lower(): v for k, v in kw.items()}


def refused(t: Tenancy, headers: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(AuthError) as e:
        t.tenant(headers)
    return e.value.status, str(e.value)


def test_header_picks_tenant_and_absence_means_default() -> None:
    t = Tenancy(AuthConfig())
    assert t.tenant({}) == "default"
    assert t.tenant(h(x_scope_orgid="acme")) == "acme"
    assert Tenancy(AuthConfig(default_tenant="fake")).tenant({}) == "fake"


def test_require_tenant_is_lokis_auth_enabled() -> None:
    assert refused(Tenancy(AuthConfig(require_tenant=True)), {}) == (401, "no org id")


@pytest.mark.parametrize(
    ("tenant", "message"),
    [("a|b", "multi-tenant"), ("..", "'.' or '..'"), ("a/b", "unsupported character '/'"), ("x" * 151, "too long")],
)
def test_invalid_tenant_ids(tenant: str, message: str) -> None:
    status, text = refused(Tenancy(AuthConfig()), h(x_scope_orgid=tenant))
    assert status == 400 and message in text


def test_tokens() -> None:
    t = Tenancy(AuthConfig(tokens={"s3cret": ["team-a", "team-b"], "other": ["team-c"]}))
    assert refused(t, {})[0] == 401
    assert refused(t, h(authorization="Bearer nope"))[0] == 401
    assert t.tenant(h(authorization="Bearer s3cret")) == "team-a"
    assert t.tenant(h(authorization="bearer s3cret", x_scope_orgid="team-b")) == "team-b"
    assert refused(t, h(authorization="Bearer s3cret", x_scope_orgid="team-c")) == (
        403,
        "tenant 'team-c' is not allowed for this token",
    )
    basic = base64.b64encode(b"team-c:other").decode()
    assert t.tenant(h(authorization=f"Basic {basic}")) == "team-c"
    assert refused(t, h(authorization="Basic !!!"))[0] == 401


def test_token_config_needs_tenants() -> None:
    with pytest.raises(ValueError):
        AuthConfig(tokens={"t": []})
