"""Starlette: ``/verified`` awaits the adapter, ``/plain`` reads and parses the body itself."""

from __future__ import annotations

import json

import _path  # noqa: F401
from bench_common import make_verifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from descope_audit_hook.starlette import AuditWebhook, install_error_handler

hook = AuditWebhook(make_verifier())


async def verified(request: Request) -> JSONResponse:
    batch = await hook(request)
    return JSONResponse({"received": len(batch)})


async def plain(request: Request) -> JSONResponse:
    return JSONResponse({"received": len(json.loads(await request.body()))})


app = Starlette(routes=[Route("/verified", verified, methods=["POST"]), Route("/plain", plain, methods=["POST"])])
install_error_handler(app)
