"""The one exactly-once mechanism (``_claim.Claim``): its explicit steps, its async drivers, ``exactly_once_async``.

``exactly_once``'s semantics over every store are in test_dedupe.py and test_store_protocol.py;
here: a claim settles once, a handler's answer decides completion or release, and the async
forms do the same with an async store awaited and a sync one off the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from descope_audit_hook import (
    AuditBatch,
    ClaimState,
    ConfigurationError,
    MemoryDedupeStore,
    exactly_once,
    exactly_once_async,
)
from descope_audit_hook._claim import Claim, check_store
from descope_audit_hook.testing import sample_event, sample_events

from ._scenarios import batch_of

CLAIMED, COMPLETED = ClaimState.CLAIMED, ClaimState.COMPLETED


class Recorded(MemoryDedupeStore):
    """A memory store that records each call and the thread it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.threads: list[int] = []

    def _note(self, name: str) -> None:
        self.calls.append(name)
        self.threads.append(threading.get_ident())

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        self._note("claim")
        return super().claim(keys, owner)

    def complete(self, keys: Sequence[str], owner: str) -> None:
        self._note("complete")
        super().complete(keys, owner)

    def release(self, keys: Sequence[str], owner: str) -> None:
        self._note("release")
        super().release(keys, owner)


class AsyncRecorded:
    """An async store (coroutine methods) over a :class:`Recorded` one."""

    def __init__(self) -> None:
        self.inner = Recorded()

    async def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        await asyncio.sleep(0)
        return self.inner.claim(keys, owner)

    async def complete(self, keys: Sequence[str], owner: str) -> None:
        self.inner.complete(keys, owner)

    async def release(self, keys: Sequence[str], owner: str) -> None:
        self.inner.release(keys, owner)


def keys_of(batch: AuditBatch) -> list[str]:
    return [event.fingerprint for event in batch]


def test_a_claim_is_taken_then_settled_once() -> None:
    store = Recorded()
    batch = batch_of(sample_events(3))
    claim = Claim(batch, store)
    fresh = claim.take()
    assert (len(fresh), len(claim.claimed)) == (3, 3)
    claim.complete()
    claim.release()  # already settled: nothing left to release
    claim.complete()
    assert store.calls == ["claim", "complete"]
    assert store.claim(keys_of(batch), "other") == [COMPLETED] * 3


@pytest.mark.parametrize(("status", "settled", "state"), [(200, "complete", COMPLETED), (500, "release", CLAIMED)])
def test_run_settles_by_the_handlers_status(status: int, settled: str, state: ClaimState) -> None:
    store = Recorded()
    batch = batch_of(sample_events(2))
    seen: list[int] = []

    def handler(fresh: AuditBatch) -> int:
        seen.append(len(fresh))
        return status

    assert Claim(batch, store).run(handler, lambda answer: answer) == status
    assert (seen, store.calls) == ([2], ["claim", settled])
    assert store.claim(keys_of(batch), "next")[0] is state


def test_run_releases_when_the_handler_raises() -> None:
    store = Recorded()
    batch = batch_of(sample_events(2))

    def handler(fresh: AuditBatch) -> int:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        Claim(batch, store).run(handler, lambda answer: answer)
    assert store.calls == ["claim", "release"]


def test_without_a_store_the_batch_passes_through_untouched() -> None:
    batch = batch_of(sample_events(2))
    assert Claim(batch, None).take() is batch
    assert Claim(batch, None).run(lambda fresh: fresh, lambda fresh: 200) is batch
    assert asyncio.run(Claim(batch, None).take_async()) is batch


def test_an_async_store_needs_the_async_methods() -> None:
    batch = batch_of(sample_events(1))
    with pytest.raises(TypeError, match="async store"):
        Claim(batch, AsyncRecorded()).take()
    with pytest.raises(TypeError, match="async store"), exactly_once(batch, AsyncRecorded()):  # type: ignore[arg-type]
        pytest.fail("the body ran")


def test_check_store_refuses_what_a_caller_cannot_drive() -> None:
    assert check_store(None, allow_async=False) is None
    with pytest.raises(ConfigurationError, match="DedupeStore"):
        check_store(object(), allow_async=True)
    with pytest.raises(ConfigurationError, match="is async"):
        check_store(AsyncRecorded(), allow_async=False)
    store = AsyncRecorded()
    assert check_store(store, allow_async=True) is store


# --- async: an async store is awaited on the loop, a sync one runs off it -----------------------


def test_exactly_once_async_awaits_an_async_store() -> None:
    store = AsyncRecorded()
    first = batch_of(sample_events(2))
    again = batch_of([*sample_events(2), sample_event("login_failed")])

    async def main() -> list[tuple[int, int]]:
        counts = []
        for batch in (first, again, again):
            async with exactly_once_async(batch, store) as new:
                counts.append((len(new), new.duplicates))
        return counts

    assert asyncio.run(main()) == [(2, 0), (1, 2), (0, 3)]
    assert store.inner.calls == ["claim", "complete", "claim", "complete", "claim"]


def test_exactly_once_async_runs_a_sync_store_off_the_loop() -> None:
    store = Recorded()
    batch = batch_of(sample_events(2))
    offloaded: list[str] = []

    async def offload(call: object) -> object:
        offloaded.append("call")
        return await asyncio.to_thread(call)  # type: ignore[arg-type]

    async def main() -> int:
        async with exactly_once_async(batch, store) as new:  # default: asyncio.to_thread
            assert len(new) == 2
        async with exactly_once_async(batch_of([sample_event("login_failed")]), store, run_sync=offload) as other:
            assert len(other) == 1
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert store.calls == ["claim", "complete", "claim", "complete"]
    assert loop_thread not in store.threads
    assert offloaded == ["call", "call"]


@pytest.mark.parametrize("failure", ["raise", "cancel"])
def test_exactly_once_async_releases_on_an_exception_or_a_cancellation(failure: str) -> None:
    store = AsyncRecorded()
    batch = batch_of(sample_events(2))
    started = asyncio.Event()

    async def handler() -> None:
        async with exactly_once_async(batch, store):
            started.set()
            if failure == "raise":
                raise RuntimeError("handler failed")
            await asyncio.sleep(60)

    async def main() -> BaseException | None:
        task = asyncio.create_task(handler())
        await started.wait()
        task.cancel()
        try:
            await task
        except BaseException as exc:
            return exc
        return None

    ended = asyncio.run(main())
    assert isinstance(ended, RuntimeError if failure == "raise" else asyncio.CancelledError)
    assert store.inner.calls == ["claim", "release"]
    assert store.inner.claim(keys_of(batch), "redelivery") == [CLAIMED, CLAIMED]


def test_run_async_settles_by_the_handlers_status_inside_the_shield() -> None:
    store = AsyncRecorded()
    batch = batch_of(sample_events(2))
    shielded: list[str] = []

    class Shield:
        def __enter__(self) -> None:
            shielded.append("in")

        def __exit__(self, *exc: object) -> None:
            shielded.append("out")

    async def handler(fresh: AuditBatch) -> int:
        return 503 if len(fresh) else 200

    def status_of(status: int) -> int:
        return status

    running = Claim(batch, store).run_async(handler, status_of, shield=Shield)
    assert asyncio.run(running) == 503
    assert store.inner.calls == ["claim", "release"]
    assert shielded == ["in", "out", "in", "out"]
