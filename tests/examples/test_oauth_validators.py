"""docs/oauth.md's validators, run as written against a real authorization server on loopback.

examples/oauth_validator.py (JWTs, PyJWT's PyJWKClient) and examples/oauth_introspection.py
(opaque tokens, RFC 7662) are imported from their files, configured by their environment
variables for tests/support/oauth_issuer.py, and put behind a Verifier. Tokens are signed with
RS256 and ES256 keys generated for this run; every bad token must be a 401
``invalid_credentials`` and its log line must name what PyJWT raised, never the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import jwt
import jwt.jwks_client
import pytest

from descope_audit_hook import AuthenticationError, BearerToken, Verifier
from descope_audit_hook.testing import make_delivery, sample_events
from tests.support.oauth_issuer import AUDIENCE, CLIENT_ID, Issuer, load_example
from tests.support.oauth_tokens import NAMES, bad_tokens
from tests.support.secrets import HMAC_SECRET


def verifier_for(module: ModuleType, name: str = "validate") -> Verifier:
    return Verifier(HMAC_SECRET, auth=BearerToken(validator=getattr(module, name)))


def deliver(verifier: Verifier, token: str) -> Any:
    body, headers = make_delivery(sample_events(3), hmac_secret=HMAC_SECRET, auth=BearerToken(token))
    return verifier.verify(body, headers)


# --- accepted -------------------------------------------------------------------------


@pytest.mark.parametrize("kid", ["rs-1", "ec-1"], ids=["RS256", "ES256"])
def test_a_token_of_the_descope_client_is_accepted(oauth_issuer: Issuer, oauth_recipe: ModuleType, kid: str) -> None:
    token = oauth_issuer.mint(kid=kid)
    batch = deliver(verifier_for(oauth_recipe), token)
    assert len(batch) == 3
    assert batch.claims["client_id"] == CLIENT_ID
    assert batch.claims["aud"] == AUDIENCE
    assert batch.claims["scope"] == "audit:write"


def test_within_the_leeway_a_clock_difference_is_tolerated(oauth_issuer: Issuer, oauth_recipe: ModuleType) -> None:
    now = int(time.time())
    verifier = verifier_for(oauth_recipe)
    assert deliver(verifier, oauth_issuer.mint(exp=now - 10)).claims is not None
    assert deliver(verifier, oauth_issuer.mint(nbf=now + 10, iat=now + 10)).claims is not None


def test_the_key_set_is_fetched_once_and_cached(oauth_issuer: Issuer) -> None:
    recipe = load_example("oauth_validator", oauth_issuer.env())  # a fresh client, an empty cache
    before = oauth_issuer.count("/jwks")
    verifier = verifier_for(recipe)
    for kid in ["rs-1", "ec-1"] * 5:
        deliver(verifier, oauth_issuer.mint(kid=kid))
    assert oauth_issuer.count("/jwks") == before + 1


# --- refused ------------------------------------------------------------------------------


def test_the_list_of_bad_tokens_is_complete(oauth_issuer: Issuer) -> None:
    assert list(bad_tokens(oauth_issuer)) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_token_is_a_401_that_names_the_reason_only_in_the_log(
    oauth_issuer: Issuer, oauth_recipe: ModuleType, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    token, error = bad_tokens(oauth_issuer)[name]
    with caplog.at_level(logging.WARNING, logger="descope_audit_hook"), pytest.raises(AuthenticationError) as info:
        deliver(verifier_for(oauth_recipe), token)
    assert info.value.code == "invalid_credentials"
    assert info.value.status_code == 401
    assert info.value.headers["WWW-Authenticate"].startswith("Bearer ")
    assert info.value.to_dict() == {"error": "invalid_credentials", "message": "invalid credentials"}
    [line] = [r.getMessage() for r in caplog.records]
    assert "the token validator raised " in line
    assert line.endswith(f"(the token validator raised {error})")
    assert token not in caplog.text


def test_empty_and_missing_tokens_never_reach_the_validator(oauth_recipe: ModuleType) -> None:
    calls: list[str] = []

    def counting(token: str) -> dict[str, Any]:
        calls.append(token)
        return oauth_recipe.validate(token)  # type: ignore[no-any-return]

    verifier = Verifier(HMAC_SECRET, auth=BearerToken(validator=counting))
    body, headers = make_delivery(sample_events(1), hmac_secret=HMAC_SECRET)
    for value, code in [("Bearer ", "malformed_credentials"), ("Bearer", "malformed_credentials"), (None, None)]:
        sent = dict(headers) if value is None else {**headers, "Authorization": value}
        with pytest.raises(AuthenticationError) as info:
            verifier.verify(body, sent)
        assert info.value.code == (code or "missing_credentials")
    assert calls == []


def test_made_up_key_ids_do_not_make_it_hammer_the_key_server(oauth_issuer: Issuer, oauth_recipe: ModuleType) -> None:
    verifier = verifier_for(oauth_recipe)
    deliver(verifier, oauth_issuer.mint())  # the key set is cached
    before = oauth_issuer.count("/jwks")
    for number in range(10):
        with pytest.raises(AuthenticationError):
            deliver(verifier, oauth_issuer.mint(headers={"kid": f"made-up-{number}"}))
    # PyJWKClient refetches for an unknown kid at most once per cooldown (30 s).
    assert oauth_issuer.count("/jwks") - before <= 1


def test_a_required_scope_is_enforced(oauth_issuer: Issuer) -> None:
    recipe = load_example("oauth_validator", {**oauth_issuer.env(), "OAUTH_REQUIRED_SCOPE": "audit:write"})
    verifier = verifier_for(recipe)
    assert deliver(verifier, oauth_issuer.mint(scope="openid audit:write")).claims is not None
    for scope in ("openid", "audit:writer", None):
        with pytest.raises(AuthenticationError):
            deliver(verifier, oauth_issuer.mint(scope=scope))


# --- key rotation ---------------------------------------------------------------------


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


class Clock:
    """``time.monotonic`` as PyJWKClient sees it, moved forward by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def test_a_rotated_key_is_fetched_after_the_cooldown(own_issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(jwt.jwks_client, "time", SimpleNamespace(monotonic=clock.monotonic))
    recipe = load_example("oauth_validator", own_issuer.env())
    verifier = verifier_for(recipe)
    assert deliver(verifier, own_issuer.mint()).claims is not None
    assert own_issuer.count("/jwks") == 1

    new_kid = own_issuer.rotate()
    rotated = own_issuer.mint()
    assert jwt.get_unverified_header(rotated)["kid"] == new_kid
    # Within the cooldown of the last fetch, an unknown kid is refused without a fetch:
    # publish a new key in the key set before signing with it (docs/oauth.md).
    with pytest.raises(AuthenticationError):
        deliver(verifier, rotated)
    assert own_issuer.count("/jwks") == 1
    clock.offset = 31  # the cooldown has passed
    assert deliver(verifier, rotated).claims is not None
    assert own_issuer.count("/jwks") == 2
    # The old key is still published, so tokens signed with it before the switch still pass.
    assert deliver(verifier, own_issuer.mint(kid="rs-1")).claims is not None
    assert own_issuer.count("/jwks") == 2


# --- opaque tokens: introspection -----------------------------------------------------


@pytest.fixture
def opaque_issuer(own_issuer: Issuer) -> Issuer:
    own_issuer.token_format = "opaque"
    return own_issuer


def _opaque(issuer: Issuer, **changes: Any) -> str:
    token: str = issuer.issue("audit:write")["access_token"]
    issuer.opaque[token].update(changes)
    return token


def test_introspection_accepts_an_active_token_and_caches_the_answer(opaque_issuer: Issuer) -> None:
    recipe = load_example("oauth_introspection", opaque_issuer.env())
    verifier = verifier_for(recipe)
    token = _opaque(opaque_issuer)
    for _ in range(3):
        batch = deliver(verifier, token)
        assert batch.claims["client_id"] == CLIENT_ID
        assert batch.claims["active"] is True
    assert opaque_issuer.count("/introspect") == 1
    # The cache holds a hash of the token, never the token.
    assert token not in repr(recipe._cache)
    assert list(recipe._cache) == [hashlib.sha256(token.encode()).digest()]


def test_introspection_refuses_and_does_not_cache_inactive_or_foreign_tokens(opaque_issuer: Issuer) -> None:
    recipe = load_example("oauth_introspection", opaque_issuer.env())
    verifier = verifier_for(recipe)
    cases = {
        "unknown": "never-issued-token",
        "expired": _opaque(opaque_issuer, exp=int(time.time()) - 5),
        "another client's": _opaque(opaque_issuer, client_id="another-client"),
    }
    for token in cases.values():
        for _ in range(2):
            with pytest.raises(AuthenticationError) as info:
                deliver(verifier, token)
            assert info.value.detail == "the token validator raised PermissionError"
    assert opaque_issuer.count("/introspect") == 2 * len(cases)
    assert len(recipe._cache) == 0


def test_introspection_is_not_cached_beyond_the_tokens_expiry(opaque_issuer: Issuer) -> None:
    recipe = load_example("oauth_introspection", opaque_issuer.env())
    token = _opaque(opaque_issuer, exp=int(time.time()) + 2)
    deliver(verifier_for(recipe), token)
    ((until, _),) = recipe._cache.values()
    assert until <= time.time() + 2


def test_introspection_with_wrong_resource_credentials_is_a_401(opaque_issuer: Issuer) -> None:
    recipe = load_example("oauth_introspection", {**opaque_issuer.env(), "OAUTH_RESOURCE_CLIENT_SECRET": "wrong"})
    with pytest.raises(AuthenticationError) as info:
        deliver(verifier_for(recipe), _opaque(opaque_issuer))
    assert info.value.detail == "the token validator raised HTTPError"


def test_async_introspection_is_awaited(opaque_issuer: Issuer) -> None:
    recipe = load_example("oauth_introspection", opaque_issuer.env())
    verifier = verifier_for(recipe, "validate_async")
    token = _opaque(opaque_issuer)
    body, headers = make_delivery(sample_events(2), hmac_secret=HMAC_SECRET, auth=BearerToken(token))
    batch = asyncio.run(verifier.verify_async(body, headers))
    assert batch.claims is not None
    assert batch.claims["client_id"] == CLIENT_ID
    with pytest.raises(AuthenticationError):
        asyncio.run(verifier.verify_async(body, {**headers, "Authorization": "Bearer never-issued"}))
    assert opaque_issuer.count("/introspect") == 2
