"""Reading a request's raw body (as signed) within the size limit: webhooks and Slack clicks alike."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from ..domain.errors import MalformedPayload, PayloadTooLarge


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body_bytes:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {max_body_bytes}-byte limit")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise PayloadTooLarge(f"body is over the {max_body_bytes}-byte limit")
            chunks.append(chunk)
    except ClientDisconnect:  # a refusal like any other, not an unhandled error with a traceback per request
        raise MalformedPayload("the connection closed before the body was complete") from None
    return b"".join(chunks)
