"""The apps the load test runs under real servers: FastAPI (uvicorn) and Flask (gunicorn).

Both verify with the adapter, deduplicate through one shared SQLite claims file and
record every event that reaches the handler in another SQLite file (one row per
handling, no unique constraint: a double handling shows as two rows). Configured by
environment variables: ``DESCOPE_AUDIT_*`` for the verifier, ``LOAD_DEDUPE_DB`` and
``LOAD_HANDLED_DB`` for the files, ``LOAD_SERVER`` for the name recorded with each row.

    uvicorn tests.reliability._load_app:fastapi_app
    gunicorn -k gthread tests.reliability._load_app:flask_app
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from flask import Flask

from descope_audit_hook import AuditBatch, SQLiteDedupeStore, Verifier
from descope_audit_hook.flask import audit_webhook
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

__all__ = ["fastapi_app", "flask_app"]


def record(batch: AuditBatch) -> dict[str, Any]:
    """The handler: one row per event handed to it, all rows of a batch in one transaction.

    The table (``handled (fingerprint, server, pid)``, no unique constraint) is made by the test.
    """
    conn = sqlite3.connect(os.environ["LOAD_HANDLED_DB"], timeout=30)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO handled (fingerprint, server, pid) VALUES (?, ?, ?)",
                [(event.fingerprint, os.environ.get("LOAD_SERVER", "?"), os.getpid()) for event in batch],
            )
    finally:
        conn.close()
    return {"handled": len(batch), "duplicates": batch.duplicates}


_verifier = Verifier.from_env()
_store = SQLiteDedupeStore(os.environ["LOAD_DEDUPE_DB"])

# --- FastAPI under uvicorn ---------------------------------------------------------------

fastapi_app = FastAPI()
install_error_handler(fastapi_app)
_hook = AuditWebhook(_verifier, dedupe=_store)


async def _record_async(batch: AuditBatch) -> dict[str, Any]:
    return record(batch)


@fastapi_app.api_route("/hook", methods=["GET", "POST"])
async def fastapi_hook(request: Request) -> dict[str, Any]:
    return await _hook.handle(request, _record_async)


@fastapi_app.get("/health")
async def fastapi_health() -> dict[str, str]:
    return {"ok": "yes"}


# --- Flask under gunicorn ----------------------------------------------------------------

flask_app = Flask(__name__)


@flask_app.route("/hook", methods=["GET", "POST"])
@audit_webhook(_verifier, dedupe=_store)
def flask_hook(batch: AuditBatch) -> dict[str, Any]:
    return record(batch)


@flask_app.get("/health")
def flask_health() -> dict[str, str]:
    return {"ok": "yes"}
