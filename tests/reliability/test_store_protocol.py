"""The behaviour every dedupe store shares, run against each one (tests/reliability/_stores.py).

Real engines where the store has one: redis-server (alone and a three-master cluster),
PostgreSQL, Django's RedisCache; async stores through redis.asyncio and psycopg's
AsyncConnection on a real event loop. Leases and ttls expire for real (short ones, with
a generous wait loop) where the engine keeps time, on an injected clock elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import AsyncDedupeStore, ConfigurationError, DedupeStore, exactly_once
from descope_audit_hook._dedupe import is_async_store
from descope_audit_hook.testing import sample_events
from tests.support.deliveries import batch_of, overlapping_deliveries
from tests.support.stores import CLAIMED, COMPLETED, IN_PROGRESS

from . import _workers
from ._scenarios import run_concurrently, run_threads, spawn_all
from ._stores import ASYNC_KINDS, KINDS, LEASE, TTL, Kit, SyncFacade, kit_for

LONG = 120.0  # a lease or ttl that never runs out during a test


def _kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    with ExitStack() as stack:
        yield kit_for(request.param, request, tmp_path, stack)


kit = pytest.fixture(params=KINDS)(_kit)
sync_kit = pytest.fixture(params=[kind for kind in KINDS if kind not in ASYNC_KINDS])(_kit)
async_kit = pytest.fixture(params=ASYNC_KINDS)(_kit)


def pair(kit: Kit, **short: Any) -> tuple[DedupeStore, DedupeStore]:
    """A store whose leases and ttl are ``short`` and one sharing its records with long ones.

    On an injected clock nothing expires unless the test moves the clock, and the memory
    store shares nothing between objects: there both are one store.
    """
    first = kit.make(**short)
    if kit.clock is not None and kit.kind == "memory":
        return first, first
    return first, kit.make(lease=LONG, ttl=LONG)


# --- claim, complete, release --------------------------------------------------------------


def test_is_a_dedupe_store(kit: Kit) -> None:
    store = kit.make()
    if isinstance(store, SyncFacade):
        assert is_async_store(store.store)
        assert isinstance(store.store, AsyncDedupeStore)
    else:
        assert isinstance(store, DedupeStore)
        assert not is_async_store(store)
    assert "lease=" in repr(getattr(store, "store", store))


def test_claim_complete_and_the_states_others_see(kit: Kit) -> None:
    store, other = pair(kit, lease=LONG, ttl=LONG)
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    assert other.claim(["b", "c", "a"], "B") == [IN_PROGRESS, CLAIMED, IN_PROGRESS]
    store.complete(["a", "b"], "A")
    assert other.claim(["a", "b", "c"], "C") == [COMPLETED, COMPLETED, IN_PROGRESS]
    assert store.claim([], "A") == []
    store.complete([], "A")
    store.release([], "A")


def test_release_frees_only_the_owners_in_progress_records(kit: Kit) -> None:
    store, other = pair(kit, lease=LONG, ttl=LONG)
    assert store.claim(["a", "b", "done"], "A") == [CLAIMED, CLAIMED, CLAIMED]
    store.complete(["done"], "A")
    other.release(["a", "b", "done"], "B")  # not B's: nothing happens
    assert other.claim(["a", "b", "done"], "C") == [IN_PROGRESS, IN_PROGRESS, COMPLETED]
    store.release(["a", "done", "unknown"], "A")  # a completed record stays
    assert other.claim(["a", "b", "done", "unknown"], "C") == [CLAIMED, IN_PROGRESS, COMPLETED, CLAIMED]


def test_complete_takes_only_keys_the_owner_holds(kit: Kit, caplog: pytest.LogCaptureFixture) -> None:
    store, other = pair(kit, lease=LONG, ttl=LONG)
    assert store.claim(["a"], "A") == [CLAIMED]
    other.complete(["a", "never-claimed"], "B")
    assert "could not complete 2 events" in caplog.text
    assert other.claim(["a", "never-claimed"], "C") == [IN_PROGRESS, CLAIMED]


def test_an_expired_lease_is_claimed_again_and_its_owner_can_no_longer_complete_or_release(
    kit: Kit, caplog: pytest.LogCaptureFixture
) -> None:
    store, other = pair(kit, lease=LEASE, ttl=LONG)
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    kit.wait_until(lambda: other.claim(["a"], "B") == [CLAIMED])
    # "b" expired too: claimable, by anyone.
    kit.wait_until(lambda: other.claim(["b"], "B") == [CLAIMED])
    store.complete(["a"], "A")  # too late: B holds it now
    assert "could not complete 1 events" in caplog.text
    store.release(["b"], "A")  # not A's any more
    assert other.claim(["a", "b"], "C") == [IN_PROGRESS, IN_PROGRESS]
    other.complete(["a", "b"], "B")
    assert other.claim(["a", "b"], "C") == [COMPLETED, COMPLETED]


def test_a_completed_record_expires_after_the_ttl(kit: Kit) -> None:
    store, other = pair(kit, lease=LONG, ttl=TTL)
    assert store.claim(["a"], "A") == [CLAIMED]
    store.complete(["a"], "A")
    kit.wait_until(lambda: other.claim(["a"], "B") == [CLAIMED])
    assert store.claim(["a"], "C") == [IN_PROGRESS]


@pytest.mark.parametrize(
    ("keys", "error"),
    [
        ("abc", TypeError),
        (b"abc", TypeError),
        ([""], TypeError),
        ([1], TypeError),
        (["ok", None], TypeError),
        (["a", "b", "a"], ValueError),
        (["has space"], ValueError),
        (["ctl\x00"], ValueError),
        (["x" * 201], ValueError),
    ],
)
def test_bad_keys_are_refused_before_anything_is_stored(kit: Kit, keys: object, error: type[Exception]) -> None:
    store = kit.make(lease=LONG, ttl=LONG)
    for method in (store.claim, store.complete, store.release):
        with pytest.raises(error):
            method(keys, "A")  # type: ignore[arg-type]
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]


@pytest.mark.parametrize(("owner", "error"), [("", TypeError), (None, TypeError), ("a b", ValueError)])
def test_bad_owners_are_refused(kit: Kit, owner: object, error: type[Exception]) -> None:
    store = kit.make()
    with pytest.raises(error):
        store.claim(["a"], owner)  # type: ignore[arg-type]
    assert store.claim(["a"], "A") == [CLAIMED]


@pytest.mark.parametrize("name", ["ttl", "lease"])
@pytest.mark.parametrize("value", [0, -1, timedelta(0), float("inf"), float("nan"), "60", True, None])
def test_bad_ttl_or_lease_is_a_configuration_error(kit: Kit, name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=name):
        kit.make(**{name: value})


def test_ttl_and_lease_take_timedeltas_and_seconds(kit: Kit) -> None:
    store = kit.make(ttl=timedelta(hours=2), lease=90)
    inner: Any = getattr(store, "store", store)
    assert (inner.ttl, inner.lease) == (7200.0, 90.0)


# --- races ---------------------------------------------------------------------------------


def test_threads_racing_for_the_same_keys_each_key_is_claimed_once(sync_kit: Kit) -> None:
    kit = sync_kit
    keys = [f"key-{i:03d}" for i in range(60)]
    store = kit.make(lease=LONG, ttl=LONG)
    workers = 6
    stores = [store] + [kit.make(lease=LONG, ttl=LONG) if kit.kind != "memory" else store for _ in range(workers - 1)]
    barrier = threading.Barrier(workers)
    won: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            order = random.Random(index).sample(keys, len(keys))  # noqa: S311 - test data
            barrier.wait(30)
            for start in range(0, len(order), 5):
                chunk = order[start : start + 5]
                states = stores[index].claim(chunk, f"owner-{index}")
                with lock:
                    won.update(key for key, state in zip(chunk, states, strict=True) if state is CLAIMED)
        except BaseException as exc:
            errors.append(exc)

    run_threads(worker, workers, "claimer")
    assert errors == []
    assert won == Counter(dict.fromkeys(keys, 1))


def test_coroutines_racing_for_the_same_keys_each_key_is_claimed_once(async_kit: Kit) -> None:
    facade = async_kit.make(lease=LONG, ttl=LONG)
    assert isinstance(facade, SyncFacade)
    store = facade.store
    keys = [f"key-{i:03d}" for i in range(60)]

    async def contender(index: int) -> list[str]:
        order = random.Random(index).sample(keys, len(keys))  # noqa: S311 - test data
        won = []
        for start in range(0, len(order), 5):
            chunk = order[start : start + 5]
            states = await store.claim(chunk, f"owner-{index}")
            won += [key for key, state in zip(chunk, states, strict=True) if state is CLAIMED]
        return won

    async def race() -> list[list[str]]:
        return list(await asyncio.gather(*(contender(i) for i in range(8))))

    results = facade.loop.run_until_complete(race())
    assert Counter(key for won in results for key in won) == Counter(dict.fromkeys(keys, 1))


@pytest.mark.parametrize("fail_every", [0, 3])
def test_overlapping_deliveries_through_exactly_once_from_threads(sync_kit: Kit, fail_every: int) -> None:
    kit = sync_kit
    deliveries, fingerprints = overlapping_deliveries(60, size=8, stride=4)
    stores = [kit.make(lease=LONG, ttl=LONG)]
    stores += [kit.make(lease=LONG, ttl=LONG) if kit.kind != "memory" else stores[0] for _ in range(5)]
    outcome = run_concurrently(lambda i: stores[i], deliveries, workers=6, fail_every=fail_every)
    assert outcome.errors == []
    assert Counter(outcome.handled.values()) == Counter({1: len(fingerprints)})
    assert set(outcome.handled) == fingerprints


def _spawn_claimers(kit: Kit, tmp_path: Path, keys: list[str], processes: int) -> Counter[str]:
    spec = kit.spec
    assert spec is not None
    outs = [tmp_path / f"won{i}.json" for i in range(processes)]
    orders = [random.Random(i).sample(keys, len(keys)) for i in range(processes)]  # noqa: S311 - test data
    spawn_all(_workers.claim_keys, lambda i, barrier: (spec, orders[i], barrier, str(outs[i])), processes)
    return Counter(key for out in outs for key in json.loads(out.read_text()))


@pytest.mark.parametrize("kind", ["sqlite", "redis", "postgres"])
def test_processes_racing_for_the_same_keys_each_key_is_claimed_once(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    keys = [f"key-{i:04d}" for i in range(200)]
    with ExitStack() as stack:
        kit = kit_for(kind, request, tmp_path, stack)
        kit.make()  # creates the table (PostgreSQL) or the file (SQLite) before the race
        won = _spawn_claimers(kit, tmp_path, keys, processes=4)
    assert won == Counter(dict.fromkeys(keys, 1))


def test_exactly_once_refuses_an_async_store(async_kit: Kit) -> None:
    facade = async_kit.make()
    assert isinstance(facade, SyncFacade)
    batch = batch_of(sample_events(1))
    with pytest.raises(TypeError, match="async store"), exactly_once(batch, facade.store):
        pytest.fail("body ran")
