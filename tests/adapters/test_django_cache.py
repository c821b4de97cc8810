"""CacheDedupeStore's own features on Django's cache framework, against a real Redis.

The behaviour every store shares (claim, complete, release, leases, races) runs in
tests/reliability/test_store_protocol.py, on a local-memory cache and on RedisCache.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache

from descope_audit_hook import ConfigurationError, exactly_once
from descope_audit_hook.django import CacheDedupeStore
from descope_audit_hook.testing import sample_event, sample_events
from tests.support.deliveries import batch_of
from tests.support.frameworks import POOL_OPTIONS, REDIS_BACKEND, use_caches
from tests.support.servers import free_port
from tests.support.stores import CLAIMED, IN_PROGRESS


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_caches(redis_url: str, redis_client: redis.Redis) -> Iterator[None]:
    with ExitStack() as stack:
        use_caches(stack, {"default": {"BACKEND": REDIS_BACKEND, "LOCATION": redis_url, "OPTIONS": POOL_OPTIONS}})
        yield


def _with_cache(backend: str, **extra: Any) -> ExitStack:
    stack = ExitStack()
    use_caches(stack, {"default": {"BACKEND": backend, **extra}})
    return stack


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
def test_records_in_redis_their_values_and_timeouts(redis_client: redis.Redis) -> None:
    store = CacheDedupeStore(ttl=timedelta(minutes=10), lease=timedelta(seconds=90))
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    store.complete(["a"], "A")
    assert redis_client.get(":1:descope-audit:b") is not None
    assert 590 < redis_client.ttl(":1:descope-audit:a") <= 600
    assert 80 < redis_client.ttl(":1:descope-audit:b") <= 90
    keys = sorted(key.decode() if isinstance(key, bytes) else key for key in redis_client.keys("*"))
    assert keys == [":1:descope-audit:a", ":1:descope-audit:b"]


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
def test_timeouts_are_rounded_up_to_whole_seconds_and_prefix_is_used(redis_client: redis.Redis) -> None:
    store = CacheDedupeStore(ttl=1.2, lease=0.3, key_prefix="svc-a/")
    assert store.claim(["k"], "A") == [CLAIMED]
    assert redis_client.pttl(":1:svc-a/k") > 300  # a lease of 0.3 s is held for a whole second
    store.complete(["k"], "A")
    assert redis_client.ttl(":1:svc-a/k") == 2
    assert CacheDedupeStore(ttl=60, key_prefix="svc-b/").claim(["k"], "B") == [CLAIMED]


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
def test_handler_failure_then_redelivery_with_redis() -> None:
    store = CacheDedupeStore()
    batch = batch_of(sample_events(4))

    def failing() -> None:
        with exactly_once(batch, store) as new:
            assert len(new) == 4
            raise ConnectionError("downstream")

    with pytest.raises(ConnectionError):
        failing()
    handled: list[str] = []
    with exactly_once(batch, store) as new:
        handled.extend(event.fingerprint for event in new)
    assert len(handled) == 4
    with exactly_once(batch, store) as new:
        assert (len(new), new.duplicates) == (0, 4)


def test_an_unreachable_cache_fails_the_delivery_before_the_handler() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    options = {"socket_connect_timeout": 0.5, **POOL_OPTIONS}
    with _with_cache(REDIS_BACKEND, LOCATION=dead, OPTIONS=options):
        ran = False
        with pytest.raises(redis.ConnectionError), exactly_once(batch_of([sample_event()]), CacheDedupeStore()):
            ran = True
        assert not ran


class FlakyCache(LocMemCache):
    """A local-memory cache whose third add() fails, as a cache server dropping mid-claim would."""

    adds = 0

    def add(self, key: Any, value: Any, timeout: Any = 300, version: Any = None) -> bool:
        FlakyCache.adds += 1
        if FlakyCache.adds == 3:
            raise ConnectionError("cache went away")
        return super().add(key, value, timeout, version)


def test_a_claim_that_fails_midway_is_undone_without_touching_other_owners() -> None:
    with _with_cache(f"{FlakyCache.__module__}.FlakyCache", LOCATION="flaky"):
        FlakyCache.adds = 0
        store = CacheDedupeStore()
        assert store.claim(["b"], "other") == [CLAIMED]  # add number 1
        with pytest.raises(ConnectionError):
            store.claim(["a", "b", "c", "d"], "A")  # a added (2), b taken, c fails (3)
        assert caches["default"].get("descope-audit:a") is None
        assert caches["default"].get("descope-audit:b") == "in_progress:other"
        assert store.claim(["a", "b", "c", "d"], "B") == [CLAIMED, IN_PROGRESS, CLAIMED, CLAIMED]


def test_local_memory_cache_repr() -> None:
    with _with_cache("django.core.cache.backends.locmem.LocMemCache", LOCATION="lm"):
        store = CacheDedupeStore(ttl=timedelta(hours=1))
        assert repr(store) == "CacheDedupeStore(alias='default', key_prefix='descope-audit:', ttl=3600s, lease=300s)"


@pytest.mark.parametrize(
    "backend",
    ["django.core.cache.backends.dummy.DummyCache", "django.core.cache.backends.filebased.FileBasedCache"],
)
def test_caches_that_cannot_claim_atomically_are_refused(backend: str, tmp_path: Any) -> None:
    with (
        _with_cache(backend, LOCATION=str(tmp_path)),
        pytest.raises(ConfigurationError, match="cannot claim atomically"),
    ):
        CacheDedupeStore().claim(["a"], "A")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alias": ""},
        {"key_prefix": "has space"},
        {"key_prefix": "ctl\n"},
        {"key_prefix": "x" * 151},
        {"ttl": 0},
        {"ttl": timedelta(seconds=-1)},
        {"lease": 0},
    ],
)
def test_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CacheDedupeStore(**kwargs)
