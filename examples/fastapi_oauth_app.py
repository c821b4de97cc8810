"""FastAPI: receive Descope audit events sent with the connector's "OAuth 2.0 client credentials" type.

    pip install "descope-audit-hook[starlette]" fastapi uvicorn "PyJWT[crypto]>=2.14"
    export DESCOPE_AUDIT_HMAC_SECRET=...                                  # the connector's HMAC secret
    export DESCOPE_AUDIT_BEARER_VALIDATOR=oauth_validator:validate          # checks the token: oauth_validator.py
    export OAUTH_ISSUER=... OAUTH_AUDIENCE=... OAUTH_JWKS_URL=... OAUTH_CLIENT_ID=...   # your authorization server
    export AUDIT_EVENTS_DB=audit_events.sqlite3                             # where events are kept
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 fastapi_oauth_app:app

The connector's URL is then ``http://<host>:8000/descope/audit``. See docs/oauth.md.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, FastAPI

from descope_audit_hook import AuditBatch, Verifier
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

# isort: split
# What the app does with the verified events, shared by the examples: audit_store.py, next to this file.
from audit_store import configure_logging, record_events

configure_logging()
logger = logging.getLogger("audit_receiver")

# DESCOPE_AUDIT_BEARER_VALIDATOR names the token validator; it is imported here, and a
# path that does not import stops the app (ConfigurationError). The validator is a plain
# function: the dependency runs it in a worker thread, so a JWKS fetch never blocks the
# event loop (an `async def` validator would be awaited instead).
audit_webhook = AuditWebhook(Verifier.from_env())

app = FastAPI(title="Descope audit receiver (OAuth 2.0)")
install_error_handler(app)


@app.post("/descope/audit")
def descope_audit(batch: Annotated[AuditBatch, Depends(audit_webhook)]) -> dict[str, int]:
    # Only a delivery with a valid token (and signature) gets here; batch.claims is what
    # the validator returned: the token's claims, read-only.
    claims = batch.claims or {}
    logger.info("delivery of %d event(s) from OAuth client %s", len(batch), claims.get("client_id"))
    return record_events(batch)
