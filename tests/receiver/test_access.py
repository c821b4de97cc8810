"""Who sees the audit page: the Host allow-list (DNS rebinding), loopback-only without a token,
the access token as a bearer header, the login form, its cookie, CSRF, logout."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from descope_audit_hook import ConfigurationError, Verifier
from descope_audit_hook.receiver import AuditReceiver, PageAccess, make_app
from descope_audit_hook.testing import sample_events
from tests.support.secrets import HMAC_SECRET, OTHER_PAGE_TOKEN, PAGE_TOKEN
from tests.support.wsgi import Reply, call, post_delivery

PAGE_ROUTES = ["/", "/api/events", "/api/events.csv", "/api/events.jsonl"]


def app_with(tmp_path: Path, access: PageAccess | None = None) -> AuditReceiver:
    app = make_app(Verifier(HMAC_SECRET), tmp_path / "events.db", access=access)
    assert post_delivery(app, sample_events(3)).code == 200
    return app


def deliver(app: AuditReceiver, **request: Any) -> Reply:
    return post_delivery(app, sample_events(1, seed=9), **request)


# --- Host: the DNS-rebinding defence -------------------------------------------------------


@pytest.mark.parametrize("path", [*PAGE_ROUTES, "/audit.css", "/login", "/nowhere"])
def test_a_foreign_host_is_refused_on_every_route(tmp_path: Path, path: str) -> None:
    # A page on attacker.example whose name resolves to 127.0.0.1 reaches us with its own Host.
    app = app_with(tmp_path)
    reply = call(app, path=path, host="attacker.example:8811")
    assert (reply.code, reply.json()["error"]) == (400, "invalid_host")
    assert b"fingerprint" not in reply.body


def test_a_foreign_host_cannot_deliver_either(tmp_path: Path) -> None:
    app = app_with(tmp_path)
    assert deliver(app, host="attacker.example").code == 400
    assert call(app, path="/api/events").json()["total"] == 3


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8811", "127.0.0.1", "localhost:8811", "LOCALHOST.", "[::1]:8811", "app.localhost", "127.9.9.9"]
)
def test_loopback_names_are_served(tmp_path: Path, host: str) -> None:
    assert call(app_with(tmp_path), path="/api/events", host=host).json()["total"] == 3


@pytest.mark.parametrize("host", [None, "", "a b", "[::1", "x:y", "127.0.0.1:80:80", "bad/host", "é.example"])
def test_a_missing_or_malformed_host_is_refused(tmp_path: Path, host: str | None) -> None:
    reply = call(app_with(tmp_path), path="/api/events", host=host)
    assert (reply.code, reply.json()["error"]) == (400, "invalid_host")


def test_allowed_hosts_and_the_bound_address_are_served(tmp_path: Path) -> None:
    access = PageAccess([PAGE_TOKEN], ["audit.example.com", "2001:DB8::1"], bound_host="192.0.2.10")
    app = app_with(tmp_path, access)
    bearer = {"Authorization": f"Bearer {PAGE_TOKEN}"}
    for host in ("audit.example.com", "AUDIT.example.com.:443", "[2001:db8::1]:8000", "192.0.2.10:8000"):
        assert call(app, path="/api/events", host=host, headers=bearer).code == 200, host
    for host in ("evil.audit.example.com", "example.com", "192.0.2.11"):
        assert call(app, path="/api/events", host=host, headers=bearer).code == 400, host


@pytest.mark.parametrize("value", ["audit.example.com:443", "bad host", "", "*"])
def test_an_allowed_host_must_be_a_name_or_an_address(value: str) -> None:
    with pytest.raises(ConfigurationError, match="allowed host"):
        PageAccess(allowed_hosts=[value])


# --- without a token: loopback only ------------------------------------------------------------


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_without_a_token_a_remote_client_is_refused_the_page(tmp_path: Path, path: str) -> None:
    app = app_with(tmp_path)
    reply = call(app, path=path, remote="203.0.113.5")
    assert (reply.code, reply.json()["error"]) == (403, "page_token_required")
    assert call(app, path=path, remote="::ffff:127.0.0.1").code == 200


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_without_a_token_a_non_loopback_server_shows_no_page_at_all(tmp_path: Path, path: str) -> None:
    app = app_with(tmp_path, PageAccess(bound_host="0.0.0.0"))
    assert call(app, path=path).code == 403
    # The webhook keeps its own authentication and works from anywhere.
    assert deliver(app, remote="203.0.113.5").json()["stored"] == 1


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_without_a_token_a_public_name_is_refused_even_from_loopback(tmp_path: Path, path: str) -> None:
    # Behind a reverse proxy on the same machine every visitor connects from 127.0.0.1,
    # asking for the public name: that name needs a token.
    app = app_with(tmp_path, PageAccess((), ["audit.example.com"]))
    for remote in ("127.0.0.1", "::1"):
        reply = call(app, path=path, host="audit.example.com", remote=remote)
        assert (reply.code, reply.json()["error"]) == (403, "page_token_required")
        assert b"fingerprint" not in reply.body
    assert call(app, path=path, host="localhost:8000").code == 200
    # The webhook answers the public name as before.
    assert deliver(app, host="audit.example.com").json()["stored"] == 1


# --- with a token ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGE_ROUTES[1:])
def test_the_data_needs_the_token(tmp_path: Path, path: str) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN], bound_host="0.0.0.0"))
    missing = call(app, path=path)
    assert (missing.code, missing.json()["error"]) == (401, "login_required")
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    wrong = call(app, path=path, headers={"Authorization": f"Bearer {PAGE_TOKEN}x"})
    assert (wrong.code, wrong.json()["error"]) == (401, "invalid_credentials")
    right = call(app, path=path, remote="203.0.113.5", headers={"Authorization": f"Bearer {PAGE_TOKEN}"})
    assert right.code == 200
    assert PAGE_TOKEN.encode() not in missing.body + wrong.body + right.body


def test_the_page_sends_a_browser_to_the_login_form(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    reply = call(app, path="/")
    assert (reply.code, reply.headers["location"]) == (303, "./login")


@pytest.mark.parametrize("token", ["short", " " * 20, "fifteen-chars!!"])
def test_a_weak_token_is_refused(token: str) -> None:
    with pytest.raises(ConfigurationError, match="16"):
        PageAccess([token])


def test_without_a_token_there_is_no_login(tmp_path: Path) -> None:
    app = app_with(tmp_path)
    assert call(app, path="/login").code == 404
    assert call(app, "POST", "/logout").code == 404


# --- the login form ------------------------------------------------------------------------------


def login_form(app: AuditReceiver) -> tuple[str, str]:
    """``(csrf field, csrf cookie)`` of a fresh login form."""
    form = call(app, path="/login")
    assert form.code == 200
    assert "default-src 'none'" in form.headers["content-security-policy"]
    field = re.search(r'name="csrf" value="([^"]+)"', form.body.decode())
    assert field is not None
    cookie = form.cookies()["descope_audit_csrf"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert value == field.group(1)
    return field.group(1), value


def submit(app: AuditReceiver, token: str, csrf: str, cookie: str, **headers: str) -> Reply:
    body = f"token={token}&csrf={csrf}".encode()
    form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"descope_audit_csrf={cookie}"}
    return call(app, "POST", "/login", body=body, headers={**form_headers, **headers})


def log_in(app: AuditReceiver) -> str:
    csrf, cookie = login_form(app)
    done = submit(app, PAGE_TOKEN, csrf, cookie)
    assert (done.code, done.headers["location"]) == (303, "./")
    session = done.cookies()["descope_audit_session"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attribute in session
    return session.split(";", 1)[0].split("=", 1)[1]


def test_login_sets_a_session_cookie_that_is_not_the_token(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    session = log_in(app)
    assert PAGE_TOKEN not in session
    assert len(session) >= 40
    page = call(app, path="/", headers={"Cookie": f"other=1; descope_audit_session={session}"})
    assert page.code == 200
    assert 'id="logout"' in page.body.decode()
    assert call(app, path="/api/events", headers={"Cookie": f"descope_audit_session={session}"}).code == 200
    # The database keeps a digest of the session, never the cookie nor the token.
    with sqlite3.connect(tmp_path / "events.db") as db:
        rows = db.execute("SELECT digest, tag FROM page_sessions").fetchall()
    assert len(rows) == 1
    assert session not in repr(rows)
    assert PAGE_TOKEN not in repr(rows)


def test_a_wrong_token_is_refused_without_a_session(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    csrf, cookie = login_form(app)
    reply = submit(app, OTHER_PAGE_TOKEN, csrf, cookie)
    assert reply.code == 401
    assert 'id="login-error"' in reply.body.decode()
    assert "descope_audit_session" not in reply.cookies()
    assert call(app, path="/", headers={"Cookie": "descope_audit_session=guess"}).code == 303


@pytest.mark.parametrize(
    ("change", "headers"),
    [
        ("field", {}),
        ("cookie", {}),
        ("none", {"Sec-Fetch-Site": "cross-site"}),
        ("none", {"Origin": "http://attacker.example"}),
    ],
)
def test_the_login_form_is_protected_against_csrf(tmp_path: Path, change: str, headers: dict[str, str]) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    csrf, cookie = login_form(app)
    if change == "field":
        csrf = "forged"
    elif change == "cookie":
        cookie = ""
    reply = submit(app, PAGE_TOKEN, csrf, cookie, **headers)
    assert (reply.code, reply.json()["error"]) == (403, "invalid_csrf")
    assert "descope_audit_session" not in reply.cookies()


def test_a_same_origin_form_is_accepted(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    csrf, cookie = login_form(app)
    reply = submit(app, PAGE_TOKEN, csrf, cookie, Origin="http://127.0.0.1", **{"Sec-Fetch-Site": "same-origin"})
    assert reply.code == 303


def test_logout_ends_the_session_on_the_server(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    session = log_in(app)
    cookie = {"Cookie": f"descope_audit_session={session}"}
    page = call(app, path="/", headers=cookie).body.decode()
    match = re.search(r'action="./logout".*?name="csrf" value="([^"]+)"', page)
    assert match is not None
    forged = call(app, "POST", "/logout", body=b"csrf=forged", headers=cookie)
    assert (forged.code, forged.json()["error"]) == (403, "invalid_csrf")
    assert call(app, path="/", headers=cookie).code == 200
    done = call(app, "POST", "/logout", body=f"csrf={match.group(1)}".encode(), headers=cookie)
    assert (done.code, done.headers["location"]) == (303, "./login")
    assert "Max-Age=0" in done.cookies()["descope_audit_session"]
    # The cookie a browser (or a thief) kept no longer opens anything.
    assert call(app, path="/", headers=cookie).code == 303
    assert call(app, path="/api/events", headers=cookie).code == 401


def test_a_token_taken_out_of_the_configuration_ends_its_sessions(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN, OTHER_PAGE_TOKEN]))
    session = log_in(app)
    cookie = {"Cookie": f"descope_audit_session={session}"}
    rotated = AuditReceiver(app.hooks, app.store, PageAccess([OTHER_PAGE_TOKEN]))
    assert call(rotated, path="/api/events", headers=cookie).code == 401
    kept = AuditReceiver(app.hooks, app.store, PageAccess([OTHER_PAGE_TOKEN, PAGE_TOKEN]))
    assert call(kept, path="/api/events", headers=cookie).code == 200


def test_cookies_are_secure_over_https(tmp_path: Path) -> None:
    app = app_with(tmp_path, PageAccess([PAGE_TOKEN]))
    form = call(app, path="/login", scheme="https")
    assert "; Secure" in form.cookies()["descope_audit_csrf"]
