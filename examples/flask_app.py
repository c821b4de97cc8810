"""Flask: receive Descope audit events, log each one, keep them in SQLite.

    pip install "descope-audit-hook[flask]" gunicorn
    export DESCOPE_AUDIT_HMAC_SECRET=... DESCOPE_AUDIT_BEARER_TOKEN=...   # the connector's settings
    export AUDIT_EVENTS_DB=audit_events.sqlite3                            # where events are kept
    gunicorn --chdir examples --bind 127.0.0.1:8000 flask_app:app

The connector's URL is then ``http://<host>:8000/descope/audit``. See examples/README.md.
"""

from __future__ import annotations

from flask import Flask

from descope_audit_hook import AuditBatch, Verifier
from descope_audit_hook.flask import audit_webhook

# isort: split
# What the app does with the verified events, shared by the examples: audit_store.py, next to this file.
from audit_store import configure_logging, record_events

configure_logging()

# Reads DESCOPE_AUDIT_HMAC_SECRET, DESCOPE_AUDIT_BEARER_TOKEN, ... and refuses to start
# (ConfigurationError) when nothing would authenticate the connector.
verifier = Verifier.from_env()

app = Flask(__name__)


@app.post("/descope/audit")
@audit_webhook(verifier)
def descope_audit(batch: AuditBatch) -> dict[str, int]:
    # Only a verified delivery gets here; anything else was answered 401/400/413 already.
    return record_events(batch)


if __name__ == "__main__":  # development server: python examples/flask_app.py
    app.run(host="127.0.0.1", port=8000)
