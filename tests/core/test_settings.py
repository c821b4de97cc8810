"""The settings table: Verifier.from_env and the DESCOPE_AUDIT_* variables."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from descope_audit_hook import ApiKey, AuthenticationError, BasicAuth, BearerToken, ConfigurationError, Verifier, sign
from descope_audit_hook._settings import settings_of

from . import _validators
from ._support import SIG, body_of, event

BODY = body_of([event()])
P = "DESCOPE_AUDIT_"
ROOT = Path(__file__).resolve().parents[2]
GOOD = {"Authorization": f"Bearer {_validators.GOOD}"}
ENV_VARS = [setting.name for setting in settings_of("verifier")]


def test_documented_variables() -> None:
    assert {
        "HMAC_SECRET",
        "BEARER_TOKEN",
        "BEARER_VALIDATOR",
        "API_KEY_HEADER",
        "API_KEY",
        "BASIC_USERNAME",
        "BASIC_PASSWORD",
    } <= set(ENV_VARS)
    assert {"HEADERS", "MAX_BODY_BYTES", "SIGNED_FORMS", "ALLOW_UNAUTHENTICATED"} <= set(ENV_VARS)
    documented = (ROOT / "docs" / "configuration.md").read_text("utf-8")
    for name in ENV_VARS:
        assert f"`DESCOPE_AUDIT_{name}`" in documented, name


def test_hmac_secret_with_rotation() -> None:
    v = Verifier.from_env({P + "HMAC_SECRET": "new-one, old-one"})
    assert v.signs
    assert v.auth is None
    for secret in ("new-one", "old-one"):
        assert v.verify(BODY, {SIG: sign(BODY, secret)}).signed_form == "raw"


def test_bearer_token() -> None:
    v = Verifier.from_env({P + "BEARER_TOKEN": "t1,t2"})
    assert isinstance(v.auth, BearerToken)
    assert not v.signs
    assert len(v.verify(BODY, {"Authorization": "Bearer t2"})) == 1
    with pytest.raises(AuthenticationError):
        v.verify(BODY, {"Authorization": "Bearer t3"})


def test_api_key() -> None:
    v = Verifier.from_env({P + "API_KEY_HEADER": "X-Api-Key", P + "API_KEY": "k1,k2"})
    assert isinstance(v.auth, ApiKey)
    assert len(v.verify(BODY, {"x-api-key": "k2"})) == 1


def test_basic() -> None:
    v = Verifier.from_env({P + "BASIC_USERNAME": "descope", P + "BASIC_PASSWORD": "pw1,pw2"})
    assert isinstance(v.auth, BasicAuth)
    for password in ("pw1", "pw2"):
        header = "Basic " + base64.b64encode(f"descope:{password}".encode()).decode()
        assert len(v.verify(BODY, {"Authorization": header})) == 1


def test_headers_max_body_and_forms() -> None:
    v = Verifier.from_env(
        {
            P + "HMAC_SECRET": "s3cret",
            P + "HEADERS": json.dumps({"x-env": "prod"}),
            P + "MAX_BODY_BYTES": "4096",
            P + "SIGNED_FORMS": "raw, trimmed",
        }
    )
    assert v.max_body_bytes == 4096
    assert len(v.verify(BODY, {SIG: sign(BODY, "s3cret"), "x-env": "prod"})) == 1
    with pytest.raises(AuthenticationError):
        v.verify(BODY, {SIG: sign(BODY, "s3cret"), "x-env": "dev"})


@pytest.mark.parametrize("value", ["true", "1", "YES", " on "])
def test_allow_unauthenticated(value: str) -> None:
    assert len(Verifier.from_env({P + "ALLOW_UNAUTHENTICATED": value}).verify(BODY, {})) == 1


def test_custom_prefix_and_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(P + name, raising=False)
    monkeypatch.setenv("HOOK_BEARER_TOKEN", "from-env")
    v = Verifier.from_env(prefix="HOOK_")
    assert len(v.verify(BODY, {"Authorization": "Bearer from-env"})) == 1
    monkeypatch.setenv(P + "BEARER_TOKEN", "default-prefix")
    v = Verifier.from_env()
    assert len(v.verify(BODY, {"Authorization": "Bearer default-prefix"})) == 1


@pytest.mark.parametrize(
    "env",
    [
        {},
        {P + "ALLOW_UNAUTHENTICATED": "false"},
        {P + "ALLOW_UNAUTHENTICATED": "maybe"},
        {P + "HMAC_SECRET": ""},
        {P + "HMAC_SECRET": " , "},
        {P + "HMAC_SECRET": "", P + "BEARER_TOKEN": "t"},  # a lost secret must not silently disable signing
        {P + "BEARER_TOKEN": " ", P + "HMAC_SECRET": "s"},
        {P + "API_KEY": "", P + "HMAC_SECRET": "s"},
        {P + "BASIC_PASSWORD": "", P + "BASIC_USERNAME": "u", P + "HMAC_SECRET": "s"},
        {P + "API_KEY_HEADER": "x-api-key", P + "HMAC_SECRET": "s"},
        {P + "API_KEY": "k"},
        {P + "BASIC_USERNAME": "u"},
        {P + "BASIC_PASSWORD": "p"},
        {P + "BEARER_TOKEN": "t", P + "API_KEY_HEADER": "x-api-key", P + "API_KEY": "k"},
        {P + "HMAC_SECRET": "s", P + "HEADERS": "x-env=prod"},
        {P + "HMAC_SECRET": "s", P + "HEADERS": '["x-env", "prod"]'},
        {P + "HMAC_SECRET": "s", P + "HEADERS": '{"x-env": 1}'},
        {P + "HMAC_SECRET": "s", P + "MAX_BODY_BYTES": "0"},
        {P + "HMAC_SECRET": "s", P + "MAX_BODY_BYTES": "-5"},
        {P + "HMAC_SECRET": "s", P + "MAX_BODY_BYTES": "1MB"},
        {P + "HMAC_SECRET": "s", P + "SIGNED_FORMS": "raw,pretty"},
        {P + "HMAC_SECRET": "s", P + "API_KEY_HEADER": "bad header", P + "API_KEY": "k"},
        {P + "BEARER_VALIDATOR": ""},
        {P + "BEARER_VALIDATOR": "  ", P + "HMAC_SECRET": "s"},  # a lost validator must not go unnoticed
        {P + "BEARER_VALIDATOR": "tests.core._validators:accept", P + "API_KEY_HEADER": "x-k", P + "API_KEY": "k"},
    ],
)
def test_configuration_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        Verifier.from_env(env)
    for value in env.values():
        if len(value.strip()) > 2:
            # Messages name variables, never their values.
            assert value not in str(info.value).replace(P, "")


def test_error_never_contains_a_secret_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        Verifier.from_env({P + "BEARER_TOKEN": "tok-VERYSECRET", P + "API_KEY": "key-VERYSECRET"})
    assert "VERYSECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("MAX_EVENT_AGE_SECONDS", "300", True),
        ("MAX_EVENT_AGE_SECONDS", "0.5", True),
        ("MAX_EVENT_AGE_SECONDS", "0", False),
        ("MAX_EVENT_AGE_SECONDS", "-1", False),
        ("MAX_EVENT_AGE_SECONDS", "nan", False),
        ("MAX_EVENT_AGE_SECONDS", "5 minutes", False),
        ("MAX_CLOCK_SKEW_SECONDS", "0", True),
        ("MAX_CLOCK_SKEW_SECONDS", "30", True),
        ("MAX_CLOCK_SKEW_SECONDS", "inf", False),
        ("MAX_CLOCK_SKEW_SECONDS", "-5", False),
    ],
)
def test_freshness_variables(name: str, value: str, ok: bool) -> None:
    env = {P + "HMAC_SECRET": "s", P + name: value}
    if ok:
        assert Verifier.from_env(env).signs
    else:
        with pytest.raises(ConfigurationError):
            Verifier.from_env(env)


@pytest.mark.parametrize(
    "path",
    ["tests.core._validators:accept", "tests.core._validators.accept", " tests.core._validators:Holder.validate "],
)
def test_bearer_validator_by_import_path(path: str) -> None:
    v = Verifier.from_env({P + "BEARER_VALIDATOR": path})
    assert isinstance(v.auth, BearerToken)
    assert v.auth.validator is _validators.accept
    assert v.verify(BODY, GOOD).claims == {"sub": "descope-connector", "scope": "audit:write"}
    with pytest.raises(AuthenticationError) as info:
        v.verify(BODY, {"Authorization": "Bearer another.token"})
    assert info.value.code == "invalid_credentials"


def test_bearer_validator_with_fixed_tokens_while_migrating() -> None:
    v = Verifier.from_env({P + "BEARER_TOKEN": "old-fixed", P + "BEARER_VALIDATOR": "tests.core._validators:accept"})
    assert v.verify(BODY, {"Authorization": "Bearer old-fixed"}).claims is None
    assert v.verify(BODY, GOOD).claims is not None


def test_an_async_bearer_validator_is_accepted_for_the_async_paths() -> None:
    v = Verifier.from_env({P + "BEARER_VALIDATOR": "tests.core._validators:accept_async"})
    assert isinstance(v.auth, BearerToken)
    assert v.auth.asynchronous


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.core._no_such_module:validate", "cannot be imported (ModuleNotFoundError)"),
        ("tests.core._validators:missing", "cannot be imported (AttributeError)"),
        ("tests.core._validators:NOT_CALLABLE", "is not callable"),
        ("tests.core._validators:GOOD", "is not callable"),
        ("validate", "must be an import path"),
        ("tests.core._validators:accept,other", "must be an import path"),
        ("tests.core._validators:", "must be an import path"),
        ("../evil:validate", "must be an import path"),
    ],
)
def test_a_bearer_validator_that_does_not_import_is_refused_at_construction(path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        Verifier.from_env({P + "BEARER_VALIDATOR": path})
    assert f"{P}BEARER_VALIDATOR" in str(info.value)
    if "cannot be imported" in message:
        assert info.value.__cause__ is not None  # the import error is chained for the developer
