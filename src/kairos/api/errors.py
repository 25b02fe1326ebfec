"""One handler renders every KairosError as JSON with its HTTP status."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import Response

from kairos.api.responses import json_response
from kairos.errors import KairosError, ServiceUnavailable


def _code(error: KairosError) -> str:
    name = type(error).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


async def kairos_error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KairosError)
    body = {"error": _code(exc), "message": exc.message}
    if exc.detail is not None:
        body["detail"] = exc.detail
    headers = {}
    if isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = str(exc.retry_after_s)
    return json_response(body, status_code=exc.status, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KairosError, kairos_error_handler)
