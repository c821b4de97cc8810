"""The connector's authentication types, and the static headers it adds.

Each credential class accepts several valid values so that a secret can be rotated
without downtime: configure old and new, switch the connector, drop the old one.
Every comparison is on bytes with :func:`hmac.compare_digest`, and every configured
value is checked, whether or not an earlier one already matched, so the time taken
does not tell which one (or whether one) matched.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from ._errors import AuthenticationError, ConfigurationError
from ._headers import header_bytes, single

__all__ = ["ApiKey", "Auth", "BasicAuth", "BearerToken", "RequiredHeaders", "check_secret"]

_REALM = 'realm="descope-audit-hook"'
_FORBIDDEN = frozenset("\r\n\x00")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_secret(value: object, what: str) -> bytes:
    """Validate one configured secret and return its UTF-8 bytes.

    The message names *what* was wrong, never the value.
    """
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        if not raw.strip():
            raise ConfigurationError(f"{what} must not be empty or whitespace")
        return raw
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise ConfigurationError(f"{what} must not be empty or whitespace")
    return value.encode("utf-8")


def _header_secret(value: object, what: str) -> bytes:
    """A secret that travels in a header: no line breaks, no surrounding whitespace.

    Servers strip whitespace around header values, so such a secret could never match.
    """
    raw = check_secret(value, what)
    text = raw.decode("latin-1")
    if _FORBIDDEN & set(text):
        raise ConfigurationError(f"{what} must not contain CR, LF or NUL")
    if text != text.strip(" \t"):
        raise ConfigurationError(f"{what} must not start or end with whitespace")
    return raw


def _header_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARS:
        raise ConfigurationError(f"{what} must be a non-empty HTTP header name")
    return name.lower()


def _any_equal(received: str, expected: tuple[bytes, ...]) -> bool:
    matched = False
    for candidate in header_bytes(received):
        for value in expected:
            # No short-circuit: every configured value is compared every time.
            matched |= hmac.compare_digest(candidate, value)
    return matched


@runtime_checkable
class Auth(Protocol):
    """What a :class:`Verifier` needs from an authentication type."""

    @property
    def header_names(self) -> frozenset[str]:
        """Lower-case names of the headers this check reads."""

    def check(self, found: Mapping[str, list[str]]) -> None:
        """Raise :class:`AuthenticationError` unless the headers carry a valid credential."""

    def connector_headers(self) -> dict[str, str]:
        """The headers Descope's connector sends for the first configured credential."""


class BearerToken:
    """``Authorization: Bearer <token>`` (the connector's "Bearer token" and OAuth types)."""

    __slots__ = ("_tokens",)
    header_names = frozenset({"authorization"})

    def __init__(self, *tokens: str) -> None:
        if not tokens:
            raise ConfigurationError("BearerToken needs at least one token")
        self._tokens = tuple(_header_secret(t, "bearer token") for t in tokens)

    def __repr__(self) -> str:
        return f"BearerToken(<{len(self._tokens)} token(s) hidden>)"

    def check(self, found: Mapping[str, list[str]]) -> None:
        value = single(found, "authorization", AuthenticationError)
        if value is None:
            raise _challenge("missing_credentials", "Bearer")
        scheme, _, token = value.partition(" ")
        token = token.strip(" \t")
        if scheme.lower() != "bearer" or not token:
            raise _challenge("malformed_credentials", "Bearer")
        if not _any_equal(token, self._tokens):
            raise _challenge("invalid_credentials", "Bearer")

    def connector_headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self._tokens[0].decode("utf-8")}


class ApiKey:
    """The connector's "API key" type: a header whose *name* is the key, *value* the token."""

    __slots__ = ("_name", "_values", "header_names")

    def __init__(self, header_name: str, *values: str) -> None:
        self._name = _header_name(header_name, "ApiKey header name")
        if not values:
            raise ConfigurationError("ApiKey needs at least one value")
        self._values = tuple(_header_secret(v, "API key value") for v in values)
        self.header_names = frozenset({self._name})

    @property
    def name(self) -> str:
        """The (lower-case) header name; not a secret."""
        return self._name

    def __repr__(self) -> str:
        return f"ApiKey({self._name!r}, <{len(self._values)} value(s) hidden>)"

    def check(self, found: Mapping[str, list[str]]) -> None:
        value = single(found, self._name, AuthenticationError)
        if value is None:
            raise AuthenticationError("missing credentials", code="missing_credentials")
        if not _any_equal(value, self._values):
            raise AuthenticationError("invalid credentials", code="invalid_credentials")

    def connector_headers(self) -> dict[str, str]:
        return {self._name: self._values[0].decode("utf-8")}


class BasicAuth:
    """``Authorization: Basic base64(username:password)`` (RFC 7617).

    ``BasicAuth("user", "pw")``; for rotation pass more pairs:
    ``BasicAuth("user", "new", ("user", "old"))``.
    """

    __slots__ = ("_pairs",)
    header_names = frozenset({"authorization"})

    def __init__(self, username: str, password: str, *more: tuple[str, str]) -> None:
        pairs = [(username, password), *more]
        checked: list[bytes] = []
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ConfigurationError("BasicAuth extra credentials must be (username, password) tuples")
            user = check_secret(pair[0], "Basic username")
            if b":" in user:
                raise ConfigurationError("Basic username must not contain ':' (RFC 7617)")
            checked.append(user + b":" + check_secret(pair[1], "Basic password"))
        self._pairs = tuple(checked)

    def __repr__(self) -> str:
        return f"BasicAuth(<{len(self._pairs)} credential(s) hidden>)"

    def check(self, found: Mapping[str, list[str]]) -> None:
        value = single(found, "authorization", AuthenticationError)
        if value is None:
            raise _challenge("missing_credentials", "Basic")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            raise _challenge("malformed_credentials", "Basic")
        try:
            decoded = base64.b64decode(encoded.strip(" \t").encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise _challenge("malformed_credentials", "Basic") from None
        if b":" not in decoded:  # RFC 7617: user-id ":" password
            raise _challenge("malformed_credentials", "Basic")
        matched = False
        for expected in self._pairs:
            matched |= hmac.compare_digest(decoded, expected)
        if not matched:
            raise _challenge("invalid_credentials", "Basic")

    def connector_headers(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(self._pairs[0]).decode("ascii")}


class RequiredHeaders:
    """The connector's static "Headers": each must arrive once with exactly its value."""

    __slots__ = ("_expected", "header_names")

    def __init__(self, headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        expected: dict[str, bytes] = {}
        for name, value in pairs:
            key = _header_name(name, "required header name")
            if key in expected:
                raise ConfigurationError("required header names must be unique (case-insensitively)")
            expected[key] = _header_secret(value, "required header value")
        self._expected = expected
        self.header_names = frozenset(expected)

    def __bool__(self) -> bool:
        return bool(self._expected)

    def __repr__(self) -> str:
        return f"RequiredHeaders({sorted(self._expected)!r}, values hidden)"

    def check(self, found: Mapping[str, list[str]]) -> None:
        failure = ""
        for name, value in self._expected.items():
            received = single(found, name, AuthenticationError)
            if received is None:
                failure = failure or "missing_header"
            elif not _any_equal(received, (value,)):
                failure = failure or "invalid_header"
        if failure:
            raise AuthenticationError("a required header is missing or wrong", code=failure)

    def connector_headers(self) -> dict[str, str]:
        return {name: value.decode("utf-8") for name, value in self._expected.items()}


def _challenge(code: str, scheme: str) -> AuthenticationError:
    message = {
        "missing_credentials": "missing credentials",
        "malformed_credentials": "malformed credentials",
    }.get(code, "invalid credentials")
    return AuthenticationError(message, code=code, headers={"WWW-Authenticate": f"{scheme} {_REALM}"})
