"""The reference receiver: a WSGI application that verifies, stores and shows audit events.

``POST`` on a webhook path verifies the delivery with a :class:`Verifier` and stores the
accepted events in SQLite, each once (keyed by :attr:`AuditEvent.fingerprint`, so a
redelivery adds nothing). ``GET /`` is the audit page, ``GET /api/events`` the same
listing as JSON. Standard library only.

Run it with ``descope-audit-hook serve`` (wsgiref, one thread per request) or under any
WSGI server, configured by the ``DESCOPE_AUDIT_*`` environment variables::

    gunicorn 'descope_audit_hook._receiver:create_app()'

The page has no login of its own: bind it to loopback or put it behind your proxy's auth.
"""

from __future__ import annotations

import html
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.simple_server import make_server as _wsgiref_make_server

from ._adapter import incomplete_body, read_bounded, require_sync
from ._errors import ConfigurationError, MethodNotAllowed, PayloadError, VerificationError
from ._models import AuditBatch, occurred_from_ms
from ._verifier import Verifier

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_PATH",
    "AuditReceiver",
    "EventFilter",
    "EventStore",
    "create_app",
    "log_requests_to_stderr",
    "make_app",
    "make_server",
]

DEFAULT_DB = "audit-events.db"
DEFAULT_PATH = "/descope/audit"
LISTING_PATH = "/api/events"
CSS_PATH = "/audit.css"
PER_PAGE = 50
MAX_PER_PAGE = 500
SEVERITIES = ("info", "warn", "error")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

logger = logging.getLogger("descope_audit_hook.receiver")

_CHUNK = 65_536
_RESERVED = frozenset({"/", LISTING_PATH, CSS_PATH})


# --- storage ---------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL UNIQUE,
    occurred_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    severity TEXT,
    actor_id TEXT,
    user_id TEXT,
    project_id TEXT,
    tenants TEXT NOT NULL,
    login_ids TEXT NOT NULL,
    device TEXT,
    method TEXT,
    geo TEXT,
    remote_address TEXT,
    data TEXT NOT NULL,
    raw TEXT NOT NULL,
    signed_form TEXT,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_newest ON events (occurred_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_action ON events (action);
CREATE INDEX IF NOT EXISTS events_user ON events (user_id);
CREATE TABLE IF NOT EXISTS event_tenants (event_id INTEGER NOT NULL, tenant TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_tenants_tenant ON event_tenants (tenant);
CREATE TABLE IF NOT EXISTS event_login_ids (event_id INTEGER NOT NULL, login_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_login_ids_login_id ON event_login_ids (login_id);
"""

_COLUMNS = (
    "fingerprint, occurred_ms, action, severity, actor_id, user_id, project_id, tenants, login_ids, "
    "device, method, geo, remote_address, data, raw, signed_form, received_at"
)


def _json(value: Any) -> str:
    # ASCII-only JSON: whatever the event holds, SQLite gets valid text.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class EventFilter:
    """What the audit page and the listing select: all filters are exact matches."""

    action: str = ""
    tenant: str = ""
    user: str = ""  # the event's userId or one of its login IDs
    severity: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    @classmethod
    def from_query(cls, query: str) -> EventFilter:
        """Parse a query string; a bad value is a :class:`PayloadError` (400)."""
        try:
            fields = parse_qs(query, keep_blank_values=True, max_num_fields=20, strict_parsing=False)
        except ValueError:
            raise PayloadError("too many query parameters", path="query", code="invalid_query") from None

        def text(name: str) -> str:
            values = fields.get(name, [""])
            return values[-1].strip()[:200]

        def number(name: str, default: int, upper: int) -> int:
            raw = text(name)
            if not raw:
                return default
            if not raw.isdigit() or not 1 <= int(raw) <= upper:
                raise PayloadError(f"{name} must be an integer from 1 to {upper}", path="query", code="invalid_query")
            return int(raw)

        severity = text("severity").lower()
        if severity and severity not in SEVERITIES:
            raise PayloadError("severity must be info, warn or error", path="query", code="invalid_query")
        return cls(
            action=text("action"),
            tenant=text("tenant"),
            user=text("user"),
            severity=severity,
            page=number("page", 1, 1_000_000),
            per_page=number("per_page", PER_PAGE, MAX_PER_PAGE),
        )

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with ``changes`` applied; empty values left out."""
        values: dict[str, Any] = {
            "action": self.action,
            "tenant": self.tenant,
            "user": self.user,
            "severity": self.severity,
            "page": self.page,
            "per_page": self.per_page,
        }
        values.update(changes)
        defaults = {"page": 1, "per_page": PER_PAGE}
        return urlencode({k: v for k, v in values.items() if v != "" and v != defaults.get(k)})


class EventStore:
    """Accepted events in SQLite, one row per fingerprint. Safe across threads and processes."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            with closing(self._connect()) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
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
                        f"INSERT OR IGNORE INTO events ({_COLUMNS}) VALUES ({', '.join('?' * 17)})",  # noqa: S608
                        (
                            event.fingerprint,
                            event.occurred_ms,
                            event.action,
                            event.severity.value if event.severity else None,
                            event.actor_id,
                            event.user_id,
                            event.project_id,
                            _json(list(event.tenants)),
                            _json(list(event.login_ids)),
                            event.device,
                            event.method,
                            event.geo,
                            event.remote_address,
                            _json(dict(event.data)),
                            _json(dict(event.raw)),
                            batch.signed_form,
                            received_at,
                        ),
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
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        offset = (selection.page - 1) * selection.per_page
        with closing(self._connect()) as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM events {clause}", params).fetchone()[0]  # noqa: S608
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events {clause} ORDER BY occurred_ms DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
                [*params, selection.per_page, offset],
            ).fetchall()
        return int(total), [_row_dict(row) for row in rows]

    def distinct(self, column: str) -> list[str]:
        """Known values for a filter's drop-down (at most 500)."""
        sql = {
            "action": "SELECT DISTINCT action FROM events ORDER BY action LIMIT 500",
            "tenant": "SELECT DISTINCT tenant FROM event_tenants ORDER BY tenant LIMIT 500",
        }[column]
        with closing(self._connect()) as conn:
            return [str(row[0]) for row in conn.execute(sql)]


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    occurred = occurred_from_ms(row["occurred_ms"])
    return {
        "fingerprint": row["fingerprint"],
        "occurred": row["occurred_ms"],
        "occurredAt": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "action": row["action"],
        "type": row["severity"],
        "actorId": row["actor_id"],
        "userId": row["user_id"],
        "projectId": row["project_id"],
        "tenants": json.loads(row["tenants"]),
        "loginIds": json.loads(row["login_ids"]),
        "device": row["device"],
        "method": row["method"],
        "geo": row["geo"],
        "remoteAddress": row["remote_address"],
        "data": json.loads(row["data"]),
        "raw": json.loads(row["raw"]),
        "signedForm": row["signed_form"],
        "receivedAt": row["received_at"],
    }


# --- the WSGI application ----------------------------------------------------------------

_SECURITY_HEADERS = [
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

Response = tuple[int, list[tuple[str, str]], bytes, str]


def _status_line(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:  # pragma: no cover - we only answer known statuses
        return f"{code} Unknown"


def _json_response(
    code: int, payload: Mapping[str, Any], note: str = "", extra: Iterable[tuple[str, str]] = ()
) -> Response:
    body = json.dumps(payload, ensure_ascii=True).encode("ascii")
    headers = [("Content-Type", "application/json"), *extra, *_SECURITY_HEADERS]
    return code, headers, body, note


def _error_response(exc: VerificationError) -> Response:
    return _json_response(exc.status_code, exc.to_dict(), exc.code, exc.headers.items())


def _log_text(value: str, limit: int = 200) -> str:
    # Request lines are attacker-controlled: escape control characters, cap the length.
    return json.dumps(value[:limit], ensure_ascii=True)[1:-1]


def _request_headers(environ: Environ) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").lower(), value))
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            headers.append((key.replace("_", "-").lower(), value))
    return headers


def _read_body(environ: Environ, limit: int) -> bytes:
    """Read the body in chunks, never more than ``limit`` bytes (plus one to notice more)."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared:
        remaining = int(declared)  # already validated by check_content_length
    elif environ.get("wsgi.input_terminated"):
        remaining = limit + 1  # chunked: read until EOF, but stop as soon as the limit is passed
    else:
        return b""  # PEP 3333: no Content-Length and no terminated input means no body

    def read(size: int) -> bytes:
        # A raw WSGI stream must not be read past its Content-Length: it would block.
        nonlocal remaining
        chunk = stream.read(min(size, remaining)) if remaining > 0 else b""
        remaining -= len(chunk)
        return bytes(chunk)

    try:
        return read_bounded(read, limit)
    except OSError:
        raise incomplete_body() from None


class AuditReceiver:
    """The WSGI application. ``hooks`` maps each webhook path to the verifier of its connector.

    One receiver can serve several connectors (several paths), all stored in one database
    and shown on one page.
    """

    def __init__(self, hooks: Mapping[str, Verifier], store: EventStore) -> None:
        if not hooks:
            raise ConfigurationError("the receiver needs at least one webhook path")
        for path, verifier in hooks.items():
            if not path.startswith("/") or path in _RESERVED or not isinstance(verifier, Verifier):
                raise ConfigurationError(
                    f"webhook path {path!r} must start with '/' and not be /, {LISTING_PATH} or {CSS_PATH}"
                )
        self.hooks = dict(hooks)
        self.store = store

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "")) or "/"
        try:
            code, headers, body, note = self._dispatch(method, path, environ)
        except VerificationError as exc:
            code, headers, body, note = _error_response(exc)
        except Exception:
            # Never a traceback or a detail to the caller; the log has the stack.
            logger.exception("descope audit receiver: internal error on %s %s", _log_text(method), _log_text(path))
            code, headers, body, note = _json_response(500, {"error": "internal_error", "message": "internal error"})
        start_response(_status_line(code), [*headers, ("Content-Length", str(len(body)))])
        logger.info(
            '%s "%s %s" %d %d %s%.1fms',
            _log_text(str(environ.get("REMOTE_ADDR", "-"))),
            _log_text(method),
            _log_text(path),
            code,
            len(body),
            f"{note} " if note else "",
            (time.monotonic() - started) * 1000,
        )
        return [b""] if method == "HEAD" else [body]

    def _dispatch(self, method: str, path: str, environ: Environ) -> Response:
        verifier = self.hooks.get(path)
        if verifier is not None:
            if method != "POST":
                raise MethodNotAllowed()
            return self._receive(verifier, environ)
        if path not in _RESERVED:
            return _json_response(404, {"error": "not_found", "message": "no such path"}, "not_found")
        if method not in ("GET", "HEAD"):
            return _json_response(
                405, {"error": "method_not_allowed", "message": "only GET is accepted"}, "", [("Allow", "GET, HEAD")]
            )
        if path == CSS_PATH:
            return 200, [("Content-Type", "text/css; charset=utf-8"), *_SECURITY_HEADERS], _CSS, ""
        selection = EventFilter.from_query(str(environ.get("QUERY_STRING", "")))
        total, events = self.store.query(selection)
        if path == LISTING_PATH:
            payload = {"total": total, "page": selection.page, "per_page": selection.per_page, "events": events}
            return _json_response(200, payload)
        page = _render_page(selection, total, events, self.store.distinct("action"), self.store.distinct("tenant"))
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", _CSP), *_SECURITY_HEADERS]
        return 200, headers, page.encode("utf-8"), ""

    def _receive(self, verifier: Verifier, environ: Environ) -> Response:
        verifier.check_content_length(environ.get("CONTENT_LENGTH"))
        body = _read_body(environ, verifier.max_body_bytes)
        batch = verifier.verify(body, _request_headers(environ))
        stored, duplicates = self.store.add(batch)
        payload = {
            "received": len(batch),
            "stored": stored,
            "duplicates": duplicates,
            "signed_form": batch.signed_form,
        }
        return _json_response(200, payload, f"stored={stored} duplicates={duplicates}")


def make_app(
    verifier: Verifier, db_path: str | os.PathLike[str] = DEFAULT_DB, path: str = DEFAULT_PATH
) -> AuditReceiver:
    """The receiver for one connector: ``POST path`` verified by ``verifier``, stored in ``db_path``."""
    return AuditReceiver({path: verifier}, EventStore(db_path))


def create_app(environ: Mapping[str, str] | None = None, *, prefix: str = "DESCOPE_AUDIT_") -> AuditReceiver:
    """The receiver configured from environment variables, for a WSGI server.

    The verifier's variables are those of :meth:`Verifier.from_env`; ``DESCOPE_AUDIT_DB``
    names the database (default ``audit-events.db`` in the working directory) and
    ``DESCOPE_AUDIT_PATH`` the webhook path (default ``/descope/audit``).
    """
    env = os.environ if environ is None else environ
    # A WSGI app calls a token validator in the request's thread: an async def one is refused now.
    verifier = require_sync(Verifier.from_env(env, prefix=prefix), "the reference receiver")
    app = make_app(
        verifier,
        env.get(prefix + "DB", "").strip() or DEFAULT_DB,
        env.get(prefix + "PATH", "").strip() or DEFAULT_PATH,
    )
    _ensure_log_handler()
    return app


def _ensure_log_handler() -> None:
    """Make the one-line-per-request log visible when nobody configured logging."""
    if logger.handlers or logging.getLogger().handlers:
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def log_requests_to_stderr() -> None:
    """For ``serve``: one line per request on stderr, and only one.

    The core logs each rejection itself; its line would be a second one for the same request.
    """
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("descope_audit_hook").setLevel(logging.ERROR)


# --- wsgiref server ----------------------------------------------------------------------


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _RequestHandler(WSGIRequestHandler):
    # A client that stops sending must not hold a thread forever.
    timeout = 30

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The application logs one line per request itself."""

    def handle(self) -> None:
        super().handle()
        # Lingering close: when the application answered without reading the whole body
        # (a 413 on Content-Length), closing at once would make the kernel send a reset
        # that can destroy the response in flight. Signal the end of the response, then
        # discard what the client still sends, for a bounded time and amount.
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            deadline = time.monotonic() + 2.0
            discarded = 0
            while discarded < 16 * 1_048_576 and time.monotonic() < deadline:
                data = self.connection.recv(_CHUNK)
                if not data:
                    break
                discarded += len(data)
        except OSError:
            pass


def make_server(host: str, port: int, app: AuditReceiver) -> WSGIServer:
    """A threading wsgiref server for ``app``; call ``serve_forever()`` on it."""
    return _wsgiref_make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_RequestHandler)


# --- the audit page ----------------------------------------------------------------------

_CSS = b"""
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1f24; background: #fff; }
h1 { font-size: 1.3rem; margin: 0 0 1rem; }
form.filters { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin-bottom: 1rem; }
form.filters label { display: flex; flex-direction: column; font-size: .8rem; color: #57606a; }
form.filters input, form.filters select { font: inherit; padding: .25rem .4rem; min-width: 10rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { border-bottom: 1px solid #d0d7de; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.sev-warn { color: #9a6700; font-weight: 600; }
.sev-error { color: #cf222e; font-weight: 600; }
td.id { font-family: ui-monospace, monospace; font-size: .78rem; word-break: break-all; min-width: 8rem; }
td.data { min-width: 11rem; }
summary { cursor: pointer; color: #0969da; }
pre { margin: .25rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; max-width: 24rem; font-size: .78rem; }
nav.paging { margin-top: 1rem; display: flex; gap: 1rem; align-items: center; }
p.empty { color: #57606a; }
"""

_HEADINGS = (
    "Time",
    "Action",
    "Severity",
    "Actor",
    "User",
    "Tenants",
    "Login IDs",
    "Method",
    "Device",
    "Geo",
    "Remote address",
    "Data",
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _time_text(ms: int) -> str:
    occurred = occurred_from_ms(ms)
    return occurred.strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d} UTC"


def _options(values: Iterable[str], selected: str, blank: str) -> str:
    choices = list(dict.fromkeys(values))
    if selected and selected not in choices:
        choices.insert(0, selected)
    parts = [f'<option value="">{_e(blank)}</option>']
    for value in choices:
        mark = " selected" if value == selected else ""
        parts.append(f'<option value="{_e(value)}"{mark}>{_e(value)}</option>')
    return "".join(parts)


def _row_html(event: Mapping[str, Any]) -> str:
    data = event["data"]
    if data:
        summary = f"{len(data)} field{'s' if len(data) != 1 else ''}"
        pretty = json.dumps(data, indent=2, ensure_ascii=False)
        data_cell = f"<details><summary>{_e(summary)}</summary><pre>{_e(pretty)}</pre></details>"
    else:
        data_cell = ""
    severity = event["type"] or ""
    cells = [
        f'<td class="time">{_e(_time_text(event["occurred"]))}</td>',
        f'<td class="action">{_e(event["action"])}</td>',
        f'<td class="sev-{_e(severity)}">{_e(severity)}</td>',
        f'<td class="id">{_e(event["actorId"])}</td>',
        f'<td class="id">{_e(event["userId"])}</td>',
        f"<td>{_e(', '.join(event['tenants']))}</td>",
        f"<td>{_e(', '.join(event['loginIds']))}</td>",
        f"<td>{_e(event['method'])}</td>",
        f"<td>{_e(event['device'])}</td>",
        f"<td>{_e(event['geo'])}</td>",
        f"<td>{_e(event['remoteAddress'])}</td>",
        f'<td class="data">{data_cell}</td>',
    ]
    return f'<tr data-fingerprint="{_e(event["fingerprint"])}">{"".join(cells)}</tr>'


def _render_page(
    selection: EventFilter, total: int, events: list[dict[str, Any]], actions: list[str], tenants: list[str]
) -> str:
    pages = max(1, -(-total // selection.per_page))
    form = (
        '<form class="filters" method="get" action="./">'
        f'<label>Action<select name="action" id="f-action">{_options(actions, selection.action, "any")}'
        "</select></label>"
        f'<label>Tenant<select name="tenant" id="f-tenant">{_options(tenants, selection.tenant, "any")}'
        "</select></label>"
        f'<label>User (ID or login ID)<input type="text" name="user" id="f-user" value="{_e(selection.user)}"></label>'
        f'<label>Severity<select name="severity" id="f-severity">'
        f"{_options(SEVERITIES, selection.severity, 'any')}</select></label>"
        + (
            f'<input type="hidden" name="per_page" value="{selection.per_page}">'
            if selection.per_page != PER_PAGE
            else ""
        )
        + '<button type="submit" id="f-apply">Filter</button> <a href="./">Clear</a>'
        "</form>"
    )
    if events:
        head = "".join(f"<th>{_e(h)}</th>" for h in _HEADINGS)
        rows = "".join(_row_html(event) for event in events)
        table = f'<table id="events"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    else:
        table = '<p class="empty" id="no-events">No events match.</p>'
    links = []
    if selection.page > 1:
        links.append(f'<a rel="prev" id="newer" href="./?{_e(selection.query(page=selection.page - 1))}">Newer</a>')
    if selection.page < pages:
        links.append(f'<a rel="next" id="older" href="./?{_e(selection.query(page=selection.page + 1))}">Older</a>')
    paging = (
        f'<nav class="paging"><span id="summary">{total} event{"s" if total != 1 else ""}, '
        f"page {selection.page} of {pages}</span>{' '.join(links)}</nav>"
    )
    return (
        "<!doctype html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Descope audit events</title><link rel="stylesheet" href=".{CSS_PATH}"></head>'
        f"<body><h1>Descope audit events</h1>{form}{table}{paging}</body></html>"
    )
