"""Read a request body with a size limit, before anything parses it."""

from __future__ import annotations

from fastapi import Request

from incidents.errors import PayloadTooLarge


async def read_limited(request: Request, *, limit: int) -> bytes:
    """Return the raw body, or raise PayloadTooLarge as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
