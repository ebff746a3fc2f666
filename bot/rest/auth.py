"""Bearer-key authentication: API keys for ``/v1`` routes, the admin key for ingest routes.

Keys are held as :class:`pydantic.SecretStr`, compared with :func:`hmac.compare_digest` against every configured
key (no early exit), and never logged or echoed back.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from bot.rest.errors import ApiError
from rag.settings import Settings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="`Authorization: Bearer <key>`：NEWSQA_API_KEYS 中的任一密钥（设置后 /v1 全部路由都需要）；"
    "入库（ingest）路由需要 NEWSQA_ADMIN_KEY。",
)

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _matches(candidate: str, keys: list[SecretStr]) -> bool:
    given = candidate.encode("utf-8", "surrogatepass")
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.get_secret_value().encode("utf-8", "surrogatepass"))
    return found


@dataclass(frozen=True)
class KeyRing:
    """The configured keys. ``api_keys`` empty = /v1 open; ``admin_key`` None = ingest over HTTP disabled."""

    api_keys: list[SecretStr] = field(default_factory=list)
    admin_key: SecretStr | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Keys from ``NEWSQA_API_KEYS`` (comma-separated) and ``NEWSQA_ADMIN_KEY``; an empty admin key = unset."""
        admin = settings.admin_key if settings.admin_key and settings.admin_key.get_secret_value() else None
        return cls([SecretStr(k) for k in settings.api_key_list], admin)

    def is_api_key(self, candidate: str) -> bool:
        """True for any API key, and for the admin key (which may do everything)."""
        keys = list(self.api_keys)
        if self.admin_key is not None:
            keys.append(self.admin_key)
        return _matches(candidate, keys)

    def is_admin_key(self, candidate: str) -> bool:
        """True only for the admin key."""
        return self.admin_key is not None and _matches(candidate, [self.admin_key])


def _keyring(request: Request) -> KeyRing:
    ring = getattr(request.app.state, "keyring", None)
    return ring if isinstance(ring, KeyRing) else KeyRing()


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def require_api_key(request: Request, credentials: Credentials) -> None:
    """Dependency of every /v1 route when NEWSQA_API_KEYS is set. Raises ApiError 401 (missing or unknown key)."""
    ring = _keyring(request)
    if not ring.api_keys:
        return
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "missing_api_key",
            "missing API key: send the header 'Authorization: Bearer <key>' with a key from NEWSQA_API_KEYS",
            param="Authorization",
            headers=_CHALLENGE,
        )
    if not ring.is_api_key(credentials.credentials):
        raise ApiError(
            401,
            "invalid_api_key",
            "invalid API key in the Authorization header (not one of NEWSQA_API_KEYS)",
            param="Authorization",
            headers=_CHALLENGE,
        )


async def require_admin_key(request: Request, credentials: Credentials) -> None:
    """Dependency of the ingest routes. Raises ApiError 403 when no admin key is configured (ingest over HTTP
    disabled) or another key is sent, 401 when no key is sent."""
    ring = _keyring(request)
    if ring.admin_key is None:
        raise ApiError(
            403,
            "ingest_disabled",
            "ingest over HTTP is disabled: set NEWSQA_ADMIN_KEY on the server to enable it",
        )
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "missing_admin_key",
            "missing admin key: send the header 'Authorization: Bearer <NEWSQA_ADMIN_KEY>'",
            param="Authorization",
            headers=_CHALLENGE,
        )
    if not ring.is_admin_key(credentials.credentials):
        raise ApiError(
            403,
            "admin_key_required",
            "the Authorization header does not hold the admin key: this route needs NEWSQA_ADMIN_KEY",
            param="Authorization",
        )


async def require_metrics_key(request: Request, credentials: Credentials) -> None:
    """Dependency of ``GET /metrics``: open while no key is configured at all (neither ``NEWSQA_API_KEYS`` nor
    ``NEWSQA_ADMIN_KEY``); otherwise it needs the admin key, like the admin routes. Raises ApiError 403 when API keys
    are set but no admin key (scraping disabled) or another key is sent, 401 when no key is sent."""
    ring = _keyring(request)
    if not ring.api_keys and ring.admin_key is None:
        return
    if ring.admin_key is None:
        raise ApiError(
            403,
            "metrics_disabled",
            "metrics need the admin key while NEWSQA_API_KEYS is set: set NEWSQA_ADMIN_KEY on the server and send "
            "it as 'Authorization: Bearer <NEWSQA_ADMIN_KEY>'",
        )
    await require_admin_key(request, credentials)
