"""The webhook view: AuditWebhookMiddleware verified the delivery before this runs."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse

from descope_audit_hook import Action, AuditBatch, AuditEvent

log = logging.getLogger("audit_receiver")

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
    with contextlib.closing(sqlite3.connect(settings.AUDIT_EVENTS_DB, timeout=10)) as db, db:
        db.execute(SCHEMA)
        return db.executemany("INSERT OR IGNORE INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows).rowcount


@login_not_required  # the connector has no session; the middleware checks its credentials instead
def descope_audit(request: HttpRequest) -> JsonResponse:
    # Only a verified POST gets here; anything else was answered 401/400/413/405 already.
    batch: AuditBatch = request.descope_audit  # type: ignore[attr-defined]
    for event in batch:
        log_event(event)
    stored = store_events(batch)
    return JsonResponse({"received": len(batch), "stored": stored})
