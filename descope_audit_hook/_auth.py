"""The connector's authentication types, and the static headers it adds.

Each credential class accepts several valid values so that a secret can be rotated
without downtime: configure old and new, switch the connector, drop the old one.
Every comparison is on bytes with :func:`hmac.compare_digest`, and every configured
value is checked, whether or not an earlier one already matched, so the time taken
does not tell which one (or whether one) matched.

A Bearer token that changes on every fetch (the connector's OAuth 2.0 type, usually a
JWT) is checked by a *validator*, a callable of the user's that returns the token's
claims or raises. Whatever it raises (any ``Exception``) or returns instead of claims is
a 401; it is never logged with the token, only with the class of what it raised.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Protocol, Union, runtime_checkable

from ._errors import AuthenticationError, ConfigurationError
from ._headers import header_bytes, single

__all__ = [
    "ApiKey",
    "Auth",
    "BasicAuth",
    "BearerToken",
    "Claims",
    "RequiredHeaders",
    "RunSync",
    "TokenValidator",
    "check_secret",
    "is_async_callable",
]

_REALM = 'realm="descope-audit-hook"'
_FORBIDDEN = frozenset("\r\n\x00")
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
# Only such a token is handed to a validator: a JWT always is one, and user code never sees
# spaces, control characters or non-ASCII text an attacker put in the header.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

#: What a token validator returns: the token's validated claims, a non-empty mapping.
Claims = Mapping[str, Any]
#: ``validate(token) -> claims`` (or raises); ``async def`` validators are awaited by the async paths.
TokenValidator = Callable[[str], Union[Claims, Awaitable[Union[Claims, None]], None]]
#: How an async caller runs a sync validator off its event loop: ``await run_sync(validator, token)``.
RunSync = Callable[[Callable[[str], Any], str], Awaitable[Any]]


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
        self._tokens = tuple(_header_secret(t, "bearer token") for t in tokens)
        self._validator = validator
        self._asynchronous = validator is not None and is_async_callable(validator)

    def __repr__(self) -> str:
        parts = [f"<{len(self._tokens)} token(s) hidden>"] if self._tokens else []
        if self._validator is not None:
            parts.append(f"validator={_describe(self._validator)}")
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
        result, failure = _outcome(validator, token)
        if failure is None and inspect.isawaitable(result):
            _discard(result)
            raise ConfigurationError(
                "the BearerToken validator returned an awaitable: "
                "use an async path (Starlette/FastAPI, a Django async view, or Verifier.verify_async())"
            )
        return _claims(result, failure)

    async def validate_async(self, token: str, run_sync: RunSync) -> Claims:
        """:meth:`validate` for an event loop: an async validator is awaited, a sync one runs in ``run_sync``."""
        validator = self._validator
        if validator is None:
            raise ConfigurationError("BearerToken has no validator")
        if self._asynchronous:
            result, failure = await _awaited(lambda: validator(token))
        else:
            # The call and whatever it raises stay in the worker thread; only the outcome
            # comes back. (A StopIteration cannot be set on an asyncio future: raised across
            # the thread boundary it would leave the request waiting forever.)
            result, failure = await run_sync(functools.partial(_outcome, validator), token)
            if failure is None and inspect.isawaitable(result):  # a plain function that returned a coroutine
                result, failure = await _awaited(lambda: result)
        return _claims(result, failure)

    def connector_headers(self) -> dict[str, str]:
        if not self._tokens:
            raise ConfigurationError(
                "BearerToken(validator=...) has no fixed token to send: pass a token from your authorization "
                "server, BearerToken(token), or use 'descope-audit-hook send --oauth-token-url ...'"
            )
        return {"Authorization": "Bearer " + self._tokens[0].decode("utf-8")}


def is_async_callable(func: object) -> bool:
    """Whether calling ``func`` gives a coroutine: ``async def``, a partial of one, or ``async def __call__``."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004


def _describe(func: object) -> str:
    # Names only: an object's own repr could hold a secret (an introspection client's).
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None) or type(func).__module__
    return f"{module}.{name}"


def _outcome(validator: Callable[[str], Any], token: str) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(None, what it raised)``: whatever the user's code raises is a 401."""
    try:
        return validator(token), None
    except Exception as exc:  # a BaseException (cancellation, KeyboardInterrupt) goes through
        # Only the class name is kept: the exception's message may hold the token.
        return None, f"the token validator raised {type(exc).__name__}"


async def _awaited(call: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return await call(), None
    except Exception as exc:
        return None, f"the token validator raised {type(exc).__name__}"


def _discard(result: object) -> None:
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and callable(close):
        close()  # no "coroutine was never awaited" warning on top of the error


def _claims(result: object, failure: str | None) -> Claims:
    """The validator's answer as read-only claims; a failure, or anything but a non-empty mapping, is a 401.

    The error is raised here, outside any ``except`` block, so that the validator's own
    exception is neither chained to it nor kept as its context.
    """
    if failure is None:
        if isinstance(result, Mapping):
            try:
                claims = dict(result)
            except Exception as exc:
                failure = f"the token validator's claims could not be read ({type(exc).__name__})"
            else:
                if claims:
                    return MappingProxyType(claims)
                failure = "the token validator returned no claims (an empty mapping)"
        else:
            failure = f"the token validator returned {type(result).__name__}, not the claims"
    raise _refused(failure)


def _refused(detail: str) -> AuthenticationError:
    return _challenge("invalid_credentials", "Bearer", detail)


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


def _challenge(code: str, scheme: str, detail: str | None = None) -> AuthenticationError:
    message = {
        "missing_credentials": "missing credentials",
        "malformed_credentials": "malformed credentials",
    }.get(code, "invalid credentials")
    return AuthenticationError(message, code=code, headers={"WWW-Authenticate": f"{scheme} {_REALM}"}, detail=detail)
