"""``send --oauth-token-url ...``: the client-credentials grant against a real token endpoint, then the delivery.

The token endpoint is tests/support/oauth_issuer.py on loopback; the receiver checks the token
with docs/oauth.md's validator. The token request is checked byte for byte against RFC
6749 (section 4.4 and, for the client's credentials, section 2.3.1), spelled out here
rather than rebuilt with the sender's own helpers. Every failure of the token endpoint is
one line and exit status 1, no delivery is made, and neither the client secret nor a
token is ever printed. ``serve``/``verify --bearer-validator`` check tokens the same way.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from descope_audit_hook import BearerToken, Verifier
from descope_audit_hook.cli import main
from descope_audit_hook.receiver import EventFilter, EventStore, make_app, make_server
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.cli import CLI, run_cli, self_signed
from tests.support.deliveries import SIG
from tests.support.oauth_issuer import CLIENT_ID, CLIENT_SECRET, Issuer, Recorded, Scripted
from tests.support.paths import REPO
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import Server, free_port, serve, serving

# RFC 6749 section 2.3.1 and appendix B, by hand: ' ' -> '+', ':' -> %3A, '=' -> %3D, '+' -> %2B, '/' -> %2F.
ENCODED_ID = "descope+audit%3Aconnector"
ENCODED_SECRET = "s3cr%3Dt%2B%2F+with+spaces%3A" + CLIENT_SECRET.removeprefix("s3cr=t+/ with spaces:")


@pytest.fixture
def receiver(oauth_recipe: ModuleType, tmp_path: Path) -> Iterator[tuple[str, EventStore]]:
    app = make_app(Verifier(HMAC_SECRET, auth=BearerToken(validator=oauth_recipe.validate)), tmp_path / "events.db")
    with serving(make_server("127.0.0.1", 0, app)) as port:
        yield f"http://127.0.0.1:{port}/descope/audit", app.store


def stored(store: EventStore) -> int:
    return store.query(EventFilter())[0]


def oauth_args(issuer: Issuer, *extra: str, secret: str = CLIENT_SECRET) -> list[str]:
    return ["--oauth-token-url", issuer.token_url, "--client-id", CLIENT_ID, "--client-secret", secret, *extra]


def token_requests(issuer: Issuer, since: int) -> list[Recorded]:
    return [r for r in issuer.requests[since:] if r.path == "/token"]


def assert_no_secret(issuer: Issuer, *texts: str) -> None:
    for text in texts:
        assert CLIENT_SECRET not in text
        assert ENCODED_SECRET not in text
        for token in issuer.issued:
            assert token not in text


# --- the grant ---------------------------------------------------------------------------


def test_header_style_sends_basic_credentials_and_delivers_with_the_token(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = receiver
    since = len(oauth_issuer.requests)
    extra = ["--scope", "audit:write", "--scope", "openid profile", "--token-header", "X-Tenant: acme"]
    assert main(["send", url, "--hmac-secret", HMAC_SECRET, "--count", "4", *oauth_args(oauth_issuer, *extra)]) == 0
    out, err = capsys.readouterr()

    [grant] = token_requests(oauth_issuer, since)
    assert grant.method == "POST"
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert grant.headers["accept"] == "application/json"
    assert grant.headers["x-tenant"] == "acme"
    expected = base64.b64encode(f"{ENCODED_ID}:{ENCODED_SECRET}".encode()).decode()
    assert grant.headers["authorization"] == f"Basic {expected}"
    assert grant.body == b"grant_type=client_credentials&scope=audit%3Awrite+openid+profile"
    assert "got a Bearer token (expires in 300 s, scope audit:write openid profile)" in out
    assert "client credentials grant, header authentication, scope audit:write openid profile" in out
    assert '"stored": 4' in out
    assert stored(store) == 4
    assert_no_secret(oauth_issuer, out, err)


def test_body_style_sends_the_credentials_in_the_form(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = receiver
    since = len(oauth_issuer.requests)
    assert main(["send", url, "--hmac-secret", HMAC_SECRET, *oauth_args(oauth_issuer, "--auth-style", "body")]) == 0
    out, err = capsys.readouterr()
    [grant] = token_requests(oauth_issuer, since)
    assert "authorization" not in grant.headers
    assert grant.body == (
        f"grant_type=client_credentials&client_id={ENCODED_ID}&client_secret={ENCODED_SECRET}".encode()
    )
    assert stored(store) == 10
    assert_no_secret(oauth_issuer, out, err)


def test_the_secret_can_come_from_the_environment(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = receiver
    monkeypatch.setenv("DESCOPE_AUDIT_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    args = ["--oauth-token-url", oauth_issuer.token_url, "--client-id", CLIENT_ID]
    assert main(["send", url, "--hmac-secret", HMAC_SECRET, "--count", "2", *args]) == 0
    assert stored(store) == 2


def test_from_env_takes_the_secret_and_leaves_the_receivers_validator_alone(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, store = receiver
    monkeypatch.setenv("DESCOPE_AUDIT_HMAC_SECRET", HMAC_SECRET)
    # The receiver's setting: send neither needs nor imports it.
    monkeypatch.setenv("DESCOPE_AUDIT_BEARER_VALIDATOR", "not_installed_anywhere:validate")
    assert main(["send", url, "--from-env", "--count", "1", *oauth_args(oauth_issuer)]) == 0
    assert stored(store) == 1
    # Without the OAuth options, a delivery without any credential would be pointless: say so.
    assert main(["send", url, "--from-env"]) == 2


# --- the token endpoint fails ------------------------------------------------------------

FAILURES: dict[str, tuple[Scripted, str]] = {
    "500": (Scripted(500, b"oops", "text/plain"), "the token endpoint answered 500 Internal Server Error"),
    "invalid_client": (
        Scripted(401, b'{"error": "invalid_client", "error_description": "no such client"}'),
        "the token endpoint answered 401 Unauthorized: invalid_client (no such client)",
    ),
    "description echoing the secret": (
        Scripted(400, json.dumps({"error": "invalid_request", "error_description": f"bad {CLIENT_SECRET}"}).encode()),
        "the token endpoint answered 400 Bad Request: invalid_request (bad ***)",
    ),
    "redirect": (
        Scripted(302, b"", headers={"Location": "https://elsewhere.example/token"}),
        "the token endpoint answered 302 Found (redirects are not followed)",
    ),
    "not JSON": (Scripted(200, b"<html>login</html>", "text/html"), "answer is not a JSON object"),
    "a JSON list": (Scripted(200, b'["access_token"]'), "answer is not a JSON object"),
    "no access_token": (Scripted(200, b'{"token_type": "Bearer"}'), "answer has no access_token"),
    "empty access_token": (Scripted(200, b'{"access_token": "", "token_type": "Bearer"}'), "has no access_token"),
    "numeric access_token": (Scripted(200, b'{"access_token": 12, "token_type": "Bearer"}'), "has no access_token"),
    "MAC token": (
        Scripted(200, b'{"access_token": "abc", "token_type": "mac"}'),
        "issued a mac token, not a Bearer token",
    ),
    "odd token type": (
        Scripted(200, b'{"access_token": "abc", "token_type": "x\\u001b[31m"}'),
        "issued a non-text token, not a Bearer token",
    ),
    "token with a line break": (
        Scripted(200, b'{"access_token": "abc\\r\\nX-Evil: 1", "token_type": "bearer"}'),
        "access_token cannot be sent in an Authorization header",
    ),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_a_failing_token_endpoint_is_one_line_and_exit_1(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    url, store = receiver
    scripted, message = FAILURES[name]
    with oauth_issuer.scripted(scripted):
        assert main(["send", url, "--hmac-secret", HMAC_SECRET, *oauth_args(oauth_issuer)]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("descope-audit-hook: error: ")
    assert err.count("\n") == 1
    assert message in err
    assert "\x1b" not in err
    assert stored(store) == 0  # nothing was delivered
    assert_no_secret(oauth_issuer, out, err)


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = receiver
    assert main(["send", url, *oauth_args(oauth_issuer, secret="not-the-secret")]) == 1
    out, err = capsys.readouterr()
    assert "answered 401 Unauthorized: invalid_client" in err
    assert "not-the-secret" not in out + err


def test_a_slow_token_endpoint_times_out(
    oauth_issuer: Issuer, receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = receiver
    with oauth_issuer.scripted(Scripted(delay=3.0, body=b"{}")):
        assert main(["send", url, "--timeout", "0.5", *oauth_args(oauth_issuer)]) == 1
    err = capsys.readouterr().err
    assert "token request failed: no answer from 127.0.0.1:" in err
    assert "within 0.5 s" in err
    assert stored(store) == 0


def test_an_unreachable_token_endpoint(receiver: tuple[str, EventStore], capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = receiver
    args = ["--oauth-token-url", f"http://127.0.0.1:{free_port()}/token", "--client-id", "x", "--client-secret", "y"]
    assert main(["send", url, "--timeout", "5", *args]) == 1
    assert "token request failed: cannot connect to 127.0.0.1:" in capsys.readouterr().err


GRANT = ["--oauth-token-url", "http://127.0.0.1:9/token", "--client-id", "x", "--client-secret", "s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--client-id", "x"], "--client-id need --oauth-token-url"),
        (["--scope", "a", "--auth-style", "body"], "--scope, --auth-style need --oauth-token-url"),
        (["--oauth-token-url", "http://127.0.0.1:9/token", "--client-secret", "s"], "needs --client-id"),
        (["--oauth-token-url", "http://127.0.0.1:9/token", "--client-id", "x"], "DESCOPE_AUDIT_OAUTH_CLIENT_SECRET"),
        ([*GRANT[:-1], " "], "must not be empty"),
        (["--oauth-token-url", "ftp://127.0.0.1/t", *GRANT[2:]], "http:// or https://"),
        (["--oauth-token-url", "http://id:pw@127.0.0.1/t", *GRANT[2:]], "not in the token URL"),
        ([*GRANT, "--bearer-token", "t"], "choose one authentication type"),
        ([*GRANT, "--token-header", "authorization: Basic eA=="], "cannot set authorization"),
        ([*GRANT, "--token-header", "Content-Type: application/json"], "cannot set Content-Type"),
        ([*GRANT, "--token-header", "content-LENGTH: 0"], "cannot set content-LENGTH"),
        ([*GRANT, "--token-header", "Transfer-Encoding: chunked"], "cannot set Transfer-Encoding"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "http://127.0.0.1:9/descope/audit", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "pw" not in err.replace("https", "")


def test_an_https_token_endpoint_needs_a_trusted_certificate(
    receiver: tuple[str, EventStore], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = receiver
    cert, key = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with Issuer(tls=context) as issuer:
        assert issuer.token_url.startswith("https://")
        args = ["--oauth-token-url", issuer.token_url, "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET]
        assert main(["send", url, "--hmac-secret", HMAC_SECRET, *args]) == 1
        assert "token request failed: TLS certificate of 127.0.0.1:" in capsys.readouterr().err
        # The token is signed by this issuer, not the session's the receiver trusts: a 401 after the grant.
        assert main(["send", url, "--hmac-secret", HMAC_SECRET, "--trust-any-certificate", *args]) == 1
        out = capsys.readouterr().out
        assert "got a Bearer token" in out
        assert "HTTP 401" in out
        assert '"error":"invalid_credentials"' in out.replace(" ", "")
    assert stored(store) == 0


# --- as a user runs it: send -> serve, both subprocesses -------------------------------


@pytest.fixture
def oauth_serve(oauth_issuer: Issuer, tmp_path: Path) -> Iterator[Server]:
    """``serve --bearer-validator oauth_validator:validate``, the example validator importable from examples/."""
    argv = [*CLI, "serve", "--port", "{port}", "--db", str(tmp_path / "events.db"), "--hmac-secret", HMAC_SECRET]
    argv += ["--bearer-validator", "oauth_validator:validate"]
    env = {**oauth_issuer.env(), "PYTHONPATH": str(REPO / "examples")}
    with serve(argv, env, tmp_path, ready_path="/api/events") as server:
        yield server


@pytest.mark.server
@pytest.mark.parametrize("style", ["header", "body"])
def test_send_to_serve_with_the_connectors_oauth_type(oauth_issuer: Issuer, oauth_serve: Server, style: str) -> None:
    args = ["send", oauth_serve.url + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "3"]
    args += ["--oauth-token-url", oauth_issuer.token_url, "--client-id", CLIENT_ID, "--auth-style", style]
    done = run_cli(args, env={"DESCOPE_AUDIT_OAUTH_CLIENT_SECRET": CLIENT_SECRET})
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"stored": 3' in done.stdout
    # A token issued for another audience is refused by the receiver.
    body, headers = make_delivery(
        sample_events(1), hmac_secret=HMAC_SECRET, auth=BearerToken(oauth_issuer.mint(aud="https://other.example"))
    )
    from descope_audit_hook.cli._client import request

    answer = request(oauth_serve.url + "/descope/audit", body, headers)
    assert (answer.status, answer.json()["error"]) == (401, "invalid_credentials")
    assert_no_secret(oauth_issuer, done.stdout, done.stderr, oauth_serve.output())


# --- verify and serve with --bearer-validator ---------------------------------------------


def test_verify_with_a_bearer_validator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, headers = make_delivery(sample_events(2), hmac_secret=HMAC_SECRET, auth=BearerToken("good.token.value"))
    path = tmp_path / "body.json"
    path.write_bytes(body)
    base = [
        "verify",
        "--body",
        str(path),
        "--hmac-secret",
        HMAC_SECRET,
        "-H",
        f"x-descope-webhook-s256: {headers[SIG]}",
    ]
    good = [*base, "-H", "Authorization: Bearer good.token.value"]
    assert main([*good, "--bearer-validator", "tests.support.validators:accept"]) == 0
    assert "accepted: 2 event(s)" in capsys.readouterr().out
    bad = [*base, "-H", "Authorization: Bearer other.token", "--bearer-validator", "tests.support.validators:accept"]
    assert main(bad) == 1
    assert "rejected: 401 invalid_credentials: invalid credentials" in capsys.readouterr().out
    # An async def validator cannot be called by the synchronous command line; an unimportable one is refused.
    assert main([*good, "--bearer-validator", "tests.support.validators:accept_async"]) == 2
    assert "async def token validator" in capsys.readouterr().err
    assert main([*good, "--bearer-validator", "tests.support._nothing_here:accept"]) == 2
    assert "cannot be imported (ModuleNotFoundError)" in capsys.readouterr().err


def test_serve_refuses_an_async_validator_at_start_up(tmp_path: Path) -> None:
    args = ["serve", "--port", "0", "--db", str(tmp_path / "e.db"), "--bearer-validator"]
    done = run_cli([*args, "tests.support.validators:accept_async"], cwd=REPO, timeout=30)
    assert done.returncode == 2
    assert "async def token validator" in done.stderr


# --- the demo's authorization server -------------------------------------------------------


def test_the_demos_token_endpoint_follows_the_grant() -> None:
    from descope_audit_hook.cli._authority import AuthorizationServer

    authority = AuthorizationServer()
    try:
        form = {"grant_type": ["client_credentials"]}
        basic = "Basic " + base64.b64encode(f"{authority.client_id}:{authority.client_secret}".encode()).decode()
        status, answer = authority.grant(form, basic)
        assert (status, answer["token_type"], answer["expires_in"]) == (200, "Bearer", 300)
        assert authority.validate(answer["access_token"]) == {"client_id": authority.client_id, "exp": ANY_INT}
        body = {**form, "client_id": [authority.client_id], "client_secret": [authority.client_secret]}
        assert authority.grant(body, "")[0] == 200
        assert authority.grant({"grant_type": ["password"]}, basic) == (400, {"error": "unsupported_grant_type"})
        for wrong in ("Basic " + base64.b64encode(b"descope-audit-connector:no").decode(), "Basic %%%", "Basic eA=="):
            assert authority.grant(form, wrong) == (401, {"error": "invalid_client"})
        with pytest.raises(PermissionError):
            authority.validate("never-issued")
    finally:
        authority.server.server_close()


@pytest.mark.parametrize("length", [b"\xb2", b"-1", b"65537", b"1e3"])  # "\xb2" is "²" in latin-1
def test_the_demos_token_endpoint_answers_a_bad_content_length_with_400(length: bytes) -> None:
    from descope_audit_hook.cli._authority import AuthorizationServer

    authority = AuthorizationServer()
    thread = threading.Thread(target=authority.server.serve_forever, daemon=True)
    thread.start()
    try:
        port = authority.server.server_address[1]
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length + b"\r\n\r\n")
            answer = sock.makefile("rb").read()
        assert answer.startswith(b"HTTP/1.0 400 "), answer[:100]
        assert answer.endswith(b'{"error": "invalid_request"}')
    finally:
        authority.server.shutdown()
        authority.server.server_close()
        thread.join(timeout=10)


class _AnyInt:
    def __eq__(self, other: object) -> bool:
        return type(other) is int

    __hash__ = None  # type: ignore[assignment]


ANY_INT: Any = _AnyInt()
