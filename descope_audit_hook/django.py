"""Django: a view decorator, ``@audit_webhook(verifier)``, or a middleware for configured paths.

::

    @audit_webhook()                         # the verifier from settings
    def descope_audit(request, batch): ...

    MIDDLEWARE = [..., "descope_audit_hook.django.AuditWebhookMiddleware", ...]
    DESCOPE_AUDIT_WEBHOOK = {"PATHS": ["/descope/audit/"]}       # request.descope_audit in the view

    application = AuditWebhookBodyLimit(get_asgi_application())   # asgi.py: the size limit before Django reads

Only Django's idiom lives here: the settings, the request in and the response out, CSRF
and login. The request path is ``_request.py``, exactly-once ``_claim.py``.
docs/django.md documents the settings (``DESCOPE_AUDIT_WEBHOOK``: ``PATHS``,
``VERIFIER``, ``DEDUPE`` and the verifier keys; top-level ``DESCOPE_AUDIT_*``), token
validators (a plain function for the middleware and sync views; an ``async def`` view
awaits an async one and runs a plain one in a worker thread), CSRF and login.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

from ._asgi import ASGIApp, BodyLimit
from ._batch import AuditBatch
from ._claim import Claim, check_store
from ._dedupe import DedupeStore, is_async_store
from ._errors import ConfigurationError, RetryLater, VerificationError, missing_framework
from ._request import WebhookRequest, error_response, incomplete_body, require_sync
from ._settings import MAPPING_KEYS, PREFIX, Source, load_verifier, prefixed
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


__all__ = ["SETTING", "AuditWebhookBodyLimit", "AuditWebhookMiddleware", "CacheDedupeStore", "audit_webhook"]

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

#: The settings dict for the middleware and the shared verifier.
SETTING = "DESCOPE_AUDIT_WEBHOOK"
_KNOWN_KEYS = frozenset({"PATHS", "DEDUPE", *MAPPING_KEYS})
_LOGIN_REQUIRED = "django.contrib.auth.middleware.LoginRequiredMiddleware"
_SYNC_VIEW = "a synchronous Django view"

_cache: dict[str, Verifier] = {}


def _clear_cache(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        _cache.clear()


setting_changed.connect(_clear_cache, dispatch_uid="descope_audit_hook.django")


def _webhook_settings() -> Mapping[str, Any]:
    conf = getattr(settings, SETTING, None) or {}
    if not isinstance(conf, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict")
    unknown = set(conf) - _KNOWN_KEYS
    if unknown:
        raise ImproperlyConfigured(f"settings.{SETTING} has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    return conf


def _settings_verifier() -> Verifier:
    """The verifier the settings describe (built once, rebuilt when a ``DESCOPE_AUDIT*`` setting changes).

    Order: ``DESCOPE_AUDIT_WEBHOOK["VERIFIER"]``; else each verifier key from
    ``DESCOPE_AUDIT_WEBHOOK`` (unprefixed), the top-level ``DESCOPE_AUDIT_*`` setting, the
    environment variable. Raises :class:`~descope_audit_hook.ConfigurationError`.
    """
    cached = _cache.get("verifier")
    if cached is None:
        webhook = Source(_webhook_settings(), str, f'settings.{SETTING}["{{}}"]'.format)
        top_level = {PREFIX + key: getattr(settings, PREFIX + key, None) for key in MAPPING_KEYS}
        cached = _cache["verifier"] = load_verifier(webhook, prefixed(top_level, "settings.{}"), where="settings")
    return cached


def _read(request: HttpRequest, incoming: WebhookRequest) -> None:
    """Feed ``incoming`` the request's raw body; afterwards ``request.body`` still works in the view."""
    read = request.read
    stream = request.META.get("wsgi.input")
    if not request.META.get("CONTENT_LENGTH") and request.META.get("wsgi.input_terminated") and stream is not None:
        # A chunked request (no Content-Length). Django wraps wsgi.input in a stream of
        # length 0 and would hand us nothing; a server that sets wsgi.input_terminated
        # (gunicorn) has de-chunked the body and ends the stream itself, so read it there.
        read = stream.read
    try:
        incoming.read(read)
    except VerificationError:
        raise
    except Exception:
        # UnreadablePostError (the client went away), the server's own error for a body
        # shorter than its Content-Length: the body could not be read, a 400, not a 500.
        raise incomplete_body() from None
    # HttpRequest.body is the cached ``_body`` once it was read; we read the stream
    # ourselves (bounded, which ``.body`` is not under ASGI), so hand the view the same
    # bytes instead of RawPostDataException.
    request._body = incoming.body
    request._stream = io.BytesIO(incoming.body)


def _received(request: HttpRequest, verifier: Verifier) -> WebhookRequest:
    """The request on the one request path, its body read: ready to :meth:`~WebhookRequest.finish`."""
    incoming = WebhookRequest(verifier, request.method or "", request.META.get("CONTENT_LENGTH"))
    _read(request, incoming)
    return incoming


async def _in_worker_thread(func: Callable[..., Any], *args: Any) -> Any:
    # A synchronous token validator or dedupe store, off the event loop (it may block).
    return await sync_to_async(func, thread_sensitive=False)(*args)


def _error(exc: VerificationError) -> HttpResponse:
    status, body, headers = error_response(exc)
    content_type = headers.pop("Content-Type")
    return HttpResponse(body, status=status, content_type=content_type, headers=headers)


def _status(response: HttpResponseBase) -> int:
    return response.status_code


def _answer(outcome: HttpResponseBase | RetryLater) -> HttpResponseBase:
    return _error(outcome) if isinstance(outcome, RetryLater) else outcome


_View = Callable[Concatenate[HttpRequest, AuditBatch, P], R]
_Wrapped = Callable[Concatenate[HttpRequest, P], "R | HttpResponse"]


class _Decorator(Protocol):
    """What ``audit_webhook()`` returns: it keeps a view sync or async, as it was."""

    @overload
    def __call__(
        self, view: Callable[Concatenate[HttpRequest, AuditBatch, P], Coroutine[Any, Any, R]]
    ) -> Callable[Concatenate[HttpRequest, P], Coroutine[Any, Any, R | HttpResponse]]: ...

    @overload
    def __call__(self, view: _View[P, R]) -> _Wrapped[P, R]: ...


def audit_webhook(verifier: Verifier | None = None, *, dedupe: DedupeStore | None = None) -> _Decorator:
    """Decorate a view ``view(request, batch, *args, **kwargs)`` that runs only for a verified delivery.

    ``verifier=None`` uses the verifier from settings. The view is marked
    ``csrf_exempt`` and ``login_not_required``; any method but ``POST`` gets 405. The
    batch is also on ``request.descope_audit``. ``dedupe``: a sync store; the view then
    sees only the events it claimed. A 2xx completes the claims; any other answer, or an
    exception, releases them so that the redelivery is processed. While another request
    holds some events, or if the store fails, the answer is a 503 with ``Retry-After``.
    """
    if verifier is not None and not isinstance(verifier, Verifier):
        raise ConfigurationError("audit_webhook() takes a Verifier (or None to read the settings)")
    check_store(dedupe, allow_async=False)

    def active() -> Verifier:
        return verifier if verifier is not None else _settings_verifier()

    def decorate(view: _View[P, R]) -> _Wrapped[P, R]:
        if verifier is not None and not iscoroutinefunction(view):
            require_sync(verifier, _SYNC_VIEW)

        def handler(request: HttpRequest, args: Any, kwargs: Any) -> Callable[[AuditBatch], Any]:
            def handle(fresh: AuditBatch) -> Any:
                request.descope_audit = fresh  # type: ignore[attr-defined]
                return view(request, fresh, *args, **kwargs)

            return handle

        wrapper: _Wrapped[P, R]
        if iscoroutinefunction(view):
            # An ``async def`` view stays async. The verification is CPU work on bytes
            # already received; a token validator is awaited (a plain one runs in a worker
            # thread), and the dedupe store may block (a SQLite lock, a cache round trip),
            # so its calls run in a worker thread, off the event loop.
            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    batch = await _received(request, active()).finish_async(request.headers, run_sync=_in_worker_thread)
                except VerificationError as exc:
                    return _error(exc)
                handle = cast("Callable[[AuditBatch], Awaitable[R]]", handler(request, args, kwargs))
                outcome = await Claim(batch, dedupe).run_async(handle, _status, offload=_in_worker_thread)
                return _answer(outcome)

            wrapper = cast("_Wrapped[P, R]", async_wrapper)
        else:

            @functools.wraps(view)
            def sync_wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
                try:
                    batch = _received(request, require_sync(active(), _SYNC_VIEW)).finish(request.headers)
                except VerificationError as exc:
                    return _error(exc)
                handle = cast("Callable[[AuditBatch], R]", handler(request, args, kwargs))
                outcome = Claim(batch, dedupe).run(handle, _status)
                return cast("R", _answer(outcome))

            wrapper = sync_wrapper
        marked: _Wrapped[P, R] = login_not_required(csrf_exempt(wrapper))
        return marked

    return cast(_Decorator, decorate)


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
        self.verifier = require_sync(_settings_verifier(), "AuditWebhookMiddleware")
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
            batch = _received(request, self.verifier).finish(request.headers)
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

        outcome = Claim(batch, self.dedupe).run(handle, _status)
        return _answer(outcome)

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
            _settings_verifier()  # built now, so that a broken configuration stops the app at start-up
            super().__init__(application, chosen, _settings_verifier)
        elif isinstance(verifier, Verifier):
            fixed = verifier
            super().__init__(application, chosen, lambda: fixed)
        else:
            raise ConfigurationError("AuditWebhookBodyLimit takes a Verifier (or None to read the settings)")
