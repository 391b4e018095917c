"""The baseline for ``benchmarks.rest_throughput``: one trivial Starlette JSON route.

python -m uvicorn benchmarks.trivial_app:app --port 8081 --log-level warning
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ping(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/ping", ping, methods=["GET"])])
