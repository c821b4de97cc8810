"""The receiver's public entry point under gunicorn: ``descope_audit_hook.receiver:create_app()``."""

from __future__ import annotations

import json
import re
import socket
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
        # A broken chunk size: gunicorn's InvalidChunkSize, raised while the body is read.
        status = raw_request(
            server.host,
            server.port,
            b"POST /descope/audit HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        )
        assert status.startswith(b"HTTP/1.1 400 "), status
        log = server.output()
    assert '"POST /descope/audit" 200' in log
    assert '"POST /descope/audit" 401' in log
    assert re.search(r'"POST /descope/audit" 400 [0-9]+ incomplete_body', log)
    assert "Traceback" not in log
    assert "gunicorn-secret" not in log
    assert "gunicorn-key" not in log


def raw_request(host: str, port: int, data: bytes) -> bytes:
    """Send ``data`` as it is; the answer's status line."""
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(data)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    return answer.partition(b"\r\n")[0]
