"""``demo`` exits 0 with every outcome as expected, keeps its events if asked, and serves until stopped."""

from __future__ import annotations

import io
import re
import socket
import time
from pathlib import Path

import pytest

from descope_audit_hook.cli._demo import run_demo
from tests.support.cli import CLI, run_cli
from tests.support.servers import get_json, serve

pytestmark = pytest.mark.server


def test_demo_exits_0_and_every_outcome_is_the_expected_one() -> None:
    result = run_cli(["demo"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    rows = [line for line in out.splitlines() if re.match(r"^\d+\s", line)]
    assert len(rows) >= 10
    assert all(row.rstrip().endswith("ok") for row in rows)
    for expected in ("200 stored 5", "401 invalid_signature", "401 invalid_credentials", "413 payload_too_large"):
        assert expected in out
    # The connector's OAuth type: a token from the demo's loopback token endpoint, and one it never issued.
    assert re.search(r"OAuth 2\.0 client credentials, 2 events\s+/hooks/oauth\s+200 stored 2\s+200 stored 2\s+ok", out)
    assert re.search(
        r"OAuth token never issued\s+/hooks/oauth\s+401 invalid_credentials\s+401 invalid_credentials", out
    )
    assert "result: every outcome was the expected one" in out
    # The receiver is gone when the demo ends: no URL of a page that does not answer, but how to keep it.
    assert "audit page: http" not in out
    assert out.rstrip().endswith("'descope-audit-hook demo --keep-serving' keeps it up to browse its audit page")
    assert result.stderr == ""


def test_demo_can_keep_its_events(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = run_cli(["demo", "--db", str(db)], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert db.exists()


def test_demo_keep_serving_leaves_the_audit_page_up_until_terminated() -> None:
    with serve([*CLI, "demo", "--keep-serving", "--port", "{port}"], {}, ready_path="/api/events") as server:
        deadline = time.monotonic() + 60
        while "receiver kept running" not in server.output():
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        assert "result: every outcome was the expected one" in server.output()
        assert f"audit page: {server.url}/" in server.output()
        listing = get_json(server.url + "/api/events")
        assert listing["total"] == 12
        process = server.process
    assert process.returncode == 0


def test_demo_on_a_busy_port_fails_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli(["demo", "--port", str(busy.getsockname()[1])])
    assert result.returncode == 1
    assert result.stderr.startswith("descope-audit-hook: error: cannot listen on 127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_demo_in_process_restores_the_core_log_level() -> None:
    import logging

    core = logging.getLogger("descope_audit_hook")
    before = core.level
    out = io.StringIO()
    assert run_demo(out=out) == 0
    assert "result: every outcome was the expected one" in out.getvalue()
    assert core.level == before
