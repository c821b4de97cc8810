"""``exactly_once`` and ``exactly_once_async``: the context managers over the one claim mechanism.

Only the claimed events reach the body; the claims are completed when it ends and
released when it raises (cancellation included); a failing store fails the delivery
before the body runs. The async form awaits an async store and runs a sync one off the
event loop. The claim object itself is in test_claim.py.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from descope_audit_hook import (
    MemoryDedupeStore,
    exactly_once,
    exactly_once_async,
)
from descope_audit_hook.testing import sample_event, sample_events
from tests.support.deliveries import batch_of
from tests.support.stores import (
    CLAIMED,
    COMPLETED,
    IN_PROGRESS,
    AsyncRecordingStore,
    BrokenStore,
    RecordingStore,
    StoreFactory,
    keys_of,
)


def test_exactly_once_hands_over_only_claimed_events_and_completes_them() -> None:
    store = MemoryDedupeStore()
    first = batch_of(sample_events(3))
    with exactly_once(first, store) as new:
        assert new.events == first.events
        assert (new.duplicates, new.in_progress) == (0, 0)
    again = batch_of([*sample_events(3), sample_event("login_failed")])
    with exactly_once(again, store) as new:
        assert [e.action for e in new] == ["LoginFailed"]
        assert (new.duplicates, new.in_progress) == (3, 0)
        assert new.body == again.body
        assert new.signed_form == again.signed_form == "compact"
    with exactly_once(again, store) as new:
        assert len(new) == 0
        assert new.duplicates == 4
    assert store.claim([e.fingerprint for e in again], "other") == [COMPLETED] * 4


def test_exactly_once_counts_events_held_elsewhere_as_in_progress() -> None:
    store = MemoryDedupeStore()
    held, repeated, fresh = sample_event("login_failed"), sample_event("user_created"), sample_event("login_succeed")
    assert store.claim([batch_of([held])[0].fingerprint], "another-request") == [CLAIMED]
    batch = batch_of([held, repeated, held, repeated, fresh])
    with exactly_once(batch, store) as new:
        assert [e.action for e in new] == ["UserCreated", "LoginSucceed"]
        # the held event once in progress; its repeat and the repeat of a claimed one are duplicates
        assert (new.in_progress, new.duplicates) == (1, 2)
    assert store.claim([e.fingerprint for e in batch_of([held, repeated])], "x") == [IN_PROGRESS, COMPLETED]


def test_exactly_once_counts_an_event_repeated_inside_a_batch_once() -> None:
    event = sample_event("login_failed")
    batch = batch_of([event, sample_event("user_created"), event, event])
    with exactly_once(batch, MemoryDedupeStore()) as new:
        assert [e.action for e in new] == ["LoginFailed", "UserCreated"]
        assert new.duplicates == 2


def test_exactly_once_without_a_store_passes_the_batch_through() -> None:
    event = sample_event()
    batch = batch_of([event, event])
    with exactly_once(batch, None) as new:
        assert new is batch


def test_each_call_has_its_own_owner() -> None:
    store = RecordingStore()
    for _ in range(3):
        with exactly_once(batch_of(sample_events(2)), store):
            pass
    owners = store.owners
    assert len(set(owners)) == 3
    assert all(len(owner) == 32 for owner in owners)


def test_handler_failure_releases_only_its_claims_and_the_redelivery_is_processed(make_store: StoreFactory) -> None:
    store = make_store()
    seen_before, new_event = sample_event("login_succeed"), sample_event("login_failed")
    with exactly_once(batch_of([seen_before]), store):
        pass
    delivery = batch_of([seen_before, new_event])

    def failing_handler() -> None:
        with exactly_once(delivery, store) as new:
            assert [e.action for e in new] == ["LoginFailed"]
            raise RuntimeError("database down")

    with pytest.raises(RuntimeError, match="database down"):
        failing_handler()
    handled: list[str] = []
    with exactly_once(delivery, store) as new:  # the redelivery
        handled.extend(e.action for e in new)
        assert new.duplicates == 1  # the event handled before the failure stays completed
    assert handled == ["LoginFailed"]
    with exactly_once(delivery, store) as new:
        assert len(new) == 0


def test_base_exceptions_release_too() -> None:
    store = MemoryDedupeStore()
    batch = batch_of(sample_events(2))
    with pytest.raises(KeyboardInterrupt), exactly_once(batch, store):
        raise KeyboardInterrupt
    assert store.claim([e.fingerprint for e in batch], "next") == [CLAIMED, CLAIMED]


def test_a_failing_store_fails_the_delivery_before_the_handler_runs() -> None:
    ran = False
    with pytest.raises(OSError, match="unavailable"), exactly_once(batch_of(sample_events(2)), BrokenStore()):
        ran = True
    assert not ran


@pytest.mark.parametrize(
    ("answer", "message"),
    [([CLAIMED], "1 results for 2 keys"), ([CLAIMED] * 3, "3 results for 2 keys"), ([True, True], "ClaimState")],
)
def test_a_store_answering_nonsense_is_refused_and_this_owners_records_released(
    answer: list[object], message: str
) -> None:
    store = BrokenStore(answer)
    batch = batch_of(sample_events(2))
    with pytest.raises(TypeError, match=message), exactly_once(batch, store):
        pytest.fail("handler ran")
    assert store.released == [[event.fingerprint for event in batch]]


def test_a_failing_release_keeps_the_handlers_exception(caplog: pytest.LogCaptureFixture) -> None:
    store = BrokenStore([CLAIMED, CLAIMED])
    batch = batch_of(sample_events(2))
    with pytest.raises(ValueError, match="handler"), exactly_once(batch, store):
        raise ValueError("handler")
    assert "could not release 2 dedupe claims" in caplog.text
    assert batch[0].fingerprint not in caplog.text


def test_a_failing_complete_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # The handler's work is done: an error now would bring a redelivery that runs it again.
    store = BrokenStore([CLAIMED, CLAIMED])
    batch = batch_of(sample_events(2))
    with exactly_once(batch, store) as new:
        assert len(new) == 2
    assert "could not complete 2 dedupe claims" in caplog.text


# --- async: an async store is awaited on the loop, a sync one runs off it -----------------------


def test_exactly_once_async_awaits_an_async_store() -> None:
    store = AsyncRecordingStore()
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
    store = RecordingStore()
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
    store = AsyncRecordingStore()
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
