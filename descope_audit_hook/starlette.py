"""Starlette and FastAPI: ``hook = AuditWebhook(verifier)``; ``batch = await hook(request)``.

::

    hook = AuditWebhook(Verifier.from_env(), dedupe=store)

    @app.post("/descope/audit")                                   # FastAPI, as a dependency
    async def descope_audit(batch: Annotated[AuditBatch, Depends(hook)]):
        async with hook.exactly_once(batch) as new:               # only the events this request claimed
            await save(new)

    async def descope_audit(request):                             # Starlette, in one call
        return await hook.handle(request, save_and_answer)

A rejected request raises :class:`AuditWebhookError`, a Starlette ``HTTPException`` with
the error's status, headers and short message; ``install_error_handler(app)`` answers it
with this library's JSON, ``{"error": "<code>", "message": "<message>"}``. A token
validator may be ``async def`` (awaited); a plain one, and a sync dedupe store, run in a
worker thread (``anyio.to_thread``). Only Starlette's idiom lives here; the request path is
``_request.py``, exactly-once ``_claim.py``; docs/starlette.md and docs/fastapi.md say more.
"""

# No ``from __future__ import annotations`` here: FastAPI reads ``AuditWebhook.__call__``'s
# annotations to inject the ``Request``, and before 0.115 it could not resolve string
# annotations on a callable instance (the dependency became a required query parameter).

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

from ._batch import AuditBatch
from ._claim import Claim
from ._claim_rules import AnyStore, check_store
from ._errors import ConfigurationError, RetryLater, VerificationError, missing_framework
from ._exactly_once import claimed_async
from ._request import WebhookRequest, error_response, incomplete_body
from ._verifier import Verifier

try:
    import anyio
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    missing_framework("starlette", "starlette", "Starlette", exc)

__all__ = ["AuditWebhook", "AuditWebhookError", "error_handler", "install_error_handler"]

T = TypeVar("T")


class AuditWebhookError(HTTPException):
    """A rejected delivery: an ``HTTPException`` carrying the library's error as ``.error``."""

    def __init__(self, error: VerificationError) -> None:
        super().__init__(error.status_code, detail=error.message, headers=dict(error.headers) or None)
        #: The :class:`~descope_audit_hook.VerificationError` (``code``, ``message``, ``status_code``).
        self.error = error


def _error_response(error: VerificationError) -> Response:
    status, body, headers = error_response(error)
    media_type = headers.pop("Content-Type")
    return Response(body, status_code=status, headers=headers, media_type=media_type)


async def error_handler(request: Request, exc: Exception) -> Response:
    """Starlette/FastAPI exception handler answering :class:`AuditWebhookError` with the library's JSON."""
    if not isinstance(exc, AuditWebhookError):
        raise exc
    return _error_response(exc.error)


def install_error_handler(app: Starlette) -> None:
    """Answer rejected deliveries with ``{"error": code, "message": ...}`` (a FastAPI app is a Starlette app)."""
    app.add_exception_handler(AuditWebhookError, error_handler)


async def _verified(request: Request, verifier: Verifier) -> AuditBatch:
    incoming = WebhookRequest(verifier, request.method, request.headers.get("content-length"))
    try:
        async with aclosing(request.stream()) as chunks:
            async for chunk in chunks:
                incoming.feed(chunk)  # 413 as soon as the limit is passed
    except ClientDisconnect:
        raise incomplete_body() from None
    batch = await incoming.finish_async(request.headers.raw, run_sync=_in_worker_thread)
    # What Request.body() caches, so that the endpoint may still ``await request.body()``.
    request._body = incoming.body
    return batch


async def _in_worker_thread(func: Callable[..., Any], *args: Any) -> Any:
    # A synchronous token validator or dedupe store, off the event loop (it may do network I/O).
    return await anyio.to_thread.run_sync(func, *args)


def _shielded() -> anyio.CancelScope:
    # A claim, completion or release is never left half-done by a cancellation.
    return anyio.CancelScope(shield=True)


def _status(result: object) -> int:
    return result.status_code if isinstance(result, Response) else 200


class AuditWebhook:
    """Verifies a delivery: ``await hook(request)`` returns the :class:`~descope_audit_hook.AuditBatch`.

    ``verifier=None`` builds one from the ``DESCOPE_AUDIT_*`` environment variables on
    first use (a :class:`~descope_audit_hook.ConfigurationError` then is a 500, never a
    4xx). ``dedupe``: a dedupe store for :meth:`exactly_once` and :meth:`handle`; an
    :class:`~descope_audit_hook.AsyncDedupeStore` is awaited on the event loop, a sync
    one runs in a worker thread.
    """

    __slots__ = ("_verifier", "dedupe")

    def __init__(self, verifier: Verifier | None = None, *, dedupe: AnyStore | None = None) -> None:
        if verifier is not None and not isinstance(verifier, Verifier):
            raise ConfigurationError("AuditWebhook() takes a Verifier (or None to read the environment)")
        self._verifier = verifier
        self.dedupe = check_store(dedupe, allow_async=True)

    def __repr__(self) -> str:
        return f"AuditWebhook({self._verifier!r}, dedupe={self.dedupe!r})"

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = Verifier.from_env()
        return self._verifier

    async def __call__(self, request: Request) -> AuditBatch:
        """Verify ``request`` and return its events; raise :class:`AuditWebhookError` if it is rejected.

        The batch is also put on ``request.state.descope_audit``.
        """
        try:
            batch = await _verified(request, self.verifier)
        except VerificationError as exc:
            raise AuditWebhookError(exc) from None
        request.state.descope_audit = batch
        return batch

    @asynccontextmanager
    async def exactly_once(self, batch: AuditBatch) -> AsyncIterator[AuditBatch]:
        """Claim the batch's events; the body sees only those; success completes them, an exception releases them.

        Raise (an ``HTTPException`` for a 4xx, say) to fail the delivery: its claims are
        released and the redelivery is processed. :class:`AuditWebhookError` (503,
        ``Retry-After``) is raised before the body if the store fails, and after it while
        another request holds some events of the delivery. Without a ``dedupe`` store the
        batch is passed through unchanged. Store calls are shielded from cancellation, so
        that a claim is never left half-done.
        """
        claim = Claim(batch, self.dedupe)
        async with claimed_async(claim, _in_worker_thread, _shielded, AuditWebhookError) as fresh:
            yield fresh

    async def handle(self, request: Request, handler: Callable[[AuditBatch], Awaitable[T]]) -> T:
        """Verify ``request`` and run ``await handler(batch)`` exactly once per event; return its result.

        A 2xx (or a result that is not a ``Response``) completes the claims; any other
        status, or an exception, releases them so that the redelivery is processed. A
        failing store, or events held by another request, raise :class:`AuditWebhookError` (503).
        """
        batch = await self(request)
        claim = Claim(batch, self.dedupe)
        answer = await claim.run_async(handler, _status, offload=_in_worker_thread, shield=_shielded)
        if isinstance(answer, RetryLater):
            raise AuditWebhookError(answer)
        return answer
