"""``AuditWebhookBodyLimit``: the body size limit on the webhook paths, before Django's ASGI handler reads.

Django's ``ASGIHandler`` reads the whole request body (spooled to a temporary file past
``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any middleware runs, so a middleware's limit
comes too late under ASGI: a 300 MB upload is read, written to disk, and only then
refused. This wrapper sits between the ASGI server and the application and, for the
configured paths only:

- refuses a declared ``Content-Length`` above the limit (413) without reading a byte;
- reads the body itself, at most ``limit + 1`` bytes, and refuses it (413) the moment it
  is over, whatever the headers said (chunked, or a lying length);
- hands the application the body it read, as one ``http.request`` message.

A refusal (logged once, like every rejection) is answered with the library's JSON error
and ``Connection: close``. Before the connection closes, what the client still sends is
read and discarded for a short, bounded time and amount (a "lingering close"): closing a socket with unread data makes
the kernel reset the connection, which can destroy the 413 before the client reads it.

:class:`BodyLimit` is the plain ASGI wrapper (no Django in it); :class:`AuditWebhookBodyLimit`
is the Django-configured form: its paths and verifier come from the settings by default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from descope_audit_hook._errors import ConfigurationError, VerificationError
from descope_audit_hook._request import WebhookRequest, error_response
from descope_audit_hook._verifier import Verifier

from ._settings import SETTING, settings_verifier, webhook_settings

__all__ = ["ASGIApp", "AuditWebhookBodyLimit", "BodyLimit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: Any ASGI 3 application (loosely typed: each framework's stubs spell the messages differently).
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

_LINGER_SECONDS = 2.0
_LINGER_BYTES = 16 * 1_048_576


class BodyLimit:
    """ASGI middleware: ``verifier()``'s size limit on requests to ``paths``, before ``app`` reads.

    ``paths`` are compared with the request path without the ``root_path`` prefix (Django's
    ``request.path_info``). ``verifier`` is called per request (settings may change in tests).
    """

    def __init__(self, app: ASGIApp, paths: Iterable[str], verifier: Callable[[], Verifier]) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or _path_info(scope) not in self.paths:
            await self.app(scope, receive, send)
            return
        try:
            incoming = WebhookRequest(self.verifier(), str(scope.get("method", "")), _content_length(scope))
            body = await _read(receive, incoming)
        except VerificationError as exc:
            await _refuse(exc, receive, send)
            return
        if body is None:
            return  # the client went away: nobody to answer
        await self.app(scope, _replay(body, receive), send)


def _path_info(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def _content_length(scope: Scope) -> str | None:
    values = {bytes(value) for name, value in scope.get("headers", ()) if bytes(name).lower() == b"content-length"}
    if len(values) > 1:
        return "conflicting"  # two different lengths: refused as invalid
    return values.pop().decode("latin-1") if values else None


async def _read(receive: Receive, incoming: WebhookRequest) -> bytes | None:
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        if message.get("type") != "http.request":
            continue
        chunk = message.get("body", b"")
        if chunk:
            incoming.feed(chunk)  # raises PayloadTooLarge past the limit, logged once
        if not message.get("more_body", False):
            return incoming.body


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when it comes

    return replay


async def _refuse(exc: VerificationError, receive: Receive, send: Send) -> None:
    status, body, headers = error_response(exc)
    raw_headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    raw_headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body, "more_body": True})
    await _linger(receive)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _linger(receive: Receive) -> None:
    """Discard what the client still sends, until it stops, or 2 s, or 16 MiB."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _LINGER_SECONDS
    drained = 0
    while drained < _LINGER_BYTES:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), remaining)
        except asyncio.TimeoutError:
            return
        if message.get("type") != "http.request" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


class AuditWebhookBodyLimit(BodyLimit):
    """The Django ASGI application, with the webhook's size limit enforced before Django reads.

    ``application = AuditWebhookBodyLimit(get_asgi_application())`` in ``asgi.py``. Django's
    ``ASGIHandler`` reads a request's whole body (to a temporary file past 2.5 MB) before
    any middleware runs; this wrapper reads the body of a request to a webhook path
    itself, refuses a declared ``Content-Length`` over ``max_body_bytes`` without reading
    it and a streamed body as soon as it passes the limit (413, our JSON), and hands Django
    the body it read. Other paths pass through untouched.

    ``paths``: default ``DESCOPE_AUDIT_WEBHOOK["PATHS"]`` (compared like the middleware's,
    with the path without ``root_path``); give them here for views with ``@audit_webhook``.
    ``verifier``: default the verifier from settings (only its ``max_body_bytes`` is used).
    """

    def __init__(
        self, application: ASGIApp, *, paths: Iterable[str] | None = None, verifier: Verifier | None = None
    ) -> None:
        if paths is None:
            paths = webhook_settings().get("PATHS") or ()
        chosen = [paths] if isinstance(paths, str) else list(paths)
        if not chosen or not all(isinstance(p, str) and p.startswith("/") for p in chosen):
            raise ImproperlyConfigured(
                f'AuditWebhookBodyLimit needs the webhook paths: settings.{SETTING}["PATHS"] or paths=[...]'
            )
        if verifier is None:
            settings_verifier()  # built now, so that a broken configuration stops the app at start-up
            super().__init__(application, chosen, settings_verifier)
        elif isinstance(verifier, Verifier):
            fixed = verifier
            super().__init__(application, chosen, lambda: fixed)
        else:
            raise ConfigurationError("AuditWebhookBodyLimit takes a Verifier (or None to read the settings)")
