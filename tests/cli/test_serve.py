"""``serve``: ``send`` -> ``serve``, both as subprocesses, every auth type and signed form stored once; bad usage."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook.testing import SAMPLE_KINDS, sample_event, sample_events
from tests.support.cli import CLI, run_cli
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import Server, get_json, serve

pytestmark = pytest.mark.server

FORMS = ("raw", "trimmed", "compact", "compact-escaped")

# Each receiver is configured one way (options and/or variables); the sender gets the matching options.
RECEIVERS: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    "bearer": (
        ["--bearer-token", "e2e-bearer-token", "--required-header", "x-environment:e2e"],
        {"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET},
        ["--bearer-token", "e2e-bearer-token", "--header", "x-environment:e2e"],
    ),
    "api-key": (
        ["--hmac-secret", HMAC_SECRET],
        {"DESCOPE_AUDIT_API_KEY_HEADER": "x-descope-key", "DESCOPE_AUDIT_API_KEY": "new-key,old-key"},
        ["--api-key-header", "X-Descope-Key", "--api-key", "old-key"],
    ),
    "basic": (
        ["--hmac-secret", HMAC_SECRET, "--basic-user", "connector", "--basic-password", "e2e-basic-password"],
        {},
        ["--basic-user", "connector", "--basic-password", "e2e-basic-password"],
    ),
}


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """One ``serve`` process per authentication type, each with its own database."""
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        for name, (options, env, _) in RECEIVERS.items():
            workdir = tmp_path_factory.mktemp(name)
            argv = [*CLI, "serve", "--port", "{port}", "--db", str(workdir / "events.db"), *options]
            servers[name] = stack.enter_context(serve(argv, env, workdir, ready_path="/api/events"))
        yield servers


def _events(auth: str, form: str) -> list[dict[str, Any]]:
    # Distinct events per case; `<&>` makes compact-escaped differ from compact.
    events = sample_events(3, seed=FORMS.index(form) * 10 + list(RECEIVERS).index(auth))
    for event in events:
        event["data"] = {**event["data"], "case": f"{auth}/{form} <&>", "emoji": "\u00e9\u2713"}
    return events


def _stored(server: Server, case: str) -> list[dict[str, Any]]:
    listing = get_json(server.url + "/api/events?per_page=500")
    return [e for e in listing["events"] if e["raw"].get("data", {}).get("case") == case]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("auth", list(RECEIVERS))
def test_send_to_serve_stores_exactly_what_was_sent(
    receivers: dict[str, Server], tmp_path: Path, auth: str, form: str
) -> None:
    server = receivers[auth]
    events = _events(auth, form)
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    send = ["send", server.url + "/descope/audit", "--file", str(path), "--hmac-secret", HMAC_SECRET]
    send += ["--signed-form", form, *RECEIVERS[auth][2]]

    first = run_cli(send)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[1] == "HTTP 200 OK"
    assert json.loads(lines[2]) == {"received": 3, "stored": 3, "duplicates": 0, "signed_form": form}

    stored = _stored(server, f"{auth}/{form} <&>")
    assert sorted((e["raw"] for e in stored), key=lambda e: e["occurred"]) == sorted(
        events, key=lambda e: e["occurred"]
    )
    assert {e["signedForm"] for e in stored} == {form}
    total = get_json(server.url + "/api/events")["total"]

    again = run_cli(send)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout.splitlines()[2]) == {
        "received": 3,
        "stored": 0,
        "duplicates": 3,
        "signed_form": form,
    }
    assert get_json(server.url + "/api/events")["total"] == total
    assert len(_stored(server, f"{auth}/{form} <&>")) == 3


def test_builtin_samples_and_from_env(receivers: dict[str, Server]) -> None:
    server = receivers["bearer"]
    env = {
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_TOKEN": "e2e-bearer-token",
        "DESCOPE_AUDIT_HEADERS": '{"x-environment": "e2e"}',
    }
    # One set of names: every kind of testing.sample_event() is a --sample, sending that very event.
    for sample in SAMPLE_KINDS:
        result = run_cli(["send", server.url + "/descope/audit", "--sample", sample, "--from-env"], env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"received": 1' in result.stdout
    stored = [e["raw"] for e in get_json(server.url + "/api/events?per_page=500")["events"]]
    assert all(sample_event(kind) in stored for kind in SAMPLE_KINDS)
    expected = sample_event("login_failed")
    failed = get_json(server.url + "/api/events?action=LoginFailed&user=alice%40example.com")["events"]
    assert expected in [e["raw"] for e in failed]


@pytest.mark.parametrize(
    ("auth", "args", "status", "code"),
    [
        ("bearer", ["--bearer-token", "wrong-token", "--header", "x-environment:e2e"], 401, "invalid_credentials"),
        ("bearer", ["--bearer-token", "e2e-bearer-token"], 401, "missing_header"),
        ("api-key", ["--api-key-header", "x-descope-key", "--api-key", "revoked"], 401, "invalid_credentials"),
        ("basic", ["--basic-user", "connector", "--basic-password", "nope"], 401, "invalid_credentials"),
        ("basic", [], 401, "missing_credentials"),
    ],
)
def test_send_exits_1_on_a_rejection(
    receivers: dict[str, Server], auth: str, args: list[str], status: int, code: str
) -> None:
    server = receivers[auth]
    before = get_json(server.url + "/api/events")["total"]
    result = run_cli(["send", server.url + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "2", *args])
    assert result.returncode == 1
    assert f"HTTP {status} " in result.stdout
    assert json.loads(result.stdout.splitlines()[2])["error"] == code
    assert result.stderr == f"descope-audit-hook: error: the receiver answered {status} Unauthorized\n"
    assert get_json(server.url + "/api/events")["total"] == before


def test_forged_signature_is_rejected_and_logged_once(receivers: dict[str, Server]) -> None:
    server = receivers["basic"]
    sender = RECEIVERS["basic"][2]
    result = run_cli(["send", server.url + "/descope/audit", "--hmac-secret", "forged", "--seed", "99", *sender])
    assert result.returncode == 1
    assert '"error":"invalid_signature"' in result.stdout  # the library's one JSON error answer
    log = server.output()
    lines = [line for line in log.splitlines() if '"POST /descope/audit" 401' in line and "invalid_signature" in line]
    assert len(lines) == 1
    for secret in (HMAC_SECRET, "e2e-basic-password", "forged"):
        assert secret not in log


def test_wrong_method_and_unknown_path(receivers: dict[str, Server]) -> None:
    server = receivers["bearer"]
    with pytest.raises(urllib.error.HTTPError) as wrong_method:
        urllib.request.urlopen(server.url + "/descope/audit", timeout=10)
    assert wrong_method.value.code == 405
    assert wrong_method.value.headers["Allow"] == "POST"
    assert json.loads(wrong_method.value.read())["error"] == "method_not_allowed"
    wrong_method.value.close()
    with pytest.raises(urllib.error.HTTPError) as unknown:
        urllib.request.urlopen(server.url + "/nothing-here", timeout=10)
    assert unknown.value.code == 404
    unknown.value.close()


def test_default_database_is_in_the_working_directory(tmp_path: Path) -> None:
    argv = [*CLI, "serve", "--port", "{port}", "--hmac-secret", HMAC_SECRET]
    with serve(argv, {}, tmp_path, ready_path="/api/events") as server:
        result = run_cli(["send", server.url + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "4"])
        assert result.returncode == 0, result.stderr
        assert "database: audit-events.db" in server.output()
    with sqlite3.connect(tmp_path / "audit-events.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 4


@pytest.mark.parametrize("token", [None, "e2e-page-token-0123456789"])
def test_serve_on_a_non_loopback_address_needs_a_token_for_the_page(tmp_path: Path, token: str | None) -> None:
    env = {"DESCOPE_AUDIT_PAGE_TOKEN": token} if token else {}
    argv = [*CLI, "serve", "--host", "0.0.0.0", "--port", "{port}", "--db", str(tmp_path / "e.db")]
    with serve([*argv, "--hmac-secret", HMAC_SECRET], env, tmp_path, ready_path="/audit.css") as server:
        sent = run_cli(["send", server.url + "/descope/audit", "--hmac-secret", HMAC_SECRET, "--count", "2"])
        assert sent.returncode == 0, sent.stdout + sent.stderr  # the webhook works on any address
        request = urllib.request.Request(server.url + "/api/events")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read())["total"] == 2
        else:
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            refused.value.close()
            assert refused.value.code == 403
        output = server.output()
    if token:
        assert "(log in with the access token)" in output
        assert token not in output
    else:
        assert "audit page: off on a non-loopback address without an access token" in output


def test_serve_without_any_configuration_is_bad_usage(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", "0"], cwd=tmp_path)
    assert result.returncode == 2
    assert "no HMAC secret and no authentication configured" in result.stderr
    assert not (tmp_path / "audit-events.db").exists()


def test_serve_with_a_bad_path_is_bad_usage(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", "0", "--path", "/api/events", "--hmac-secret", HMAC_SECRET], cwd=tmp_path)
    assert result.returncode == 2
    assert "webhook path" in result.stderr
