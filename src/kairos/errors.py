"""The root of every error Kairos raises on purpose; each carries the HTTP status it maps to."""

from __future__ import annotations

from typing import Any


class KairosError(Exception):
    """Base error: `status` is the HTTP status the API answers with, `detail` goes to clients."""

    status: int = 500

    def __init__(self, message: str, *, detail: Any = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status


class ConfigurationError(KairosError):
    """Settings that cannot work together, or a missing resource such as Kafka's jars."""

    status = 500


class PayloadTooLarge(KairosError):
    status = 413


class ServiceUnavailable(KairosError):
    """A dependency (Kafka, the database) does not answer; the client should retry later."""

    status = 503

    def __init__(self, message: str, *, retry_after_s: int = 5, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after_s = retry_after_s
