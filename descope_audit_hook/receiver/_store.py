"""Accepted events in SQLite, one row per fingerprint; the audit page's sessions beside them."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Generator
from contextlib import closing
from datetime import datetime, timezone
from typing import Any

from descope_audit_hook._batch import AuditBatch
from descope_audit_hook._errors import ConfigurationError
from descope_audit_hook._events import FIELDS, LISTED, AuditEvent
from descope_audit_hook._field_kinds import Time
from descope_audit_hook._time import iso_text

from ._filter import EventFilter

__all__ = ["EventStore", "event_dict"]

# The event's own columns come from the table of its fields (descope_audit_hook._events).
_STORED = tuple(row for row in FIELDS if row.column)
_FIELD_COLUMNS = "".join(f"    {row.column} {row.kind.sql},\n" for row in _STORED)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
{_FIELD_COLUMNS}    signed_form TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_newest ON events (occurred_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_action ON events (action);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id);
CREATE TABLE IF NOT EXISTS event_tenants (event_id INTEGER NOT NULL, tenant TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_tenants_tenant ON event_tenants (tenant);
CREATE TABLE IF NOT EXISTS event_login_ids (event_id INTEGER NOT NULL, login_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_login_ids_login_id ON event_login_ids (login_id);
CREATE TABLE IF NOT EXISTS page_sessions (digest TEXT PRIMARY KEY, tag TEXT NOT NULL, expires_ms INTEGER NOT NULL);
"""

_COLUMN_NAMES = ("fingerprint", *(str(row.column) for row in _STORED), "signed_form", "received_at")
_COLUMNS = ", ".join(_COLUMN_NAMES)
_INSERT = f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"  # noqa: S608
_EXPORT_BATCH = 500


def _json(value: Any) -> str:
    # ASCII-only JSON: whatever the event holds, SQLite gets valid text.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _values(event: AuditEvent) -> list[Any]:
    """The event's own columns, in the order of ``_STORED``."""
    values = []
    for row in _STORED:
        value = row.kind.to_json(getattr(event, row.name))
        values.append(_json(value) if row.kind.json_text else value)
    return values


def _where(selection: EventFilter) -> tuple[str, list[Any]]:
    """The SQL condition of a filter and its parameters (values are always parameters)."""
    where: list[str] = []
    params: list[Any] = []
    if selection.action:
        where.append("action = ?")
        params.append(selection.action)
    if selection.tenant:
        where.append("id IN (SELECT event_id FROM event_tenants WHERE tenant = ?)")
        params.append(selection.tenant)
    if selection.user:
        where.append("(user_id = ? OR id IN (SELECT event_id FROM event_login_ids WHERE login_id = ?))")
        params += [selection.user, selection.user]
    if selection.severity:
        where.append("severity = ?")
        params.append(selection.severity)
    if selection.since is not None:
        where.append("occurred_ms >= ?")
        params.append(selection.since)
    if selection.until is not None:
        where.append("occurred_ms < ?")
        params.append(selection.until)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


class EventStore:
    """Accepted events in SQLite, one row per fingerprint. Safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: a NUL in the path
            raise ConfigurationError(f"cannot open the event database {self.path!r}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    def add(self, batch: AuditBatch) -> tuple[int, int]:
        """Store the events not seen before; return ``(stored, duplicates)``."""
        received_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        stored = 0
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for event in batch:
                    cursor = conn.execute(
                        _INSERT, (event.fingerprint, *_values(event), batch.signed_form, received_at)
                    )
                    if cursor.rowcount != 1:
                        continue
                    stored += 1
                    event_id = cursor.lastrowid
                    conn.executemany(
                        "INSERT INTO event_tenants (event_id, tenant) VALUES (?, ?)",
                        [(event_id, tenant) for tenant in dict.fromkeys(event.tenants)],
                    )
                    conn.executemany(
                        "INSERT INTO event_login_ids (event_id, login_id) VALUES (?, ?)",
                        [(event_id, login_id) for login_id in dict.fromkeys(event.login_ids)],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return stored, len(batch) - stored

    def query(self, selection: EventFilter) -> tuple[int, list[dict[str, Any]]]:
        """``(total matching, the page of events newest first)`` as JSON-ready dicts."""
        clause, params = _where(selection)
        offset = (selection.page - 1) * selection.per_page
        with closing(self._connect()) as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM events {clause}", params).fetchone()[0]  # noqa: S608
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events {clause} ORDER BY occurred_ms DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
                [*params, selection.per_page, offset],
            ).fetchall()
        return int(total), [event_dict(row) for row in rows]

    def iterate(self, selection: EventFilter, *, raw: bool = True) -> Generator[dict[str, Any], None, None]:
        """Every matching event, newest first, read in small batches: memory stays flat.

        ``raw=False`` leaves out the event as received (``"raw"``), which a CSV does not show.

        The connection stays open until the iterator is exhausted or closed (a WSGI server
        closes the response iterable, which closes this generator).
        """
        clause, params = _where(selection)
        conn = self._connect()
        try:
            cursor = conn.execute(
                f"SELECT {_COLUMNS} FROM events {clause} ORDER BY occurred_ms DESC, id DESC",  # noqa: S608
                params,
            )
            while rows := cursor.fetchmany(_EXPORT_BATCH):
                for row in rows:
                    yield event_dict(row, raw=raw)
        finally:
            conn.close()

    def span(self, selection: EventFilter) -> tuple[int, int] | None:
        """``(oldest, newest)`` ``occurred`` of the matching events; ``None`` when none match."""
        clause, params = _where(selection)
        with closing(self._connect()) as conn:
            sql = f"SELECT MIN(occurred_ms), MAX(occurred_ms) FROM events {clause}"  # noqa: S608
            oldest, newest = conn.execute(sql, params).fetchone()
        return None if oldest is None else (int(oldest), int(newest))

    def counts(self, selection: EventFilter, start: int, width: int) -> list[tuple[int, str, int]]:
        """``(slot, severity or "", events)`` for slots of ``width`` ms from ``start``, over the filter."""
        clause, params = _where(selection)
        clause = f"{clause} AND occurred_ms >= ?" if clause else "WHERE occurred_ms >= ?"
        sql = (
            f"SELECT (occurred_ms - ?) / ? AS slot, COALESCE(severity, ''), COUNT(*) "  # noqa: S608
            f"FROM events {clause} GROUP BY slot, severity"
        )
        with closing(self._connect()) as conn:
            rows = conn.execute(sql, [start, width, *params, start]).fetchall()
        return [(int(slot), str(severity), int(count)) for slot, severity, count in rows]

    def distinct(self, column: str) -> list[str]:
        """Known values for a filter's drop-down (at most 500)."""
        sql = {
            "action": "SELECT DISTINCT action FROM events ORDER BY action LIMIT 500",
            "tenant": "SELECT DISTINCT tenant FROM event_tenants ORDER BY tenant LIMIT 500",
        }[column]
        with closing(self._connect()) as conn:
            return [str(row[0]) for row in conn.execute(sql)]

    # --- the audit page's login sessions (only digests are stored, never the cookie) ---------

    def add_session(self, digest: str, tag: str, expires_ms: int, now_ms: int) -> None:
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM page_sessions WHERE expires_ms <= ?", (now_ms,))
            conn.execute(
                "INSERT INTO page_sessions (digest, tag, expires_ms) VALUES (?, ?, ?)", (digest, tag, expires_ms)
            )

    def session_tag(self, digest: str, now_ms: int) -> str | None:
        with closing(self._connect()) as conn:
            sql = "SELECT tag FROM page_sessions WHERE digest = ? AND expires_ms > ?"
            row = conn.execute(sql, (digest, now_ms)).fetchone()
        return None if row is None else str(row[0])

    def drop_session(self, digest: str) -> None:
        with closing(self._connect()) as conn:
            conn.execute("DELETE FROM page_sessions WHERE digest = ?", (digest,))


def event_dict(row: sqlite3.Row, *, raw: bool = True) -> dict[str, Any]:
    """A stored event as the listing and the exports show it: its fields as in the JSON
    (``raw`` as ``"raw"``, ``None`` when ``raw=False``), and its time also as ISO-8601 text."""
    shown: dict[str, Any] = {"fingerprint": row["fingerprint"]}
    for column, name, stored in _SHOWN:
        value = row[column]
        if stored.key is None and not raw:
            value = None
        elif stored.kind.json_text:
            value = json.loads(value)
        shown[name] = value
        if isinstance(stored.kind, Time):
            shown[f"{name}At"] = iso_text(value)
    shown["signedForm"] = row["signed_form"]
    shown["receivedAt"] = row["received_at"]
    return shown


# (column, name in the listing, field): the fields as listings show them.
_SHOWN = tuple((str(row.column), row.key or row.name, row) for row in LISTED if row.column)
