"""Load and faults on real servers: uvicorn (FastAPI) and gunicorn (Flask) on loopback, side by side.

A bounded, shuffled stream of valid, duplicate (resent and re-batched), forged,
malformed, oversize, wrong-method and truncated deliveries is sent by concurrent
client threads to both servers at random; both share one SQLite claims file. A
delivery whose events another request is still handling is answered 503 (Retry-After):
the client sends it again, as Descope does, until it gets its 200. After the stream:
every valid event reached a handler exactly once (counted in the apps' own SQLite
record), every bad delivery got its status and error code, no answer and no access-log
line was a 5xx other than those 503s, and the servers' resident memory stayed within a
generous bound. The counts are printed (``pytest -s``). Small enough for CI: a few seconds;
``LOAD_TEST_SCALE=20 .venv/bin/pytest tests/reliability/test_load.py -s`` sends twenty
times as much.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import re
import socket
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import psutil
import pytest

from descope_audit_hook import BearerToken, Verifier
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.paths import REPO
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.servers import Server, gunicorn_env, serve

from ._scenarios import run_threads

pytestmark = pytest.mark.server

LIMIT = 65_536
CLIENTS = 8
MEMORY_GROWTH_BOUND = 50 * 1024 * 1024
SCALE = max(1, int(os.environ.get("LOAD_TEST_SCALE", "1")))
FORMS = ("raw", "trimmed", "compact", "compact-escaped")


@dataclass(frozen=True)
class Shot:
    """One request of the stream and what it must get back (``status=None``: no answer expected)."""

    kind: str
    body: bytes
    headers: dict[str, str]
    status: int | None
    code: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Result:
    shot: Shot
    server: str
    status: int | None
    payload: dict[str, object]
    failure: str | None = None
    #: 503 answers (events in progress elsewhere) before this one, each followed by a retry.
    retried: int = 0


def _valid(events: list[dict[str, object]], rng: random.Random) -> tuple[bytes, dict[str, str]]:
    form = FORMS[rng.randrange(len(FORMS))]
    return make_delivery(events, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), signed_form=form)  # type: ignore[arg-type]


def build_stream(seed: int = 5) -> tuple[list[Shot], list[Shot], set[str]]:
    """(warm-up shots, main shots, fingerprints of every valid event)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    events = sample_events(300 * SCALE, seed=seed)
    batches: list[list[dict[str, object]]] = []
    while events:
        size = rng.randint(1, 6)
        batches.append(events[:size])
        events = events[size:]
    verifier = Verifier(HMAC_SECRET, auth=BearerToken(BEARER_TOKEN), max_body_bytes=LIMIT)
    fingerprints: set[str] = set()
    shots: list[Shot] = []
    for batch in batches:
        body, headers = _valid(batch, rng)
        fingerprints.update(e.fingerprint for e in verifier.verify(body, headers))
        shots.append(Shot("valid", body, headers, 200))
        for _ in range(rng.choice((1, 1, 2))):  # the same delivery again, maybe in another signed form
            shots.append(Shot("duplicate", *_valid(batch, rng), 200))
        if rng.random() < 0.4:  # cut off mid-body: the sender will retry, the server must shrug
            shots.append(Shot("truncated", body, headers, None))
    for _ in range(20 * SCALE):  # re-batched: halves of two earlier deliveries in one new one
        first, second = rng.sample(batches, 2)
        shots.append(Shot("rebatched", *_valid(first[: len(first) // 2 + 1] + second[len(second) // 2 :], rng), 200))
    good_body, good_headers = _valid(batches[0], rng)
    for index in range(20 * SCALE):
        forged = dict(good_headers)
        forged["x-descope-webhook-s256"] = make_delivery(
            batches[index % len(batches)], hmac_secret="not-the-secret", auth=BearerToken(BEARER_TOKEN)
        ).headers["x-descope-webhook-s256"]
        shots.append(Shot("forged_signature", good_body, forged, 401, "invalid_signature"))
    for _ in range(10 * SCALE):
        shots.append(Shot("forged_token", good_body, {**good_headers, "Authorization": "Bearer guess"}, 401))
    for _ in range(6 * SCALE):
        headers = {k: v for k, v in good_headers.items() if k != "Authorization"}
        shots.append(Shot("missing_auth", good_body, headers, 401, "missing_credentials"))
    for index in range(12 * SCALE):
        bad = [b'[{"action": "LoginFailed", ', b"\xff\xfe[]", b"[1,]", b'[{"a":1,"a":2}]'][index % 4]
        body, headers = make_delivery(bad, hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
        shots.append(Shot("malformed", body, headers, 400))
    for _ in range(6 * SCALE):
        body, headers = make_delivery(b'[{"occurred": 1}]', hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
        shots.append(Shot("not_an_event", body, headers, 400, "invalid_payload"))
    big = sample_events(1, seed=seed)[0] | {"data": {"blob": "x" * (LIMIT + 1024)}}
    big_body, big_headers = make_delivery([big], hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    for _ in range(8 * SCALE):
        shots.append(Shot("oversize", big_body, big_headers, 413, "payload_too_large"))
    for _ in range(6 * SCALE):
        shots.append(Shot("wrong_method", b"", dict(good_headers), 405, "method_not_allowed", method="GET"))
    rng.shuffle(shots)
    # A warm-up of every kind, before the memory baseline: imports, caches and pools settle.
    return shots[:60], shots[60:], fingerprints


RETRIES = 200


def _send(shot: Shot, server: Server, name: str) -> Result:
    """The shot's answer; a 503 ``events_in_progress`` is retried shortly (Retry-After is a hint)."""
    for retried in range(RETRIES):
        result = _send_once(shot, server, name)
        if result.status != 503 or result.payload.get("error") != "events_in_progress":
            return replace(result, retried=retried)
        time.sleep(0.02)
    return replace(result, failure=f"still 503 after {RETRIES} retries", retried=RETRIES)


def _send_once(shot: Shot, server: Server, name: str) -> Result:
    if shot.status is None:
        return _truncate(shot, server, name)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        headers = {**shot.headers, "Connection": "close"}
        conn.request(shot.method, "/hook", body=shot.body if shot.method == "POST" else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return Result(shot, name, None, {}, f"{type(exc).__name__}")
    finally:
        conn.close()
    try:
        payload = json.loads(data)
    except ValueError:
        payload = {"unparsed": data[:200].decode("latin-1")}
    return Result(shot, name, response.status, payload if isinstance(payload, dict) else {"json": payload})


def _truncate(shot: Shot, server: Server, name: str) -> Result:
    """Headers with the full Content-Length, half the body, then close: a client that went away."""
    head = ["POST /hook HTTP/1.1", f"Host: {server.host}:{server.port}", f"Content-Length: {len(shot.body)}"]
    head += [f"{key}: {value}" for key, value in shot.headers.items()]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + shot.body[: len(shot.body) // 2]
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(raw)
    return Result(shot, name, None, {})


def _run(shots: list[Shot], servers: dict[str, Server], seed: int) -> list[Result]:
    work: queue.Queue[tuple[Shot, str]] = queue.Queue()
    rng = random.Random(seed)  # noqa: S311 - test data
    names = sorted(servers)
    for shot in shots:
        work.put((shot, rng.choice(names)))
    results: list[Result] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        while True:
            try:
                shot, name = work.get_nowait()
            except queue.Empty:
                return
            result = _send(shot, servers[name], name)
            with lock:
                results.append(result)

    run_threads(client, CLIENTS, "client")
    return results


def _rss(server: Server) -> int:
    parent = psutil.Process(server.process.pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])


@pytest.fixture
def load_servers(tmp_path: Path) -> Iterator[tuple[dict[str, Server], Counter[str]]]:
    """The two servers, and a counter the test fills: the 503s each answered (checked against its log)."""
    handled_db = tmp_path / "handled.db"
    conn = sqlite3.connect(handled_db)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE handled (fingerprint TEXT NOT NULL, server TEXT NOT NULL, pid INTEGER NOT NULL)")
    finally:
        conn.close()
    env = {
        **gunicorn_env(),
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_TOKEN": BEARER_TOKEN,
        "DESCOPE_AUDIT_MAX_BODY_BYTES": str(LIMIT),
        "LOAD_DEDUPE_DB": str(tmp_path / "claims.db"),
        "LOAD_HANDLED_DB": str(handled_db),
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "tests.reliability._load_app:fastapi_app"]
    uvicorn += ["--host", "{host}", "--port", "{port}", "--log-level", "info"]
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4"]
    gunicorn += ["-b", "{host}:{port}", "--access-logfile", "-", "--graceful-timeout", "5"]
    gunicorn += ["tests.reliability._load_app:flask_app"]
    with ExitStack() as stack:
        started = {
            "uvicorn": stack.enter_context(
                serve(uvicorn, {**env, "LOAD_SERVER": "uvicorn"}, REPO, ready_path="/health")
            ),
            "gunicorn": stack.enter_context(
                serve(gunicorn, {**env, "LOAD_SERVER": "gunicorn"}, REPO, ready_path="/health")
            ),
        }
        retried: Counter[str] = Counter()
        yield started, retried
        # Read the access logs before teardown removes them.
        for name, server in started.items():
            statuses = re.findall(r'"(?:GET|POST) /hook HTTP/1\.[01]" (\d{3})', server.output())
            server_errors = [s for s in statuses if s.startswith("5") and s != "503"]
            assert statuses, f"no access-log lines from {name}"
            assert not server_errors, f"{name} logged {len(server_errors)} 5xx answers"
            assert statuses.count("503") == retried[name], f"{name}: 503s in its log that no client retried"


def test_mixed_stream_on_uvicorn_and_gunicorn(
    load_servers: tuple[dict[str, Server], Counter[str]], tmp_path: Path
) -> None:
    servers, retried = load_servers
    warmup, main, fingerprints = build_stream()
    results = _run(warmup, servers, seed=1)
    baseline = {name: _rss(server) for name, server in servers.items()}
    results += _run(main, servers, seed=2)
    after = {name: _rss(server) for name, server in servers.items()}

    for result in results:
        retried[result.server] += result.retried
    failures = [(r.shot.kind, r.server, r.failure) for r in results if r.failure]
    assert failures == [], "requests without an answer"
    answered = [r for r in results if r.shot.status is not None]
    server_errors = [(r.shot.kind, r.server, r.status) for r in answered if r.status is not None and r.status >= 500]
    assert server_errors == []
    assert all(r.retried == 0 for r in results if r.shot.kind not in ("valid", "duplicate", "rebatched"))
    wrong = [
        (r.shot.kind, r.server, r.status, r.payload.get("error"))
        for r in answered
        if r.status != r.shot.status or (r.shot.code is not None and r.payload.get("error") != r.shot.code)
    ]
    assert wrong == [], "unexpected answers (kind, server, status, code)"

    conn = sqlite3.connect(tmp_path / "handled.db")
    try:
        rows = conn.execute("SELECT fingerprint, server FROM handled").fetchall()
    finally:
        conn.close()
    handled = Counter(fingerprint for fingerprint, _ in rows)
    assert set(handled) == fingerprints, "a valid event was never handled, or something else was"
    twice = [fp[:12] for fp, count in handled.items() if count > 1]
    assert twice == [], "events handled more than once"
    ok = [r for r in answered if r.status == 200]

    growth = {name: after[name] - baseline[name] for name in servers}
    kinds = Counter(r.shot.kind for r in results)
    per_server = Counter(r.server for r in results)
    by_server = Counter(server for _, server in rows)
    growth_text = ", ".join(f"{name} {value / 2**20:+.1f} MiB" for name, value in growth.items())
    print(
        f"\nload: {len(results)} requests {dict(sorted(kinds.items()))}; per server {dict(per_server)}; "
        f"{len(fingerprints)} events handled once each {dict(by_server)}; "
        f"{sum(int(str(r.payload['duplicates'])) for r in ok)} duplicates dropped; "
        f"{sum(retried.values())} retries after a 503 (events in progress elsewhere); "
        f"RSS growth {growth_text}"
    )
    assert all(g < MEMORY_GROWTH_BOUND for g in growth.values()), f"server memory grew: {growth}"
