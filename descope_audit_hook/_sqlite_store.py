"""A :class:`~descope_audit_hook.DedupeStore` in an SQLite file: every thread and process of one host."""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ._dedupe import DEFAULT_DEDUPE_LEASE, DEFAULT_DEDUPE_TTL, ClaimState, LeasedStore, TTLArg, check_keys, check_owner
from ._errors import ConfigurationError

__all__ = ["SQLiteDedupeStore"]

logger = logging.getLogger("descope_audit_hook")

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced: a thread's connection closes when the thread ends."""


_INHERITED: list[sqlite3.Connection] = []


class SQLiteDedupeStore(LeasedStore):
    """Records in an SQLite database file: atomic across the threads and processes of one host.

    One table: the key as primary key, the ``owner`` of an in-progress record (``NULL``
    once completed) and its expiry time. Every call is one ``BEGIN IMMEDIATE``
    transaction, so concurrent callers are serialized by SQLite's write lock: a claim
    deletes the expired rows, then ``INSERT OR IGNORE``\\ s each key (the row it could
    not insert tells the state), and either the whole call happens or none of it. The
    database runs in WAL mode; a busy database is waited on for ``timeout`` seconds,
    after which the call raises :class:`sqlite3.OperationalError`. Each thread (and each
    process, after a fork) uses its own connection. Do not put the file on a network
    file system: SQLite's locking is not reliable there.
    """

    __slots__ = (
        "_clock",
        "_complete",
        "_connections",
        "_insert",
        "_local",
        "_lock",
        "_release",
        "_state",
        "path",
        "table",
        "timeout",
    )

    def __init__(
        self,
        path: str | os.PathLike[str],
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        *,
        lease: TTLArg = DEFAULT_DEDUPE_LEASE,
        table: str = "descope_audit_claims",
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path = os.fspath(path)
        if not isinstance(path, str) or path in ("", ":memory:") or path.startswith("file:"):
            # An in-memory database is private to one connection: claims would not be shared.
            raise ConfigurationError("SQLiteDedupeStore needs a file path; use MemoryDedupeStore for memory")
        if not _TABLE_NAME.match(table):
            raise ConfigurationError("table must be a plain SQL identifier")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < math.inf:
            raise ConfigurationError("timeout must be a non-negative number of seconds")
        super().__init__(ttl, lease)
        self.path = path
        self.table = table
        self.timeout = float(timeout)
        # A wall clock, because processes share the rows.
        self._clock = clock
        # Checked identifier, values bound: nothing here comes from a request.
        self._insert = f"INSERT OR IGNORE INTO {table} (key, owner, expires) VALUES (?, ?, ?)"  # noqa: S608
        self._state = f"SELECT owner FROM {table} WHERE key = ?"  # noqa: S608
        self._complete = f"UPDATE {table} SET owner = NULL, expires = ? WHERE key = ? AND owner = ? AND expires > ?"  # noqa: S608
        self._release = f"DELETE FROM {table} WHERE key = ? AND owner = ?"  # noqa: S608
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._connection()  # create the schema now: a bad path fails at start-up, not per request

    def __repr__(self) -> str:
        return f"SQLiteDedupeStore(path={self.path!r}, table={self.table!r}, ttl={self.ttl:g}s, lease={self.lease:g}s)"

    def __enter__(self) -> SQLiteDedupeStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        pid = os.getpid()
        conn: _Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == pid and conn in self._connections:
            return conn
        if conn is not None and local.pid != pid:
            # SQLite forbids using, in a child, a connection opened before fork(); even its
            # close may touch the parent's files. Keep it unused and open a fresh one.
            _INHERITED.append(conn)
        # A connection inherited through fork(), or closed by close(), is not used again.
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False, factory=_Connection
        )
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                logger.warning("descope_audit_hook: SQLiteDedupeStore could not switch %s to WAL mode", self.table)
            self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        local.conn, local.pid = conn, pid
        with self._lock:
            self._connections.add(conn)
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        table = self.table
        with self._transaction(conn):
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY NOT NULL, expires REAL NOT NULL, owner TEXT)"
                " WITHOUT ROWID"
            )
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if "owner" not in columns:
                # A table from before leases: its rows were kept for the ttl, as completed ones are.
                conn.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT")
            conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_expires ON {table} (expires)")

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock up front: no two callers interleave, and
        # no deadlock from upgrading a read lock.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return []
        conn = self._connection()
        now = self._clock()
        expires = now + self.lease
        states: list[ClaimState] = []
        with self._transaction(conn):
            conn.execute(f"DELETE FROM {self.table} WHERE expires <= ?", (now,))  # noqa: S608 - checked identifier
            for key in checked:
                if conn.execute(self._insert, (key, owner, expires)).rowcount == 1:
                    states.append(ClaimState.CLAIMED)
                    continue
                # The row is live (expired ones were just deleted, under the write lock).
                (holder,) = conn.execute(self._state, (key,)).fetchone()
                states.append(ClaimState.COMPLETED if holder is None else ClaimState.IN_PROGRESS)
        return states

    def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return
        conn = self._connection()
        now = self._clock()
        with self._transaction(conn):
            done = conn.executemany(self._complete, [(now + self.ttl, key, owner, now) for key in checked]).rowcount
        self._lost(len(checked) - done)

    def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return
        conn = self._connection()
        with self._transaction(conn):
            conn.executemany(self._release, [(key, owner) for key in checked])

    def __len__(self) -> int:
        """Live records, in progress or completed."""
        sql = f"SELECT COUNT(*) FROM {self.table} WHERE expires > ?"  # noqa: S608 - checked identifier
        row = self._connection().execute(sql, (self._clock(),)).fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the connections this object opened in this process; a later call reopens one."""
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            conn.close()
        self._local.conn = None
