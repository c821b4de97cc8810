"""examples/fastapi_oauth_app.py under uvicorn, with a real authorization server on loopback.

Started with the command examples/README.md gives, configured only by environment
variables (the token validator named by ``DESCOPE_AUDIT_BEARER_VALIDATOR``, imported by
``Verifier.from_env()`` in the server process); the README's ``send --oauth-token-url``
line makes the client-credentials grant against tests/support/oauth_issuer.py and delivers with
the token. Tokens the authorization server did not issue for this receiver are refused.
"""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from descope_audit_hook import SIGNATURE_HEADER, BearerToken, sign
from descope_audit_hook.testing import make_delivery, sample_event
from tests.support.cli import run_cli
from tests.support.oauth_issuer import CLIENT_ID, CLIENT_SECRET, Issuer
from tests.support.paths import REPO
from tests.support.secrets import HMAC_SECRET
from tests.support.servers import Server, ServerStartError, request, serve

from ._readme import readme_command, readme_text

pytestmark = pytest.mark.server

PATH = "/descope/audit"


def environment(issuer: Issuer, db: Path, validator: str = "oauth_validator:validate") -> dict[str, str]:
    return {
        **issuer.env(),
        "DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET,
        "DESCOPE_AUDIT_BEARER_VALIDATOR": validator,
        "AUDIT_EVENTS_DB": str(db),
    }


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture(scope="module")
def app(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    db = tmp_path_factory.mktemp("oauth") / "audit_events.sqlite3"
    argv = readme_command("fastapi_oauth_app:app")
    with serve(argv, environment(issuer, db), REPO, ready_path=PATH) as server:
        yield server, db


def stored_actions(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT action FROM audit_events ORDER BY occurred")]


def test_the_readme_send_line_gets_a_token_and_delivers(issuer: Issuer, app: tuple[Server, Path]) -> None:
    server, db = app
    line = next(li for li in readme_text().splitlines() if "--oauth-token-url" in li and li.startswith("descope-"))
    words = shlex.split(line)
    words = [w.replace("http://127.0.0.1:8000", server.url) for w in words]
    words[words.index("--oauth-token-url") + 1] = issuer.token_url
    words[words.index("--client-id") + 1] = CLIENT_ID
    env = {"DESCOPE_AUDIT_HMAC_SECRET": HMAC_SECRET, "DESCOPE_AUDIT_OAUTH_CLIENT_SECRET": CLIENT_SECRET}

    done = run_cli([*words[1:], "--sample", "login_failed"], env=env, inherit=False, timeout=60)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "got a Bearer token" in done.stdout
    assert '"stored": 1' in done.stdout.replace('"stored":1', '"stored": 1')
    assert "LoginFailed" in stored_actions(db)
    output = server.output()
    assert f"from OAuth client {CLIENT_ID}" in output
    for secret in (HMAC_SECRET, CLIENT_SECRET, *issuer.issued):
        assert secret not in output + done.stdout + done.stderr


def test_tokens_it_should_not_trust_are_refused(issuer: Issuer, app: tuple[Server, Path]) -> None:
    server, db = app
    before = stored_actions(db)
    for token in (
        issuer.mint(aud="https://another-api.example"),
        issuer.mint(client_id="another-client"),
        issuer.mint(key=issuer.stranger.private),
        "not-a-jwt",
    ):
        body, headers = make_delivery([sample_event("user_created")], hmac_secret=HMAC_SECRET, auth=BearerToken(token))
        answer = request(server.url + PATH, "POST", body, headers)
        assert answer.status == 401
        assert answer.json() == {"error": "invalid_credentials", "message": "invalid credentials"}
        assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    assert stored_actions(db) == before
    assert "the token validator raised InvalidAudienceError" in server.output()


def test_the_signature_is_checked_before_the_token(issuer: Issuer, app: tuple[Server, Path]) -> None:
    server, _ = app
    body, headers = make_delivery(
        [sample_event("user_created")], hmac_secret=HMAC_SECRET, auth=BearerToken(issuer.mint())
    )
    forged = request(server.url + PATH, "POST", body, {**headers, SIGNATURE_HEADER: sign(body, "forged")})
    assert (forged.status, forged.json()["error"]) == (401, "invalid_signature")
    accepted = request(server.url + PATH, "POST", body, headers)
    assert (accepted.status, accepted.json()) == (200, {"received": 1, "stored": 1})


def test_the_key_set_is_fetched_once_by_the_server(issuer: Issuer, app: tuple[Server, Path]) -> None:
    server, _ = app
    for _ in range(3):
        body, headers = make_delivery(
            [sample_event("login_succeed")], hmac_secret=HMAC_SECRET, auth=BearerToken(issuer.mint())
        )
        assert request(server.url + PATH, "POST", body, headers).status == 200
    assert issuer.count("/jwks") == 1


def test_a_validator_that_does_not_import_stops_the_app(issuer: Issuer, tmp_path: Path) -> None:
    env = environment(issuer, tmp_path / "db.sqlite3", validator="oauth_validator:no_such_function")
    with (
        pytest.raises(ServerStartError) as info,
        serve(readme_command("fastapi_oauth_app:app"), env, REPO, ready_path=PATH, attempts=1, start_timeout=20),
    ):
        pass
    assert "DESCOPE_AUDIT_BEARER_VALIDATOR: oauth_validator:no_such_function cannot be imported" in str(info.value)
