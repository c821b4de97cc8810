"""``send`` to an HTTPS receiver with a self-signed certificate: refused by default, trusted on request."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator

import pytest

from descope_audit_hook import Verifier
from descope_audit_hook.receiver import make_app, make_server

from ._support import run_cli, self_signed, serving

pytestmark = pytest.mark.server

SECRET = "https-hmac-secret"


@pytest.fixture(scope="module")
def https_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("https")
    cert, key = self_signed(workdir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, make_app(Verifier(SECRET), workdir / "events.db"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server) as port:
        yield f"https://127.0.0.1:{port}"


def _listing(base: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(base + "/api/events", timeout=10, context=context) as response:
        return int(json.loads(response.read())["total"])


def test_send_refuses_a_self_signed_certificate_by_default(https_receiver: str) -> None:
    before = _listing(https_receiver)
    result = run_cli(["send", https_receiver + "/descope/audit", "--hmac-secret", SECRET, "--count", "2"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "TLS certificate of 127.0.0.1:" in result.stderr
    assert "is not trusted" in result.stderr
    assert "--trust-any-certificate" in result.stderr
    assert "HTTP " not in result.stdout
    assert _listing(https_receiver) == before


def test_send_with_trust_any_certificate_delivers(https_receiver: str) -> None:
    before = _listing(https_receiver)
    result = run_cli(
        ["send", https_receiver + "/descope/audit", "--hmac-secret", SECRET, "--count", "2", "--trust-any-certificate"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 200 OK" in result.stdout
    assert '"stored": 2' in result.stdout
    assert _listing(https_receiver) == before + 2
