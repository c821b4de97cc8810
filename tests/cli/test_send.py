"""``send``: its failures as a user sees them (a subprocess), deliveries in-process through ``main()``, over TLS."""

from __future__ import annotations

import io
import json
import ssl
import threading
import urllib.request
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler
from wsgiref.simple_server import make_server as make_wsgi_server

import pytest

from descope_audit_hook import BasicAuth, Verifier
from descope_audit_hook.cli import main
from descope_audit_hook.cli._args import UsageError, parse_header_option, safe_text
from descope_audit_hook.cli._send import load_payload, sample_payload
from descope_audit_hook.receiver import make_app, make_server
from descope_audit_hook.testing import sample_events
from tests.support.cli import run_cli, self_signed
from tests.support.secrets import BEARER_TOKEN, HMAC_SECRET, assert_no_secret_in
from tests.support.servers import free_port, serving


def test_send_to_an_unreachable_url_fails_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/descope/audit"
    result = run_cli(["send", url, "--hmac-secret", HMAC_SECRET, "--bearer-token", BEARER_TOKEN, "--timeout", "5"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("descope-audit-hook: error: cannot connect to 127.0.0.1:")
    assert_no_secret_in(result.stdout, result.stderr)


@pytest.mark.parametrize("header", ["no-colon-here", ":value-without-name", "bad name:value", "x-ok:\x01"])
def test_send_with_a_malformed_header_is_bad_usage(header: str) -> None:
    result = run_cli(["send", "http://127.0.0.1:9/", "--header", header])
    assert result.returncode == 2
    assert "--header must look like NAME:VALUE" in result.stderr or "--header x-ok" in result.stderr
    assert result.stdout == ""


def test_send_a_file_that_is_not_json_is_bad_usage(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('[{"action": "LoginSucceed",')
    result = run_cli(["send", "http://127.0.0.1:9/", "--file", str(path)])
    assert result.returncode == 2
    assert f"{path} is not JSON" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("text", ["[" * 100_000, "1" * 5000, "[" + "9" * 5000 + "]"])
def test_send_a_json_file_beyond_the_parsers_limits_is_bad_usage(tmp_path: Path, text: str) -> None:
    path = tmp_path / "events.json"
    path.write_text(text)
    result = run_cli(["send", "http://127.0.0.1:9/", "--file", str(path)])
    assert result.returncode == 2
    message = f"{path} is JSON too deeply nested or with a number too long to read"
    assert result.stderr == f"descope-audit-hook: error: {message}\n"
    assert result.stdout == ""


def test_send_a_json_file_that_holds_no_events_is_bad_usage(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text("[1, 2, 3]")
    result = run_cli(["send", "http://127.0.0.1:9/", "--file", str(path)])
    assert result.returncode == 2
    assert "must hold a JSON array of event objects" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://example.com/x"], "URL must be an http:// or https:// address"),
        (["http://user:pw@127.0.0.1:9/"], "not in the URL"),
        (["http://127.0.0.1:9/", "--bearer-token", "t", "--basic-user", "u", "--basic-password", "p"], "choose one"),
        (["http://127.0.0.1:9/", "--api-key", "v"], "--api-key-header and --api-key go together"),
        (["http://127.0.0.1:9/", "--sample", "login_failed", "--count", "3"], "mixed sample only"),
        (["http://127.0.0.1:9/", "--bearer-token", " "], "--bearer-token must not be empty"),
        (["http://127.0.0.1:9/", "--hmac-secret", ""], "--hmac-secret must not be empty"),
        (["http://127.0.0.1:9/", "--count", "0"], "must be a positive integer"),
        (["http://127.0.0.1:9/", "--sample", "nope"], "invalid choice"),
    ],
)
def test_send_bad_usage(args: list[str], message: str) -> None:
    result = run_cli(["send", *args])
    assert result.returncode == 2
    assert message in result.stderr


def test_send_does_not_print_the_query_string_of_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/descope/audit?token=query-secret"
    result = run_cli(["send", url, "--timeout", "5"])
    assert result.returncode == 1
    assert "/descope/audit?..." in result.stdout
    assert_no_secret_in(result.stdout, result.stderr, secrets=("query-secret",))


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, make_app(Verifier(HMAC_SECRET, auth=BasicAuth("u", "pw")), tmp_path / "db"))
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}/descope/audit"


def test_send_accepted_rejected_and_unreachable(receiver: str, capsys: pytest.CaptureFixture[str]) -> None:
    basic = ["--basic-user", "u", "--basic-password", "pw"]
    assert main(["send", receiver, "--hmac-secret", HMAC_SECRET, *basic, "--count", "3"]) == 0
    out = capsys.readouterr().out
    assert '"stored": 3' in out
    assert main(["send", receiver, "--hmac-secret", HMAC_SECRET, "--basic-user", "u", "--basic-password", "no"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 401 Unauthorized" in captured.out
    assert captured.err == "descope-audit-hook: error: the receiver answered 401 Unauthorized\n"
    assert main(["send", f"http://127.0.0.1:{free_port()}/", "--timeout", "5", "--count", "101"]) == 1
    err = capsys.readouterr().err
    assert "at most 100 events per request; sending 101" in err
    assert "cannot connect" in err


def test_send_from_env_and_stdin(
    receiver: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCOPE_AUDIT_HMAC_SECRET", HMAC_SECRET)
    monkeypatch.setenv("DESCOPE_AUDIT_BASIC_USERNAME", "u")
    monkeypatch.setenv("DESCOPE_AUDIT_BASIC_PASSWORD", "pw")
    monkeypatch.setenv("DESCOPE_AUDIT_HEADERS", '{"x-extra": "1"}')
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(sample_events(2, seed=4))))
    assert main(["send", receiver, "--from-env", "--file", "-", "--signed-form", "trimmed"]) == 0
    out = capsys.readouterr().out
    assert '"signed_form": "trimmed"' in out
    assert '"stored": 2' in out


@pytest.mark.parametrize(
    "args",
    [
        ["--api-key-header", "x-k"],
        ["--basic-user", "u"],
        ["--file", "events.json", "--count", "2"],
        ["--bearer-token", "bad\ntoken"],
    ],
)
def test_send_usage_errors_return_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "http://127.0.0.1:9/", *args]) == 2
    assert capsys.readouterr().err.startswith("descope-audit-hook: error: ")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ('{"x-env": "a\\r\\nInjected: 1"}', "DESCOPE_AUDIT_HEADERS x-env: the value must not contain control"),
        ('{"x-env": "a\\u0000"}', "DESCOPE_AUDIT_HEADERS x-env: the value must not contain control"),
        ('{"bad name": "a"}', "DESCOPE_AUDIT_HEADERS must look like NAME:VALUE"),
        ('{"": "a"}', "DESCOPE_AUDIT_HEADERS must look like NAME:VALUE"),
        ('{"Content-Length": "0"}', "a header cannot set Content-Length"),
    ],
)
def test_send_from_env_checks_the_static_headers_as_the_option_does(
    headers: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESCOPE_AUDIT_HEADERS", headers)
    assert main(["send", f"http://127.0.0.1:{free_port()}/", "--from-env"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"descope-audit-hook: error: {message}")
    assert captured.err.count("\n") == 1
    assert "Injected" not in captured.err


@pytest.mark.parametrize(
    "header", ["content-length:0", "Content-Length: 5", "CONTENT-LENGTH:0", "transfer-encoding:chunked"]
)
def test_send_refuses_a_header_that_frames_the_body(header: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", f"http://127.0.0.1:{free_port()}/", "--header", header]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"descope-audit-hook: error: a header cannot set {header.partition(':')[0]}: "
        "the request sets it from the body\n"
    )


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_send_sends_each_header_once_whatever_the_case_of_its_name(capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    # wsgiref joins a repeated header with ",": a second spelling would show.
    with serving(make_wsgi_server("127.0.0.1", 0, app, handler_class=_QuietHandler)) as port:
        args = ["send", f"http://127.0.0.1:{port}/", "--bearer-token", BEARER_TOKEN, "--count", "1"]
        headers = ["user-agent:agent-x", "authorization:Bearer other", "content-type:application/json; charset=utf-8"]
        assert main([*args, *(f"--header={h}" for h in headers)]) == 0
    capsys.readouterr()
    assert seen[0]["HTTP_USER_AGENT"] == "agent-x"
    assert seen[0]["HTTP_AUTHORIZATION"] == "Bearer other"
    assert seen[0]["CONTENT_TYPE"] == "application/json; charset=utf-8"


class _HostileReason(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200, "O\x1b[2JK\x9b")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_the_reason_phrase_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileReason)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert main(["send", f"http://127.0.0.1:{server.server_address[1]}/", "--count", "1"]) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    out = capsys.readouterr().out
    assert "HTTP 200 O\\x1b[2JK\\x9b\n" in out
    assert "\x1b" not in out
    assert "\x9b" not in out


def test_sender_helpers() -> None:
    assert parse_header_option("X-Env:  prod ") == ("X-Env", "prod")
    assert parse_header_option("x-empty:") == ("x-empty", "")
    assert len(sample_payload("mixed")) == 10
    with pytest.raises(UsageError, match="unknown sample"):
        sample_payload("nope")
    with pytest.raises(UsageError, match="no stdin"):
        load_payload("-", None)


def test_load_payload_rejects_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"action": "caf\xe9"}]')
    with pytest.raises(UsageError, match="not UTF-8"):
        load_payload(str(path))
    path.write_text('{"action": "LoginSucceed"}')
    assert load_payload(str(path)) == {"action": "LoginSucceed"}


def test_untrusted_response_text_cannot_drive_the_terminal() -> None:
    assert safe_text('{"ok": true}\n\tnext') == '{"ok": true}\n\tnext'
    assert safe_text("a\x1b[31mb\x7f\x9bc\u00e9\u2713") == "a\\x1b[31mb\\x7f\\x9bc\u00e9\u2713"


@pytest.fixture(scope="module")
def https_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("https")
    cert, key = self_signed(workdir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, make_app(Verifier(HMAC_SECRET), workdir / "events.db"))
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
    result = run_cli(["send", https_receiver + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "2"])
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
        [
            "send",
            https_receiver + "/descope/audit",
            "--hmac-secret",
            HMAC_SECRET,
            "--count",
            "2",
            "--trust-any-certificate",
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HTTP 200 OK" in result.stdout
    assert '"stored": 2' in result.stdout
    assert _listing(https_receiver) == before + 2
