"""FastAPI: ``/verified`` through the adapter's dependency, ``/plain`` reads and parses the body itself."""

from __future__ import annotations

import json
from typing import Annotated, Any

import _path  # noqa: F401
from bench_common import make_verifier
from fastapi import Depends, FastAPI, Request

from descope_audit_hook import AuditBatch
from descope_audit_hook.starlette import AuditWebhook

app = FastAPI()
hook = AuditWebhook(make_verifier())


@app.post("/verified")
async def verified(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, Any]:
    return {"received": len(batch)}


@app.post("/plain")
async def plain(request: Request) -> dict[str, Any]:
    return {"received": len(json.loads(await request.body()))}
