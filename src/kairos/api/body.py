"""Reading request bodies with a hard size limit (413 before the whole body is buffered)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request

from kairos.errors import PayloadTooLarge


async def read_limited(request: Request, limit: int) -> bytes:
    return await collect(request.stream(), request.headers.get("content-length"), limit)


async def collect(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The body from its chunks, refused as soon as it is known to be over `limit` (by its
    declared `Content-Length` first)."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)
