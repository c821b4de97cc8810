"""FastAPI: receive Descope audit events, log each one, keep them in SQLite.

    pip install "descope-audit-hook[starlette]" fastapi uvicorn
    export DESCOPE_AUDIT_HMAC_SECRET=... DESCOPE_AUDIT_BEARER_TOKEN=...   # the connector's settings
    export AUDIT_EVENTS_DB=audit_events.sqlite3                            # where events are kept
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 fastapi_app:app

The connector's URL is then ``http://<host>:8000/descope/audit``. See examples/README.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from descope_audit_hook import AuditBatch, Verifier
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

# isort: split
# What the app does with the verified events, shared by the examples: audit_store.py, next to this file.
from audit_store import configure_logging, record_events

configure_logging()

# Reads DESCOPE_AUDIT_HMAC_SECRET, DESCOPE_AUDIT_BEARER_TOKEN, ... and refuses to start
# (ConfigurationError) when nothing would authenticate the connector.
audit_webhook = AuditWebhook(Verifier.from_env())

app = FastAPI(title="Descope audit receiver")
# Rejections answer {"error": code, "message": ...} instead of FastAPI's {"detail": ...}.
install_error_handler(app)


@app.post("/descope/audit")
def descope_audit(batch: Annotated[AuditBatch, Depends(audit_webhook)]) -> dict[str, int]:
    # Only a verified delivery gets here: the dependency answered 401/400/413 otherwise.
    # A plain `def` runs in FastAPI's thread pool, so the blocking SQLite write is fine.
    return record_events(batch)
