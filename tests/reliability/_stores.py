"""Every dedupe store, built the same way for the shared behaviour suite (test_store_protocol.py).

A :class:`Kit` makes stores of one kind that share their records (as separate workers
or hosts would), says how time passes for them (an injected clock, or real time with
short leases), and how a child process builds the same store (:func:`build_store`, for
the process races). Async stores are driven through :class:`SyncFacade`, so that the
same tests run against them on a real event loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import redis
import redis.asyncio
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.cluster import ClusterNode, RedisCluster

from descope_audit_hook import (
    AsyncPostgresDedupeStore,
    AsyncRedisDedupeStore,
    ClaimState,
    DedupeStore,
    MemoryDedupeStore,
    PostgresDedupeStore,
    RedisDedupeStore,
    SQLiteDedupeStore,
)
from tests.support.frameworks import LOCMEM_BACKEND, POOL_OPTIONS, REDIS_BACKEND, use_caches
from tests.support.stores import FakeClock

__all__ = [
    "ASYNC_KINDS",
    "KINDS",
    "SHARED_KINDS",
    "Kit",
    "StoreSpec",
    "SyncFacade",
    "build_store",
    "kit_for",
]

T = TypeVar("T")

KINDS = [
    "memory",
    "sqlite",
    "django-locmem",
    "django-redis",
    "redis",
    "redis-cluster",
    "async-redis",
    "async-redis-cluster",
    "postgres",
    "async-postgres",
]
ASYNC_KINDS = [kind for kind in KINDS if kind.startswith("async-")]
# Kinds whose records are shared by separate store objects (and so processes).
SHARED_KINDS = [kind for kind in KINDS if kind not in ("memory", "django-locmem")]
# Real time, short leases: long enough for a call to finish, short enough to wait for.
LEASE = 0.4
TTL = 0.8


class SyncFacade:
    """An async store driven from sync code, on one event loop (the one its client belongs to)."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.ttl, self.lease = store.ttl, store.lease

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        return self._run(self.store.claim(keys, owner))

    def complete(self, keys: Sequence[str], owner: str) -> None:
        self._run(self.store.complete(keys, owner))

    def release(self, keys: Sequence[str], owner: str) -> None:
        self._run(self.store.release(keys, owner))


StoreSpec = tuple[str, str, dict[str, Any]]  # (kind, address, store keyword arguments): picklable


def build_store(spec: StoreSpec) -> tuple[DedupeStore, Callable[[], None]]:
    """A sync store from a spec (in a child process), and how to close it."""
    kind, address, kwargs = spec
    if kind == "sqlite":
        sqlite_store = SQLiteDedupeStore(address, timeout=60, **kwargs)
        return sqlite_store, sqlite_store.close
    if kind == "redis":
        client = redis.Redis.from_url(address, socket_timeout=30)
        return RedisDedupeStore(client, **kwargs), client.close
    if kind == "postgres":
        return PostgresDedupeStore(functools.partial(psycopg.connect, address), **kwargs), lambda: None
    raise ValueError(kind)


@dataclass
class Kit:
    """Makes stores of one kind; all stores made by one kit share their records (except memory ones)."""

    kind: str
    make: Callable[..., DedupeStore]
    clock: FakeClock | None = None
    spec: StoreSpec | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def wait_until(self, condition: Callable[[], bool], *, step: float = 0.05, timeout: float = 30.0) -> None:
        """Let time pass (the fake clock, or real time) until ``condition()`` holds; never a timing assertion."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"{self.kind}: condition not reached within {timeout:.0f}s")
            if self.clock is not None:
                self.clock.now += step
            else:
                time.sleep(step)


def _unique() -> str:
    return "t" + uuid.uuid4().hex[:12]


def kit_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path, stack: ExitStack) -> Kit:
    """The kit of ``kind``; the engines' session fixtures are looked up only when needed."""
    if kind == "memory":
        clock = FakeClock()
        return Kit(kind, lambda **kw: MemoryDedupeStore(clock=clock, **kw), clock)
    if kind == "sqlite":
        clock = FakeClock()
        path = tmp_path / "claims.db"

        def make_sqlite(**kw: Any) -> DedupeStore:
            store = SQLiteDedupeStore(path, clock=clock, **kw)
            stack.callback(store.close)
            return store

        return Kit(kind, make_sqlite, clock, ("sqlite", str(path), {}))
    if kind.startswith("django-"):
        return _cache_kit(kind, request, stack)
    prefix = _unique() + ":"
    if kind.startswith(("redis", "async-redis")):
        return _redis_kit(kind, request, stack, prefix)
    if kind.endswith("postgres"):
        dsn: str = request.getfixturevalue("postgres_dsn")
        table = _unique()
        if kind == "postgres":
            return Kit(
                kind,
                lambda **kw: PostgresDedupeStore(
                    functools.partial(psycopg.connect, dsn), table=table, create_table=True, **_real(kw)
                ),
                spec=("postgres", dsn, {"table": table, "create_table": True}),
            )
        loop = _loop(stack)
        return Kit(
            kind,
            lambda **kw: SyncFacade(
                AsyncPostgresDedupeStore(
                    functools.partial(psycopg.AsyncConnection.connect, dsn), table=table, create_table=True, **_real(kw)
                ),
                loop,
            ),
        )
    raise ValueError(kind)


def _real(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Real-time stores: the short lease and ttl unless the test says otherwise."""
    return {"lease": LEASE, "ttl": TTL} | kwargs


def _loop(stack: ExitStack) -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    stack.callback(loop.close)
    return loop


def _redis_kit(kind: str, request: pytest.FixtureRequest, stack: ExitStack, prefix: str) -> Kit:
    cluster = kind.endswith("cluster")
    if cluster:
        nodes: list[tuple[str, int]] = request.getfixturevalue("redis_cluster_nodes")
    else:
        url: str = request.getfixturevalue("redis_url")
    if not kind.startswith("async-"):
        client: Any = (
            RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes], socket_timeout=30)  # type: ignore[no-untyped-call]
            if cluster
            else redis.Redis.from_url(url, socket_timeout=30)
        )
        stack.callback(client.close)
        spec: StoreSpec | None = None if cluster else ("redis", url, {"prefix": prefix})
        return Kit(kind, lambda **kw: RedisDedupeStore(client, prefix=prefix, **_real(kw)), spec=spec)
    loop = _loop(stack)

    async def connect() -> Any:
        if cluster:
            return redis.asyncio.RedisCluster(
                startup_nodes=[AsyncClusterNode(h, p) for h, p in nodes], socket_timeout=30
            )
        return redis.asyncio.Redis.from_url(url, socket_timeout=30)

    async_client = loop.run_until_complete(connect())
    stack.callback(lambda: loop.run_until_complete(async_client.aclose()))
    return Kit(
        kind,
        lambda **kw: SyncFacade(AsyncRedisDedupeStore(async_client, prefix=prefix, **_real(kw)), loop),
    )


def _cache_kit(kind: str, request: pytest.FixtureRequest, stack: ExitStack) -> Kit:
    from descope_audit_hook.django import CacheDedupeStore

    if kind == "django-redis":
        url: str = request.getfixturevalue("redis_url")
        location = {"BACKEND": REDIS_BACKEND, "LOCATION": url, "OPTIONS": POOL_OPTIONS}
        # Two aliases on one Redis, as two app servers sharing the cache would have.
        config = {"default": location, "other": location}
    else:
        config = {"default": {"BACKEND": LOCMEM_BACKEND, "LOCATION": uuid.uuid4().hex}}
    use_caches(stack, config)
    prefix = "t" + uuid.uuid4().hex[:12] + ":"
    aliases = list(config)
    made = [0]

    def make(**kw: Any) -> CacheDedupeStore:
        alias = aliases[made[0] % len(aliases)]
        made[0] += 1
        return CacheDedupeStore(alias, key_prefix=prefix, **_real(kw))

    return Kit(kind, make)
