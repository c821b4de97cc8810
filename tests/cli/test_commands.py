"""Every command driven as a subprocess: help, bad usage, sign, verify, send's failures."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import ApiKey, Auth, BasicAuth, BearerToken, SignedForm
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.e2e.servers import free_port

from ._support import run_cli

COMMANDS = ("send", "sign", "verify", "serve", "demo")
SECRET = "cli-test-hmac-secret"
TOKEN = "cli-test-bearer-token"
FIXTURE_SECRET = "descope-test-hmac-secret"
FIXTURE_SIGNATURES = {
    "login_succeed.json": "PeG4lFjTZza0qBGFJqzI0n8upOuvzCCSIuweTJk3/VU=",
    "login_failed.json": "B6V4/0fUnP3Dl28fGu7FC3Rc29KdZwM2gK7l4Do4LIQ=",
    "user_modified_batch.json": "hBDpX8vMpweqky28dSTFWRQHM9B6iEu0QInkVdEpyjs=",
}


def _no_secret_in(*texts: str, secrets: tuple[str, ...] = (SECRET, TOKEN)) -> None:
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret was printed"


# --- help and usage --------------------------------------------------------------------


def test_top_level_help_lists_every_command() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run_cli([command, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: descope-audit-hook {command}")


def test_no_command_is_bad_usage() -> None:
    result = run_cli([])
    assert result.returncode == 2
    assert result.stderr == (
        "descope-audit-hook: error: the following arguments are required: COMMAND "
        "(see 'descope-audit-hook --help')\n"
    )
    assert result.stdout == ""


def test_unknown_option_is_bad_usage() -> None:
    result = run_cli(["send", "http://127.0.0.1:9/", "--no-such-option"])
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0
    assert result.stdout.startswith("descope-audit-hook ")


# --- sign --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "signature"), sorted(FIXTURE_SIGNATURES.items()))
def test_sign_gives_the_known_signature_of_each_fixture(fixtures_dir: Path, name: str, signature: str) -> None:
    result = run_cli(["sign", str(fixtures_dir / name), "--hmac-secret", FIXTURE_SECRET])
    assert result.returncode == 0, result.stderr
    assert result.stdout == signature + "\n"


def test_sign_reads_stdin_and_the_secret_variable(fixtures_dir: Path) -> None:
    body = (fixtures_dir / "login_failed.json").read_bytes()
    result = run_cli(["sign"], stdin=body, env={"DESCOPE_AUDIT_HMAC_SECRET": f"{FIXTURE_SECRET},an-older-secret"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == FIXTURE_SIGNATURES["login_failed.json"]


def test_sign_without_a_secret_is_bad_usage(fixtures_dir: Path) -> None:
    result = run_cli(["sign", str(fixtures_dir / "login_failed.json")])
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no HMAC secret" in result.stderr
    assert "DESCOPE_AUDIT_HMAC_SECRET" in result.stderr


def test_sign_of_a_missing_file_is_bad_usage(tmp_path: Path) -> None:
    result = run_cli(["sign", str(tmp_path / "nope.json"), "--hmac-secret", SECRET])
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    assert result.stderr.count("\n") == 1


# --- verify ------------------------------------------------------------------------------


def _capture(tmp_path: Path, form: SignedForm = "raw", *, auth: Auth | None = None) -> tuple[Path, Path, list[Any]]:
    """A captured request: the body file and a headers file that starts with the request line."""
    events = [*sample_events(2), sample_event("login_failed", data={"error_message": "<b>bad</b> & wrong"})]
    body, headers = make_delivery(events, hmac_secret=SECRET, auth=auth or BearerToken(TOKEN), signed_form=form)
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    headers_file = tmp_path / "headers.txt"
    lines = ["POST /descope/audit HTTP/1.1", "Host: example.com", *(f"{k}: {v}" for k, v in headers.items())]
    headers_file.write_text("\n".join(lines) + "\n\n")
    return body_file, headers_file, events


def _verify_argv(body: Path, headers: Path) -> list[str]:
    """``verify`` of a captured request against the secret and token it was sent with."""
    config = ["--hmac-secret", SECRET, "--bearer-token", TOKEN]
    return ["verify", "--body", str(body), "--headers-file", str(headers), *config]


@pytest.mark.parametrize("form", ["raw", "trimmed", "compact", "compact-escaped"])
def test_verify_accepts_and_names_the_signed_form(tmp_path: Path, form: SignedForm) -> None:
    body, headers, events = _capture(tmp_path, form)
    result = run_cli(_verify_argv(body, headers))
    assert result.returncode == 0, result.stdout + result.stderr
    first, *lines = result.stdout.splitlines()
    assert first == f"accepted: 3 event(s); signature matched the {form} form"
    assert [line.split()[1] for line in lines] == [str(e["action"]) for e in events]
    _no_secret_in(result.stdout, result.stderr)


def test_verify_prints_events_as_json(tmp_path: Path) -> None:
    body, headers, events = _capture(tmp_path)
    result = run_cli(
        ["verify", "--body", str(body), "--headers-file", str(headers), "--json"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": SECRET, "DESCOPE_AUDIT_BEARER_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.split("\n", 1)[1])
    assert [e["occurred"] for e in printed] == [e["occurred"] for e in events]
    assert printed[2]["data"] == {"error_message": "<b>bad</b> & wrong"}


def test_verify_takes_headers_as_options(tmp_path: Path) -> None:
    body, _, events = _capture(tmp_path, auth=ApiKey("x-api-key", "key-value"))
    _, headers = make_delivery(events, hmac_secret=SECRET, auth=ApiKey("x-api-key", "key-value"))
    options = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    result = run_cli(
        ["verify", "--body", str(body), *options, "--api-key-header", "X-Api-Key", "--api-key", "key-value"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": SECRET},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_options_override_the_environment(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    args = ["verify", "--body", str(body), "--headers-file", str(headers)]
    env = {"DESCOPE_AUDIT_HMAC_SECRET": "a-wrong-secret", "DESCOPE_AUDIT_BASIC_USERNAME": "u"}
    env["DESCOPE_AUDIT_BASIC_PASSWORD"] = "p"
    accepted = run_cli([*args, "--hmac-secret", SECRET, "--bearer-token", TOKEN], env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    rejected = run_cli([*args, "--hmac-secret", "another-wrong-secret"], env={"DESCOPE_AUDIT_HMAC_SECRET": SECRET})
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("rejected: 401 invalid_signature")


def test_verify_rejects_a_tampered_body_with_the_reason(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    body.write_bytes(body.read_bytes().replace(b"LoginFailed", b"LoginSucceed"))
    result = run_cli(_verify_argv(body, headers))
    assert result.returncode == 1
    assert result.stdout.strip() == "rejected: 401 invalid_signature: signature does not match"
    _no_secret_in(result.stdout, result.stderr)


def test_verify_rejects_wrong_basic_credentials(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path, auth=BasicAuth("connector", "wrong-password"))
    result = run_cli(
        ["verify", "--body", str(body), "--headers-file", str(headers), "--basic-user", "connector"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": SECRET, "DESCOPE_AUDIT_BASIC_PASSWORD": "right-password"},
    )
    assert result.returncode == 1
    assert result.stdout.startswith("rejected: 401 invalid_credentials")
    _no_secret_in(result.stdout, result.stderr, secrets=("right-password", "wrong-password"))


def test_verify_with_a_malformed_header_option_is_bad_usage(tmp_path: Path) -> None:
    body, _, _ = _capture(tmp_path)
    result = run_cli(["verify", "--body", str(body), "-H", "Authorization Bearer x", "--hmac-secret", SECRET])
    assert result.returncode == 2
    assert "-H must look like NAME:VALUE" in result.stderr
    assert "Bearer x" not in result.stderr  # a header value may be a secret


def test_verify_with_a_malformed_headers_file_is_bad_usage(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    headers.write_text("Content-Type: application/json\nthis line has no colon\n")
    result = run_cli(["verify", "--body", str(body), "--headers-file", str(headers), "--hmac-secret", SECRET])
    assert result.returncode == 2
    assert "line 2 of" in result.stderr


def test_verify_without_any_configuration_is_bad_usage(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    result = run_cli(["verify", "--body", str(body), "--headers-file", str(headers)])
    assert result.returncode == 2
    assert "no HMAC secret and no authentication configured" in result.stderr


def test_verify_with_a_bad_variable_names_it(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    result = run_cli(
        ["verify", "--body", str(body), "--headers-file", str(headers)],
        env={"DESCOPE_AUDIT_HMAC_SECRET": SECRET, "DESCOPE_AUDIT_MAX_BODY_BYTES": "lots"},
    )
    assert result.returncode == 2
    assert "DESCOPE_AUDIT_MAX_BODY_BYTES" in result.stderr


def test_verify_requires_a_body() -> None:
    result = run_cli(["verify", "--hmac-secret", SECRET])
    assert result.returncode == 2
    assert "--body" in result.stderr


# --- send: what fails before or instead of a response ----------------------------------------


def test_send_to_an_unreachable_url_fails_with_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/descope/audit"
    result = run_cli(["send", url, "--hmac-secret", SECRET, "--bearer-token", TOKEN, "--timeout", "5"])
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("descope-audit-hook: error: cannot connect to 127.0.0.1:")
    _no_secret_in(result.stdout, result.stderr)


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


def test_serve_without_any_configuration_is_bad_usage(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", "0"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no HMAC secret and no authentication configured" in result.stderr
    assert not (tmp_path / "audit-events.db").exists()


def test_serve_with_a_bad_path_is_bad_usage(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", "0", "--path", "/api/events", "--hmac-secret", SECRET], cwd=tmp_path)
    assert result.returncode == 2
    assert "webhook path" in result.stderr


def test_send_does_not_print_the_query_string_of_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/descope/audit?token=query-secret"
    result = run_cli(["send", url, "--timeout", "5"])
    assert result.returncode == 1
    assert "/descope/audit?..." in result.stdout
    _no_secret_in(result.stdout, result.stderr, secrets=("query-secret",))


def test_demo_on_a_busy_port_fails_with_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = run_cli(["demo", "--port", str(busy.getsockname()[1])])
    assert result.returncode == 1
    assert result.stderr.startswith("descope-audit-hook: error: cannot listen on 127.0.0.1:")
    assert result.stderr.count("\n") == 1
