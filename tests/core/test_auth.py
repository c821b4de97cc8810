"""The connector's authentication types and static headers: positive, negative, rotation, secrecy."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from descope_audit_hook import (
    ApiKey,
    AuthenticationError,
    BasicAuth,
    BearerToken,
    ConfigurationError,
    Verifier,
    sign,
)
from descope_audit_hook._auth import RequiredHeaders
from tests.support.deliveries import body_of, event

BODY = body_of([event()])


def _ok(verifier: Verifier, headers: Any) -> None:
    assert len(verifier.verify(BODY, headers)) == 1


def _fails(verifier: Verifier, headers: Any, code: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(BODY, headers)
    assert info.value.status_code == 401
    assert info.value.code == code
    return info.value


def _basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


# --- Bearer -----------------------------------------------------------------------------


def test_bearer_positive_and_scheme_case() -> None:
    v = Verifier(auth=BearerToken("tok-1"))
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        _ok(v, {"Authorization": f"{scheme} tok-1"})
    _ok(v, {"authorization": "Bearer   tok-1  "})


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Bearer tok-2", "invalid_credentials"),
        ("Bearer tok-1x", "invalid_credentials"),
        ("Bearer TOK-1", "invalid_credentials"),
        ("Bearer", "malformed_credentials"),
        ("Bearer ", "malformed_credentials"),
        ("Basic tok-1", "malformed_credentials"),
        ("tok-1", "malformed_credentials"),
        ("Token tok-1", "malformed_credentials"),
        ("", "malformed_credentials"),
        ("Bearer tök-1", "invalid_credentials"),
    ],
)
def test_bearer_negative(value: str, code: str) -> None:
    error = _fails(Verifier(auth=BearerToken("tok-1")), {"Authorization": value}, code)
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="descope-audit-hook"'


def test_bearer_missing_and_duplicate() -> None:
    v = Verifier(auth=BearerToken("tok-1"))
    _fails(v, {}, "missing_credentials")
    _fails(v, [("Authorization", "Bearer tok-1"), ("authorization", "Bearer tok-1")], "duplicate_header")


def test_bearer_rotation() -> None:
    v = Verifier(auth=BearerToken("new", "old"))
    _ok(v, {"Authorization": "Bearer new"})
    _ok(v, {"Authorization": "Bearer old"})
    _fails(v, {"Authorization": "Bearer older"}, "invalid_credentials")


def test_bearer_non_ascii_token_as_str_and_as_wsgi_latin1() -> None:
    v = Verifier(auth=BearerToken("tökén"))
    _ok(v, {"Authorization": "Bearer tökén"})
    # A WSGI server hands the UTF-8 octets over decoded as latin-1 (PEP 3333).
    _ok(v, {"Authorization": "Bearer " + "tökén".encode().decode("latin-1")})
    _ok(v, [(b"authorization", "Bearer tökén".encode())])


# --- API key ----------------------------------------------------------------------------


def test_api_key_positive_any_case_of_name() -> None:
    v = Verifier(auth=ApiKey("X-Api-Key", "k-1"))
    _ok(v, {"x-api-key": "k-1"})
    _ok(v, {"X-API-KEY": "k-1"})
    assert ApiKey("X-Api-Key", "k-1").name == "x-api-key"


def test_api_key_negative() -> None:
    v = Verifier(auth=ApiKey("x-api-key", "k-1"))
    _fails(v, {}, "missing_credentials")
    _fails(v, {"x-api-key": "k-2"}, "invalid_credentials")
    _fails(v, {"x-api-key": ""}, "invalid_credentials")
    _fails(v, {"Authorization": "Bearer k-1"}, "missing_credentials")
    _fails(v, {"x-other-key": "k-1"}, "missing_credentials")
    _fails(v, [("x-api-key", "k-1"), ("X-Api-Key", "k-1")], "duplicate_header")
    # No challenge header: API keys have no HTTP auth scheme.
    assert "WWW-Authenticate" not in _fails(v, {}, "missing_credentials").headers


def test_api_key_rotation() -> None:
    v = Verifier(auth=ApiKey("x-api-key", "new", "old"))
    _ok(v, {"x-api-key": "new"})
    _ok(v, {"x-api-key": "old"})
    _fails(v, {"x-api-key": "gone"}, "invalid_credentials")


# --- Basic ------------------------------------------------------------------------------


def test_basic_positive() -> None:
    v = Verifier(auth=BasicAuth("descope", "pa:ss wörd"))
    _ok(v, {"Authorization": _basic("descope:pa:ss wörd".encode())})
    _ok(v, {"Authorization": "basic " + base64.b64encode("descope:pa:ss wörd".encode()).decode()})


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (_basic(b"descope:wrong"), "invalid_credentials"),
        (_basic(b"other:pw"), "invalid_credentials"),
        (_basic(b"descope:pw "), "invalid_credentials"),
        (_basic(b"descope:\xff\xfe"), "invalid_credentials"),  # not UTF-8
        (_basic(b"descopepw"), "malformed_credentials"),  # no colon
        ("Basic %%%not-base64%%%", "malformed_credentials"),
        ("Basic ZGVzY29wZTpwdw", "malformed_credentials"),  # missing padding
        ("Basic ZGVzY29wZTpwdw==garbage", "malformed_credentials"),
        ("Basic ZGVzY29wZTpw\u00e9dw==", "malformed_credentials"),  # non-ASCII in base64
        ("Basic", "malformed_credentials"),
        ("Bearer ZGVzY29wZTpwdw==", "malformed_credentials"),
    ],
)
def test_basic_negative(value: str, code: str) -> None:
    error = _fails(Verifier(auth=BasicAuth("descope", "pw")), {"Authorization": value}, code)
    assert error.headers["WWW-Authenticate"] == 'Basic realm="descope-audit-hook"'


def test_basic_rotation() -> None:
    v = Verifier(auth=BasicAuth("descope", "new", ("descope", "old"), ("legacy", "x")))
    for creds in (b"descope:new", b"descope:old", b"legacy:x"):
        _ok(v, {"Authorization": _basic(creds)})
    _fails(v, {"Authorization": _basic(b"legacy:new")}, "invalid_credentials")
    _fails(v, {}, "missing_credentials")


# --- required headers -------------------------------------------------------------------


def test_required_headers() -> None:
    v = Verifier(auth=BearerToken("t"), required_headers={"X-Env": "prod", "x-tenant": "acme"})
    good = {"Authorization": "Bearer t", "x-env": "prod", "X-TENANT": "acme"}
    _ok(v, good)
    _fails(v, {**good, "x-env": "staging"}, "invalid_header")
    _fails(v, {"Authorization": "Bearer t", "X-TENANT": "acme"}, "missing_header")
    _fails(v, {**good, "x-env": "PROD"}, "invalid_header")
    _fails(v, [*good.items(), ("X-Env", "prod")], "duplicate_header")
    # Authentication is checked before the static headers.
    _fails(v, {"x-env": "staging"}, "missing_credentials")


def test_required_headers_alone_are_not_authentication() -> None:
    with pytest.raises(ConfigurationError):
        Verifier(required_headers={"x-env": "prod"})
    v = Verifier(required_headers={"x-env": "prod"}, allow_unauthenticated=True)
    _ok(v, {"x-env": "prod"})
    _fails(v, {}, "missing_header")


# --- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: BearerToken(),
        lambda: BearerToken(""),
        lambda: BearerToken("   "),
        lambda: BearerToken("ok", " \t"),
        lambda: BearerToken(" padded"),
        lambda: BearerToken("line\nbreak"),
        lambda: BearerToken(None),  # type: ignore[arg-type]
        lambda: ApiKey("x-api-key"),
        lambda: ApiKey("x-api-key", ""),
        lambda: ApiKey("", "v"),
        lambda: ApiKey("bad name", "v"),
        lambda: ApiKey("x-api-key:", "v"),
        lambda: BasicAuth("", "pw"),
        lambda: BasicAuth("user", ""),
        lambda: BasicAuth("user", "  "),
        lambda: BasicAuth("us:er", "pw"),
        lambda: BasicAuth("user", "pw", ("user",)),  # type: ignore[arg-type]
        lambda: BasicAuth("user", "pw", "other:pw"),  # type: ignore[arg-type]
        lambda: RequiredHeaders({"x-env": ""}),
        lambda: RequiredHeaders({"x env": "prod"}),
        lambda: RequiredHeaders([("x-env", "a"), ("X-Env", "b")]),
    ],
)
def test_bad_credentials_are_configuration_errors(build: Any) -> None:
    with pytest.raises(ConfigurationError):
        build()


def test_auth_must_be_an_auth_type() -> None:
    with pytest.raises(ConfigurationError):
        Verifier("s", auth="Bearer tok")  # type: ignore[arg-type]


def test_signature_header_cannot_be_a_credential() -> None:
    with pytest.raises(ConfigurationError):
        Verifier("s", auth=ApiKey("x-descope-webhook-s256", "v"))


SECRETS = ("tok-SECRET-1", "key-SECRET-2", "pw-SECRET-3", "hdr-SECRET-4", "hmac-SECRET-5")


def test_secrets_are_not_in_reprs_or_config_errors() -> None:
    objects: list[object] = [
        BearerToken(SECRETS[0], SECRETS[1]),
        ApiKey("x-api-key", SECRETS[1]),
        BasicAuth("user", SECRETS[2], ("user", SECRETS[0])),
        RequiredHeaders({"x-env": SECRETS[3]}),
        Verifier([SECRETS[4], SECRETS[0]], auth=BearerToken(SECRETS[0]), required_headers={"x-env": SECRETS[3]}),
    ]
    for obj in objects:
        text = repr(obj) + str(obj)
        for secret in SECRETS:
            assert secret not in text
        assert "SECRET" not in text
    with pytest.raises(ConfigurationError) as info:
        BearerToken("ok-SECRET", " SECRET-with-space")
    assert "SECRET" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        BasicAuth("user:SECRET", "pw")
    assert "SECRET" not in str(info.value)


def test_connector_headers() -> None:
    assert BearerToken("a", "b").connector_headers() == {"Authorization": "Bearer a"}
    assert ApiKey("X-Api-Key", "v1", "v2").connector_headers() == {"x-api-key": "v1"}
    assert BasicAuth("u", "p").connector_headers() == {"Authorization": "Basic dTpw"}
    assert RequiredHeaders({"X-Env": "prod"}).connector_headers() == {"x-env": "prod"}


@pytest.mark.parametrize(
    "make",
    [
        lambda secret: Verifier(secret),
        lambda secret: BearerToken(secret),
        lambda secret: ApiKey("x-api-key", secret),
        lambda secret: BasicAuth("user", secret),
        lambda secret: sign(b"[]", secret),
    ],
)
def test_a_secret_that_is_not_utf8_text_is_a_configuration_error_that_does_not_quote_it(make: Any) -> None:
    # os.environ spells a byte that is not UTF-8 as a lone surrogate.
    with pytest.raises(ConfigurationError) as info:
        make("ab\udcffSECRET")
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
