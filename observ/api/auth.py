"""Who is asking, for which tenant: `X-Scope-OrgID` and optional bearer tokens.

With no tokens configured the header picks the tenant (absent: `default_tenant`, or 401 when
`require_tenant` is set, as Loki with `auth_enabled: true`). With tokens configured every request
needs one (`Authorization: Bearer <token>`, or Basic with the token as password, which Grafana's
datasource can send); the token names the tenants it may use and the header may pick among them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping

from observ.api.config import AuthConfig

TENANT_HEADER = "x-scope-orgid"
MAX_TENANT_LENGTH = 150
_TENANT_CHARS = re.compile(r"[a-zA-Z0-9!\-_.*'()]*")


class AuthError(Exception):
    """Refused: `status` (400, 401 or 403) with `str(error)` as the plain-text body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def validate_tenant(tenant: str) -> str:
    """dskit's tenant.ValidTenantID rules: Loki stores tenant IDs in object paths."""
    if len(tenant) > MAX_TENANT_LENGTH:
        raise AuthError(400, f"tenant ID is too long: max {MAX_TENANT_LENGTH} characters")
    if tenant in (".", ".."):
        raise AuthError(400, "tenant ID is '.' or '..'")
    if "|" in tenant:
        raise AuthError(400, "multi-tenant queries (tenant IDs joined by '|') are not supported")
    if not _TENANT_CHARS.fullmatch(tenant):
        bad = next(c for c in tenant if not _TENANT_CHARS.fullmatch(c))
        raise AuthError(400, f"tenant ID '{tenant}' contains unsupported character '{bad}'")
    return tenant


class Tenancy:
    def __init__(self, config: AuthConfig) -> None:
        self.config = config

    def _token(self, authorization: str) -> str | None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[2]
        return None

    def _allowed(self, headers: Mapping[str, str]) -> list[str]:
        token = self._token(headers.get("authorization", ""))
        if token:
            for known, tenants in self.config.tokens.items():
                if hmac.compare_digest(known.encode(), token.encode()):
                    return tenants
        raise AuthError(401, "unauthorized: a valid bearer token is required")

    def tenant(self, headers: Mapping[str, str]) -> str:
        """The tenant of a request, or AuthError. `headers` must be case-insensitive (Starlette's are)."""
        asked = headers.get(TENANT_HEADER, "").strip()
        if self.config.enabled:
            allowed = self._allowed(headers)
            if not asked:
                return allowed[0]
            validate_tenant(asked)
            if asked not in allowed:
                raise AuthError(403, f"tenant '{asked}' is not allowed for this token")
            return asked
        if not asked:
            if self.config.require_tenant:
                raise AuthError(401, "no org id")
            return self.config.default_tenant
        return validate_tenant(asked)
