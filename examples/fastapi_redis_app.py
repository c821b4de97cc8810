"""FastAPI on several workers (or hosts) sharing Redis: each event handled exactly once.

    pip install "descope-audit-hook[starlette]" fastapi uvicorn redis
    export DESCOPE_AUDIT_HMAC_SECRET=... DESCOPE_AUDIT_BEARER_TOKEN=...   # the connector's settings
    export AUDIT_EVENTS_DB=audit_events.sqlite3                            # where events are kept
    export REDIS_URL=redis://127.0.0.1:6379/0                              # shared by every worker and host
    uvicorn --app-dir examples --host 127.0.0.1 --port 8000 --workers 3 fastapi_redis_app:app

Every worker process (and every host behind your load balancer) claims the events of a
delivery in the same Redis before handling them, so a delivery that arrives twice, even
at the same moment on two workers, is handled once. While another worker still handles
some events of a delivery, the answer is 503 with ``Retry-After`` and the connector
delivers it again later; a worker killed mid-handler holds its events only until the
lease expires. See docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from typing import Annotated

import redis.asyncio
from fastapi import Depends, FastAPI

from descope_audit_hook import AsyncRedisDedupeStore, AuditBatch, Verifier
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

# isort: split
# What the app does with the verified events, shared by the examples: audit_store.py, next to this file.
from audit_store import configure_logging, record_events

configure_logging()

# Your own client: its timeouts decide how long a request waits on a Redis that is down
# before it is answered 503 (the connector then retries).
client = redis.asyncio.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5)
# The lease: longer than the slowest handler. Completed events are remembered for the ttl.
claims = AsyncRedisDedupeStore(client, lease=timedelta(minutes=2), ttl=timedelta(days=2))

audit_webhook = AuditWebhook(Verifier.from_env(), dedupe=claims)

app = FastAPI(title="Descope audit receiver, several workers")
install_error_handler(app)


@app.post("/descope/audit")
async def descope_audit(batch: Annotated[AuditBatch, Depends(audit_webhook)]) -> dict[str, int]:
    # Only the events this request claimed; leaving the block completes them, an exception
    # releases them (the redelivery is handled), and AuditWebhookError answers 503 if
    # another worker still holds some of them.
    async with audit_webhook.exactly_once(batch) as new:
        # record_events writes to SQLite (blocking): off the event loop. It stores each event
        # once by fingerprint, so even a handler started again after a crash writes it once.
        return await asyncio.to_thread(record_events, new)
