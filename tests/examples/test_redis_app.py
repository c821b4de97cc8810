"""examples/fastapi_redis_app.py: several uvicorn workers sharing one Redis, as examples/README.md starts it.

The README's command (``--workers 3``) against a throw-away redis-server. One delivery
is sent six times at once; the clients send each 503 again, as the connector does.
Every copy ends in a 200, and each event was handled once across the workers: one log
line and one row each.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_audit_hook import BearerToken
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.paths import REPO
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET
from tests.support.servers import Server, request, serve

from ._readme import readme_command

pytestmark = pytest.mark.server

PATH = "/descope/audit"


@pytest.fixture(scope="module")
def app(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    db = tmp_path_factory.mktemp("redis-example") / "audit_events.sqlite3"
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_TOKEN": BEARER_TOKEN,
        "AUDIT_EVENTS_DB": str(db),
        "REDIS_URL": redis_url,
    }
    argv = readme_command("fastapi_redis_app:app")
    assert "--workers" in argv
    with serve(argv, env, REPO, ready_path=PATH) as server:
        deadline = time.monotonic() + 60
        while len(workers(server)) < 3:  # the port answers once the first worker is up
            assert time.monotonic() < deadline, server.output()[-3000:]
            time.sleep(0.05)
        yield server, db


def workers(server: Server) -> set[str]:
    return set(re.findall(r"Started server process \[(\d+)\]", server.output()))


def test_copies_at_once_on_several_workers_are_handled_once(app: tuple[Server, Path]) -> None:
    server, db = app
    body, headers = make_delivery(sample_events(5, seed=11), hmac_secret=HMAC_SECRET, auth=BearerToken(BEARER_TOKEN))
    answers: list[tuple[int, dict[str, int]]] = []
    retried: list[str] = []
    lock = threading.Lock()

    def connector() -> None:
        for _ in range(200):
            answer = request(server.url + PATH, "POST", body, headers)
            if answer.status != 503:
                with lock:
                    answers.append((answer.status, answer.json()))
                return
            with lock:
                retried.append(str(answer.headers["Retry-After"]))
            time.sleep(0.05)

    copies = [threading.Thread(target=connector) for _ in range(6)]
    for thread in copies:
        thread.start()
    for thread in copies:
        thread.join(60)
    assert [status for status, _ in answers] == [200] * 6
    assert sum(answer["received"] for _, answer in answers) <= 5  # a copy answered 503 handled its events too
    assert set(retried) <= {"12"}  # a tenth of the example's two-minute lease
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0] == 5
    output = server.output()
    assert len(re.findall(r"audit_receiver: audit ", output)) == 5, "an event was handled twice, or not at all"
    assert len(workers(server)) == 3
    again = request(server.url + PATH, "POST", body, headers)
    assert (again.status, again.json()) == (200, {"received": 0, "stored": 0})
