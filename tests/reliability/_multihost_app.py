"""The app the multi-host tests run on several servers: FastAPI (uvicorn) and Flask (gunicorn), one shared store.

    uvicorn tests.reliability._multihost_app:fastapi_app
    gunicorn -k gthread tests.reliability._multihost_app:flask_app

Configured by environment variables: ``DESCOPE_AUDIT_*`` for the verifier; ``MH_STORE``
(``redis``, ``postgres`` or ``sqlite``) with ``MH_REDIS_URL``, ``MH_SQLITE`` (the claims
file) or the PostgreSQL of ``MH_DSN``; ``MH_LEASE`` (seconds); ``MH_TAG`` (the Redis key
prefix and the suffix of every table name: one run's records apart from another's);
``MH_SERVER`` (the name recorded with each row).

The handler is transactional per batch, as docs/reliability.md asks of one: it records
that it *started* each event (committed at once, in ``mh_starts_<tag>``), sleeps when
an event of the batch is marked slow on this server (``"slow": seconds, "slow_on":
MH_SERVER`` in its ``data``: the test kills the process then), and records the
*completion* of every event in one transaction (``mh_done_<tag>``, keyed by
fingerprint; a second completion of an event adds one to ``times``). Both tables live
in the PostgreSQL of ``MH_DSN``; the test creates them.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from typing import Annotated, Any

import psycopg
import redis
import redis.asyncio
from fastapi import Depends, FastAPI
from flask import Flask

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AsyncRedisDedupeStore,
    AuditBatch,
    PostgresDedupeStore,
    RedisDedupeStore,
    SQLiteDedupeStore,
    Verifier,
)
from descope_audit_hook.flask import audit_webhook
from descope_audit_hook.starlette import AuditWebhook, install_error_handler

__all__ = ["fastapi_app", "flask_app"]

DSN = os.environ["MH_DSN"]
TAG = os.environ["MH_TAG"]
SERVER = os.environ.get("MH_SERVER", "?")
LEASE = float(os.environ.get("MH_LEASE", "4"))
STORE = os.environ["MH_STORE"]

_START = f"INSERT INTO mh_starts_{TAG} (fingerprint, server, pid) VALUES (%s, %s, %s)"  # noqa: S608 - test tag
_DONE = (
    f"INSERT INTO mh_done_{TAG} (fingerprint, times, server, pid) VALUES (%s, 1, %s, %s) "  # noqa: S608 - test tag
    f"ON CONFLICT (fingerprint) DO UPDATE SET times = mh_done_{TAG}.times + 1"
)


def _rows(batch: AuditBatch) -> list[tuple[str, str, int]]:
    return [(event.fingerprint, SERVER, os.getpid()) for event in batch]


def _slow(batch: AuditBatch) -> float:
    """How long to sleep: an event may be slow on one server (``"slow_on"``: its ``MH_SERVER``), not elsewhere."""
    return max((float(e.data.get("slow", 0)) for e in batch if e.data.get("slow_on") == SERVER), default=0.0)


def _answer(batch: AuditBatch) -> dict[str, Any]:
    return {"handled": len(batch), "duplicates": batch.duplicates, "in_progress": batch.in_progress}


def _sync_store() -> Any:
    if STORE == "redis":
        client = redis.Redis.from_url(os.environ["MH_REDIS_URL"], socket_timeout=10)
        return RedisDedupeStore(client, lease=LEASE, prefix=f"mh-{TAG}:")
    if STORE == "postgres":
        connect = functools.partial(psycopg.connect, DSN)
        return PostgresDedupeStore(connect, lease=LEASE, table=f"mh_claims_{TAG}", create_table=True)
    return SQLiteDedupeStore(os.environ["MH_SQLITE"], lease=LEASE)


def _async_store() -> Any:
    if STORE == "redis":
        client = redis.asyncio.Redis.from_url(os.environ["MH_REDIS_URL"], socket_timeout=10)
        return AsyncRedisDedupeStore(client, lease=LEASE, prefix=f"mh-{TAG}:")
    if STORE == "postgres":
        connect = functools.partial(psycopg.AsyncConnection.connect, DSN)
        return AsyncPostgresDedupeStore(connect, lease=LEASE, table=f"mh_claims_{TAG}", create_table=True)
    return SQLiteDedupeStore(os.environ["MH_SQLITE"], lease=LEASE)  # sync: run in a worker thread


_verifier = Verifier.from_env()

# --- FastAPI under uvicorn: an async store, awaited on the event loop -----------------------

fastapi_app = FastAPI()
install_error_handler(fastapi_app)
_hook = AuditWebhook(_verifier, dedupe=_async_store())


@fastapi_app.post("/hook")
async def fastapi_hook(batch: Annotated[AuditBatch, Depends(_hook)]) -> dict[str, Any]:
    async with _hook.exactly_once(batch) as new:
        async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
            async with conn.cursor() as cursor:
                await cursor.executemany(_START, _rows(new))
            if _slow(new):
                await asyncio.sleep(_slow(new))
            async with conn.transaction(), conn.cursor() as cursor:
                await cursor.executemany(_DONE, _rows(new))
        return _answer(new)


@fastapi_app.get("/health")
async def fastapi_health() -> dict[str, str]:
    return {"ok": SERVER}


# --- Flask under gunicorn: a sync store ------------------------------------------------------

flask_app = Flask(__name__)


@flask_app.post("/hook")
@audit_webhook(_verifier, dedupe=_sync_store())
def flask_hook(batch: AuditBatch) -> dict[str, Any]:
    with psycopg.connect(DSN, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(_START, _rows(batch))
        if _slow(batch):
            time.sleep(_slow(batch))
        with conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(_DONE, _rows(batch))
    return _answer(batch)


@flask_app.get("/health")
def flask_health() -> dict[str, str]:
    return {"ok": SERVER}
