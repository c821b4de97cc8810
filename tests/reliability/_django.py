"""Django caches for the store tests: a local-memory one, and RedisCache on the session's redis-server."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any, ClassVar

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from descope_audit_hook.django import CacheDedupeStore
from tests.adapters._harness import ensure_django

from ._stores import LEASE, TTL, Kit

__all__ = ["REDIS_BACKEND", "TrackedPool", "cache_kit", "use_caches"]

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
LOCMEM_BACKEND = "django.core.cache.backends.locmem.LocMemCache"


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


POOL_OPTIONS = {"pool_class": f"{TrackedPool.__module__}.TrackedPool"}


def use_caches(stack: ExitStack, config: dict[str, dict[str, Any]]) -> None:
    """Configure Django once per process and override ``CACHES`` until ``stack`` closes."""
    ensure_django()

    def close() -> None:
        caches.close_all()
        TrackedPool.disconnect_all()

    stack.enter_context(override_settings(CACHES=config))
    stack.callback(close)


def cache_kit(kind: str, request: pytest.FixtureRequest, stack: ExitStack) -> Kit:
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
        return CacheDedupeStore(alias, key_prefix=prefix, **({"lease": LEASE, "ttl": TTL} | kw))

    return Kit(kind, make)
