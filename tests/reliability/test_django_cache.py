"""CacheDedupeStore on Django's cache framework, against a real Redis started by the test."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import pytest
import redis
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.test import override_settings

from descope_audit_hook import ConfigurationError, Verifier, exactly_once
from descope_audit_hook._django_cache import CacheDedupeStore
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.adapters._harness import ensure_django
from tests.e2e.servers import free_port, serve

from ._scenarios import SECRET, overlapping_deliveries, run_concurrently

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, without persistence."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server; scripts/test does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    argv = ["redis-server", "--bind", "{host}", "--port", "{port}", "--save", "", "--appendonly", "no"]
    with serve(argv) as server:
        yield f"redis://{server.host}:{server.port}/0"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.close()


class TrackedPool(redis.ConnectionPool):
    """Django's RedisCache never closes its pools (one per thread's cache object): track and close them."""

    instances: ClassVar[list[redis.ConnectionPool]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        TrackedPool.instances.append(self)

    @classmethod
    def disconnect_all(cls) -> None:
        while cls.instances:
            cls.instances.pop().disconnect()


def _configure_django() -> None:
    # One configuration per process, shared with the adapter tests (whichever runs first
    # configures it the same way); each test here only overrides CACHES.
    ensure_django()


@pytest.fixture
def redis_caches(redis_url: str, redis_client: redis.Redis) -> Iterator[None]:
    """Two aliases on the same Redis, as two app servers sharing one cache would have."""
    _configure_django()
    options = {"pool_class": f"{TrackedPool.__module__}.TrackedPool"}
    config = {
        "default": {"BACKEND": REDIS_BACKEND, "LOCATION": redis_url, "OPTIONS": options},
        "other": {"BACKEND": REDIS_BACKEND, "LOCATION": redis_url, "OPTIONS": options},
    }
    with override_settings(CACHES=config):
        try:
            yield
        finally:
            caches.close_all()
            TrackedPool.disconnect_all()


def _cache_config(backend: str, **extra: Any) -> dict[str, dict[str, Any]]:
    return {"default": {"BACKEND": backend, **extra}}


def batch_of(events: list[dict[str, Any]]) -> Any:
    body, headers = make_delivery(events, hmac_secret=SECRET)
    return Verifier(SECRET).verify(body, headers)


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
def test_claim_and_release_in_redis(redis_client: redis.Redis) -> None:
    store = CacheDedupeStore(ttl=timedelta(minutes=10))
    assert store.claim(["a", "b", "a"]) == [True, True, False]
    assert CacheDedupeStore("other").claim(["a", "c"]) == [False, True]
    store.release(["a"])
    assert store.claim(["a", "b", "c"]) == [True, False, False]
    keys = sorted(key.decode() if isinstance(key, bytes) else key for key in redis_client.keys("*"))
    assert keys == [":1:descope-audit:a", ":1:descope-audit:b", ":1:descope-audit:c"]
    assert 590 < redis_client.ttl(":1:descope-audit:a") <= 600


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
def test_ttl_is_rounded_up_to_whole_seconds_and_prefix_is_used(redis_client: redis.Redis) -> None:
    store = CacheDedupeStore(ttl=1.2, key_prefix="svc-a/")
    assert store.claim(["k"]) == [True]
    assert redis_client.ttl(":1:svc-a/k") == 2
    # Expiry is Redis's job; once the key is gone (as it would be after 2 s) the event is claimable.
    redis_client.delete(":1:svc-a/k")
    assert store.claim(["k"]) == [True]
    assert CacheDedupeStore(ttl=60, key_prefix="svc-b/").claim(["k"]) == [True]


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


@pytest.mark.server
@pytest.mark.usefixtures("redis_caches")
@pytest.mark.parametrize("fail_every", [0, 4])
def test_concurrent_duplicate_deliveries_from_threads_on_two_aliases(fail_every: int) -> None:
    deliveries, fingerprints = overlapping_deliveries(100, size=10, stride=4, seed=3)
    stores = [CacheDedupeStore("default"), CacheDedupeStore("other")]
    outcome = run_concurrently(lambda i: stores[i % 2], deliveries, workers=8, fail_every=fail_every)
    assert outcome.errors == []
    assert set(outcome.handled) == fingerprints
    assert Counter(outcome.handled.values()) == Counter({1: len(fingerprints)})
    assert outcome.delivered_events - outcome.duplicates == len(fingerprints)


def test_an_unreachable_cache_fails_the_delivery_before_the_handler() -> None:
    _configure_django()
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    options = {"socket_connect_timeout": 0.5, "pool_class": f"{TrackedPool.__module__}.TrackedPool"}
    with override_settings(CACHES=_cache_config(REDIS_BACKEND, LOCATION=dead, OPTIONS=options)):
        ran = False
        try:
            with pytest.raises(redis.ConnectionError), exactly_once(batch_of([sample_event()]), CacheDedupeStore()):
                ran = True
        finally:
            caches.close_all()
            TrackedPool.disconnect_all()
        assert not ran


class FlakyCache(LocMemCache):
    """A local-memory cache whose third add() fails, as a cache server dropping mid-claim would."""

    adds = 0

    def add(self, key: Any, value: Any, timeout: Any = 300, version: Any = None) -> bool:
        FlakyCache.adds += 1
        if FlakyCache.adds == 3:
            raise ConnectionError("cache went away")
        return super().add(key, value, timeout, version)


def test_a_claim_that_fails_midway_is_undone() -> None:
    _configure_django()
    backend = f"{FlakyCache.__module__}.FlakyCache"
    with override_settings(CACHES=_cache_config(backend, LOCATION="flaky")):
        FlakyCache.adds = 0
        store = CacheDedupeStore()
        with pytest.raises(ConnectionError):
            store.claim(["a", "b", "c", "d"])
        assert caches["default"].get("descope-audit:a") is None
        assert store.claim(["a", "b", "c", "d"]) == [True, True, True, True]
        caches.close_all()


def test_local_memory_cache_works_within_a_process() -> None:
    _configure_django()
    with override_settings(CACHES=_cache_config("django.core.cache.backends.locmem.LocMemCache", LOCATION="lm")):
        store = CacheDedupeStore(ttl=timedelta(hours=1))
        assert store.claim(["x", "x"]) == [True, False]
        store.release(["x", "x"])
        assert store.claim(["x"]) == [True]
        assert repr(store) == "CacheDedupeStore(alias='default', key_prefix='descope-audit:', ttl=3600s)"
        caches.close_all()


@pytest.mark.parametrize(
    "backend",
    ["django.core.cache.backends.dummy.DummyCache", "django.core.cache.backends.filebased.FileBasedCache"],
)
def test_caches_that_cannot_claim_atomically_are_refused(backend: str, tmp_path: Any) -> None:
    _configure_django()
    with override_settings(CACHES=_cache_config(backend, LOCATION=str(tmp_path))):
        with pytest.raises(ConfigurationError, match="cannot claim atomically"):
            CacheDedupeStore().claim(["a"])
        caches.close_all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alias": ""},
        {"key_prefix": "has space"},
        {"key_prefix": "ctl\n"},
        {"key_prefix": "x" * 151},
        {"ttl": 0},
        {"ttl": timedelta(seconds=-1)},
    ],
)
def test_bad_configuration(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CacheDedupeStore(**kwargs)
