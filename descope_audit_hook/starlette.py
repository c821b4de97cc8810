"""Starlette and FastAPI: ``hook = AuditWebhook(verifier)``; ``batch = await hook(request)``.

FastAPI, as a dependency::

    hook = AuditWebhook(Verifier.from_env())

    @app.post("/descope/audit")
    def descope_audit(batch: Annotated[AuditBatch, Depends(hook)]):
        ...

Starlette, in an endpoint::

    async def descope_audit(request):
        batch = await hook(request)
        ...

A rejected request raises :class:`AuditWebhookError`, a Starlette ``HTTPException``
with the error's status (401, 400, 413; 405 for anything but ``POST``), headers
(``WWW-Authenticate``, ``Allow``) and the short message as ``detail``. Unhandled, it is
answered the framework's way: FastAPI sends ``{"detail": "<message>"}`` as JSON,
Starlette the message as plain text. ``install_error_handler(app)`` makes both answer
this library's JSON, ``{"error": "<code>", "message": "<message>"}``, as the Flask and
Django adapters do.

A Bearer token validator (the connector's OAuth 2.0 type, see docs/oauth.md) may be
``async def``: it is awaited. A plain function runs in a worker thread
(``anyio.to_thread``), so that a JWKS fetch or an introspection call never blocks the
event loop.

Exactly once: a dependency cannot see whether the endpoint then failed, so the
deduplication runs around the code that handles the events::

    hook = AuditWebhook(verifier, dedupe=SQLiteDedupeStore("dedupe.db"))

    async def descope_audit(batch: Annotated[AuditBatch, Depends(hook)]):
        async with hook.exactly_once(batch) as new:   # only the events this request claimed
            await store(new)                          # raises: claims released, 500

or, in one call, ``return await hook.handle(request, handler)``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads ``AuditWebhook.__call__``'s
# annotations to inject the ``Request``, and before 0.115 it could not resolve string
# annotations on a callable instance (the dependency became a required query parameter).

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

from ._adapter import (
    BodyCollector,
    HandlerFailed,
    check_dedupe,
    error_response,
    incomplete_body,
    missing_framework,
    reject,
)
from ._claim import exactly_once
from ._dedupe import DedupeStore
from ._errors import ConfigurationError, MethodNotAllowed, VerificationError
from ._models import AuditBatch
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

__all__ = [
    "AuditWebhook",
    "AuditWebhookError",
    "error_handler",
    "error_response_for",
    "install_error_handler",
    "read_body",
]

T = TypeVar("T")


class AuditWebhookError(HTTPException):
    """A rejected delivery: an ``HTTPException`` carrying the library's error as ``.error``."""

    def __init__(self, error: VerificationError) -> None:
        super().__init__(error.status_code, detail=error.message, headers=dict(error.headers) or None)
        #: The :class:`~descope_audit_hook.VerificationError` (``code``, ``message``, ``status_code``).
        self.error = error


def error_response_for(error: VerificationError) -> Response:
    """The library's JSON answer for ``error``: ``{"error": code, "message": ...}``."""
    status, body, headers = error_response(error)
    media_type = headers.pop("Content-Type")
    return Response(body, status_code=status, headers=headers, media_type=media_type)


async def error_handler(request: Request, exc: Exception) -> Response:
    """Starlette/FastAPI exception handler answering :class:`AuditWebhookError` with the library's JSON."""
    if not isinstance(exc, AuditWebhookError):
        raise exc
    return error_response_for(exc.error)


def install_error_handler(app: Starlette) -> None:
    """Answer rejected deliveries with ``{"error": code, "message": ...}`` (a FastAPI app is a Starlette app)."""
    app.add_exception_handler(AuditWebhookError, error_handler)


async def read_body(request: Request, verifier: Verifier) -> bytes:
    """The raw body, streamed; reading stops as soon as ``max_body_bytes`` is passed.

    A declared ``Content-Length`` above the limit is refused before anything is read.
    Raises :class:`~descope_audit_hook.VerificationError`.
    """
    verifier.check_content_length(request.headers.get("content-length"))
    collector = BodyCollector(verifier.max_body_bytes)
    try:
        async with aclosing(request.stream()) as chunks:
            async for chunk in chunks:
                collector.add(chunk)
    except ClientDisconnect:
        raise reject(incomplete_body()) from None
    body = collector.body()
    # What Request.body() caches, so that the endpoint may still ``await request.body()``.
    request._body = body
    return body


async def _in_worker_thread(func: Callable[[str], Any], token: str) -> Any:
    # A synchronous token validator, off the event loop (it may fetch a JWKS or call an introspection endpoint).
    return await anyio.to_thread.run_sync(func, token)


class AuditWebhook:
    """Verifies a delivery: ``await hook(request)`` returns the :class:`~descope_audit_hook.AuditBatch`.

    ``verifier=None`` builds one from the ``DESCOPE_AUDIT_*`` environment variables on
    first use (a :class:`~descope_audit_hook.ConfigurationError` then is a 500, never a
    4xx). ``dedupe``: a :class:`~descope_audit_hook.DedupeStore` for
    :meth:`exactly_once` and :meth:`handle`.
    """

    __slots__ = ("_verifier", "dedupe")

    def __init__(self, verifier: Verifier | None = None, *, dedupe: DedupeStore | None = None) -> None:
        if verifier is not None and not isinstance(verifier, Verifier):
            raise ConfigurationError("AuditWebhook() takes a Verifier (or None to read the environment)")
        self._verifier = verifier
        self.dedupe = check_dedupe(dedupe)

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
        verifier = self.verifier
        try:
            if request.method != "POST":
                raise reject(MethodNotAllowed())
            body = await read_body(request, verifier)
            batch = await verifier.verify_async(body, request.headers.raw, run_sync=_in_worker_thread)
        except VerificationError as exc:
            raise AuditWebhookError(exc) from None
        request.state.descope_audit = batch
        return batch

    @asynccontextmanager
    async def exactly_once(self, batch: AuditBatch) -> AsyncIterator[AuditBatch]:
        """Claim the batch's events; the body sees only those; success completes them, an exception releases them.

        Without a ``dedupe`` store the batch is passed through unchanged. The store is
        called in a worker thread (a SQLite claim may wait on a lock; the event loop must
        not), shielded from cancellation so that a claim is never left half-done.
        """
        if self.dedupe is None:
            yield batch
            return
        manager = exactly_once(batch, self.dedupe)
        with anyio.CancelScope(shield=True):
            fresh = await anyio.to_thread.run_sync(manager.__enter__)
        try:
            yield fresh
        except BaseException as exc:
            # Cancellation included: the claims are released before it goes on.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(manager.__exit__, type(exc), exc, exc.__traceback__)
            raise
        # Success: the claims are completed, in a worker thread too.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(manager.__exit__, None, None, None)

    async def handle(self, request: Request, handler: Callable[[AuditBatch], Awaitable[T]]) -> T:
        """Verify ``request`` and run ``await handler(batch)`` exactly once per event; return its result.

        If the handler raises, or returns a ``Response`` with a 5xx status, the claims
        are released so that the redelivery is processed.
        """
        batch = await self(request)
        outcome: list[T] = []
        try:
            async with self.exactly_once(batch) as fresh:
                outcome.append(await handler(fresh))
                result = outcome[0]
                if isinstance(result, Response) and result.status_code >= 500:
                    raise HandlerFailed
        except HandlerFailed:
            pass
        return outcome[0]
