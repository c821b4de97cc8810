"""What the example apps do with the verified events; the same for every framework.

Each example (flask_app.py, fastapi_app.py, starlette_app.py, django_app/) only wires the
library's adapter into its framework and hands the verified batch to :func:`record_events`,
which logs one line per event (and a louder ``ALERT`` line for failed logins) and keeps
every event once, by ``AuditEvent.fingerprint``, in the SQLite table ``audit_events`` of
the file named by ``AUDIT_EVENTS_DB``. Replace it with whatever your app does with them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3

from descope_audit_hook import Action, AuditBatch, AuditEvent

__all__ = ["ALERT_ACTIONS", "LOG_FORMAT", "SCHEMA", "configure_logging", "log_event", "record_events", "store_events"]

log = logging.getLogger("audit_receiver")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

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


def configure_logging() -> None:
    """Send INFO lines to stderr (the Django example configures ``LOGGING`` in its settings instead)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


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
    # Read at each call, so that the path is the one of the running process's environment.
    db_path = os.environ.get("AUDIT_EVENTS_DB", "audit_events.sqlite3")
    # `with db` commits the transaction, or rolls it back on an exception.
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db, db:
        db.execute(SCHEMA)
        return db.executemany("INSERT OR IGNORE INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows).rowcount


def record_events(batch: AuditBatch) -> dict[str, int]:
    """Log and store a verified batch; the answer for the connector (it only needs a 2xx)."""
    for event in batch:
        log_event(event)
    return {"received": len(batch), "stored": store_events(batch)}
