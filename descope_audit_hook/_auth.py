"""The connector's authentication types, and the static headers it adds.

Each credential class accepts several valid values so that a secret can be rotated
without downtime: configure old and new, switch the connector, drop the old one.
Every comparison is on bytes with :func:`hmac.compare_digest`, and every configured
value is checked, whether or not an earlier one already matched, so the time taken
does not tell which one (or whether one) matched. A Bearer token may instead be checked
by the user's validator (``_token_validator``); what it refuses is a 401.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Protocol, runtime_checkable

from . import _token_validator as validators
from ._errors import AuthenticationError, ConfigurationError
from ._headers import header_bytes, single
from ._secrets import any_equal, check_header_name, check_header_secret, check_secret
from ._token_validator import Claims, RunSync, TokenValidator

__all__ = ["ApiKey", "Auth", "BasicAuth", "BearerToken", "RequiredHeaders"]

_REALM = 'realm="descope-audit-hook"'
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
# Only such a token is handed to a validator: a JWT always is one, and user code never sees
# spaces, control characters or non-ASCII text an attacker put in the header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _any_equal(received: str, expected: tuple[bytes, ...]) -> bool:
    return any_equal(header_bytes(received), expected)


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
    """``Authorization: Bearer <token>``: the connector's "Bearer token" and OAuth 2.0 types.

    ``BearerToken("token")`` accepts fixed tokens (several, to rotate).
    ``BearerToken(validator=validate)`` accepts any token for which ``validate(token)``
    returns the claims (a non-empty mapping); it may be ``async def`` for the async
    adapters. With both, a token equal to a fixed one is accepted without calling the
    validator: ``BearerToken("old-fixed-token", validator=validate)`` while a connector
    moves from a fixed token to OAuth.
    """

    __slots__ = ("_asynchronous", "_tokens", "_validator")
    header_names = frozenset({"authorization"})

    def __init__(self, *tokens: str, validator: TokenValidator | None = None) -> None:
        if not tokens and validator is None:
            raise ConfigurationError("BearerToken needs at least one token or a validator")
        if validator is not None and not callable(validator):
            raise ConfigurationError("BearerToken validator must be callable")
        self._tokens = tuple(check_header_secret(t, "bearer token") for t in tokens)
        self._validator = validator
        self._asynchronous = validator is not None and validators.is_async_callable(validator)

    def __repr__(self) -> str:
        parts = [f"<{len(self._tokens)} token(s) hidden>"] if self._tokens else []
        if self._validator is not None:
            parts.append(f"validator={validators.describe(self._validator)}")
        return f"BearerToken({', '.join(parts)})"

    @property
    def validator(self) -> TokenValidator | None:
        """The validator, or ``None`` when only fixed tokens are accepted."""
        return self._validator

    @property
    def asynchronous(self) -> bool:
        """Whether the validator is ``async def`` (only the async paths can await it)."""
        return self._asynchronous

    def check(self, found: Mapping[str, list[str]]) -> None:
        """The whole check, the validator included (called here, so it must be synchronous)."""
        token = self.unvalidated(found)
        if token is not None:
            self.validate(token)

    def unvalidated(self, found: Mapping[str, list[str]]) -> str | None:
        """The received token if it still needs the validator; ``None`` if it is a fixed one.

        Raises :class:`AuthenticationError` for a missing or malformed token, and for one
        equal to no fixed token when there is no validator. The verifier runs this with
        the other cheap checks and calls the validator only after them all.
        """
        value = single(found, "authorization", AuthenticationError)
        if value is None:
            raise _challenge("missing_credentials", "Bearer")
        scheme, _, token = value.partition(" ")
        token = token.strip(" \t")
        if scheme.lower() != "bearer" or not token:
            raise _challenge("malformed_credentials", "Bearer")
        if self._tokens and _any_equal(token, self._tokens):
            return None
        if self._validator is None:
            raise _challenge("invalid_credentials", "Bearer")
        if not _B64TOKEN.fullmatch(token):
            raise _challenge("malformed_credentials", "Bearer")
        return token

    def validate(self, token: str) -> Claims:
        """The validator's claims for ``token``, or :class:`AuthenticationError` (``invalid_credentials``)."""
        validator = self._validator
        if validator is None or self._asynchronous:
            raise ConfigurationError(
                "BearerToken has no synchronous validator: an async def validator needs an async path "
                "(Starlette/FastAPI, a Django async view, or Verifier.verify_async())"
            )
        outcome = validators.call(validator, token)
        if outcome is None:
            raise ConfigurationError(
                "the BearerToken validator returned an awaitable: "
                "use an async path (Starlette/FastAPI, a Django async view, or Verifier.verify_async())"
            )
        return _claims_or_refused(outcome)

    async def validate_async(self, token: str, run_sync: RunSync) -> Claims:
        """:meth:`validate` for an event loop: an async validator is awaited, a sync one runs in ``run_sync``."""
        validator = self._validator
        if validator is None:
            raise ConfigurationError("BearerToken has no validator")
        return _claims_or_refused(await validators.call_async(validator, token, run_sync, self._asynchronous))

    def connector_headers(self) -> dict[str, str]:
        if not self._tokens:
            raise ConfigurationError(
                "BearerToken(validator=...) has no fixed token to send: pass a token from your authorization "
                "server, BearerToken(token), or use 'descope-audit-hook send --oauth-token-url ...'"
            )
        return {"Authorization": "Bearer " + self._tokens[0].decode("utf-8")}


def _claims_or_refused(outcome: validators.Outcome) -> Claims:
    if isinstance(outcome, str):
        raise _challenge("invalid_credentials", "Bearer", outcome)
    return outcome


class ApiKey:
    """The connector's "API key" type: a header whose *name* is the key, *value* the token."""

    __slots__ = ("_name", "_values", "header_names")

    def __init__(self, header_name: str, *values: str) -> None:
        self._name = check_header_name(header_name, "ApiKey header name")
        if not values:
            raise ConfigurationError("ApiKey needs at least one value")
        self._values = tuple(check_header_secret(v, "API key value") for v in values)
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
        if not any_equal((decoded,), self._pairs):
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
            key = check_header_name(name, "required header name")
            if key in expected:
                raise ConfigurationError("required header names must be unique (case-insensitively)")
            expected[key] = check_header_secret(value, "required header value")
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


def _challenge(code: str, scheme: str, detail: str | None = None) -> AuthenticationError:
    message = {
        "missing_credentials": "missing credentials",
        "malformed_credentials": "malformed credentials",
    }.get(code, "invalid credentials")
    return AuthenticationError(message, code=code, headers={"WWW-Authenticate": f"{scheme} {_REALM}"}, detail=detail)
