"""The public context managers over the one :class:`~descope_audit_hook._claim.Claim`: sync and async.

``with exactly_once(batch, store) as new:`` and ``async with exactly_once_async(batch, store)
as new:`` claim the batch's events, run the body with those claimed, and complete the
claims when it ends or release them when it raises. They cannot see the answer the caller
gives: the caller acknowledges only when ``new.in_progress == 0`` (the adapters answer
503 otherwise). See docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext

from ._batch import AuditBatch
from ._claim import Claim, Offload, Shield
from ._claim_rules import AnyStore
from ._dedupe import DedupeStore
from ._errors import RetryLater

__all__ = ["claimed_async", "exactly_once", "exactly_once_async"]


@contextmanager
def exactly_once(batch: AuditBatch, store: DedupeStore | None) -> Iterator[AuditBatch]:
    """Claim the batch's events, run the body with only the claimed ones, then complete or release them.

    The yielded batch is ``batch`` with ``events`` reduced to those this call claimed;
    ``duplicates`` counts the events dropped as completed earlier or repeated inside the
    batch, ``in_progress`` those held by another request's unexpired lease. It may be
    empty: the body still runs. When the body ends normally the claims are completed
    (kept for the store's ``ttl``); on any exception in the body (including
    cancellation) they are released and the exception propagates, so that the caller
    answers 5xx and the redelivery is processed. A store that fails on ``claim`` fails
    the call before the body runs; one that fails on ``complete`` is logged, not raised
    (the work is done; the leases expire). With ``store=None`` the batch is yielded
    unchanged.

        with exactly_once(batch, store) as new:
            for event in new:
                save(event)
    """
    claim = Claim(batch, store)  # an async store: a TypeError from take(), before the body
    fresh = claim.take()
    try:
        yield fresh
    except BaseException:
        claim.release()
        raise
    claim.complete()


@asynccontextmanager
async def exactly_once_async(
    batch: AuditBatch, store: AnyStore | None, *, run_sync: Offload | None = None
) -> AsyncIterator[AuditBatch]:
    """:func:`exactly_once` for an event loop: ``async with exactly_once_async(batch, store) as new:``.

    An :class:`AsyncDedupeStore` is awaited; a sync store's calls run in
    ``await run_sync(call)`` (default :func:`asyncio.to_thread`), off the loop.
    """
    async with claimed_async(Claim(batch, store), run_sync) as fresh:
        yield fresh


@asynccontextmanager
async def claimed_async(
    claim: Claim,
    offload: Offload | None,
    shield: Shield = nullcontext,
    refuse: Callable[[RetryLater], BaseException] | None = None,
) -> AsyncIterator[AuditBatch]:
    """The body of :func:`exactly_once_async` on a given claim, each store call inside ``shield()``.

    ``refuse``: how a framework answers the claim's :class:`RetryLater` from inside a
    handler (Starlette: raise an ``HTTPException``). With it, a failing store is raised
    as ``refuse(claim.unavailable())`` before the body runs, and a delivery with events
    in progress elsewhere as ``refuse(claim.verdict(...))`` once the body's claims are
    completed; without it, the store's own error propagates and the body's caller reads
    ``in_progress``.
    """
    with shield():
        try:
            fresh = await claim.take_async(offload)
        except Exception:
            if refuse is None:
                raise
            raise refuse(claim.unavailable()) from None
    try:
        yield fresh
    except BaseException:
        with shield():
            await claim.release_async(offload)
        raise
    with shield():
        await claim.complete_async(offload)
    if refuse is not None:
        retry = claim.verdict(fresh)
        if retry is not None:
            raise refuse(retry)
