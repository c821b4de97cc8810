"""Dedupe stores on PostgreSQL, over a DB-API 2 connection factory the user passes (psycopg 3 tested).

Nothing here imports a driver: the stores call ``connect()`` and then only DB-API
methods (``cursor``, ``execute``, ``fetchall``, ``commit``, ``rollback``, ``close``).
The SQL uses ``%s`` placeholders and passes the keys as one array parameter (psycopg
2 and 3 and pg8000 adapt a Python list to an array).

One row per event: ``key`` (primary key), ``owner`` (the lease holder; ``NULL`` once
completed) and ``expires``, always computed by the database (``now()``), so the hosts'
clocks do not matter. Each operation is one statement, committed at once:

- claim: ``INSERT ... ON CONFLICT (key) DO UPDATE`` that takes over a row only when it
  has expired, ``RETURNING`` every row's owner: ours means claimed, ``NULL`` completed,
  another in progress. One statement, so atomic per key however many connections race;
  the keys go in sorted order, so concurrent claims lock rows in the same order and
  never deadlock.
- complete and release: lock this owner's rows in key order (``FOR UPDATE``), then
  update (``owner = NULL``, ``expires = now() + ttl``) or delete them.

Expired rows are deleted in passing, at most once a minute per store object, a thousand
at a time, skipping rows another transaction holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from ._dedupe import DEFAULT_DEDUPE_LEASE, DEFAULT_DEDUPE_TTL, ClaimState, LeasedStore, TTLArg, check_keys, check_owner
from ._errors import ConfigurationError

__all__ = ["AsyncPostgresDedupeStore", "PostgresDedupeStore"]

# A table name, optionally schema-qualified; unquoted, so PostgreSQL folds it to lower case.
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?\Z")
_PURGE_EVERY = 60.0  # seconds between two deletions of expired rows by one store object
_PURGE_BATCH = 1000

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class _SQL:
    """Every statement of the stores, for one table (a checked identifier: nothing here comes from a request)."""

    ddl: tuple[str, ...]
    claim: str
    complete: str
    release: str
    purge: str

    @classmethod
    def for_table(cls, table: str) -> _SQL:
        index = table.rpartition(".")[2] + "_expires"
        # Serializes concurrent CREATE TABLE IF NOT EXISTS (which can otherwise fail on the catalog).
        lock_id = int.from_bytes(hashlib.sha256(f"descope-audit:{table}".encode()).digest()[:8], "big", signed=True)
        # S608: the only interpolated value is the checked table name; every value is bound.
        return cls(
            ddl=(
                f"SELECT pg_advisory_xact_lock({lock_id})",
                f"CREATE TABLE IF NOT EXISTS {table} (key text PRIMARY KEY, owner text, expires timestamptz NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS {index} ON {table} (expires)",
            ),
            claim=(
                f"INSERT INTO {table} AS t (key, owner, expires) "  # noqa: S608
                "SELECT k, %s, now() + %s * interval '1 second' FROM unnest(%s::text[]) AS k ORDER BY k "
                "ON CONFLICT (key) DO UPDATE SET "
                "owner = CASE WHEN t.expires <= now() THEN excluded.owner ELSE t.owner END, "
                "expires = CASE WHEN t.expires <= now() THEN excluded.expires ELSE t.expires END "
                "RETURNING t.key, t.owner"
            ),
            complete=(
                f"WITH mine AS (SELECT key FROM {table} WHERE key = ANY(%s::text[]) AND owner = %s "  # noqa: S608
                "ORDER BY key FOR UPDATE) "
                f"UPDATE {table} AS t SET owner = NULL, expires = now() + %s * interval '1 second' FROM mine "
                "WHERE t.key = mine.key AND t.expires > now() RETURNING t.key"
            ),
            release=(
                f"WITH mine AS (SELECT key FROM {table} WHERE key = ANY(%s::text[]) AND owner = %s "  # noqa: S608
                "ORDER BY key FOR UPDATE) "
                f"DELETE FROM {table} AS t USING mine WHERE t.key = mine.key RETURNING t.key"
            ),
            purge=(
                f"DELETE FROM {table} WHERE key IN (SELECT key FROM {table} WHERE expires <= now() "  # noqa: S608
                f"LIMIT {_PURGE_BATCH} FOR UPDATE SKIP LOCKED)"
            ),
        )


def _states(keys: list[str], owner: str, rows: Rows) -> list[ClaimState]:
    holder: dict[str, str | None] = dict(rows)
    states = []
    for key in keys:
        found = holder.get(key, "")  # every key comes back; "" (absent) would mean held, to be safe
        if found == owner:
            states.append(ClaimState.CLAIMED)
        elif found is None:
            states.append(ClaimState.COMPLETED)
        else:
            states.append(ClaimState.IN_PROGRESS)
    return states


class _PostgresStore(LeasedStore):
    """The settings, the SQL and the bookkeeping shared by the sync and async stores."""

    __slots__ = ("_connect", "_lock", "_next_purge", "_ready", "_sql", "create_table", "table")

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        lease: TTLArg = DEFAULT_DEDUPE_LEASE,
        table: str = "descope_audit_claims",
        create_table: bool = False,
    ) -> None:
        super().__init__(ttl, lease)
        if not callable(connect):
            raise ConfigurationError(f"{type(self).__name__} takes a connection factory: a callable")
        if not isinstance(table, str) or not _TABLE_NAME.match(table):
            raise ConfigurationError("table must be a plain SQL identifier, optionally schema-qualified")
        if not isinstance(create_table, bool):
            raise ConfigurationError("create_table must be True or False")
        self._connect = connect
        self.table = table
        self.create_table = create_table
        self._sql = _SQL.for_table(table)
        self._ready = not create_table
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table={self.table!r}, ttl={self.ttl:g}s, lease={self.lease:g}s)"

    def _statements(self, sql: str, params: tuple[Any, ...]) -> list[tuple[str, tuple[Any, ...], bool]]:
        """The statements of one operation, each with whether its rows are the result.

        The table comes first when asked for and not made yet; a purge of expired rows
        last, when due.
        """
        statements: list[tuple[str, tuple[Any, ...], bool]] = []
        if not self._ready:
            statements += [(ddl, (), False) for ddl in self._sql.ddl]
        statements.append((sql, params, True))
        now = time.monotonic()
        with self._lock:
            if now >= self._next_purge:
                self._next_purge = now + _PURGE_EVERY
                statements.append((self._sql.purge, (), False))
        return statements

    def _claim_args(self, keys: list[str], owner: str) -> tuple[Any, ...]:
        return (owner, self.lease, keys)

    def _owner_args(self, keys: list[str], owner: str) -> tuple[Any, ...]:
        return (keys, owner)


class PostgresDedupeStore(_PostgresStore):
    """Records in a PostgreSQL table, through ``connect``, a DB-API 2 connection factory of yours.

    ``connect()`` is called once per operation and returns either a connection (used,
    committed and closed: ``functools.partial(psycopg.connect, dsn)``) or a context
    manager that lends one (``psycopg_pool.ConnectionPool(...).connection``: the pool
    takes it back). Use a pool in production: a new connection per call costs a few
    milliseconds. Reaches every app server that shares the database, with many
    connections and concurrent claimers. ``create_table=True`` creates the table and
    its index on first use (``CREATE TABLE IF NOT EXISTS``); otherwise create them
    yourself (docs/reliability.md has the DDL). Any error of the driver propagates
    (a claim is one statement: it happened or it did not); set ``connect_timeout`` and
    a ``statement_timeout`` on the connections, or a request may wait on a dead server.
    """

    __slots__ = ()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        made = self._connect()
        if callable(getattr(made, "cursor", None)):
            try:
                yield made
            finally:
                made.close()
        elif callable(getattr(made, "__enter__", None)):
            with made as conn:
                yield conn
        else:
            raise ConfigurationError("connect() must return a DB-API connection or a context manager lending one")

    def _execute(self, sql: str, params: tuple[Any, ...]) -> Rows:
        """Run the operation's statements in one transaction; the rows of ``sql``."""
        rows: Rows = []
        with self._connection() as conn:
            try:
                cursor = conn.cursor()
                try:
                    for statement, args, result in self._statements(sql, params):
                        cursor.execute(statement, args)
                        if result:
                            rows = list(cursor.fetchall())
                finally:
                    cursor.close()
                conn.commit()
            except BaseException:
                _rollback(conn)
                raise
        self._ready = True
        return rows

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = sorted(check_keys(keys)), check_owner(owner)
        if not checked:
            return []
        rows = self._execute(self._sql.claim, self._claim_args(checked, owner))
        return _states(list(keys), owner, rows)

    def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            rows = self._execute(self._sql.complete, (*self._owner_args(checked, owner), self.ttl))
            self._lost(len(checked) - len(rows))

    def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            self._execute(self._sql.release, self._owner_args(checked, owner))


def _rollback(conn: Any) -> None:
    # A broken connection may fail this too; the original error is what matters.
    with contextlib.suppress(Exception):
        conn.rollback()


class AsyncPostgresDedupeStore(_PostgresStore):
    """:class:`PostgresDedupeStore` for psycopg's ``AsyncConnection``: coroutine methods.

    ``connect()`` returns an awaitable connection (``functools.partial(
    psycopg.AsyncConnection.connect, dsn)``), a connection, or an async context manager
    that lends one (``psycopg_pool.AsyncConnectionPool(...).connection``).
    """

    __slots__ = ()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        made = self._connect()
        if inspect.isawaitable(made):
            made = await made
        if callable(getattr(made, "cursor", None)):
            try:
                yield made
            finally:
                await made.close()
        elif callable(getattr(made, "__aenter__", None)):
            async with made as conn:
                yield conn
        else:
            raise ConfigurationError("connect() must return an async connection or an async context manager")

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> Rows:
        rows: Rows = []
        async with self._connection() as conn:
            try:
                cursor = conn.cursor()
                try:
                    for statement, args, result in self._statements(sql, params):
                        await cursor.execute(statement, args)
                        if result:
                            rows = list(await cursor.fetchall())
                finally:
                    await cursor.close()
                await conn.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # as in _rollback
                    await conn.rollback()
                raise
        self._ready = True
        return rows

    async def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = sorted(check_keys(keys)), check_owner(owner)
        if not checked:
            return []
        rows = await self._execute(self._sql.claim, self._claim_args(checked, owner))
        return _states(list(keys), owner, rows)

    async def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            rows = await self._execute(self._sql.complete, (*self._owner_args(checked, owner), self.ttl))
            self._lost(len(checked) - len(rows))

    async def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            await self._execute(self._sql.release, self._owner_args(checked, owner))
