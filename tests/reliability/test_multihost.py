"""Exactly once across hosts and through a crash: three app servers sharing one Redis, then one PostgreSQL.

Three servers on loopback stand for three hosts behind a load balancer: two uvicorn
(FastAPI, the async store awaited on the event loop) and one gunicorn (Flask, two
workers, the sync store), all on one ``RedisDedupeStore``, then one
``PostgresDedupeStore`` (``tests/reliability/_multihost_app.py``). A bounded stream of
deliveries (one to four events each) is sent by concurrent clients; every delivery is
sent three times, to three different servers, at about the same moment. The clients act
like Descope: anything but a 2xx is delivered again (to whichever server), a 503 after a
short pause.

Midway, one server is drained (no new deliveries), then given a delivery whose handler
is slow on purpose on that server only; once its handler has recorded that it started,
the server's whole process group is SIGKILLed, mid-handler, and started again on the
same port. The delivery's other copies are answered 503 ``events_in_progress`` until
the dead request's lease (4 s here) expires; then one of them is handled.

Afterwards, from the handlers' own rows in PostgreSQL: every event was completed
exactly once (one completion each, none lost), the killed delivery's events were
started twice (on the killed server, and after the lease elsewhere) and every other
event once; every copy ended in a 2xx after its 503s were retried; no other 5xx
occurred (the clients' answers and the servers' access logs agree); the only requests
without an answer were the killed server's. The counts are printed (``pytest -s``).

Small for CI (60 events, one kill per store, some seconds each). Larger::

    MULTIHOST_SCALE=20 MULTIHOST_KILLS=3 .venv/bin/pytest tests/reliability/test_multihost.py -s

(1200 events and three kills, each on the next server in turn, per store.)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import random
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from descope_audit_hook import BearerToken, Verifier
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.paths import REPO
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.servers import Server, gunicorn_env, serve

pytestmark = pytest.mark.server

VERIFIER = Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
SCALE = max(1, int(os.environ.get("MULTIHOST_SCALE", "1")))
KILLS = max(1, int(os.environ.get("MULTIHOST_KILLS", "1")))
EVENTS = 60 * SCALE
COPIES = 3
CLIENTS = 6
LEASE = 4.0
SLOW_SECONDS = 120  # the handler sleeps this long on the server about to be killed: the kill lands mid-handler
MAX_ATTEMPTS = 400


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    fingerprints: tuple[str, ...]


def delivery(events: list[dict[str, Any]]) -> Delivery:
    body, headers = make_delivery(events, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    return Delivery(body, headers, tuple(event.fingerprint for event in VERIFIER.verify(body, headers)))


# --- the servers -----------------------------------------------------------------------------


@dataclass
class Instance:
    """One app server (a "host"); ``epoch`` counts its restarts, and names it in the rows: ``uvicorn-a#0``."""

    name: str
    kind: str  # "uvicorn" (FastAPI) or "gunicorn" (Flask)
    env: dict[str, str]
    port: int | None = None
    epoch: int = 0
    server: Server | None = None
    logs: list[str] = field(default_factory=list)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def label(self) -> str:
        return f"{self.name}#{self.epoch}"

    def argv(self) -> list[str]:
        if self.kind == "uvicorn":
            app = "tests.reliability._multihost_app:fastapi_app"
            return [sys.executable, "-m", "uvicorn", app, "--host", "{host}", "--port", "{port}", "--log-level", "info"]
        argv = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4", "-b", "{host}:{port}"]
        return [*argv, "--access-logfile", "-", "--graceful-timeout", "5", "tests.reliability._multihost_app:flask_app"]

    def start(self) -> None:
        env = {**self.env, "MH_SERVER": self.label}
        self.server = self._stack.enter_context(serve(self.argv(), env, REPO, ready_path="/health", port=self.port))
        self.port = self.server.port

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's workers too), keep its log, clean up."""
        assert self.server is not None
        os.killpg(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait(30)
        self.stop()
        self.epoch += 1

    def stop(self) -> None:
        if self.server is not None:
            self.logs.append(self.server.output())
        self._stack.close()
        self._stack = contextlib.ExitStack()
        self.server = None


class Cluster:
    """Routes requests like a load balancer: to any server not being drained; counts what is in flight."""

    def __init__(self, instances: list[Instance]) -> None:
        self.instances = {instance.name: instance for instance in instances}
        self.lock = threading.Lock()
        self.draining: set[str] = set()
        self.in_flight: Counter[str] = Counter()
        self.rng = random.Random(7)  # noqa: S311 - test routing

    def acquire(self, wanted: str | None, avoid: set[str], *, force: bool = False) -> Instance:
        """``wanted`` (unless it is being drained and not ``force``), else any other server not tried yet.

        While every server is being drained (one server, restarting), it waits.
        """
        while True:
            with self.lock:
                if wanted is None or (wanted in self.draining and not force):
                    names = [n for n in self.instances if n not in self.draining]
                    fresh = [n for n in names if n not in avoid]
                    wanted = self.rng.choice(fresh or names) if names else None
                if wanted is not None:
                    self.in_flight[wanted] += 1
                    return self.instances[wanted]
            time.sleep(0.05)

    def release(self, name: str) -> None:
        with self.lock:
            self.in_flight[name] -= 1


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)  # (server label, status)
    retried: Counter[str] = field(default_factory=Counter)  # 503 codes
    unanswered: list[str] = field(default_factory=list)  # server labels
    unexpected: list[tuple[str, int, str]] = field(default_factory=list)
    unfinished: list[tuple[str, ...]] = field(default_factory=list)

    def note(self, **kwargs: Any) -> None:
        with self.lock:
            for name, value in kwargs.items():
                target = getattr(self, name)
                if isinstance(target, Counter):
                    target[value] += 1
                else:
                    target.append(value)


def post(instance: Instance, item: Delivery) -> tuple[int, dict[str, str], dict[str, Any]]:
    assert instance.port is not None
    conn = http.client.HTTPConnection("127.0.0.1", instance.port, timeout=SLOW_SECONDS + 30)
    try:
        conn.request("POST", "/hook", body=item.body, headers={**item.headers, "Connection": "close"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    headers = {key.lower(): value for key, value in response.getheaders()}
    return response.status, headers, json.loads(data) if data else {}


def deliver(cluster: Cluster, item: Delivery, first: str | None, stats: Stats, *, force: bool = False) -> None:
    """Send ``item`` until a server answers 2xx, as Descope would: a 503 is retried after a short pause."""
    wanted, tried = first, set[str]()
    for attempt in range(MAX_ATTEMPTS):
        instance = cluster.acquire(wanted, tried, force=force and attempt == 0)
        label = instance.label
        tried.add(instance.name)
        try:
            status, headers, answer = post(instance, item)
        except (OSError, http.client.HTTPException):
            stats.note(unanswered=label)  # only the killed server may leave a request unanswered
            wanted = None
            continue
        finally:
            cluster.release(instance.name)
        stats.note(answers=(label, status))
        if 200 <= status < 300:
            return
        if status != 503:
            stats.note(unexpected=(label, status, str(answer.get("error"))))
            return
        stats.note(retried=str(answer.get("error")))
        time.sleep(min(float(headers.get("retry-after", "1")), 0.2))  # a hint: Descope's own backoff decides
        wanted = None
    stats.note(unfinished=item.fingerprints)


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Tables:
    dsn: str
    tag: str

    def create(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE mh_starts_{self.tag} (fingerprint text NOT NULL, server text NOT NULL, "
                "pid int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
            conn.execute(
                f"CREATE TABLE mh_done_{self.tag} (fingerprint text PRIMARY KEY, times int NOT NULL, "
                "server text NOT NULL, pid int NOT NULL)"
            )

    def starts(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(f"SELECT fingerprint, server FROM mh_starts_{self.tag}").fetchall()  # noqa: S608

    def done(self) -> dict[str, tuple[int, str]]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(f"SELECT fingerprint, times, server FROM mh_done_{self.tag}").fetchall()  # noqa: S608
        return {fingerprint: (times, server) for fingerprint, times, server in rows}


def build_stream(seed: int) -> list[Delivery]:
    rng = random.Random(seed)  # noqa: S311 - test data
    events = sample_events(EVENTS, seed=seed)
    deliveries = []
    while events:
        size = rng.randint(1, 4)
        deliveries.append(delivery(events[:size]))
        events = events[size:]
    rng.shuffle(deliveries)
    return deliveries


def slow_delivery(victim: Instance, seed: int) -> Delivery:
    """A slow event (slow only on this epoch of ``victim``) and an ordinary one, in one delivery."""
    slow, plain = sample_events(2, seed=seed)
    slow["data"] = {"slow": SLOW_SECONDS, "slow_on": victim.label, "note": "the kill lands in this handler"}
    return delivery([slow, plain])


def crash(
    cluster: Cluster, victim: Instance, item: Delivery, tables: Tables, stats: Stats, killed: list[str]
) -> list[threading.Thread]:
    """Kill ``victim`` while it handles ``item``, start it again; the threads still delivering ``item``."""
    with cluster.lock:
        cluster.draining.add(victim.name)
    deadline = time.monotonic() + 60
    while cluster.in_flight[victim.name] and time.monotonic() < deadline:
        time.sleep(0.01)  # no request of the stream is left on it: only the slow one will be killed
    assert cluster.in_flight[victim.name] == 0, "the drained server kept requests in flight"
    label = victim.label
    on_victim = threading.Thread(target=deliver, args=(cluster, item, victim.name, stats), kwargs={"force": True})
    on_victim.start()
    while not set(item.fingerprints) <= {fp for fp, server in tables.starts() if server == label}:
        assert time.monotonic() < deadline, "the slow handler never started"
        time.sleep(0.02)
    others = [n for n in cluster.instances if n != victim.name]
    copies = [threading.Thread(target=deliver, args=(cluster, item, name, stats)) for name in others]
    for thread in copies:
        thread.start()  # answered 503 events_in_progress: the victim's lease holds the events
    killed.append(label)
    victim.kill()
    victim.start()
    with cluster.lock:
        cluster.draining.discard(victim.name)
    return [on_victim, *copies]


def run(instances: list[Instance], tables: Tables, seed: int) -> dict[str, Any]:
    cluster = Cluster(instances)
    stats = Stats()
    stream = build_stream(seed)
    victims = [instances[(i + seed) % len(instances)] for i in range(KILLS)]
    slow = [slow_delivery(victim, seed * 100 + i) for i, victim in enumerate(victims)]
    work: queue.Queue[tuple[Delivery, str]] = queue.Queue()
    names = list(cluster.instances)
    for index, item in enumerate(stream):
        for copy in range(COPIES):  # side by side in the queue: taken by different clients at once
            work.put((item, names[(index + copy) % len(names)]))
    total = work.qsize()

    def client() -> None:
        while True:
            try:
                item, first = work.get_nowait()
            except queue.Empty:
                return
            deliver(cluster, item, first, stats)

    clients = [threading.Thread(target=client, name=f"client-{i}") for i in range(CLIENTS)]
    for thread in clients:
        thread.start()
    pending: list[threading.Thread] = []
    killed: list[str] = []
    for number, (victim, item) in enumerate(zip(victims, slow, strict=True), start=1):
        while work.qsize() > total * (1 - number / (KILLS + 1)) and any(t.is_alive() for t in clients):
            time.sleep(0.01)
        pending += crash(cluster, victim, item, tables, stats, killed)
    for thread in clients + pending:
        thread.join(SLOW_SECONDS + 60)
        assert not thread.is_alive(), "a client hung"
    return {"stats": stats, "stream": stream, "slow": slow, "killed": killed}


@pytest.fixture
def tables(postgres_dsn: str) -> Tables:
    made = Tables(postgres_dsn, uuid.uuid4().hex[:10])
    made.create()
    return made


@contextlib.contextmanager
def servers(store: str, tables: Tables, redis_url: str) -> Iterator[list[Instance]]:
    env = {
        **gunicorn_env(),
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_TOKEN": BEARER_TOKEN,
        "MH_STORE": store,
        "MH_DSN": tables.dsn,
        "MH_REDIS_URL": redis_url,
        "MH_TAG": tables.tag,
        "MH_LEASE": str(LEASE),
    }
    instances = [
        Instance("uvicorn-a", "uvicorn", env),
        Instance("gunicorn", "gunicorn", env),
        Instance("uvicorn-b", "uvicorn", env),
    ]
    try:
        for instance in instances:
            instance.start()
        yield instances
    finally:
        for instance in instances:
            instance.stop()


@pytest.mark.parametrize("store", ["redis", "postgres"])
def test_three_servers_one_store_a_kill_mid_handler(store: str, tables: Tables, redis_url: str) -> None:
    seed = 1 if store == "redis" else 2  # the first victim: gunicorn (Flask) with Redis, uvicorn-b with PostgreSQL
    with servers(store, tables, redis_url) as instances:
        outcome = run(instances, tables, seed)
    stats: Stats = outcome["stats"]
    stream: list[Delivery] = outcome["stream"]
    slow: list[Delivery] = outcome["slow"]
    everything = {fp for item in [*stream, *slow] for fp in item.fingerprints}
    restarted = {fp for item in slow for fp in item.fingerprints}

    assert stats.unfinished == [], "a delivery never got its 2xx"
    assert stats.unexpected == [], "an answer other than 2xx or 503"
    statuses: Counter[int] = Counter()
    for (_, status), count in stats.answers.items():
        statuses[status] += count
    assert set(statuses) <= {200, 503}
    assert sorted(stats.unanswered) == sorted(outcome["killed"]), "only the killed requests went unanswered"

    done = tables.done()
    assert set(done) == everything, "an event was never completed (or something else was)"
    twice = {fp[:12]: times for fp, (times, _) in done.items() if times != 1}
    assert twice == {}, "an event was completed more than once"
    started = Counter(fp for fp, _ in tables.starts())
    assert {fp for fp, count in started.items() if count != 1} == restarted
    assert all(started[fp] == 2 for fp in restarted)

    logged: Counter[str] = Counter()
    for instance in instances:
        for log in instance.logs:
            logged.update(re.findall(r'"POST /hook HTTP/1\.[01]" (\d{3})', log))
    assert set(logged) <= {"200", "503"}, f"the servers logged other answers: {logged}"
    assert logged["503"] == statuses[503]

    completed_by = Counter(server for _, server in done.values())
    print(
        f"\nmultihost[{store}]: {len(everything)} events in {len(stream) + len(slow)} deliveries, each sent "
        f"{COPIES} times to different servers; {sum(statuses.values())} answers {dict(statuses)}; 503 retried "
        f"{dict(stats.retried)}; {len(stats.unanswered)} killed mid-handler on {sorted(set(stats.unanswered))}; "
        f"{sum(started.values())} handler starts, {len(restarted)} events started again after the crash; "
        f"{len(done)} events completed exactly once, by {dict(sorted(completed_by.items()))}"
    )


def test_one_host_a_server_killed_mid_handler_and_its_events_handled_after_the_lease(
    tables: Tables, tmp_path: Path
) -> None:
    # One host, one SQLite claims file: the crash case on its own, step by step.
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_TOKEN": BEARER_TOKEN,
        "MH_STORE": "sqlite",
        "MH_SQLITE": str(tmp_path / "claims.db"),
        "MH_DSN": tables.dsn,
        "MH_TAG": tables.tag,
        "MH_LEASE": str(LEASE),
    }
    server = Instance("uvicorn", "uvicorn", env)
    cluster = Cluster([server])
    stats = Stats()
    server.start()
    try:
        item = slow_delivery(server, 3)
        victim = server.label
        killed: list[str] = []
        [on_victim] = crash(cluster, server, item, tables, stats, killed)  # no other server: no other copies
        on_victim.join(SLOW_SECONDS + 60)
        # The request that died got no answer, and its retries met the dead request's lease:
        # 503 until it expired, then handled by the restarted server.
        assert stats.unanswered == [victim]
        assert stats.retried["events_in_progress"] >= 1
        assert stats.answers[(server.label, 200)] == 1
        status, _, answer = post(server, item)
        assert (status, answer) == (200, {"handled": 0, "duplicates": 2, "in_progress": 0})
    finally:
        server.stop()
    assert sorted(server for _, server in tables.starts()) == sorted([victim, victim, server.label, server.label])
    assert {times for times, _ in tables.done().values()} == {1}
    assert len(tables.done()) == 2
