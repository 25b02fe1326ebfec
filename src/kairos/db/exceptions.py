"""Errors of the repositories, with the HTTP status the API answers them with."""

from __future__ import annotations

from kairos.errors import KairosError


class NotFound(KairosError):
    status = 404


class Conflict(KairosError):
    """The change contradicts what is stored: a duplicate id, or children still referencing."""

    status = 409
