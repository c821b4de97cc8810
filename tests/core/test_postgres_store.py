"""PostgresDedupeStore's own features on a real PostgreSQL: the table, connection factories, failures.

The behaviour every store shares runs in tests/reliability/test_store_protocol.py (sync and psycopg's
AsyncConnection, threads and processes racing).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    ClaimState,
    ConfigurationError,
    PostgresDedupeStore,
    exactly_once,
)
from descope_audit_hook import _postgres_store as postgres_module
from descope_audit_hook.testing import sample_events
from tests.support.deliveries import batch_of
from tests.support.engines import postgres_cluster
from tests.support.stores import CLAIMED, COMPLETED

pytestmark = pytest.mark.server


def _table() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def conn(postgres_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


def test_the_table_its_rows_and_the_database_clock(postgres_dsn: str, conn: psycopg.Connection) -> None:
    table = _table()
    store = PostgresDedupeStore(
        functools.partial(psycopg.connect, postgres_dsn), ttl=600, lease=90, table=table, create_table=True
    )
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    store.complete(["a"], "A")
    rows = conn.execute(
        f"SELECT key, owner, extract(epoch FROM expires - now()) FROM {table} ORDER BY key"  # noqa: S608
    ).fetchall()
    assert [(key, owner) for key, owner, _ in rows] == [("a", None), ("b", "A")]
    assert 590 < float(rows[0][2]) <= 600
    assert 80 < float(rows[1][2]) <= 90
    indexes = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (table,)).fetchall()
    assert (f"{table}_expires",) in indexes
    assert repr(store) == f"PostgresDedupeStore(table={table!r}, ttl=600s, lease=90s)"


def test_without_create_table_a_missing_table_is_the_drivers_error(postgres_dsn: str) -> None:
    store = PostgresDedupeStore(functools.partial(psycopg.connect, postgres_dsn), table=_table())
    with pytest.raises(psycopg.errors.UndefinedTable):
        store.claim(["a"], "A")


def test_async_errors_are_the_drivers_and_a_bad_factory_is_a_configuration_error(postgres_dsn: str) -> None:
    connect = functools.partial(psycopg.AsyncConnection.connect, postgres_dsn)

    async def main() -> None:
        with pytest.raises(psycopg.errors.UndefinedTable):
            await AsyncPostgresDedupeStore(connect, table=_table()).claim(["a"], "A")
        with pytest.raises(ConfigurationError, match="connect"):
            await AsyncPostgresDedupeStore(lambda: 42).claim(["a"], "A")

    asyncio.run(main())


def test_a_schema_qualified_table(postgres_dsn: str, conn: psycopg.Connection) -> None:
    schema = _table()
    conn.execute(f"CREATE SCHEMA {schema}")
    store = PostgresDedupeStore(
        functools.partial(psycopg.connect, postgres_dsn), table=f"{schema}.claims", create_table=True
    )
    assert store.claim(["a"], "A") == [CLAIMED]
    assert conn.execute(f"SELECT owner FROM {schema}.claims").fetchall() == [("A",)]  # noqa: S608


@pytest.mark.parametrize(
    "kwargs",
    [
        {"table": "claims; DROP TABLE x"},
        {"table": "a.b.c"},
        {"table": "1abc"},
        {"table": ""},
        {"create_table": "yes"},
        {"lease": 0},
        {"ttl": -1},
    ],
)
def test_bad_configuration(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        PostgresDedupeStore(lambda: None, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        PostgresDedupeStore("postgresql://not-a-factory")  # type: ignore[arg-type]


def test_a_factory_returning_something_else_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="connect"):
        PostgresDedupeStore(lambda: 42).claim(["a"], "A")


def test_a_connection_pool_lends_the_connections(postgres_dsn: str) -> None:
    table = _table()
    with ConnectionPool(postgres_dsn, min_size=1, max_size=4, open=True) as pool:
        store = PostgresDedupeStore(pool.connection, table=table, create_table=True)
        assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
        store.complete(["a"], "A")
        store.release(["b"], "A")
        assert store.claim(["a", "b"], "B") == [COMPLETED, CLAIMED]
        assert pool.get_stats()["connections_num"] <= 4


def test_autocommit_connections_work_the_same(postgres_dsn: str) -> None:
    store = PostgresDedupeStore(
        functools.partial(psycopg.connect, postgres_dsn, autocommit=True), table=_table(), create_table=True
    )
    assert store.claim(["a"], "A") == [CLAIMED]
    store.complete(["a"], "A")
    assert store.claim(["a", "b"], "B") == [COMPLETED, CLAIMED]


def test_an_async_pool(postgres_dsn: str) -> None:
    async def main() -> list[ClaimState]:
        async with AsyncConnectionPool(postgres_dsn, min_size=1, max_size=2, open=False) as pool:
            store = AsyncPostgresDedupeStore(pool.connection, table=_table(), create_table=True)
            assert await store.claim(["a"], "A") == [CLAIMED]
            await store.complete(["a"], "A")
            return await store.claim(["a", "b"], "B")

    assert asyncio.run(main()) == [COMPLETED, CLAIMED]


def test_expired_rows_are_deleted_in_passing(
    postgres_dsn: str,
    conn: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = _table()
    store = PostgresDedupeStore(
        functools.partial(psycopg.connect, postgres_dsn), table=table, create_table=True, lease=0.2, ttl=60
    )
    assert store.claim(["old-1", "old-2", "kept"], "A") == [CLAIMED] * 3
    store.complete(["kept"], "A")
    conn.execute(f"UPDATE {table} SET expires = now() - interval '1 second' WHERE key LIKE 'old-%%'")  # noqa: S608
    monkeypatch.setattr(postgres_module, "_PURGE_EVERY", 0.0)
    store._next_purge = 0.0
    store.claim(["new"], "B")
    keys = sorted(row[0] for row in conn.execute(f"SELECT key FROM {table}"))  # noqa: S608
    assert keys == ["kept", "new"]


def test_postgres_restarting_fails_deliveries_and_the_leases_survive_it(caplog: pytest.LogCaptureFixture) -> None:
    # Its own cluster: the test stops and restarts the server on the same port.
    with postgres_cluster() as cluster:
        with cluster.running() as server:
            port, dsn = server.port, server.dsn
            store = PostgresDedupeStore(
                functools.partial(psycopg.connect, dsn), table="claims", create_table=True, lease=1.0
            )
            first, second = batch_of(sample_events(2)), batch_of(sample_events(5)[2:])
            with exactly_once(first, store) as new:
                assert len(new) == 2
            # The server goes down while a handler runs: the completion fails, logged.
            with exactly_once(second, store) as new:
                assert len(new) == 3
                server.server.process.send_signal(2)  # SIGINT: fast shutdown
                server.server.process.wait(30)
            assert "could not complete 3 dedupe claims" in caplog.text
        ran = False
        with pytest.raises(psycopg.OperationalError), exactly_once(batch_of(sample_events(7)[5:]), store):
            ran = True  # the database is down: the handler never runs
        assert not ran
        with cluster.running(port=port):
            # The same store reconnects. The leases survived the restart: the redelivery sees
            # the events in progress until they expire, then handles them.
            attempts = 0
            while True:
                with exactly_once(second, store) as new:
                    if len(new) == 3:
                        break
                    assert (len(new), new.in_progress) == (0, 3)
                attempts += 1
                assert attempts < 600, "the lease never expired"
                time.sleep(0.05)
            with exactly_once(first, store) as new:
                assert (len(new), new.duplicates) == (0, 2)  # completed before the restart
