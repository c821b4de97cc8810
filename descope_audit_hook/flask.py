"""Flask: ``@audit_webhook(verifier)`` on the view that receives the webhook.

::

    from descope_audit_hook import AuditBatch, BearerToken, Verifier
    from descope_audit_hook.flask import audit_webhook

    @app.post("/descope/audit")
    @audit_webhook(Verifier("hmac-secret", auth=BearerToken("token")))
    def descope_audit(batch: AuditBatch):
        for event in batch:
            ...
        return {"received": len(batch)}

The view gets the verified :class:`~descope_audit_hook.AuditBatch` as its first
positional argument (route parameters still arrive as keyword arguments); it is also
on ``flask.g.descope_audit``. A rejected request never reaches the view: it is answered
``{"error": code, "message": ...}`` as JSON with the error's status (401, 400, 413, 405)
and headers (``WWW-Authenticate``, ``Allow``).

With ``verifier=None`` the verifier is built once per app from ``app.config`` keys named
like the environment variables (``DESCOPE_AUDIT_HMAC_SECRET``, ``DESCOPE_AUDIT_BEARER_TOKEN``,
...; or a ready ``DESCOPE_AUDIT_VERIFIER``), each missing key read from the environment.

A Bearer token validator (the connector's OAuth 2.0 type, see docs/oauth.md) is called
in the request's thread, so it must be a plain function; an ``async def`` one is refused
(``ConfigurationError``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, cast

from ._adapter import (
    check_dedupe,
    error_response,
    incomplete_body,
    missing_framework,
    read_bounded,
    reject,
    require_sync,
    run_once,
)
from ._batch import AuditBatch
from ._dedupe import DedupeStore
from ._errors import ConfigurationError, MethodNotAllowed, PayloadTooLarge, VerificationError
from ._settings import load_verifier, prefixed
from ._verifier import Verifier

try:
    from flask import Flask, Response, current_app, g, request
    from flask.typing import ResponseReturnValue
    from werkzeug.exceptions import RequestEntityTooLarge
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    missing_framework("flask", "flask", "Flask", exc)

__all__ = ["EXTENSION_KEY", "View", "audit_webhook", "read_body", "verify_request"]

P = ParamSpec("P")
#: A view as Flask takes it: sync or ``async def``, after the batch argument.
View = Callable[Concatenate[AuditBatch, P], "ResponseReturnValue | Awaitable[ResponseReturnValue]"]

#: Where the verifier built from ``app.config`` is kept (``app.extensions`` is Flask's place for it).
EXTENSION_KEY = "descope_audit_hook"


def _app_verifier(app: Flask) -> Verifier:
    cached = app.extensions.get(EXTENSION_KEY)
    if not isinstance(cached, Verifier):
        # Built on first use (the config is complete by then) and kept for the app's life;
        # two threads racing here build two equal verifiers, which is harmless.
        config = prefixed(app.config, 'app.config["{}"]')
        cached = require_sync(load_verifier(config, where="app.config"), "the Flask adapter")
        app.extensions[EXTENSION_KEY] = cached
    return cached


def read_body(verifier: Verifier) -> bytes:
    """The current request's raw body, read with the verifier's size limit.

    A declared ``Content-Length`` above the limit is refused before anything is read; the
    stream itself is read at most ``max_body_bytes + 1`` bytes far, so an absent or lying
    length is caught too. Raises :class:`~descope_audit_hook.VerificationError`.
    """
    verifier.check_content_length(request.environ.get("CONTENT_LENGTH"))
    try:
        return read_bounded(request.stream.read, verifier.max_body_bytes)
    except RequestEntityTooLarge:
        # Flask's own MAX_CONTENT_LENGTH, when it is lower than ours.
        raise reject(PayloadTooLarge("body larger than the server accepts")) from None
    except VerificationError:
        raise
    except Exception:
        # werkzeug's ClientDisconnected (the body ended early), a broken connection, the
        # server's own error: the body could not be read, a 400, not a 500.
        raise reject(incomplete_body()) from None


def verify_request(verifier: Verifier) -> AuditBatch:
    """Verify the current request: method, size, credentials, signature, payload."""
    if request.method != "POST":
        raise reject(MethodNotAllowed())
    body = read_body(verifier)
    return verifier.verify(body, request.headers)


def _error(exc: VerificationError) -> Response:
    status, body, headers = error_response(exc)
    return Response(body, status=status, headers=headers)


def audit_webhook(
    verifier: Verifier | None = None, *, dedupe: DedupeStore | None = None
) -> Callable[[View[P]], Callable[P, ResponseReturnValue]]:
    """Decorate a view so that it runs only for a verified delivery, with the batch as first argument.

    ``dedupe``: a :class:`~descope_audit_hook.DedupeStore`; the view then sees only the
    events it claimed (``batch.duplicates`` and ``batch.in_progress`` say how many were
    dropped); if it raises or answers 5xx the claims are released so that the redelivery
    is processed, otherwise they are completed.
    """
    if verifier is not None and not isinstance(verifier, Verifier):
        raise ConfigurationError("audit_webhook() takes a Verifier (or None to read app.config)")
    if verifier is not None:
        require_sync(verifier, "the Flask adapter")
    check_dedupe(dedupe)

    def decorate(view: View[P]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            active = verifier if verifier is not None else _app_verifier(current_app)
            try:
                batch = verify_request(active)
            except VerificationError as exc:
                return _error(exc)
            # ensure_sync: an ``async def`` view works as it does without the decorator.
            call: Callable[..., Any] = current_app.ensure_sync(view)

            def handle(fresh: AuditBatch) -> Any:
                g.descope_audit = fresh
                result = call(fresh, *args, **kwargs)
                # Made a Response here (Flask would do it next anyway) so a 5xx can be seen.
                return current_app.make_response(result) if dedupe is not None else result

            return cast("ResponseReturnValue", run_once(batch, dedupe, handle, _status))

        return wrapper

    return decorate


def _status(response: Any) -> int:
    return response.status_code if isinstance(response, Response) else 200
