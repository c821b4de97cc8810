"""Django: a view decorator, ``@audit_webhook(verifier)``, or a middleware for configured paths.

The decorator::

    from descope_audit_hook.django import audit_webhook

    @audit_webhook()                      # the verifier from settings, see below
    def descope_audit(request, batch):
        ...
        return JsonResponse({"received": len(batch)})

The middleware (``request.descope_audit`` holds the batch in the view)::

    MIDDLEWARE = [..., "descope_audit_hook.django.AuditWebhookMiddleware", ...]
    DESCOPE_AUDIT_WEBHOOK = {"PATHS": ["/descope/audit/"]}

Under ASGI, wrap the application so that the size limit holds before Django reads the
body (``asgi.py``)::

    application = AuditWebhookBodyLimit(get_asgi_application())

A rejected request never reaches the view: it is answered ``{"error": code, "message":
...}`` as JSON with the error's status (401, 400, 413; 405 for anything but ``POST``) and
headers (``WWW-Authenticate``, ``Allow``).

Settings:

``DESCOPE_AUDIT_WEBHOOK`` (a dict, all keys optional except ``PATHS`` for the middleware)
    ``PATHS``: the exact request paths (``request.path_info``) the middleware verifies.
    ``VERIFIER``: a ready :class:`~descope_audit_hook.Verifier`.
    ``DEDUPE``: a :class:`~descope_audit_hook.DedupeStore` (or its dotted import path)
    for the middleware. The verifier keys below may also be given here, without the
    ``DESCOPE_AUDIT_`` prefix (``"HMAC_SECRET": ...``).
``DESCOPE_AUDIT_HMAC_SECRET``, ``DESCOPE_AUDIT_BEARER_TOKEN``, ... (top-level settings)
    named like the environment variables of ``Verifier.from_env``; each one missing
    from the settings is read from the environment.

A Bearer token validator (the connector's OAuth 2.0 type, see docs/oauth.md;
``DESCOPE_AUDIT_BEARER_VALIDATOR = "myapp.auth:validate"``): the middleware and
synchronous views call it in the request's thread, so it must be a plain function there
(an ``async def`` one is refused with ``ConfigurationError``). An ``async def`` view
awaits an ``async def`` validator and runs a plain one in a worker thread, off the
event loop.

CSRF and login: the webhook carries no cookie and no session. The decorator marks the
view ``csrf_exempt`` and ``login_not_required``. The middleware tells
``CsrfViewMiddleware`` that a verified request has been checked (the credential and
signature stand in for the CSRF token); with ``LoginRequiredMiddleware`` the view behind
a webhook path must be marked ``@login_not_required`` (Django's rule for every public
view), and the middleware raises ``ImproperlyConfigured`` if it is not, rather than let
the delivery be redirected to a login page.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

from ._adapter import (
    PREFIX,
    HandlerFailed,
    check_dedupe,
    error_response,
    incomplete_body,
    load_verifier,
    missing_framework,
    read_bounded,
    reject,
    require_sync,
    run_once,
)
from ._asgi import ASGIApp, BodyLimit
from ._claim import exactly_once
from ._config import ENV_VARS
from ._dedupe import DedupeStore, is_async_store
from ._errors import ConfigurationError, MethodNotAllowed, VerificationError
from ._models import AuditBatch
from ._verifier import Verifier

try:
    from asgiref.sync import iscoroutinefunction, sync_to_async
    from django.conf import settings
    from django.contrib.auth.decorators import login_not_required
    from django.core.exceptions import ImproperlyConfigured
    from django.core.signals import setting_changed
    from django.http import HttpRequest, HttpResponse, HttpResponseBase
    from django.urls import Resolver404, resolve
    from django.utils.module_loading import import_string
    from django.views.decorators.csrf import csrf_exempt

    from ._django_cache import CacheDedupeStore
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    missing_framework("django", "django", "Django", exc)


__all__ = [
    "SETTING",
    "AuditWebhookBodyLimit",
    "AuditWebhookMiddleware",
    "CacheDedupeStore",
    "Decorator",
    "audit_webhook",
    "read_body",
    "settings_verifier",
    "verify_request",
]

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

#: The settings dict for the middleware and the shared verifier.
SETTING = "DESCOPE_AUDIT_WEBHOOK"
_KNOWN_KEYS = frozenset({"PATHS", "VERIFIER", "DEDUPE"})
_LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"

_cache: dict[str, Verifier] = {}


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        _cache.clear()


setting_changed.connect(_clear_cache, dispatch_uid="descope_audit_hook.django")


def _webhook_settings() -> Mapping[str, Any]:
    conf = getattr(settings, SETTING, None) or {}
    if not isinstance(conf, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict")
    unknown = set(conf) - _KNOWN_KEYS - set(ENV_VARS)
    if unknown:
        raise ImproperlyConfigured(f"settings.{SETTING} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    return conf


def settings_verifier() -> Verifier:
    """The verifier the settings describe (built once, rebuilt when a ``DESCOPE_AUDIT*`` setting changes).

    Order: ``DESCOPE_AUDIT_WEBHOOK["VERIFIER"]``; else each verifier key from
    ``DESCOPE_AUDIT_WEBHOOK`` (unprefixed), the top-level ``DESCOPE_AUDIT_*`` setting, the
    environment variable. Raises :class:`~descope_audit_hook.ConfigurationError`.
    """
    cached = _cache.get("verifier")
    if cached is None:
        conf = _webhook_settings()
        ready = conf.get("VERIFIER", getattr(settings, PREFIX + "VERIFIER", None))
        config: dict[str, Any] = {PREFIX + "VERIFIER": ready}
        for short in ENV_VARS:
            value = conf[short] if short in conf else getattr(settings, PREFIX + short, None)
            config[PREFIX + short] = value
        cached = _cache["verifier"] = load_verifier(config, where="settings")
    return cached


def read_body(request: HttpRequest, verifier: Verifier) -> bytes:
    """The request's raw body, read with the verifier's size limit (see the Flask adapter's twin).

    Afterwards ``request.body`` still works in the view: it returns the bytes read here.
    """
    declared = request.META.get("CONTENT_LENGTH")
    verifier.check_content_length(declared)
    read = request.read
    stream = request.META.get("wsgi.input")
    if not declared and request.META.get("wsgi.input_terminated") and stream is not None:
        # A chunked request (no Content-Length). Django wraps wsgi.input in a stream of
        # length 0 and would hand us nothing; a server that sets wsgi.input_terminated
        # (gunicorn) has de-chunked the body and ends the stream itself, so read it there.
        read = stream.read
    try:
        body = read_bounded(read, verifier.max_body_bytes)
    except VerificationError:
        raise
    except Exception:
        # UnreadablePostError (the client went away), the server's own error for a body
        # shorter than its Content-Length: the body could not be read, a 400, not a 500.
        raise reject(incomplete_body()) from None
    # HttpRequest.body is the cached ``_body`` once it was read; we read the stream
    # ourselves (bounded, which ``.body`` is not under ASGI), so hand the view the same
    # bytes instead of RawPostDataException.
    request._body = body
    request._stream = io.BytesIO(body)
    return body


def verify_request(request: HttpRequest, verifier: Verifier) -> AuditBatch:
    """Verify a request: method, size, credentials, signature, payload."""
    if request.method != "POST":
        raise reject(MethodNotAllowed())
    return verifier.verify(read_body(request, verifier), request.headers)


async def _verify_request_async(request: HttpRequest, verifier: Verifier) -> AuditBatch:
    # The body is already in memory (ASGIRequest spools it before the view runs); only the
    # token validator may wait, and it is awaited, or run in a worker thread.
    if request.method != "POST":
        raise reject(MethodNotAllowed())
    return await verifier.verify_async(read_body(request, verifier), request.headers, run_sync=_in_worker_thread)


async def _in_worker_thread(func: Callable[[str], Any], token: str) -> Any:
    return await sync_to_async(func, thread_sensitive=False)(token)


def _error(exc: VerificationError) -> HttpResponse:
    status, body, headers = error_response(exc)
    content_type = headers.pop("Content-Type")
    return HttpResponse(body, status=status, content_type=content_type, headers=headers)


def _status(response: HttpResponseBase) -> int:
    return response.status_code


_View = Callable[Concatenate[HttpRequest, AuditBatch, P], R]
_Wrapped = Callable[Concatenate[HttpRequest, P], "R | HttpResponse"]


class Decorator(Protocol):
    """What ``audit_webhook()`` returns: it keeps a view sync or async, as it was."""

    @overload
    def __call__(
        self, view: Callable[Concatenate[HttpRequest, AuditBatch, P], Coroutine[Any, Any, R]]
    ) -> Callable[Concatenate[HttpRequest, P], Coroutine[Any, Any, R | HttpResponse]]: ...

    @overload
    def __call__(self, view: _View[P, R]) -> _Wrapped[P, R]: ...


def audit_webhook(verifier: Verifier | None = None, *, dedupe: DedupeStore | None = None) -> Decorator:
    """Decorate a view ``view(request, batch, *args, **kwargs)`` that runs only for a verified delivery.

    ``verifier=None`` uses the verifier from settings. The view is marked
    ``csrf_exempt`` and ``login_not_required``; any method but ``POST`` gets 405. The
    batch is also on ``request.descope_audit``. ``dedupe``: the view then sees only the
    events it claimed, and if it raises or answers 5xx the claims are released so
    that the redelivery is processed.
    """
    if verifier is not None and not isinstance(verifier, Verifier):
        raise ConfigurationError("audit_webhook() takes a Verifier (or None to read the settings)")
    check_dedupe(dedupe)

    def decorate(view: _View[P, R]) -> _Wrapped[P, R]:
        if verifier is not None and not iscoroutinefunction(view):
            require_sync(verifier, "a synchronous Django view")

        def verified(request: HttpRequest) -> AuditBatch | HttpResponse:
            active = verifier if verifier is not None else settings_verifier()
            try:
                return verify_request(request, require_sync(active, "a synchronous Django view"))
            except VerificationError as exc:
                return _error(exc)

        async def verified_async(request: HttpRequest) -> AuditBatch | HttpResponse:
            active = verifier if verifier is not None else settings_verifier()
            try:
                return await _verify_request_async(request, active)
            except VerificationError as exc:
                return _error(exc)

        wrapper: _Wrapped[P, R]
        if iscoroutinefunction(view):
            # An ``async def`` view stays async. The verification is CPU work on bytes
            # already received; a token validator is awaited (a plain one runs in a worker
            # thread), and the dedupe store may block (a SQLite lock, a cache round trip),
            # so its claim and release run in a worker thread, off the event loop.
            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> Any:
                batch = await verified_async(request)
                if isinstance(batch, HttpResponse):
                    return batch
                if dedupe is None:
                    request.descope_audit = batch  # type: ignore[attr-defined]
                    return await view(request, batch, *args, **kwargs)
                manager = exactly_once(batch, dedupe)
                fresh = await sync_to_async(manager.__enter__, thread_sensitive=False)()
                request.descope_audit = fresh  # type: ignore[attr-defined]
                finish = sync_to_async(manager.__exit__, thread_sensitive=False)
                try:
                    response = await view(request, fresh, *args, **kwargs)
                except BaseException as exc:  # cancellation included: release, then go on
                    await finish(type(exc), exc, exc.__traceback__)
                    raise
                if response.status_code >= 500:
                    # Failed as surely as if it had raised: the sender will redeliver.
                    failure = HandlerFailed()
                    await finish(HandlerFailed, failure, None)
                else:
                    await finish(None, None, None)  # success: the claims are completed
                return response

            wrapper = cast("_Wrapped[P, R]", async_wrapper)
        else:

            @functools.wraps(view)
            def sync_wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
                batch = verified(request)
                if isinstance(batch, HttpResponse):
                    return batch

                def handle(fresh: AuditBatch) -> R:
                    request.descope_audit = fresh  # type: ignore[attr-defined]
                    return view(request, fresh, *args, **kwargs)

                return run_once(batch, dedupe, handle, _status)

            wrapper = sync_wrapper
        marked: _Wrapped[P, R] = login_not_required(csrf_exempt(wrapper))
        return marked

    return cast(Decorator, decorate)


class AuditWebhookMiddleware:
    """Verifies every request to ``DESCOPE_AUDIT_WEBHOOK["PATHS"]`` before the view runs.

    A verified request reaches the view with ``request.descope_audit`` set; any other
    answers with the JSON error (405 for anything but ``POST``). Place it anywhere in
    ``MIDDLEWARE``; requests to other paths pass through untouched.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        conf = _webhook_settings()
        paths = conf.get("PATHS")
        if (
            isinstance(paths, (str, bytes))
            or not isinstance(paths, (list, tuple, set, frozenset))
            or not paths
            or not all(isinstance(p, str) and p.startswith("/") for p in paths)
        ):
            raise ImproperlyConfigured(f'settings.{SETTING}["PATHS"] must be a non-empty list of paths starting with /')
        self.paths = frozenset(paths)
        # Built now, so that a broken configuration stops the app at start-up.
        self.verifier = require_sync(settings_verifier(), "AuditWebhookMiddleware")
        dedupe = conf.get("DEDUPE")
        if isinstance(dedupe, str):
            dedupe = import_string(dedupe)
        if (dedupe is not None and not isinstance(dedupe, DedupeStore)) or is_async_store(dedupe):
            raise ImproperlyConfigured(f'settings.{SETTING}["DEDUPE"] must be a sync DedupeStore or its import path')
        self.dedupe: DedupeStore | None = dedupe
        self._login_required = _LOGIN_REQUIRED in settings.MIDDLEWARE

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info not in self.paths:
            return self.get_response(request)
        try:
            batch = verify_request(request, self.verifier)
        except VerificationError as exc:
            return _error(exc)
        # CsrfViewMiddleware.process_view skips a request it is told was checked (the flag
        # it sets itself once a request passed). A cross-site form cannot forge the
        # connector's credential or signature, which is what the CSRF token stands for.
        request.csrf_processing_done = True  # type: ignore[attr-defined]
        if self._login_required:
            self._check_login_exempt(request)

        def handle(fresh: AuditBatch) -> HttpResponseBase:
            request.descope_audit = fresh  # type: ignore[attr-defined]
            return self.get_response(request)

        return run_once(batch, self.dedupe, handle, _status)

    @staticmethod
    def _check_login_exempt(request: HttpRequest) -> None:
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return
        if getattr(match.func, "login_required", True):
            raise ImproperlyConfigured(
                f"{request.path_info} is a {SETTING} path but its view is not marked @login_not_required: "
                "LoginRequiredMiddleware would redirect the webhook (it has no session) to the login page"
            )


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
            paths = _webhook_settings().get("PATHS") or ()
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
