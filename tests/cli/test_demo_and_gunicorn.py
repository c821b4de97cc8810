"""``demo`` exits 0 with every outcome as expected; the receiver runs under gunicorn."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.servers import serve

from ._support import CLI, get_json, run_cli

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


def test_receiver_under_gunicorn_accepts_a_signed_post(tmp_path: Path) -> None:
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": "gunicorn-secret",
        "DESCOPE_AUDIT_API_KEY_HEADER": "x-api-key",
        "DESCOPE_AUDIT_API_KEY": "gunicorn-key",
        "DESCOPE_AUDIT_DB": str(tmp_path / "events.db"),
    }
    argv = [
        *(sys.executable, "-m", "gunicorn", "--bind", "{host}:{port}", "--workers", "2"),
        "descope_audit_hook.receiver:create_app()",
    ]
    with serve(argv, env, tmp_path, ready_path="/api/events") as server:
        hook = server.url + "/descope/audit"
        auth = ["--api-key-header", "x-api-key", "--api-key", "gunicorn-key"]
        accepted = run_cli(["send", hook, "--hmac-secret", "gunicorn-secret", "--count", "7", *auth])
        assert accepted.returncode == 0, accepted.stdout + accepted.stderr
        assert json.loads(accepted.stdout.splitlines()[2])["stored"] == 7
        forged = run_cli(["send", hook, "--hmac-secret", "not-the-secret", "--count", "7", *auth])
        assert forged.returncode == 1
        assert '"invalid_signature"' in forged.stdout
        assert get_json(server.url + "/api/events")["total"] == 7
        log = server.output()
    assert '"POST /descope/audit" 200' in log
    assert '"POST /descope/audit" 401' in log
    assert "gunicorn-secret" not in log
    assert "gunicorn-key" not in log


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
