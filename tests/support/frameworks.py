"""The frameworks as the tests set them up: Django configured once per process, its caches; Starlette's test client."""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from typing import Any, ClassVar

import redis

__all__ = [
    "LOCMEM_BACKEND",
    "POOL_OPTIONS",
    "REDIS_BACKEND",
    "TrackedPool",
    "ensure_django",
    "starlette_test_client",
    "use_caches",
]

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
LOCMEM_BACKEND = "django.core.cache.backends.locmem.LocMemCache"


def ensure_django() -> None:
    """Configure Django once per process (another test module may have done it) and set it up."""
    import django
    from django.apps import apps
    from django.conf import settings

    if not settings.configured:
        # Overridden per test; the SECRET_KEY cannot be (override_settings re-reads it on exit).
        settings.configure(SECRET_KEY="adapter-tests-not-a-secret")
    if not apps.ready:
        django.setup()


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


#: ``OPTIONS`` of a RedisCache whose pools the tests close.
POOL_OPTIONS = {"pool_class": f"{TrackedPool.__module__}.TrackedPool"}


def use_caches(stack: ExitStack, config: dict[str, dict[str, Any]]) -> None:
    """Configure Django once per process and override ``CACHES`` until ``stack`` closes."""
    ensure_django()
    from django.core.cache import caches
    from django.test import override_settings

    def close() -> None:
        caches.close_all()
        TrackedPool.disconnect_all()

    stack.enter_context(override_settings(CACHES=config))
    stack.callback(close)


def starlette_test_client() -> Any:
    """``starlette.testclient.TestClient`` (the class), imported without Starlette 1.x's note about httpx."""
    # Starlette 1.x warns, once, at import, that it prefers the httpx2 fork; httpx still works.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    return TestClient
