"""The same commands called in-process through ``main()`` (cheap, and measured by coverage).

The subprocess tests prove the commands work as a user runs them; these cover the branches.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_audit_hook import BasicAuth, BearerToken, Verifier
from descope_audit_hook.cli import main
from descope_audit_hook.cli._args import UsageError, parse_header_option, safe_text
from descope_audit_hook.cli._demo import run_demo
from descope_audit_hook.cli._send import load_payload, sample_payload
from descope_audit_hook.receiver import make_app, make_server
from descope_audit_hook.testing import make_delivery, sample_events
from tests.e2e.servers import free_port

from ._support import serving

SECRET = "inprocess-hmac-secret"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, make_app(Verifier(SECRET, auth=BasicAuth("u", "pw")), tmp_path / "db"))
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}/descope/audit"


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DESCOPE_AUDIT_"):
            monkeypatch.delenv(name)


def test_send_accepted_rejected_and_unreachable(receiver: str, capsys: pytest.CaptureFixture[str]) -> None:
    basic = ["--basic-user", "u", "--basic-password", "pw"]
    assert main(["send", receiver, "--hmac-secret", SECRET, *basic, "--count", "3"]) == 0
    out = capsys.readouterr().out
    assert '"stored": 3' in out
    assert main(["send", receiver, "--hmac-secret", SECRET, "--basic-user", "u", "--basic-password", "no"]) == 1
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
    monkeypatch.setenv("DESCOPE_AUDIT_HMAC_SECRET", SECRET)
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


def test_sign_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, headers = make_delivery(sample_events(2), hmac_secret=SECRET, auth=BearerToken("tok"), signed_form="compact")
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "headers.txt").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
    assert main(["sign", str(tmp_path / "body.json"), "--hmac-secret", SECRET]) == 0
    assert len(capsys.readouterr().out.strip()) == 44
    common = ["verify", "--body", str(tmp_path / "body.json"), "--headers-file", str(tmp_path / "headers.txt")]
    assert main([*common, "--hmac-secret", SECRET, "--bearer-token", "tok"]) == 0
    assert "signature matched the compact form" in capsys.readouterr().out
    assert main([*common, "--hmac-secret", SECRET, "--bearer-token", "tok", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out.split("\n", 1)[1])) == 2
    assert main([*common, "--bearer-token", "tok", "--required-header", "x-env:prod", "--hmac-secret", SECRET]) == 1
    assert "rejected: 401 missing_header" in capsys.readouterr().out
    assert main([*common, "--allow-unauthenticated", "--max-body-bytes", "10"]) == 1
    assert "rejected: 413 payload_too_large" in capsys.readouterr().out
    assert main([*common, "--hmac-secret", SECRET, "--signed-forms", "raw", "--bearer-token", "tok"]) == 1
    assert main([*common, "--hmac-secret", "a,b"]) == 2
    assert "must not contain ','" in capsys.readouterr().err
    assert main(["verify", "--body", str(tmp_path / "missing"), "--hmac-secret", SECRET]) == 2
    assert main([*common[:3], "--headers-file", str(tmp_path / "missing"), "--hmac-secret", SECRET]) == 2


def test_demo_in_process_restores_the_core_log_level() -> None:
    import logging

    core = logging.getLogger("descope_audit_hook")
    before = core.level
    out = io.StringIO()
    assert run_demo(out=out) == 0
    assert "result: every outcome was the expected one" in out.getvalue()
    assert core.level == before


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
