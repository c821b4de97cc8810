"""A real Redis or PostgreSQL stopped mid-run, under the Flask and FastAPI adapters.

Flask drives a sync store (``RedisDedupeStore``, ``PostgresDedupeStore``), FastAPI an
async one (``AsyncRedisDedupeStore``, ``AsyncPostgresDedupeStore``, awaited on its event
loop). In each run: a delivery is handled; the server dies *while the next handler
runs*, so its completion fails after the work is done (the answer stays 2xx, logged); a
delivery arriving while the server is down is a 503 ``dedupe_unavailable`` with
``Retry-After`` and its handler never runs; the server comes back on the same port and
the same store reconnects. What survives differs, as docs/reliability.md says: Redis
without persistence forgets every record (redeliveries are handled again); PostgreSQL
keeps them, so the events whose completion failed are held until their lease expires
(503 ``events_in_progress``), then handled again.
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations at runtime.
import contextlib
import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AsyncRedisDedupeStore,
    AuditBatch,
    BearerToken,
    PostgresDedupeStore,
    RedisDedupeStore,
    Verifier,
)
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.engines import PostgresCluster, postgres_cluster, redis_server
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.servers import free_port

pytestmark = pytest.mark.server

VERIFIER = Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
LEASE = 2.0


class Engine:
    """A Redis or PostgreSQL server on a fixed port: started, stopped (even from inside a handler), restarted."""

    def __init__(self, kind: str, cluster: PostgresCluster | None) -> None:
        self.kind = kind
        self.cluster = cluster
        self.port = free_port()
        self._running = contextlib.ExitStack()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=3"

    def start(self) -> None:
        if self.kind == "redis":
            self._running.enter_context(redis_server(port=self.port))
        else:
            assert self.cluster is not None
            self._running.enter_context(self.cluster.running(port=self.port))

    def stop(self) -> None:
        self._running.close()  # redis: SIGTERM; PostgreSQL: fast shutdown (SIGINT)
        self._running = contextlib.ExitStack()

    def store(self, framework: str) -> Any:
        table = f"claims_{uuid.uuid4().hex[:8]}"
        if self.kind == "redis":
            if framework == "flask":
                client = redis.Redis(
                    "127.0.0.1", self.port, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
                )
                return RedisDedupeStore(client, lease=LEASE)
            aclient = redis.asyncio.Redis(
                host="127.0.0.1",
                port=self.port,
                socket_timeout=5,
                socket_connect_timeout=2,
                retry=AsyncRetry(NoBackoff(), 0),
            )
            return AsyncRedisDedupeStore(aclient, lease=LEASE)
        if framework == "flask":
            return PostgresDedupeStore(
                functools.partial(psycopg.connect, self.dsn), table=table, create_table=True, lease=LEASE
            )
        connect = functools.partial(psycopg.AsyncConnection.connect, self.dsn)
        return AsyncPostgresDedupeStore(connect, table=table, create_table=True, lease=LEASE)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with postgres_cluster() as made:
        yield made


Send = Callable[[bytes, dict[str, str]], tuple[int, dict[str, str], dict[str, Any]]]


@contextlib.contextmanager
def app_for(framework: str, store: Any, handled: Counter[str], during: list[Callable[[], None]]) -> Iterator[Send]:
    """The framework's app with ``store``; its handler counts each event and runs ``during.pop()`` if any."""

    def handle(batch: AuditBatch) -> dict[str, int]:
        handled.update(event.fingerprint for event in batch)
        if during:
            during.pop()()
        return {"received": len(batch)}

    if framework == "flask":
        from flask import Flask

        from descope_audit_hook.flask import audit_webhook

        flask_app = Flask(__name__)
        flask_app.post("/hook")(audit_webhook(VERIFIER, dedupe=store)(handle))
        client = flask_app.test_client()

        def send(body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
            reply = client.post("/hook", data=body, headers=headers)
            return reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.json or {}

        yield send
        return

    from fastapi import Depends, FastAPI

    from descope_audit_hook.starlette import AuditWebhook, install_error_handler
    from tests.support.frameworks import starlette_test_client

    hook = AuditWebhook(VERIFIER, dedupe=store)
    app = FastAPI()
    install_error_handler(app)

    @app.post("/hook")
    async def endpoint(batch: Annotated[AuditBatch, Depends(hook)]) -> dict[str, int]:
        async with hook.exactly_once(batch) as new:
            return handle(new)

    # One TestClient (one event loop) for the whole run: the async client's connections live on it.
    with starlette_test_client()(app) as test_client:

        def asend(body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
            reply = test_client.post("/hook", content=body, headers=headers)
            return reply.status_code, dict(reply.headers), reply.json()

        yield asend


def delivery(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str], list[str]]:
    body, headers = make_delivery(events, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    return body, headers, [event.fingerprint for event in VERIFIER.verify(body, headers)]


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
@pytest.mark.parametrize("kind", ["redis", "postgres"])
def test_the_store_stopped_mid_run(
    kind: str, framework: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    engine = Engine(kind, request.getfixturevalue("cluster") if kind == "postgres" else None)
    events = sample_events(8)
    first, second, third = delivery(events[:3]), delivery(events[3:6]), delivery(events[6:])
    handled: Counter[str] = Counter()
    during: list[Callable[[], None]] = []
    engine.start()
    try:
        with (
            caplog.at_level(logging.WARNING, logger="descope_audit_hook"),
            app_for(framework, engine.store(framework), handled, during) as send,
        ):
            assert send(*first[:2])[0] == 200
            during.append(engine.stop)  # the server dies while this handler runs
            status, _, answer = send(*second[:2])
            assert (status, answer) == (200, {"received": 3}), "the work was done: the answer stays 2xx"
            assert "could not complete 3 dedupe claims" in caplog.text
            # Down: fail closed, and say it is temporary; nothing runs without deduplication.
            status, headers, answer = send(*third[:2])
            assert (status, answer["error"], headers["retry-after"]) == (503, "dedupe_unavailable", "1")
            assert not any(handled[key] for key in third[2])
            engine.start()  # back on the same port: the same store reconnects
            assert send(*third[:2])[0] == 200
            if kind == "postgres":
                # The records survived. The failed completion left the second delivery's events
                # in progress: held until their lease expires, then handled again.
                status, headers, answer = send(*second[:2])
                assert (status, answer["error"], headers["retry-after"]) == (503, "events_in_progress", "1")
                for _ in range(400):
                    time.sleep(0.05)
                    status, _, answer = send(*second[:2])
                    if status == 200:
                        break
                assert answer == {"received": 3}
                assert send(*first[:2])[2] == {"received": 0}  # completed before the restart: kept
            else:
                # Redis without persistence came back empty: every delivery is handled again.
                assert send(*second[:2])[2] == {"received": 3}
                assert send(*first[:2])[2] == {"received": 3}
    finally:
        engine.stop()
    expected_first = 1 if kind == "postgres" else 2
    assert [handled[key] for key in first[2]] == [expected_first] * 3
    assert [handled[key] for key in second[2]] == [2] * 3  # done once, its completion lost, done again
    assert [handled[key] for key in third[2]] == [1] * 2
