"""Flask: ``/verified`` through ``@audit_webhook``, ``/plain`` reads and parses the body itself."""

from __future__ import annotations

import json
from typing import Any

import _path  # noqa: F401
from bench_common import make_verifier
from flask import Flask, request

from descope_audit_hook import AuditBatch
from descope_audit_hook.flask import audit_webhook

app = Flask(__name__)


@app.post("/verified")
@audit_webhook(make_verifier())
def verified(batch: AuditBatch) -> dict[str, Any]:
    return {"received": len(batch)}


@app.post("/plain")
def plain() -> dict[str, Any]:
    return {"received": len(json.loads(request.get_data()))}
