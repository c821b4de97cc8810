"""Dedupe stores for tests of what drives them: recording, async, broken; a clock to move a store's time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from descope_audit_hook import AuditBatch, ClaimState, DedupeStore, MemoryDedupeStore

__all__ = [
    "CLAIMED",
    "COMPLETED",
    "IN_PROGRESS",
    "AsyncRecordingStore",
    "BrokenStore",
    "FakeClock",
    "RecordingStore",
    "StoreFactory",
    "keys_of",
]

#: The states a claim finds, by their short names.
CLAIMED, COMPLETED, IN_PROGRESS = ClaimState.CLAIMED, ClaimState.COMPLETED, ClaimState.IN_PROGRESS


class FakeClock:
    """A settable clock in seconds (a store's ``clock=``)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingStore(MemoryDedupeStore):
    """A memory store that records each call: its method (``calls``), thread (``threads``) and owner (``owners``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[str] = []
        self.threads: list[int] = []
        self.owners: list[str] = []

    def _note(self, name: str, owner: str) -> None:
        self.calls.append(name)
        self.threads.append(threading.get_ident())
        self.owners.append(owner)

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        self._note("claim", owner)
        return super().claim(keys, owner)

    def complete(self, keys: Sequence[str], owner: str) -> None:
        self._note("complete", owner)
        super().complete(keys, owner)

    def release(self, keys: Sequence[str], owner: str) -> None:
        self._note("release", owner)
        super().release(keys, owner)


class AsyncRecordingStore:
    """An async store (coroutine methods) over a :class:`RecordingStore`, ``inner``, built with ``kwargs``.

    The calls are recorded on the thread that awaits them. ``fail = True``: ``claim``
    raises :class:`ConnectionError`, as with the store's server down.
    """

    def __init__(self, *, fail: bool = False, **kwargs: Any) -> None:
        self.inner = RecordingStore(**kwargs)
        self.lease = self.inner.lease
        self.fail = fail

    @property
    def calls(self) -> list[str]:
        return self.inner.calls

    @property
    def threads(self) -> list[int]:
        return self.inner.threads

    async def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("the store's server is down")
        return self.inner.claim(keys, owner)

    async def complete(self, keys: Sequence[str], owner: str) -> None:
        self.inner.complete(keys, owner)

    async def release(self, keys: Sequence[str], owner: str) -> None:
        self.inner.release(keys, owner)


class BrokenStore:
    """A store whose backend is down: ``claim`` raises, or answers ``claim_result``; ``complete`` and ``release`` raise.

    ``released``: the keys of each ``release`` call.
    """

    def __init__(self, claim_result: object = None) -> None:
        self.claim_result = claim_result
        self.released: list[list[str]] = []

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        if self.claim_result is None:
            raise ConnectionError("dedupe store unavailable")
        return self.claim_result  # type: ignore[return-value]

    def complete(self, keys: Sequence[str], owner: str) -> None:
        raise ConnectionError("dedupe store unavailable")

    def release(self, keys: Sequence[str], owner: str) -> None:
        self.released.append(list(keys))
        raise ConnectionError("dedupe store unavailable")


#: A fixture that builds stores of one kind (``make_store(**kwargs)``).
StoreFactory = Callable[..., DedupeStore]


def keys_of(batch: AuditBatch) -> list[str]:
    """The keys ``batch``'s events are claimed under: their fingerprints, in order."""
    return [event.fingerprint for event in batch]
