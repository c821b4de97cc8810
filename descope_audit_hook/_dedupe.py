"""Exactly-once handling: deduplication stores keyed by :attr:`AuditEvent.fingerprint`.

Descope sends no delivery id and (as far as anyone has documented) redelivers what was
not acknowledged with a 2xx, so the same event can arrive twice, even twice at once on
two workers. :func:`exactly_once` claims every event of a verified batch in a
:class:`DedupeStore` *before* the handler runs, hands the handler only the events it
claimed, and releases those claims if the handler raises, so that the redelivery is
processed. See docs/reliability.md for the guarantees and their limits.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Protocol, Union, runtime_checkable

from ._errors import ConfigurationError
from ._models import AuditBatch

__all__ = [
    "DEFAULT_DEDUPE_TTL",
    "DedupeStore",
    "MemoryDedupeStore",
    "SQLiteDedupeStore",
    "TTLArg",
    "check_keys",
    "exactly_once",
    "ttl_seconds",
]

logger = logging.getLogger("descope_audit_hook")

#: How long a claim is remembered unless told otherwise. Descope documents no retry
#: horizon; set ``ttl`` to at least the longest delay after which a redelivery may come.
DEFAULT_DEDUPE_TTL = timedelta(days=1)

TTLArg = Union[timedelta, float, int]


def ttl_seconds(ttl: TTLArg, name: str = "ttl") -> float:
    """``ttl`` (a :class:`~datetime.timedelta` or seconds) as positive, finite seconds."""
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    else:
        raise ConfigurationError(f"{name} must be a timedelta or a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"{name} must be positive and finite")
    return seconds


def check_keys(keys: Sequence[str]) -> list[str]:
    """``keys`` as a list, refusing a bare string and anything but non-empty str."""
    if isinstance(keys, (str, bytes)):
        # A lone fingerprint would otherwise be claimed character by character.
        raise TypeError("keys must be a sequence of str, not a single str")
    checked = list(keys)
    for key in checked:
        if type(key) is not str or not key:
            raise TypeError("every dedupe key must be a non-empty str")
    return checked


@runtime_checkable
class DedupeStore(Protocol):
    """Where claimed event fingerprints are remembered.

    ``claim`` must be atomic per key: when several callers (threads, processes, hosts,
    as far as the store reaches) claim the same key, exactly one gets ``True``. Within
    one call a key repeated later in ``keys`` is reported ``False`` (it was just
    claimed). ``release`` forgets claims, so that a later ``claim`` of them succeeds.
    """

    def claim(self, keys: Sequence[str]) -> list[bool]:
        """Claim each key; ``True`` where newly claimed, ``False`` where already claimed."""
        ...

    def release(self, keys: Sequence[str]) -> None:
        """Forget the claims on ``keys`` (unknown keys are ignored)."""
        ...


class MemoryDedupeStore:
    """Claims held in this process's memory: bounded in size, with a time to live, thread-safe.

    Only deduplicates deliveries that reach *this* process; with several workers or
    hosts use :class:`SQLiteDedupeStore` (one host) or the Django cache store (Redis,
    Memcached). When full, the oldest claims are evicted first, so size ``max_entries``
    above the number of events expected within ``ttl``.
    """

    __slots__ = ("_clock", "_entries", "_lock", "_warned", "max_entries", "ttl")

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if type(max_entries) is not int or max_entries <= 0:
            raise ConfigurationError("max_entries must be a positive int")
        self.max_entries = max_entries
        #: Seconds a claim is remembered.
        self.ttl = ttl_seconds(ttl)
        self._clock = clock
        # key -> expiry time; insertion order is claim order, so the oldest come first.
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def __repr__(self) -> str:
        return f"MemoryDedupeStore(max_entries={self.max_entries}, ttl={self.ttl:g}s, size={len(self)})"

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._entries)

    def _expire(self, now: float) -> None:
        entries = self._entries
        # Every entry gets the same ttl, so expiry times follow insertion order.
        while entries:
            key, expires = next(iter(entries.items()))
            if expires > now:
                break
            del entries[key]

    def claim(self, keys: Sequence[str]) -> list[bool]:
        checked = check_keys(keys)
        results: list[bool] = []
        with self._lock:
            now = self._clock()
            self._expire(now)
            entries = self._entries
            expires = now + self.ttl
            for key in checked:
                previous = entries.get(key)
                if previous is not None and previous > now:
                    results.append(False)
                    continue
                # New, or expired but not yet purged (an injected clock may step back).
                entries.pop(key, None)
                entries[key] = expires
                results.append(True)
            evicted = 0
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
                evicted += 1
            if evicted and not self._warned:
                self._warned = True
                logger.warning(
                    "descope_audit_hook: MemoryDedupeStore is full (max_entries=%d); evicting unexpired "
                    "claims weakens deduplication",
                    self.max_entries,
                )
        return results

    def release(self, keys: Sequence[str]) -> None:
        checked = check_keys(keys)
        with self._lock:
            for key in checked:
                self._entries.pop(key, None)


_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced: a thread's connection closes when the thread ends."""


_INHERITED: list[sqlite3.Connection] = []


class SQLiteDedupeStore:
    """Claims in an SQLite database file: atomic across the threads and processes of one host.

    One table, the key as primary key. A claim is ``INSERT OR IGNORE`` of every key in
    one ``BEGIN IMMEDIATE`` transaction, so concurrent claimers are serialized by
    SQLite's write lock and exactly one of them inserts each key. The database runs in
    WAL mode; a busy database is waited on for ``timeout`` seconds, after which
    ``claim`` raises :class:`sqlite3.OperationalError` (the adapters answer 5xx and the
    sender retries). Expired rows are deleted by ``claim``. Each thread (and each
    process, after a fork) uses its own connection. Do not put the file on a network
    file system: SQLite's locking is not reliable there.
    """

    __slots__ = ("_clock", "_connections", "_delete", "_insert", "_local", "_lock", "path", "table", "timeout", "ttl")

    def __init__(
        self,
        path: str | os.PathLike[str],
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        *,
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
        self.path = path
        self.table = table
        self.timeout = float(timeout)
        #: Seconds a claim is remembered. A wall clock, because processes share the rows.
        self.ttl = ttl_seconds(ttl)
        self._clock = clock
        self._insert = f"INSERT OR IGNORE INTO {table} (key, expires) VALUES (?, ?)"  # noqa: S608 - checked identifier
        self._delete = f"DELETE FROM {table} WHERE key = ?"  # noqa: S608 - checked identifier
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._connection()  # create the schema now: a bad path fails at start-up, not per request

    def __repr__(self) -> str:
        return f"SQLiteDedupeStore(path={self.path!r}, table={self.table!r}, ttl={self.ttl:g}s)"

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
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY NOT NULL, expires REAL NOT NULL)"
                " WITHOUT ROWID"
            )
            conn.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_expires ON {self.table} (expires)")
        except BaseException:
            conn.close()
            raise
        local.conn, local.pid = conn, pid
        with self._lock:
            self._connections.add(conn)
        return conn

    def claim(self, keys: Sequence[str]) -> list[bool]:
        checked = check_keys(keys)
        if not checked:
            return []
        conn = self._connection()
        now = self._clock()
        expires = now + self.ttl
        # BEGIN IMMEDIATE takes the write lock up front: no two claimers interleave, and
        # no deadlock from upgrading a read lock.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DELETE FROM {self.table} WHERE expires <= ?", (now,))  # noqa: S608 - checked identifier
            results = [conn.execute(self._insert, (key, expires)).rowcount == 1 for key in checked]
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results

    def release(self, keys: Sequence[str]) -> None:
        checked = check_keys(keys)
        if not checked:
            return
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(self._delete, [(key,) for key in checked])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        """Unexpired claims in the table."""
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


@contextmanager
def exactly_once(batch: AuditBatch, store: DedupeStore | None) -> Iterator[AuditBatch]:
    """Claim the batch's events, run the body with only the new ones, release them if it raises.

    The yielded batch is ``batch`` with ``events`` reduced to those claimed by this call
    and ``duplicates`` set to how many were dropped (an event repeated inside the batch
    is kept once). It may be empty: the body still runs, so that the delivery is
    acknowledged. On any exception in the body (including cancellation) the claims are
    released and the exception propagates, so that the caller answers 5xx and the
    redelivery is processed. With ``store=None`` the batch is yielded unchanged.

        with exactly_once(batch, store) as new:
            for event in new:
                save(event)
    """
    if store is None:
        yield batch
        return
    keys = [event.fingerprint for event in batch.events]
    claimed = store.claim(keys)
    if len(claimed) != len(keys):
        store.release([key for key, won in zip(keys, claimed, strict=False) if won])
        raise TypeError(f"{type(store).__name__}.claim returned {len(claimed)} results for {len(keys)} keys")
    won = [key for key, ok in zip(keys, claimed, strict=True) if ok]
    events = tuple(event for event, ok in zip(batch.events, claimed, strict=True) if ok)
    fresh = replace(batch, events=events, duplicates=batch.duplicates + len(batch.events) - len(events))
    try:
        yield fresh
    except BaseException:
        if won:
            try:
                store.release(won)
            except Exception:
                # The handler's exception matters more; the claims expire with the ttl.
                logger.exception("descope_audit_hook: could not release %d dedupe claims", len(won))
        raise
