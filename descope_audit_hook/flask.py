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

from ._batch import AuditBatch
from ._claim import Claim
from ._claim_rules import check_store
from ._dedupe import DedupeStore
from ._errors import ConfigurationError, PayloadTooLarge, RetryLater, VerificationError, missing_framework
from ._request import WebhookRequest, error_response, reading_body, require_sync
from ._settings_loader import load_verifier, prefixed
from ._verifier import Verifier, log_rejection

try:
    from flask import Flask, Response, current_app, g, request
    from flask.typing import ResponseReturnValue
    from werkzeug.exceptions import RequestEntityTooLarge
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    missing_framework("flask", "flask", "Flask", exc)

__all__ = ["audit_webhook"]

P = ParamSpec("P")
#: A view as Flask takes it: sync or ``async def``, after the batch argument.
_View = Callable[Concatenate[AuditBatch, P], "ResponseReturnValue | Awaitable[ResponseReturnValue]"]

#: Where the verifier built from ``app.config`` is kept (``app.extensions`` is Flask's place for it).
_EXTENSION_KEY = "descope_audit_hook"


def _app_verifier(app: Flask) -> Verifier:
    cached = app.extensions.get(_EXTENSION_KEY)
    if not isinstance(cached, Verifier):
        # Built on first use (the config is complete by then) and kept for the app's life;
        # two threads racing here build two equal verifiers, which is harmless.
        config = prefixed(app.config, 'app.config["{}"]')
        cached = require_sync(load_verifier(config, where="app.config"), "the Flask adapter")
        app.extensions[_EXTENSION_KEY] = cached
    return cached


def _verified(verifier: Verifier) -> AuditBatch:
    """The current request, verified: method, size, credentials, signature, payload."""
    incoming = WebhookRequest(verifier, request.method, request.environ.get("CONTENT_LENGTH"))
    try:
        # werkzeug's ClientDisconnected (the body ended early), a broken connection, the
        # server's own error: the body could not be read, a 400, not a 500.
        with reading_body(keep=(RequestEntityTooLarge,)):
            incoming.read(request.stream.read)
    except RequestEntityTooLarge:
        # Flask's own MAX_CONTENT_LENGTH, when it is lower than ours.
        raise log_rejection(PayloadTooLarge("body larger than the server accepts")) from None
    return incoming.finish(request.headers)


def _error(exc: VerificationError) -> Response:
    status, body, headers = error_response(exc)
    return Response(body, status=status, headers=headers)


def _status(response: Response) -> int:
    return response.status_code


def audit_webhook(
    verifier: Verifier | None = None, *, dedupe: DedupeStore | None = None
) -> Callable[[_View[P]], Callable[P, ResponseReturnValue]]:
    """Decorate a view so that it runs only for a verified delivery, with the batch as first argument.

    ``dedupe``: a sync :class:`~descope_audit_hook.DedupeStore`; the view then sees only
    the events it claimed (``batch.duplicates`` and ``batch.in_progress`` say how many
    were dropped). A 2xx completes the claims; any other answer, or an exception,
    releases them so that the redelivery is processed. While another request holds some
    events, or if the store fails, the answer is a 503 with ``Retry-After``.
    """
    if verifier is not None and not isinstance(verifier, Verifier):
        raise ConfigurationError("audit_webhook() takes a Verifier (or None to read app.config)")
    if verifier is not None:
        require_sync(verifier, "the Flask adapter")
    check_store(dedupe, allow_async=False)

    def decorate(view: _View[P]) -> Callable[P, ResponseReturnValue]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            try:
                batch = _verified(verifier if verifier is not None else _app_verifier(current_app))
            except VerificationError as exc:
                return _error(exc)
            # ensure_sync: an ``async def`` view works as it does without the decorator.
            call: Callable[..., Any] = current_app.ensure_sync(view)

            def handle(fresh: AuditBatch) -> Any:
                g.descope_audit = fresh
                result = call(fresh, *args, **kwargs)
                # Made a Response here (Flask would do it next anyway) so that its status can be seen.
                return current_app.make_response(result)

            answer = Claim(batch, dedupe).run(handle, _status)
            return _error(answer) if isinstance(answer, RetryLater) else cast("ResponseReturnValue", answer)

        return wrapper

    return decorate
