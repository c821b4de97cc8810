"""RedisDedupeStore's own features on a real redis-server: the format, a cluster, failures.

The behaviour every store shares runs in tests/reliability/test_store_protocol.py (Redis, a three-master
cluster, and both through redis.asyncio).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from descope_audit_hook import AsyncRedisDedupeStore, ConfigurationError, RedisDedupeStore, exactly_once
from descope_audit_hook.testing import sample_events
from tests.support.deliveries import batch_of
from tests.support.engines import redis_server
from tests.support.servers import free_port
from tests.support.stores import CLAIMED, COMPLETED, IN_PROGRESS

pytestmark = pytest.mark.server


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    try:
        yield client
    finally:
        client.close()


def test_one_key_per_event_with_its_state_and_expiry(client: redis.Redis) -> None:
    prefix = f"fmt-{uuid.uuid4().hex[:8]}:"
    store = RedisDedupeStore(client, ttl=600, lease=90, prefix=prefix)
    assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
    store.complete(["a"], "A")
    assert client.get(prefix + "a") == b"completed"
    assert client.get(prefix + "b") == b"in_progress:A"
    assert 590_000 < client.pttl(prefix + "a") <= 600_000
    assert 80_000 < client.pttl(prefix + "b") <= 90_000
    assert sorted(client.keys(prefix + "*")) == [(prefix + "a").encode(), (prefix + "b").encode()]
    assert repr(store) == f"RedisDedupeStore(prefix={prefix!r}, ttl=600s, lease=90s)"


def test_decoded_responses_work_too(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        store = RedisDedupeStore(client, prefix=f"dec-{uuid.uuid4().hex[:8]}:")
        assert store.claim(["a", "b"], "A") == [CLAIMED, CLAIMED]
        store.complete(["a"], "A")
        assert store.claim(["a", "b"], "B") == [COMPLETED, IN_PROGRESS]
    finally:
        client.close()


def test_the_wrong_client_is_a_configuration_error(client: redis.Redis) -> None:
    async_client = redis.asyncio.Redis()  # not connected: nothing to close
    with pytest.raises(ConfigurationError, match="use AsyncRedisDedupeStore"):
        RedisDedupeStore(async_client)
    with pytest.raises(ConfigurationError, match="use RedisDedupeStore"):
        AsyncRedisDedupeStore(client)
    with pytest.raises(ConfigurationError, match="redis-py client"):
        RedisDedupeStore(object())
    for prefix in ("has space", "x" * 151, 3):
        with pytest.raises(ConfigurationError, match="prefix"):
            RedisDedupeStore(client, prefix=prefix)  # type: ignore[arg-type]


def test_a_cluster_spreads_the_events_over_its_masters(redis_cluster_nodes: list[tuple[str, int]]) -> None:
    cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in redis_cluster_nodes])  # type: ignore[no-untyped-call]
    try:
        prefix = f"spread-{uuid.uuid4().hex[:8]}:"
        store = RedisDedupeStore(cluster, prefix=prefix)
        keys = [f"event-{i}" for i in range(60)]
        assert store.claim(keys, "A") == [CLAIMED] * 60  # one pipeline, split by node
        store.complete(keys, "A")
        per_node = []
        for host, port in redis_cluster_nodes:
            node = redis.Redis(host, port)
            per_node.append(len(node.keys(prefix + "*")))
            node.close()
        assert sum(per_node) == 60
        assert all(count > 0 for count in per_node), per_node
        assert store.claim(keys, "B") == [COMPLETED] * 60
    finally:
        cluster.close()


def test_a_claim_that_fails_midway_releases_what_it_set(client: redis.Redis, redis_url: str) -> None:
    # A real server refusing some of the SETs of one pipeline: the ACL lets this user touch
    # only keys starting with "<prefix>a", so the pipeline sets some keys and fails on others.
    prefix = f"acl-{uuid.uuid4().hex[:8]}:"
    user, password = f"limited-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=[f"{prefix}a*"], commands=["+set", "+get", "+del", "+eval"]
    )
    limited = redis.Redis.from_url(redis_url, username=user, password=password)
    try:
        store = RedisDedupeStore(limited, prefix=prefix)
        with pytest.raises(redis.ResponseError, match=r"permissions|NOPERM"):
            store.claim(["a1", "b1", "a2"], "A")
        # The SETs of a1 and a2 ran on the server; the failed claim released them.
        assert client.keys(prefix + "*") == []
        assert store.claim(["a1", "a2"], "B") == [CLAIMED, CLAIMED]
    finally:
        limited.close()
        client.acl_deluser(user)


def test_redis_down_fails_the_delivery_and_up_again_works(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    # No retries: redis-py's default retries a refused connection with a backoff of seconds.
    client = redis.Redis("127.0.0.1", port, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
    store = RedisDedupeStore(client, lease=60)
    first, second = batch_of(sample_events(2)), batch_of(sample_events(5)[2:])
    handled: list[str] = []
    try:
        with redis_server(port=port):
            with exactly_once(first, store) as new:
                handled += [e.fingerprint for e in new]
            # The server dies while a handler runs: its work is done, the completion fails.
            with exactly_once(second, store) as new:
                handled += [e.fingerprint for e in new]
                client.shutdown(nosave=True)  # redis-py expects the connection to drop
            assert "could not complete 3 dedupe claims" in caplog.text
        ran = False
        with pytest.raises(redis.ConnectionError), exactly_once(batch_of(sample_events(7)[5:]), store):
            ran = True  # Redis is down: the handler never runs
        assert not ran
        with redis_server(port=port):  # back, empty (no persistence): the same client reconnects
            with exactly_once(second, store) as new:
                # The records died with the server: the redelivery is handled again.
                assert len(new) == 3
            with exactly_once(second, store) as new:
                assert (len(new), new.duplicates) == (0, 3)
    finally:
        client.close()
    assert len(handled) == 5


def test_async_store_with_redis_down_raises_the_clients_error(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()

    async def main() -> None:
        client = redis.asyncio.Redis(
            host="127.0.0.1", port=port, socket_timeout=5, socket_connect_timeout=2, retry=AsyncRetry(NoBackoff(), 0)
        )
        store = AsyncRedisDedupeStore(client, lease=60)
        try:
            with redis_server(port=port):
                assert await store.claim(["a"], "A") == [CLAIMED]
            with pytest.raises(redis.ConnectionError):
                await store.claim(["b"], "B")
            with redis_server(port=port):
                assert await store.claim(["b"], "B") == [CLAIMED]
        finally:
            await client.aclose()

    with caplog.at_level(logging.WARNING):
        asyncio.run(main())
    assert "could not undo a failed claim" in caplog.text
