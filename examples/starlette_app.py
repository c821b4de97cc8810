"""Starlette: receive Descope audit events, log each one, keep them in SQLite.

    pip install "descope-audit-hook[starlette]" uvicorn
    export DESCOPE_AUDIT_HMAC_SECRET=... DESCOPE_AUDIT_BEARER_TOKEN=...   # the connector's settings
    export AUDIT_EVENTS_DB=audit_events.sqlite3                            # where events are kept
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 starlette_app:app

The connector's URL is then ``http://<host>:8000/descope/audit``. See examples/README.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from descope_audit_hook import Action, AuditBatch, AuditEvent, Verifier
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("audit_receiver")

DB_PATH = os.environ.get("AUDIT_EVENTS_DB", "audit_events.sqlite3")
# Actions worth a louder log line (Action is a str enum: compare against the plain values).
ALERT_ACTIONS = frozenset({Action.LOGIN_FAILED.value, Action.LOGIN_EXCEED_MAX_ATTEMPTS.value})

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_events (
    fingerprint TEXT PRIMARY KEY,  -- AuditEvent.fingerprint: equal for a redelivered event
    occurred    TEXT NOT NULL,     -- ISO 8601, UTC
    action      TEXT NOT NULL,
    severity    TEXT,
    actor_id    TEXT,
    user_id     TEXT,
    tenants     TEXT NOT NULL,     -- JSON array
    event       TEXT NOT NULL      -- the event exactly as received, unknown fields included
)"""


def log_event(event: AuditEvent) -> None:
    """One line per event; login IDs, addresses and ``data`` stay out of the log."""
    severity = event.severity.value if event.severity else "-"
    tenants = ",".join(event.tenants) or "-"
    fields = (event.occurred.isoformat(), severity, event.action, event.actor_id, event.user_id, tenants)
    log.info("audit %s %s %s actor=%s user=%s tenants=%s", *fields)
    if event.action in ALERT_ACTIONS:
        log.warning("ALERT %s user=%s geo=%s device=%s", event.action, event.user_id, event.geo, event.device)


def store_events(batch: AuditBatch) -> int:
    """Insert the batch in one transaction; a redelivered event is stored once. Returns the new rows."""
    rows = [
        (
            e.fingerprint,
            e.occurred.isoformat(),
            e.action,
            e.severity.value if e.severity else None,
            e.actor_id,
            e.user_id,
            json.dumps(list(e.tenants)),
            json.dumps(dict(e.raw)),
        )
        for e in batch
    ]
    # `with db` commits the transaction, or rolls it back on an exception.
    with contextlib.closing(sqlite3.connect(DB_PATH, timeout=10)) as db, db:
        db.execute(SCHEMA)
        return db.executemany("INSERT OR IGNORE INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows).rowcount


# Reads DESCOPE_AUDIT_HMAC_SECRET, DESCOPE_AUDIT_BEARER_TOKEN, ... and refuses to start
# (ConfigurationError) when nothing would authenticate the connector.
audit_webhook = AuditWebhook(Verifier.from_env())


async def descope_audit(request: Request) -> JSONResponse:
    # Raises HTTPException (401/400/413) unless the delivery is verified.
    batch = await audit_webhook(request)
    for event in batch:
        log_event(event)
    stored = await run_in_threadpool(store_events, batch)  # keep the blocking write off the event loop
    return JSONResponse({"received": len(batch), "stored": stored})


app = Starlette(routes=[Route("/descope/audit", descope_audit, methods=["POST"])])
# Rejections answer {"error": code, "message": ...} as JSON instead of Starlette's plain text.
install_error_handler(app)
