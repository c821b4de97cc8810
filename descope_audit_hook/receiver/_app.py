"""The reference receiver as a WSGI application: verify, store once, show, chart, export.

A delivery is stored as every adapter handles one: through the library's claim
(``_claim.Claim``) on a :class:`SQLiteDedupeStore` in the same database file, so that the
receiver answers like the adapters (2xx once every event is stored, 503 with
``Retry-After`` while another request holds some of them) and shows how to use them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from descope_audit_hook._batch import AuditBatch
from descope_audit_hook._claim import Claim
from descope_audit_hook._errors import (
    AuthenticationError,
    ConfigurationError,
    MethodNotAllowed,
    RetryLater,
    VerificationError,
)
from descope_audit_hook._request import WebhookRequest, error_body, require_sync
from descope_audit_hook._settings import setting, settings_of
from descope_audit_hook._settings_loader import read, variables
from descope_audit_hook._sqlite_store import SQLiteDedupeStore
from descope_audit_hook._verifier import Verifier

from ._access import PageAccess
from ._chart import build_chart
from ._export import EXPORTS, export_chunks
from ._filter import EventFilter
from ._http import (
    SECURITY_HEADERS,
    Environ,
    NotFound,
    Response,
    StartResponse,
    error_response,
    html_response,
    json_response,
    log_text,
    read_body,
    request_headers,
    status_line,
)
from ._page import CSS, render_login, render_page
from ._store import EventStore

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_PATH",
    "ROUTES",
    "AuditReceiver",
    "configured_app",
    "create_app",
    "log_requests_to_stderr",
    "make_app",
]

DEFAULT_DB = setting("DB").default
DEFAULT_PATH = setting("PATH").default
LISTING_PATH = "/api/events"
#: The receiver's own paths; a webhook path may not be one of them.
ROUTES = frozenset(
    {"/", LISTING_PATH, *(f"{LISTING_PATH}.{kind}" for kind in EXPORTS), "/audit.css", "/login", "/logout"}
)

logger = logging.getLogger("descope_audit_hook.receiver")


class AuditReceiver:
    """The WSGI application. ``hooks`` maps each webhook path to the verifier of its connector.

    One receiver can serve several connectors (several paths), all stored in one database
    and shown on one page. ``access`` decides who sees the page (default: loopback clients,
    ``Host`` names of loopback only). The claims on events being stored live in the same
    database (table ``descope_audit_claims``).
    """

    def __init__(self, hooks: Mapping[str, Verifier], store: EventStore, access: PageAccess | None = None) -> None:
        if not hooks:
            raise ConfigurationError("the receiver needs at least one webhook path")
        for path, verifier in hooks.items():
            if not path.startswith("/") or path in ROUTES or not isinstance(verifier, Verifier):
                raise ConfigurationError(
                    f"webhook path {path!r} must start with '/' and not be one of the receiver's own paths "
                    f"({', '.join(sorted(ROUTES))})"
                )
        # A WSGI app calls a token validator in the request's thread: an async def one is refused now.
        self.hooks = {path: require_sync(verifier, "the reference receiver") for path, verifier in hooks.items()}
        self.store = store
        self.claims = SQLiteDedupeStore(store.path)
        self.access = access if access is not None else PageAccess()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = str(environ.get("PATH_INFO", "")) or "/"
        try:
            response = self._dispatch(method, path, environ)
        except VerificationError as exc:
            response = error_response(exc)
        except Exception:
            # Never a traceback or a detail to the caller; the log has the stack.
            logger.exception("descope audit receiver: internal error on %s %s", log_text(method), log_text(path))
            headers = [("Content-Type", "application/json"), *SECURITY_HEADERS]
            response = Response(500, headers, error_body("internal_error", "internal error"), "internal_error")
        body = response.body
        headers = [*response.headers, *(("Set-Cookie", cookie) for cookie in response.cookies)]
        if isinstance(body, bytes):
            headers.append(("Content-Length", str(len(body))))
        start_response(status_line(response.status), headers)
        logger.info(
            '%s "%s %s" %d %s %s%.1fms',
            log_text(str(environ.get("REMOTE_ADDR", "-"))),
            log_text(method),
            log_text(path),
            response.status,
            len(body) if isinstance(body, bytes) else "-",
            f"{response.note} " if response.note else "",
            (time.monotonic() - started) * 1000,
        )
        if isinstance(body, bytes):
            return [b""] if method == "HEAD" else [body]
        if method == "HEAD":
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return [b""]
        return body

    def _dispatch(self, method: str, path: str, environ: Environ) -> Response:
        self.access.check_host(environ)
        verifier = self.hooks.get(path)
        if verifier is not None:
            return self._receive(WebhookRequest(verifier, method, environ.get("CONTENT_LENGTH")), environ)
        if path not in ROUTES:
            raise NotFound()
        if path in ("/login", "/logout"):
            return self._session(method, path, environ)
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed("GET, HEAD")
        if path == "/audit.css":
            return Response(200, [("Content-Type", "text/css; charset=utf-8"), *SECURITY_HEADERS], CSS)
        try:
            grant = self.access.authorize(environ, self.store)
        except AuthenticationError as exc:
            if path == "/" and exc.code == "login_required":
                return Response(303, [("Location", "./login"), *SECURITY_HEADERS], note="login_required")
            raise
        selection = EventFilter.from_query(str(environ.get("QUERY_STRING", "")))
        if path == LISTING_PATH:
            total, events = self.store.query(selection)
            payload = {"total": total, "page": selection.page, "per_page": selection.per_page, "events": events}
            return json_response(200, payload)
        if path != "/":
            kind = path.rsplit(".", 1)[1]
            media_type, filename = EXPORTS[kind]
            headers = [
                ("Content-Type", media_type),
                ("Content-Disposition", f'attachment; filename="{filename}"'),
                *SECURITY_HEADERS,
            ]
            chunks = export_chunks(kind, self.store.iterate(selection, raw=kind != "csv"))
            return Response(200, headers, chunks, note=kind)
        total, events = self.store.query(selection)
        page = render_page(
            selection,
            total,
            events,
            self.store.distinct("action"),
            self.store.distinct("tenant"),
            build_chart(self.store, selection),
            self.access.logout_token(grant.session) if grant.session else None,
        )
        return html_response(200, page)

    def _session(self, method: str, path: str, environ: Environ) -> Response:
        """``GET /login`` (the form), ``POST /login``, ``POST /logout``: only with an access token."""
        if not self.access.has_token:
            raise NotFound()
        if path == "/login" and method in ("GET", "HEAD"):
            csrf, cookie = self.access.login_form_cookie(environ)
            return html_response(200, render_login(csrf), [cookie])
        if method != "POST":
            raise MethodNotAllowed("GET, HEAD, POST" if path == "/login" else "POST")
        self.access.check_origin(environ)
        if path == "/logout":
            return self.access.logout(environ, self.store)
        done = self.access.login(environ, self.store)
        if done is not None:
            return done
        csrf, cookie = self.access.login_form_cookie(environ)
        failed = html_response(401, render_login(csrf, failed=True), [cookie])
        return replace(failed, note="login_failed")

    def _receive(self, incoming: WebhookRequest, environ: Environ) -> Response:
        read_body(environ, incoming)
        batch = incoming.finish(request_headers(environ))
        answer = Claim(batch, self.claims).run(partial(self._stored, len(batch)), _status)
        if isinstance(answer, RetryLater):
            raise answer
        return answer

    def _stored(self, received: int, fresh: AuditBatch) -> Response:
        """Store the events this request claimed; the events table's unique fingerprint is the last guard."""
        stored, known = self.store.add(fresh)
        duplicates = fresh.duplicates + known
        payload = {"received": received, "stored": stored, "duplicates": duplicates, "signed_form": fresh.signed_form}
        return json_response(200, payload, f"stored={stored} duplicates={duplicates}")


def _status(response: Response) -> int:
    return response.status


def make_app(
    verifier: Verifier,
    db_path: str | os.PathLike[str] = DEFAULT_DB,
    path: str = DEFAULT_PATH,
    *,
    access: PageAccess | None = None,
) -> AuditReceiver:
    """The receiver for one connector: ``POST path`` verified by ``verifier``, stored in ``db_path``."""
    return AuditReceiver({path: verifier}, EventStore(db_path), access)


def create_app(
    environ: Mapping[str, str] | None = None, *, prefix: str = "DESCOPE_AUDIT_", bound_host: str | None = None
) -> AuditReceiver:
    """The receiver configured from environment variables, for a WSGI server.

    The verifier's variables are those of :meth:`Verifier.from_env`; ``DESCOPE_AUDIT_DB``
    names the database (default ``audit-events.db`` in the working directory),
    ``DESCOPE_AUDIT_PATH`` the webhook path (default ``/descope/audit``),
    ``DESCOPE_AUDIT_PAGE_TOKEN`` the audit page's access token(s) and
    ``DESCOPE_AUDIT_ALLOWED_HOSTS`` the ``Host`` names served besides loopback (both
    comma-separated). ``bound_host``: the address the server listens on, when known.
    """
    env = os.environ if environ is None else environ
    verifier = Verifier.from_env(env, prefix=prefix)
    found = read([variables(env, prefix)], settings_of("receiver"), lambda known: prefix + known.name)
    return configured_app(verifier, found.values, bound_host)


def configured_app(verifier: Verifier, found: Mapping[str, Any], bound_host: str | None) -> AuditReceiver:
    """The receiver of ``verifier``, with the receiver's own settings (``DB``, ``PATH``, ``PAGE_TOKEN``,
    ``ALLOWED_HOSTS``) as :mod:`descope_audit_hook._settings` reads them: :func:`create_app` and ``serve``."""
    access = PageAccess(found.get("PAGE_TOKEN", ()), found.get("ALLOWED_HOSTS", ()), bound_host=bound_host)
    app = make_app(verifier, found.get("DB", DEFAULT_DB), found.get("PATH", DEFAULT_PATH), access=access)
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
