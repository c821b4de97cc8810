"""The one exactly-once mechanism (``_claim.Claim``): its explicit steps and its async driver.

A claim settles once; a handler's answer decides completion or release; the async driver
does the same with every store call inside the shield. The context managers over it are
in test_exactly_once.py, the behaviour of every store in tests/reliability/test_store_protocol.py.
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
)
from descope_audit_hook._claim import Claim
from descope_audit_hook._claim_rules import check_store
from descope_audit_hook.testing import sample_events
from tests.support.deliveries import batch_of
from tests.support.stores import CLAIMED, COMPLETED, AsyncRecordingStore, RecordingStore, keys_of


def test_a_claim_is_taken_then_settled_once() -> None:
    store = RecordingStore()
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
    store = RecordingStore()
    batch = batch_of(sample_events(2))
    seen: list[int] = []

    def handler(fresh: AuditBatch) -> int:
        seen.append(len(fresh))
        return status

    assert Claim(batch, store).run(handler, lambda answer: answer) == status
    assert (seen, store.calls) == ([2], ["claim", settled])
    assert store.claim(keys_of(batch), "next")[0] is state


def test_run_releases_when_the_handler_raises() -> None:
    store = RecordingStore()
    batch = batch_of(sample_events(2))

    def handler(fresh: AuditBatch) -> int:
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        Claim(batch, store).run(handler, lambda answer: answer)
    assert store.calls == ["claim", "release"]


def test_an_answer_the_framework_cannot_read_releases_the_claims() -> None:
    # A Django view returning None: reading its status raises; the claims must not stay held.
    store = MemoryDedupeStore()
    batch = batch_of(sample_events(2))

    def status_of(answer: object) -> int:
        return int(answer.status_code)  # type: ignore[attr-defined]

    with pytest.raises(AttributeError):
        Claim(batch, store).run(lambda fresh: None, status_of)
    assert store.claim(keys_of(batch), "next") == [CLAIMED] * 2

    async def view(fresh: AuditBatch) -> None:
        return None

    other = batch_of(sample_events(2, seed=9))
    with pytest.raises(AttributeError):
        asyncio.run(Claim(other, store).run_async(view, status_of))
    assert store.claim(keys_of(other), "next") == [CLAIMED] * 2


def test_a_store_that_does_not_answer_a_list_is_named() -> None:
    class Tuples(MemoryDedupeStore):
        def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
            return tuple(super().claim(keys, owner))  # type: ignore[return-value]

    store = Tuples()
    batch = batch_of(sample_events(2))
    with pytest.raises(TypeError, match="must return a list, not tuple"):
        Claim(batch, store).take()
    assert MemoryDedupeStore.claim(store, keys_of(batch), "next") == [CLAIMED] * 2  # released


def test_a_cancelled_claim_in_a_thread_leaves_nothing_held() -> None:
    # A client that goes away while a sync store's claim runs in a worker thread (Django's
    # async views, exactly_once_async): the thread finishes the claim, then it is released.
    started, go_on = threading.Event(), threading.Event()

    class Slow(MemoryDedupeStore):
        def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
            started.set()
            go_on.wait(5)
            return super().claim(keys, owner)

    store = Slow()
    batch = batch_of(sample_events(3))

    async def cancelled() -> None:
        task = asyncio.ensure_future(Claim(batch, store).take_async())
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        await asyncio.sleep(0.05)
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert MemoryDedupeStore.claim(store, keys_of(batch), "next") == [CLAIMED] * 3


def test_without_a_store_the_batch_passes_through_untouched() -> None:
    batch = batch_of(sample_events(2))
    assert Claim(batch, None).take() is batch
    assert Claim(batch, None).run(lambda fresh: fresh, lambda fresh: 200) is batch
    assert asyncio.run(Claim(batch, None).take_async()) is batch


def test_an_async_store_needs_the_async_methods() -> None:
    batch = batch_of(sample_events(1))
    with pytest.raises(TypeError, match="async store"):
        Claim(batch, AsyncRecordingStore()).take()
    with pytest.raises(TypeError, match="async store"), exactly_once(batch, AsyncRecordingStore()):  # type: ignore[arg-type]
        pytest.fail("the body ran")


def test_check_store_refuses_what_a_caller_cannot_drive() -> None:
    assert check_store(None, allow_async=False) is None
    with pytest.raises(ConfigurationError, match="DedupeStore"):
        check_store(object(), allow_async=True)
    with pytest.raises(ConfigurationError, match="is async"):
        check_store(AsyncRecordingStore(), allow_async=False)
    store = AsyncRecordingStore()
    assert check_store(store, allow_async=True) is store


# --- async: an async store is awaited ---------------------------------------------------------


def test_run_async_settles_by_the_handlers_status_inside_the_shield() -> None:
    store = AsyncRecordingStore()
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
