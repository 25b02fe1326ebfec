"""API keys on requests: `require(scope)` is the dependency any router puts on its routes.

The key comes in `X-Api-Key` or `Authorization: Bearer`; 401 without a live key, 403 when the
key lacks the scope. Event ingestion stays open: it does not use this.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from kairos.api.state import services
from kairos.db.apikeys import ApiKey, Scope, authenticate
from kairos.errors import KairosError

__all__ = ["Forbidden", "Scope", "Unauthorized", "authorize", "require", "secret_of"]

_HEADER = APIKeyHeader(
    name="X-Api-Key", auto_error=False, description="A key from `kairos keys create`"
)
_BEARER = HTTPBearer(auto_error=False, description="The same key as a bearer token")


class Unauthorized(KairosError):
    status = 401


class Forbidden(KairosError):
    status = 403


def require(scope: Scope) -> Callable[..., ApiKey]:
    """A dependency that admits requests with a live key holding `scope` (admin holds all)."""

    def check(
        request: Request,
        header: str | None = Security(_HEADER),
        bearer: HTTPAuthorizationCredentials | None = Security(_BEARER),
    ) -> ApiKey:
        secret = header or (bearer.credentials if bearer is not None else None)
        return authorize(request, secret, scope)

    return check


def authorize(request: Request, secret: str | None, scope: Scope) -> ApiKey:
    """The live key for `secret` if it holds `scope` (blocking: a database read)."""
    if not secret:
        raise Unauthorized("an API key is required: X-Api-Key or Authorization: Bearer")
    with Session(services(request).engine) as session, session.begin():
        key = authenticate(session, secret)
    if key is None:
        raise Unauthorized("unknown or revoked API key")
    if not key.allows(scope):
        raise Forbidden(f"API key {key.id!r} lacks the {scope.value!r} scope")
    return key


def secret_of(request: Request) -> str | None:
    """The key a request carries, in `X-Api-Key` or as a bearer token."""
    header = request.headers.get("x-api-key")
    if header:
        return header
    authorization = request.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None
