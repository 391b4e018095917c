"""The venue's JSON responses, rendered with orjson.

Same bytes as Starlette's ``JSONResponse`` for the values the views build (compact, UTF-8,
no NaN), at a fraction of the cost; anything orjson refuses (an integer beyond 64 bits)
falls back to the standard library, so the two never disagree on what is valid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

__all__ = ["JSON", "read_body"]


class JSON(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if headers is not None or media_type is not None:
            super().__init__(content, status_code, headers, media_type, background)
            return
        # ``Response.__init__`` for the usual case, without its calls.
        self.status_code = status_code
        self.background = background
        self.body = body = self.render(content)
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("ascii")),
            (b"content-type", b"application/json"),
        ]

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return json.dumps(
                content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        if headers is not None:
            super().init_headers(headers)
            return
        # Starlette's two headers for a JSON body, without its general-case bookkeeping.
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode("ascii")),
            (b"content-type", b"application/json"),
        ]


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or ``None`` as soon as it grows beyond ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
