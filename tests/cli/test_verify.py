"""``sign`` and ``verify``: as a user runs them (a subprocess), then in-process through ``main()``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import ApiKey, Auth, BasicAuth, BearerToken, SignedForm
from descope_audit_hook.cli import main
from descope_audit_hook.testing import make_delivery, sample_event, sample_events
from tests.support.cli import run_cli
from tests.support.deliveries import FIXTURE_SIGNATURES
from tests.support.secrets import BEARER_TOKEN, FIXTURE_SECRET, HMAC_SECRET, assert_no_secret_in


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
    result = run_cli(["sign", str(tmp_path / "nope.json"), "--hmac-secret", HMAC_SECRET])
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    assert result.stderr.count("\n") == 1


def _capture(tmp_path: Path, form: SignedForm = "raw", *, auth: Auth | None = None) -> tuple[Path, Path, list[Any]]:
    """A captured request: the body file and a headers file that starts with the request line."""
    events = [*sample_events(2), sample_event("login_failed", data={"error_message": "<b>bad</b> & wrong"})]
    body, headers = make_delivery(
        events, hmac_secret=HMAC_SECRET, auth=auth or BearerToken(BEARER_TOKEN), signed_form=form
    )
    body_file = tmp_path / "body.json"
    body_file.write_bytes(body)
    headers_file = tmp_path / "headers.txt"
    lines = ["POST /descope/audit HTTP/1.1", "Host: example.com", *(f"{k}: {v}" for k, v in headers.items())]
    headers_file.write_text("\n".join(lines) + "\n\n")
    return body_file, headers_file, events


def _verify_argv(body: Path, headers: Path) -> list[str]:
    """``verify`` of a captured request against the secret and token it was sent with."""
    config = ["--hmac-secret", HMAC_SECRET, "--bearer-token", BEARER_TOKEN]
    return ["verify", "--body", str(body), "--headers-file", str(headers), *config]


@pytest.mark.parametrize("form", ["raw", "trimmed", "compact", "compact-escaped"])
def test_verify_accepts_and_names_the_signed_form(tmp_path: Path, form: SignedForm) -> None:
    body, headers, events = _capture(tmp_path, form)
    result = run_cli(_verify_argv(body, headers))
    assert result.returncode == 0, result.stdout + result.stderr
    first, *lines = result.stdout.splitlines()
    assert first == f"accepted: 3 event(s); signature matched the {form} form"
    assert [line.split()[1] for line in lines] == [str(e["action"]) for e in events]
    assert_no_secret_in(result.stdout, result.stderr)


def test_verify_prints_events_as_json(tmp_path: Path) -> None:
    body, headers, events = _capture(tmp_path)
    result = run_cli(
        ["verify", "--body", str(body), "--headers-file", str(headers), "--json"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET, "DESCOPE_AUDIT_BEARER_TOKEN": BEARER_TOKEN},
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.split("\n", 1)[1])
    assert [e["occurred"] for e in printed] == [e["occurred"] for e in events]
    assert printed[2]["data"] == {"error_message": "<b>bad</b> & wrong"}


def test_verify_takes_headers_as_options(tmp_path: Path) -> None:
    body, _, events = _capture(tmp_path, auth=ApiKey("x-api-key", "key-value"))
    _, headers = make_delivery(events, hmac_secret=HMAC_SECRET, auth=ApiKey("x-api-key", "key-value"))
    options = [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    result = run_cli(
        ["verify", "--body", str(body), *options, "--api-key-header", "X-Api-Key", "--api-key", "key-value"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_options_override_the_environment(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    args = ["verify", "--body", str(body), "--headers-file", str(headers)]
    env = {"DESCOPE_AUDIT_HMAC_SECRET": "a-wrong-secret", "DESCOPE_AUDIT_BASIC_USERNAME": "u"}
    env["DESCOPE_AUDIT_BASIC_PASSWORD"] = "p"
    accepted = run_cli([*args, "--hmac-secret", HMAC_SECRET, "--bearer-token", BEARER_TOKEN], env=env)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    rejected = run_cli([*args, "--hmac-secret", "another-wrong-secret"], env={"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET})
    assert rejected.returncode == 1
    assert rejected.stdout.startswith("rejected: 401 invalid_signature")


def test_verify_rejects_a_tampered_body_with_the_reason(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    body.write_bytes(body.read_bytes().replace(b"LoginFailed", b"LoginSucceed"))
    result = run_cli(_verify_argv(body, headers))
    assert result.returncode == 1
    assert result.stdout.strip() == "rejected: 401 invalid_signature: signature does not match"
    assert_no_secret_in(result.stdout, result.stderr)


def test_verify_rejects_wrong_basic_credentials(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path, auth=BasicAuth("connector", "wrong-password"))
    result = run_cli(
        ["verify", "--body", str(body), "--headers-file", str(headers), "--basic-user", "connector"],
        env={"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET, "DESCOPE_AUDIT_BASIC_PASSWORD": "right-password"},
    )
    assert result.returncode == 1
    assert result.stdout.startswith("rejected: 401 invalid_credentials")
    assert_no_secret_in(result.stdout, result.stderr, secrets=("right-password", "wrong-password"))


def test_verify_with_a_malformed_header_option_is_bad_usage(tmp_path: Path) -> None:
    body, _, _ = _capture(tmp_path)
    result = run_cli(["verify", "--body", str(body), "-H", "Authorization Bearer x", "--hmac-secret", HMAC_SECRET])
    assert result.returncode == 2
    assert "-H must look like NAME:VALUE" in result.stderr
    assert "Bearer x" not in result.stderr  # a header value may be a secret


def test_verify_with_a_malformed_headers_file_is_bad_usage(tmp_path: Path) -> None:
    body, headers, _ = _capture(tmp_path)
    headers.write_text("Content-Type: application/json\nthis line has no colon\n")
    result = run_cli(["verify", "--body", str(body), "--headers-file", str(headers), "--hmac-secret", HMAC_SECRET])
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
        env={"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET, "DESCOPE_AUDIT_MAX_BODY_BYTES": "lots"},
    )
    assert result.returncode == 2
    assert "DESCOPE_AUDIT_MAX_BODY_BYTES" in result.stderr


def test_verify_requires_a_body() -> None:
    result = run_cli(["verify", "--hmac-secret", HMAC_SECRET])
    assert result.returncode == 2
    assert "--body" in result.stderr


def test_sign_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body, headers = make_delivery(
        sample_events(2), hmac_secret=HMAC_SECRET, auth=BearerToken("tok"), signed_form="compact"
    )
    (tmp_path / "body.json").write_bytes(body)
    (tmp_path / "headers.txt").write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
    assert main(["sign", str(tmp_path / "body.json"), "--hmac-secret", HMAC_SECRET]) == 0
    assert len(capsys.readouterr().out.strip()) == 44
    common = ["verify", "--body", str(tmp_path / "body.json"), "--headers-file", str(tmp_path / "headers.txt")]
    assert main([*common, "--hmac-secret", HMAC_SECRET, "--bearer-token", "tok"]) == 0
    assert "signature matched the compact form" in capsys.readouterr().out
    assert main([*common, "--hmac-secret", HMAC_SECRET, "--bearer-token", "tok", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out.split("\n", 1)[1])) == 2
    assert (
        main([*common, "--bearer-token", "tok", "--required-header", "x-env:prod", "--hmac-secret", HMAC_SECRET]) == 1
    )
    assert "rejected: 401 missing_header" in capsys.readouterr().out
    assert main([*common, "--allow-unauthenticated", "--max-body-bytes", "10"]) == 1
    assert "rejected: 413 payload_too_large" in capsys.readouterr().out
    assert main([*common, "--hmac-secret", HMAC_SECRET, "--signed-forms", "raw", "--bearer-token", "tok"]) == 1
    assert main([*common, "--hmac-secret", "a,b"]) == 2
    assert "must not contain ','" in capsys.readouterr().err
    assert main(["verify", "--body", str(tmp_path / "missing"), "--hmac-secret", HMAC_SECRET]) == 2
    assert main([*common[:3], "--headers-file", str(tmp_path / "missing"), "--hmac-secret", HMAC_SECRET]) == 2
