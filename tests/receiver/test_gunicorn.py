"""The receiver's public entry point under gunicorn: ``descope_audit_hook.receiver:create_app()``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.servers import get_json, serve

pytestmark = pytest.mark.server


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
