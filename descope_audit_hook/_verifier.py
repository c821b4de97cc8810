"""The :class:`Verifier`: size, authentication, signature, token validator, payload, in that order."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec, TypeVar, Union

from ._auth import Auth, BearerToken, RequiredHeaders
from ._batch import AuditBatch
from ._errors import ConfigurationError, PayloadError, PayloadTooLarge, SignatureError, VerificationError
from ._freshness import Clock, FreshnessWindow
from ._headers import HeadersLike, collect, single
from ._json import parse_json
from ._parsing import parse_batch
from ._secrets import SecretArg, hmac_secrets
from ._signature import FORMS, SignedForm, decode_signature, find_signed
from ._token_validator import Claims, RunSync

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SIGNATURE_HEADER", "Verifier", "log_rejection", "verify"]

SIGNATURE_HEADER = "x-descope-webhook-s256"
#: Descope sends at most 100 events per request, a few tens of KB; 1 MiB leaves ample room.
DEFAULT_MAX_BODY_BYTES = 1_048_576

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("descope_audit_hook")
# A library does not decide where logs go (logging HOWTO); the application configures handlers.
logger.addHandler(logging.NullHandler())

#: What the checks before the token validator found: the signed form (``None`` without an
#: HMAC secret), the signed bytes (the body without one) and their parsed value when at hand.
_Checked = tuple[Union[SignedForm, None], bytes, Any]


def log_rejection(exc: VerificationError) -> VerificationError:
    """Log one WARNING line for a rejected request: status, code, the safe message and the detail."""
    detail = f" ({exc.detail})" if exc.detail else ""
    logger.warning("descope audit webhook rejected (%d %s): %s%s", exc.status_code, exc.code, exc.message, detail)
    return exc


# The one-shot verify() builds a Verifier per call: it warns about an open configuration
# once per process, where a Verifier built by hand warns each time it is built.
_ONE_SHOT: ContextVar[bool] = ContextVar("descope_audit_hook_one_shot", default=False)
_one_shot_warned = threading.Event()


def _warn_open() -> None:
    if _ONE_SHOT.get():
        if _one_shot_warned.is_set():
            return
        _one_shot_warned.set()
    logger.warning("descope_audit_hook: verifier accepts unauthenticated deliveries")


class Verifier:
    """Verifies and parses deliveries of one Descope Audit Webhook Connector.

    Construct it once (at import or app start-up) and share it: it holds no per-request
    state and is safe to use from many threads.
    """

    __slots__ = ("_auth", "_bearer", "_forms", "_required", "_secrets", "_wanted", "_window", "max_body_bytes")

    def __init__(
        self,
        hmac_secret: SecretArg | None = None,
        *,
        auth: Auth | None = None,
        required_headers: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        allow_unauthenticated: bool = False,
        signed_forms: Iterable[SignedForm] = FORMS,
        max_event_age: timedelta | None = None,
        max_clock_skew: timedelta | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._secrets = hmac_secrets(hmac_secret)
        if auth is not None and not isinstance(auth, Auth):
            raise ConfigurationError("auth must be BearerToken, ApiKey, BasicAuth or None")
        self._auth = auth
        # A Bearer check with a validator runs in two steps (_checked, then _batch); any other auth in one.
        self._bearer = auth if isinstance(auth, BearerToken) and auth.validator is not None else None
        self._required = RequiredHeaders(required_headers or {})
        if type(max_body_bytes) is not int or max_body_bytes <= 0:
            raise ConfigurationError("max_body_bytes must be a positive int")
        self.max_body_bytes = max_body_bytes
        forms = tuple(dict.fromkeys(signed_forms))
        if not forms or not set(forms) <= set(FORMS):
            raise ConfigurationError(f"signed_forms must be a non-empty subset of {FORMS}")
        self._forms = tuple(f for f in FORMS if f in forms)
        if not self._secrets and auth is None:
            if not allow_unauthenticated:
                raise ConfigurationError(
                    "a Verifier with neither hmac_secret nor auth accepts anyone; "
                    "pass allow_unauthenticated=True if that is really what you want"
                )
            _warn_open()
        wanted = set(self._required.header_names)
        if auth is not None:
            wanted |= auth.header_names
        if self._secrets:
            if SIGNATURE_HEADER in wanted:
                raise ConfigurationError(f"{SIGNATURE_HEADER} cannot also be a credential header")
            wanted.add(SIGNATURE_HEADER)
        self._wanted = frozenset(wanted)
        # Optional freshness window on ``occurred`` (off by default); see docs/reliability.md.
        self._window = FreshnessWindow.build(max_event_age, max_clock_skew, clock)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, prefix: str = "DESCOPE_AUDIT_") -> Verifier:
        """Build a verifier from environment variables; see docs/configuration.md."""
        from ._settings_loader import from_env

        return from_env(environ, prefix)

    def __repr__(self) -> str:
        return (
            f"Verifier(hmac_secrets={len(self._secrets)}, auth={self._auth!r}, "
            f"required_headers={self._required!r}, max_body_bytes={self.max_body_bytes})"
        )

    @property
    def signs(self) -> bool:
        """Whether a signature is required."""
        return bool(self._secrets)

    @property
    def auth(self) -> Auth | None:
        return self._auth

    def check_content_length(self, value: str | bytes | int | None) -> int | None:
        """The declared ``Content-Length`` (``None`` if absent), refused above the limit before the body is read.

        ``WebhookRequest`` calls this first; the body is still checked once read, because
        the header can lie or be absent (chunked requests).
        """
        if value is None or value == "" or value == b"":
            return None
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("latin-1")  # header octets, as WSGI gives them
        try:
            # RFC 9110: 1*DIGIT. int() alone would also take "+5", "5_0" and non-ASCII digits.
            if isinstance(value, str) and not (value.strip(" \t").isascii() and value.strip(" \t").isdigit()):
                raise ValueError(value)
            length = int(value)
        except (TypeError, ValueError):
            raise self._reject(_bad_length()) from None
        if length < 0:
            raise self._reject(_bad_length())
        if length > self.max_body_bytes:
            raise self._reject(PayloadTooLarge(f"body larger than {self.max_body_bytes} bytes"))
        return length

    def verify(self, body: bytes, headers: HeadersLike) -> AuditBatch:
        """Verify one delivery and return its typed events, or raise a :class:`VerificationError`.

        A Bearer token validator is called here, so it must be synchronous; an ``async def``
        one needs :meth:`verify_async`.
        """
        try:
            token, checked = self._checked(body, headers)
            claims = None if token is None or self._bearer is None else self._bearer.validate(token)
            return self._batch(checked, claims)
        except VerificationError as exc:
            self._reject(exc)
            raise

    async def verify_async(self, body: bytes, headers: HeadersLike, *, run_sync: RunSync | None = None) -> AuditBatch:
        """:meth:`verify` for an event loop: an ``async def`` token validator is awaited.

        A synchronous validator runs in ``await run_sync(validator, token)`` (default
        :func:`asyncio.to_thread`; the Starlette adapter passes ``anyio.to_thread.run_sync``),
        so that a JWKS fetch or an introspection call never blocks the loop. Everything
        else is the same CPU work as :meth:`verify`, on the loop.
        """
        try:
            token, checked = self._checked(body, headers)
            claims = None
            if token is not None and self._bearer is not None:
                claims = await self._bearer.validate_async(token, run_sync or asyncio.to_thread)
            return self._batch(checked, claims)
        except VerificationError as exc:
            self._reject(exc)
            raise

    _reject = staticmethod(log_rejection)

    # Every check, in two halves around the token validator, which :meth:`verify` and
    # :meth:`verify_async` call their own way: one sequence of checks for both.

    def _checked(self, body: bytes, headers: HeadersLike) -> tuple[str | None, _Checked]:
        """The checks before the token validator: the Bearer token it must check (or ``None``), and what they found."""
        if type(body) is not bytes:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise TypeError("verify() takes the request body as bytes")
            body = bytes(body)
        if len(body) > self.max_body_bytes:
            raise PayloadTooLarge(f"body larger than {self.max_body_bytes} bytes")
        found = collect(headers, self._wanted)
        token = None
        if self._bearer is not None:
            token = self._bearer.unvalidated(found)  # missing, malformed or fixed; the validator comes later
        elif self._auth is not None:
            self._auth.check(found)
        if self._required:
            self._required.check(found)
        if not self._secrets:
            return token, (None, body, None)
        # The validator comes after every credential check, before the body is parsed: it
        # may do network I/O (a JWKS fetch, an introspection call) and be rate-limited
        # upstream, so a stranger must first get past every check that costs us a bounded
        # amount of CPU (the static headers, the signature). See docs/security.md.
        return token, self._check_signature(body, found)

    def _batch(self, checked: _Checked, claims: Claims | None) -> AuditBatch:
        """The checks after the token validator: the payload, read from what was signed."""
        form, signed, value = checked
        if form is None:
            # No signature: nothing proves the bytes (``signed`` is the body as received), so
            # the full strict parse (duplicate keys too).
            value = parse_json(signed)
        elif value is None:
            # The signature covers ``signed`` (the body, the trimmed body or a compact form):
            # the events are read from it, so they mean exactly what was signed. A repeated
            # key in it is the signer's own, read alike by Go, JavaScript and Python (the
            # last one wins); see docs/security.md.
            value = parse_json(signed, allow_duplicate_keys=True)
        batch = parse_batch(value, form, signed, claims)
        if self._window is not None:
            self._window.check(batch.events, value)
        return batch

    def _check_signature(self, body: bytes, found: Mapping[str, list[str]]) -> tuple[SignedForm, bytes, Any]:
        """The form, the string the signature matched, and its parsed value when already at hand (else ``None``)."""
        value = single(found, SIGNATURE_HEADER, SignatureError)
        if value is None:
            raise SignatureError("missing signature", code="missing_signature")
        expected = decode_signature(value)
        if expected is None:
            raise SignatureError("malformed signature", code="malformed_signature")
        found_form = find_signed(body, expected, self._secrets, self._forms)
        if found_form is None:
            raise SignatureError("signature does not match", code="invalid_signature")
        form, signed, compact = found_form
        return form, signed, None if compact is None else compact.value


def _bad_length() -> PayloadError:
    return PayloadError("invalid Content-Length header", path=None, code="invalid_content_length")


def _options_of(
    make: Callable[P, object],
) -> Callable[[Callable[..., R]], Callable[Concatenate[bytes, HeadersLike, P], R]]:
    """Give ``func(body, headers, *args, **options)`` exactly the options of ``make``: to the type checker
    and in its signature (``help()``, ``inspect``), so that the two cannot drift apart."""
    options = list(inspect.signature(make).parameters.values())

    def decorate(func: Callable[..., R]) -> Callable[Concatenate[bytes, HeadersLike, P], R]:
        own = inspect.signature(func)
        body_and_headers = list(own.parameters.values())[:2]
        func.__signature__ = own.replace(parameters=[*body_and_headers, *options])  # type: ignore[attr-defined]
        return func

    return decorate


@_options_of(Verifier)
def verify(body: bytes, headers: HeadersLike, *args: Any, **options: Any) -> AuditBatch:
    """One-shot :meth:`Verifier.verify`, with :class:`Verifier`'s options; on a hot path build a Verifier once."""
    token = _ONE_SHOT.set(True)
    try:
        verifier = Verifier(*args, **options)
    finally:
        _ONE_SHOT.reset(token)
    return verifier.verify(body, headers)
