"""One handler renders every KairosError as JSON with its HTTP status."""

from __future__ import annotations

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from kairos.errors import KairosError, ServiceUnavailable


def _code(error: KairosError) -> str:
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def rendered(error: KairosError) -> tuple[int, bytes, dict[str, str]]:
    """The status, JSON body and extra headers every KairosError is answered with."""
    body = {"error": _code(error), "message": error.message}
    if error.detail is not None:
        body["detail"] = error.detail
    headers = {}
    if isinstance(error, ServiceUnavailable):
        headers["Retry-After"] = str(error.retry_after_s)
    return error.status, orjson.dumps(body), headers


async def kairos_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KairosError)
    status, body, headers = rendered(exc)
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def install(app: FastAPI) -> None:
    app.add_exception_handler(KairosError, kairos_error_handler)
