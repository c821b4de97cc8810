"""Dedupe stores on Redis (or Valkey), over a client the user created: redis-py ``Redis``/``RedisCluster``.

Nothing here imports redis: the stores call the client's ``pipeline()`` and nothing
else. One Redis key per event, ``prefix + fingerprint``, so the store works on a
cluster: no command or script ever touches two events' keys.

- in progress: the value ``in_progress:<owner>``, expiring ``lease`` after the claim;
- completed: the value ``completed``, expiring ``ttl`` after the completion.

A claim is ``SET key in_progress:<owner> NX PX lease`` per key, pipelined; the keys it
did not set are read (``GET``) to tell completed from in progress, and a key that
vanished in between (its lease expired, it was released) is claimed again. Complete and
release are a small Lua script per key that checks the owner before it writes
(compare-and-set, compare-and-delete). Pipelines are not transactions (``MULTI``), so
they work on a cluster; each command is atomic on its own, which is all a claim needs.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

from ._dedupe import (
    CLAIM_ROUNDS,
    COMPLETED_VALUE,
    DEFAULT_DEDUPE_LEASE,
    DEFAULT_DEDUPE_TTL,
    IN_PROGRESS_VALUE,
    ClaimState,
    LeasedStore,
    TTLArg,
    check_keys,
    check_owner,
    check_prefix,
)
from ._errors import ConfigurationError

__all__ = ["AsyncRedisDedupeStore", "RedisDedupeStore"]

logger = logging.getLogger("descope_audit_hook")

T = TypeVar("T")


# KEYS[1]: the event's key; ARGV[1]: "in_progress:<owner>"; ARGV[2]: "completed"; ARGV[3]: ttl in ms.
_COMPLETE_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
# KEYS[1]: the event's key; ARGV[1]: "in_progress:<owner>".
_RELEASE_SCRIPT = """\
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

Command = tuple[Any, ...]
# A store operation as a generator: yields the commands of one pipeline, is sent their
# replies, returns its result. The sync and async stores only run the pipelines.
Steps = Generator[list[Command], list[Any], T]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _RedisStore(LeasedStore):
    """The key and value format and the steps of each operation, shared by the sync and async stores."""

    __slots__ = ("_client", "_lease_ms", "_ttl_ms", "prefix")
    _async = False

    def __init__(
        self,
        client: Any,
        *,
        ttl: TTLArg = DEFAULT_DEDUPE_TTL,
        lease: TTLArg = DEFAULT_DEDUPE_LEASE,
        prefix: str = "descope-audit:",
    ) -> None:
        super().__init__(ttl, lease)
        self.prefix = check_prefix(prefix)
        if not callable(getattr(client, "pipeline", None)) or not callable(getattr(client, "execute_command", None)):
            raise ConfigurationError(f"{type(self).__name__} takes a redis-py client (Redis or RedisCluster)")
        if inspect.iscoroutinefunction(client.execute_command) != self._async:
            other = "RedisDedupeStore" if self._async else "AsyncRedisDedupeStore"
            kind = "a sync" if self._async else "an asyncio"
            raise ConfigurationError(f"{type(self).__name__} was given {kind} Redis client; use {other}")
        self._client = client
        # Whole milliseconds, rounded up: a lease is never shorter than asked.
        self._lease_ms = max(1, math.ceil(self.lease * 1000))
        self._ttl_ms = max(1, math.ceil(self.ttl * 1000))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.prefix!r}, ttl={self.ttl:g}s, lease={self.lease:g}s)"

    def _claim_steps(self, keys: list[str], owner: str) -> Steps[list[ClaimState]]:
        states: dict[str, ClaimState] = {}
        value = IN_PROGRESS_VALUE + owner
        pending = keys
        for _ in range(CLAIM_ROUNDS):
            replies = yield [("SET", self.prefix + key, value, "PX", self._lease_ms, "NX") for key in pending]
            taken = []
            for key, reply in zip(pending, replies, strict=True):
                if reply:  # True (redis-py's reading of "OK"); None when the key exists
                    states[key] = ClaimState.CLAIMED
                else:
                    taken.append(key)
            pending = []
            if not taken:
                break
            values = yield [("GET", self.prefix + key) for key in taken]
            for key, found in zip(taken, values, strict=True):
                text = _text(found)
                if text is None:
                    pending.append(key)  # gone since the SET: claimable again
                else:
                    states[key] = ClaimState.COMPLETED if text == COMPLETED_VALUE else ClaimState.IN_PROGRESS
            if not pending:
                break
        for key in pending:
            # Someone keeps claiming and releasing it: held, as far as this call can tell.
            states[key] = ClaimState.IN_PROGRESS
        return [states[key] for key in keys]

    def _complete_steps(self, keys: list[str], owner: str) -> Steps[int]:
        script, value = _COMPLETE_SCRIPT, IN_PROGRESS_VALUE + owner
        replies = yield [("EVAL", script, 1, self.prefix + key, value, COMPLETED_VALUE, self._ttl_ms) for key in keys]
        return sum(1 for reply in replies if reply == 1)

    def _release_steps(self, keys: list[str], owner: str) -> Steps[int]:
        script, value = _RELEASE_SCRIPT, IN_PROGRESS_VALUE + owner
        replies = yield [("EVAL", script, 1, self.prefix + key, value) for key in keys]
        return sum(1 for reply in replies if reply == 1)


def _undo_failed(store: str, error: Exception) -> None:
    logger.warning(
        "descope_audit_hook: %s could not undo a failed claim (%s); its leases expire on their own",
        store,
        type(error).__name__,
    )


class RedisDedupeStore(_RedisStore):
    """Records in Redis or Valkey, through a redis-py ``Redis`` or ``RedisCluster`` client of yours.

    Reaches every app server that shares the Redis: the store for several hosts. The
    client is used as it is (its pool, timeouts, TLS, retries): give it a
    ``socket_timeout``, or a request may wait on a dead server for as long as the OS
    does. Any error of the client propagates (``redis.ConnectionError``,
    ``redis.TimeoutError``...); a claim that fails midway first tries to release what
    it set, and whatever it could not release expires with the lease.
    """

    __slots__ = ()

    def _run(self, steps: Steps[T]) -> T:
        try:
            commands = next(steps)
            while True:
                with self._client.pipeline(transaction=False) as pipe:
                    for command in commands:
                        pipe.execute_command(*command)
                    replies = pipe.execute()
                commands = steps.send(replies)
        except StopIteration as done:
            result: T = done.value
            return result

    def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return []
        try:
            return self._run(self._claim_steps(checked, owner))
        except BaseException:
            try:
                self._run(self._release_steps(checked, owner))
            except Exception as error:
                _undo_failed(type(self).__name__, error)
            raise

    def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            self._lost(len(checked) - self._run(self._complete_steps(checked, owner)))

    def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            self._run(self._release_steps(checked, owner))


class AsyncRedisDedupeStore(_RedisStore):
    """:class:`RedisDedupeStore` for a ``redis.asyncio`` client (``Redis`` or ``RedisCluster``): coroutine methods."""

    __slots__ = ()
    _async = True

    async def _run(self, steps: Steps[T]) -> T:
        try:
            commands = next(steps)
            while True:
                async with self._client.pipeline(transaction=False) as pipe:
                    for command in commands:
                        pipe.execute_command(*command)
                    replies = await pipe.execute()
                commands = steps.send(replies)
        except StopIteration as done:
            result: T = done.value
            return result

    async def claim(self, keys: Sequence[str], owner: str) -> list[ClaimState]:
        checked, owner = check_keys(keys), check_owner(owner)
        if not checked:
            return []
        try:
            return await self._run(self._claim_steps(checked, owner))
        except BaseException:
            try:
                await self._run(self._release_steps(checked, owner))
            except Exception as error:
                _undo_failed(type(self).__name__, error)
            raise

    async def complete(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            self._lost(len(checked) - await self._run(self._complete_steps(checked, owner)))

    async def release(self, keys: Sequence[str], owner: str) -> None:
        checked, owner = check_keys(keys), check_owner(owner)
        if checked:
            await self._run(self._release_steps(checked, owner))
