"""``@audit_webhook(verifier)``: a Django view, sync or ``async def``, that runs only for a verified delivery."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from descope_audit_hook._batch import AuditBatch
from descope_audit_hook._claim import Claim
from descope_audit_hook._claim_rules import check_store
from descope_audit_hook._dedupe import DedupeStore
from descope_audit_hook._errors import ConfigurationError, VerificationError
from descope_audit_hook._request import require_sync
from descope_audit_hook._verifier import Verifier

from ._convert import answer, error, in_worker_thread, received, status
from ._settings import settings_verifier

__all__ = ["audit_webhook"]

P = ParamSpec("P")
R = TypeVar("R", bound=HttpResponseBase)

_SYNC_VIEW = "a synchronous Django view"

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
        return verifier if verifier is not None else settings_verifier()

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
                    batch = await received(request, active()).finish_async(request.headers, run_sync=in_worker_thread)
                except VerificationError as exc:
                    return error(exc)
                handle = cast("Callable[[AuditBatch], Awaitable[R]]", handler(request, args, kwargs))
                outcome = await Claim(batch, dedupe).run_async(handle, status, offload=in_worker_thread)
                return answer(outcome)

            wrapper = cast("_Wrapped[P, R]", async_wrapper)
        else:

            @functools.wraps(view)
            def sync_wrapper(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
                try:
                    batch = received(request, require_sync(active(), _SYNC_VIEW)).finish(request.headers)
                except VerificationError as exc:
                    return error(exc)
                handle = cast("Callable[[AuditBatch], R]", handler(request, args, kwargs))
                outcome = Claim(batch, dedupe).run(handle, status)
                return cast("R", answer(outcome))

            wrapper = sync_wrapper
        marked: _Wrapped[P, R] = login_not_required(csrf_exempt(wrapper))
        return marked

    return cast(_Decorator, decorate)
