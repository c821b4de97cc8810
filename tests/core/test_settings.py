"""The settings table: Verifier.from_env and the DESCOPE_AUDIT_* variables."""

from __future__ import annotations

import base64
import json
import re

import pytest

from descope_audit_hook import ApiKey, AuthenticationError, BasicAuth, BearerToken, ConfigurationError, Verifier, sign
from descope_audit_hook._settings import MAPPING_KEYS, SETTINGS, settings_of
from descope_audit_hook._settings_loader import read, variables
from tests.support import validators as _validators
from tests.support.deliveries import SIG, body_of, event
from tests.support.paths import DOCS

BODY = body_of([event()])
P = "DESCOPE_AUDIT_"
GOOD = {"Authorization": f"Bearer {_validators.GOOD}"}
ENV_VARS = tuple(setting.name for setting in settings_of("verifier"))


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
    documented = (DOCS / "configuration.md").read_text("utf-8")
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
        {P + "BEARER_VALIDATOR": "tests.support.validators:accept", P + "API_KEY_HEADER": "x-k", P + "API_KEY": "k"},
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
    [
        "tests.support.validators:accept",
        "tests.support.validators.accept",
        " tests.support.validators:Holder.validate ",
    ],
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
    v = Verifier.from_env({P + "BEARER_TOKEN": "old-fixed", P + "BEARER_VALIDATOR": "tests.support.validators:accept"})
    assert v.verify(BODY, {"Authorization": "Bearer old-fixed"}).claims is None
    assert v.verify(BODY, GOOD).claims is not None


def test_an_async_bearer_validator_is_accepted_for_the_async_paths() -> None:
    v = Verifier.from_env({P + "BEARER_VALIDATOR": "tests.support.validators:accept_async"})
    assert isinstance(v.auth, BearerToken)
    assert v.auth.asynchronous


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.support._no_such_module:validate", "cannot be imported (ModuleNotFoundError)"),
        ("tests.support.validators:missing", "cannot be imported (AttributeError)"),
        ("tests.support.validators:NOT_CALLABLE", "is not callable"),
        ("tests.support.validators:GOOD", "is not callable"),
        ("validate", "must be an import path"),
        ("tests.support.validators:accept,other", "must be an import path"),
        ("tests.support.validators:", "must be an import path"),
        ("../evil:validate", "must be an import path"),
    ],
)
def test_a_bearer_validator_that_does_not_import_is_refused_at_construction(path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        Verifier.from_env({P + "BEARER_VALIDATOR": path})
    assert f"{P}BEARER_VALIDATOR" in str(info.value)
    if "cannot be imported" in message:
        assert info.value.__cause__ is not None  # the import error is chained for the developer


# --- the table ---------------------------------------------------------------------------


def _documented() -> dict[str, list[str]]:
    """docs/configuration.md's settings table: variable name -> its cells."""
    page = (DOCS / "configuration.md").read_text("utf-8")
    section = page.split("## Settings:", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `DESCOPE_AUDIT_(\w+)` \|(.*)\|$", section, flags=re.MULTILINE)
    return {name: [cell.strip() for cell in cells.split(" | ")] for name, cells in rows}


def test_the_documented_table_is_the_settings_table() -> None:
    documented = _documented()
    assert list(documented) == [setting.name for setting in SETTINGS]
    for setting in SETTINGS:
        feeds, option, text = documented[setting.name]
        assert text == setting.doc, setting.name
        if setting.keyword:
            assert feeds == f"`{setting.keyword}`", setting.name
        elif setting.auth:
            assert feeds.startswith(f"`auth={setting.auth.cls.__name__}("), setting.name
        else:
            assert feeds == {"receiver": "the reference receiver", "send": "`send --oauth-token-url`"}[setting.scope]
        if setting.flag is None:
            assert option == "—", setting.name
        else:
            assert re.search(rf"`(serve |send )?{setting.flag}\b", option), setting.name
            assert ("repeat" in option) == (setting.kind.many and setting.scope != "send"), setting.name


def test_django_and_flask_take_the_verifiers_settings_and_a_ready_verifier() -> None:
    assert list(MAPPING_KEYS) == ["VERIFIER", *ENV_VARS]
    assert {"DB", "PATH", "PAGE_TOKEN", "ALLOWED_HOSTS", "OAUTH_CLIENT_SECRET"}.isdisjoint(MAPPING_KEYS)


def test_the_message_of_an_open_configuration_names_every_setting_that_closes_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        Verifier.from_env({}, prefix="HOOK_")
    message = str(info.value)
    assert message.startswith("no HMAC secret and no authentication in the environment, which would accept anyone")
    for setting in SETTINGS:
        if setting.auth or setting.name in ("HMAC_SECRET", "ALLOW_UNAUTHENTICATED"):
            assert f"HOOK_{setting.name}" in message
    assert "HOOK_API_KEY_HEADER with HOOK_API_KEY" in message
    assert "HOOK_ALLOW_UNAUTHENTICATED=true" in message


def test_two_authentication_types_are_refused_naming_the_settings_found() -> None:
    with pytest.raises(ConfigurationError) as info:
        Verifier.from_env({P + "BEARER_TOKEN": "t-VALUE", P + "BASIC_USERNAME": "u-VALUE", P + "BASIC_PASSWORD": "p"})
    assert str(info.value) == (
        f"choose one authentication type, not {P}BEARER_TOKEN and {P}BASIC_USERNAME/{P}BASIC_PASSWORD"
    )
    with pytest.raises(ConfigurationError) as pair:
        Verifier.from_env({P + "API_KEY": "k-VALUE"})
    assert str(pair.value) == f"{P}API_KEY_HEADER and {P}API_KEY go together"


def test_the_values_read_are_never_shown_by_a_repr() -> None:
    found = read([variables({P + "HMAC_SECRET": "s-VALUE", P + "MAX_BODY_BYTES": "100"})], SETTINGS, str)
    assert repr(found) == "Found(HMAC_SECRET=<hidden>, MAX_BODY_BYTES=100)"


def test_credentials_and_what_goes_with_them_are_not_shown_by_a_repr() -> None:
    class Validator:
        def __call__(self, token: str) -> dict[str, str]:
            return {"sub": "x"}

        def __repr__(self) -> str:
            return "Validator(client_secret='s-VALUE')"

    environ = {
        P + "BASIC_USERNAME": "u-VALUE",
        P + "BASIC_PASSWORD": "p-VALUE",
        P + "HEADERS": '{"x-env": "h-VALUE"}',
        P + "BEARER_VALIDATOR": Validator(),
    }
    shown = repr(read([variables(environ)], SETTINGS, str))  # type: ignore[arg-type]
    assert "VALUE" not in shown
    assert "BASIC_USERNAME=<hidden>" in shown
    assert "HEADERS=<hidden>" in shown
