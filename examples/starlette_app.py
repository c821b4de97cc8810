"""Starlette: receive Descope audit events, log each one, keep them in SQLite.

    pip install "descope-audit-hook[starlette]" uvicorn
    export DESCOPE_AUDIT_HMAC_SECRET=... DESCOPE_AUDIT_BEARER_TOKEN=...   # the connector's settings
    export AUDIT_EVENTS_DB=audit_events.sqlite3                            # where events are kept
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 starlette_app:app

The connector's URL is then ``http://<host>:8000/descope/audit``. See examples/README.md.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from descope_audit_hook import Verifier
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

# isort: split
# What the app does with the verified events, shared by the examples: audit_store.py, next to this file.
from audit_store import configure_logging, record_events

configure_logging()

# Reads DESCOPE_AUDIT_HMAC_SECRET, DESCOPE_AUDIT_BEARER_TOKEN, ... and refuses to start
# (ConfigurationError) when nothing would authenticate the connector.
audit_webhook = AuditWebhook(Verifier.from_env())


async def descope_audit(request: Request) -> JSONResponse:
    # Raises HTTPException (401/400/413) unless the delivery is verified.
    batch = await audit_webhook(request)
    # In the thread pool: keep the blocking SQLite write off the event loop.
    return JSONResponse(await run_in_threadpool(record_events, batch))


app = Starlette(routes=[Route("/descope/audit", descope_audit, methods=["POST"])])
# Rejections answer {"error": code, "message": ...} as JSON instead of Starlette's plain text.
install_error_handler(app)
