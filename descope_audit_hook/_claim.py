"""The one exactly-once mechanism: a :class:`Claim` on a batch's events.

A request claims every event of its verified batch in a :class:`DedupeStore` before the
handler runs, hands the handler only the events it claimed, then *completes* the claims
(the handler answered 2xx) or *releases* them (anything else: the redelivery is
processed). It acknowledges only what is done: while another request holds some events
of the delivery, or when the store fails, the answer is a 503 with ``Retry-After``. The
logic (keys, repeats, the store's answer, the batch the handler gets, the verdict) is
written once, without I/O (``_claim_rules.py``, and the pure steps below); the store calls
are thin sync and async drivers around it. The adapters and the context managers of
``_exactly_once.py`` all run on a ``Claim``.
See docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from ._batch import AuditBatch
from ._claim_rules import AnyStore, batch_keys, checked_states, retry_after, split_batch, succeeded
from ._dedupe import DedupeStore, is_async_store, new_owner
from ._errors import RetryLater
from ._verifier import log_rejection

__all__ = ["Claim", "Offload", "Shield"]

logger = logging.getLogger("descope_audit_hook")

T = TypeVar("T")
#: How async code runs a sync store's call off its event loop: ``await offload(call)``
#: (``asyncio.to_thread``, ``anyio.to_thread.run_sync``; asgiref's ``sync_to_async``
#: takes the call and returns the awaitable function: ``lambda call: sync_to_async(call)()``).
Offload = Callable[[Callable[[], Any]], Awaitable[Any]]
#: A context manager that protects a store call from cancellation (anyio's shielded
#: ``CancelScope``), so that a claim, completion or release is never left half-done.
Shield = Callable[[], AbstractContextManager[Any]]


class Claim:
    """The claims one request holds on a batch's events: taken once, then completed or released once.

    ``Claim(batch, store)`` computes nothing yet. :meth:`take` (or :meth:`take_async`)
    claims the batch's distinct fingerprints under a fresh owner token and returns the
    batch the handler gets: only the events this request claimed, with ``duplicates``
    and ``in_progress`` counting the others. :meth:`complete` and :meth:`release` then
    settle the claims (their failures are logged, not raised: the leases expire on
    their own). :meth:`run` and :meth:`run_async` do it all around a handler and return
    its answer, or the :class:`RetryLater` to answer instead. With ``store=None`` the
    batch passes through unchanged.
    """

    __slots__ = ("batch", "claimed", "owner", "store")

    def __init__(self, batch: AuditBatch, store: AnyStore | None) -> None:
        self.batch = batch
        self.store = store
        #: This request's owner token, made when a store is first asked (empty until then).
        self.owner = ""
        #: The keys this request claimed (set by :meth:`take`), emptied once they are settled.
        self.claimed: list[str] = []

    def __repr__(self) -> str:
        return f"Claim(events={len(self.batch.events)}, claimed={len(self.claimed)}, store={type(self.store).__name__})"

    # --- pure steps: the store's answer in, the batch out -----------------------------------------

    def _keys(self) -> tuple[list[str], list[str]]:
        """Each event's fingerprint and the distinct ones; the owner token for the claim that follows."""
        self.owner = new_owner()
        return batch_keys(self.batch)

    def _taken(self, fingerprints: list[str], keys: list[str], answer: object) -> AuditBatch:
        states = checked_states(self.store, keys, answer)
        fresh, self.claimed = split_batch(self.batch, fingerprints, keys, states)
        return fresh

    def _settled(self) -> list[str]:
        keys, self.claimed = self.claimed, []
        return keys

    def unavailable(self) -> RetryLater:
        """The answer when the store failed to claim: 503, nothing claimed, the handler not run.

        Call it where the store's exception is caught: the exception is logged here.
        """
        logger.exception("descope_audit_hook: the dedupe store failed to claim; the delivery is answered 503")
        message = "the dedupe store is unavailable; retry later"
        return RetryLater(message, code="dedupe_unavailable", retry_after=retry_after(self.store))

    def verdict(self, fresh: AuditBatch) -> RetryLater | None:
        """After a successful handler: ``None`` if the delivery may be acknowledged, else the 503 to answer.

        A delivery is acknowledged only when every event of it is completed, by this
        request or an earlier one: not while another request holds some of them.
        """
        if not fresh.in_progress:
            return None
        message = f"{fresh.in_progress} events of this delivery are being handled by another request; retry later"
        retry = RetryLater(message, code="events_in_progress", retry_after=retry_after(self.store))
        log_rejection(retry)
        return retry

    def _sync_store(self) -> DedupeStore:
        if is_async_store(self.store):
            raise TypeError(f"{type(self.store).__name__} is an async store; use the async methods (take_async...)")
        return self.store  # type: ignore[return-value]

    # --- sync driver -----------------------------------------------------------------------------

    def take(self) -> AuditBatch:
        """Claim the events; the batch of those claimed. A store's error propagates: nothing is claimed then."""
        if self.store is None:
            return self.batch
        store = self._sync_store()
        fingerprints, keys = self._keys()
        if not keys:
            return self._taken(fingerprints, keys, [])
        answer = store.claim(keys, self.owner)
        try:
            return self._taken(fingerprints, keys, answer)
        except TypeError:
            _logged(store.release, "release", keys, self.owner)  # only this owner's records go: safe for every key
            raise

    def complete(self) -> None:
        """Mark the claimed events completed (kept for the store's ``ttl``)."""
        keys = self._settled()
        if keys:
            _logged(self._sync_store().complete, "complete", keys, self.owner)

    def release(self) -> None:
        """Free the claimed events, so that a redelivery is processed."""
        keys = self._settled()
        if keys:
            _logged(self._sync_store().release, "release", keys, self.owner)

    def settle(self, status: int) -> None:
        """After a handler answered ``status``: complete the claims if it succeeded, release them otherwise."""
        if succeeded(status):
            self.complete()
        else:
            self.release()

    def run(self, handler: Callable[[AuditBatch], T], status_of: Callable[[T], int]) -> T | RetryLater:
        """``handler(batch)`` on the claimed events; its answer, or the :class:`RetryLater` to answer instead.

        A failing store: the handler does not run (503). A 2xx completes the claims (503
        still while another request holds some events); any other status, or an
        exception, releases them.
        """
        if self.store is None:
            return handler(self.batch)
        try:
            fresh = self.take()
        except Exception:
            return self.unavailable()
        try:
            result = handler(fresh)
            status = status_of(result)  # an answer the framework cannot read releases too
        except BaseException:
            self.release()
            raise
        self.settle(status)
        return (self.verdict(fresh) or result) if succeeded(status) else result

    # --- async driver: an async store is awaited, a sync one offloaded ---------------------------

    async def _call(self, name: str, keys: list[str], offload: Offload | None) -> Any:
        method = getattr(self.store, name)
        if is_async_store(self.store):
            return await method(keys, self.owner)
        return await _to_the_end((offload or asyncio.to_thread)(functools.partial(method, keys, self.owner)))

    async def take_async(self, offload: Offload | None = None) -> AuditBatch:
        """:meth:`take` for an event loop; ``offload`` runs a sync store's call (default ``asyncio.to_thread``)."""
        if self.store is None:
            return self.batch
        fingerprints, keys = self._keys()
        if not keys:
            return self._taken(fingerprints, keys, [])
        try:
            answer = await self._call("claim", keys, offload)
        except asyncio.CancelledError:
            # A sync store's claim ran to its end (_to_the_end), an async one's may have
            # reached its server; nobody will handle the events: this owner's records go
            # at once rather than when their lease expires.
            await _logged_async(self._call("release", keys, offload), "release", keys)
            raise
        try:
            return self._taken(fingerprints, keys, answer)
        except TypeError:
            await _logged_async(self._call("release", keys, offload), "release", keys)
            raise

    async def complete_async(self, offload: Offload | None = None) -> None:
        """:meth:`complete` for an event loop."""
        keys = self._settled()
        if keys:
            await _logged_async(self._call("complete", keys, offload), "complete", keys)

    async def release_async(self, offload: Offload | None = None) -> None:
        """:meth:`release` for an event loop."""
        keys = self._settled()
        if keys:
            await _logged_async(self._call("release", keys, offload), "release", keys)

    async def settle_async(self, status: int, offload: Offload | None = None) -> None:
        """:meth:`settle` for an event loop."""
        if succeeded(status):
            await self.complete_async(offload)
        else:
            await self.release_async(offload)

    async def run_async(
        self,
        handler: Callable[[AuditBatch], Awaitable[T]],
        status_of: Callable[[T], int],
        *,
        offload: Offload | None = None,
        shield: Shield = nullcontext,
    ) -> T | RetryLater:
        """:meth:`run` for an event loop: ``await handler(batch)``; every store call inside ``shield()``."""
        if self.store is None:
            return await handler(self.batch)
        with shield():
            try:
                fresh = await self.take_async(offload)
            except Exception:
                return self.unavailable()
        try:
            result = await handler(fresh)
            status = status_of(result)  # an answer the framework cannot read releases too
        except BaseException:
            # Cancellation included: the claims are released before it goes on.
            with shield():
                await self.release_async(offload)
            raise
        with shield():
            await self.settle_async(status, offload)
        return (self.verdict(fresh) or result) if succeeded(status) else result


async def _to_the_end(call: Awaitable[T]) -> T:
    """``await call`` (a sync store's call in a thread); under asyncio, a cancellation waits for its end.

    No cancellation stops the thread (``asyncio.to_thread``, asgiref): without this, a
    claim could be taken, or a release left undone, after the request gave up (a client
    that went away), and the events held until their lease expires. Under another event
    loop the caller's ``shield`` protects the call (Starlette passes anyio's).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return await call
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


def _logged(method: Callable[[list[str], str], None], name: str, keys: list[str], owner: str) -> None:
    try:
        method(keys, owner)
    except Exception:
        _log_failure(name, keys)


async def _logged_async(call: Awaitable[Any], name: str, keys: list[str]) -> None:
    try:
        await call
    except Exception:
        _log_failure(name, keys)


def _log_failure(name: str, keys: list[str]) -> None:
    # A failed completion: the handler's work is done, and an error answer would bring a
    # redelivery that runs it again once the leases expire. A failed release: the handler's
    # own failure matters more. Either way the leases expire on their own.
    logger.exception("descope_audit_hook: could not %s %d dedupe claims", name, len(keys))
