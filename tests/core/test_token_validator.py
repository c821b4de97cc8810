"""BearerToken(validator=...): the connector's OAuth 2.0 type, checked by the user's validator.

Whatever the validator raises (an ``Exception``) or returns instead of claims is a 401
``invalid_credentials`` with the Bearer challenge, never a 500, and the token appears in
no message, log line, repr or exception chain. Cancellation and other ``BaseException``\\s
go through. The validator runs after every cheaper check, and only then is the body parsed.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import gc
import logging
import pickle
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from descope_audit_hook import (
    AuditBatch,
    AuthenticationError,
    BearerToken,
    ConfigurationError,
    MemoryDedupeStore,
    PayloadError,
    PayloadTooLarge,
    SignatureError,
    VerificationError,
    Verifier,
    exactly_once,
    sign,
)
from descope_audit_hook._token_validator import is_async_callable
from tests.support.deliveries import SIG, body_of, event
from tests.support.secrets import HMAC_SECRET

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"  # shaped like a JWT; never valid
CLAIMS = {"sub": "descope-connector", "aud": "https://audit.example", "scope": "audit:write"}
BODY = body_of([event(), event(action="LoginFailed")])
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class Recorder:
    """A validator that records every token it is given and answers with ``answer(token)``."""

    def __init__(self, answer: Callable[[str], Any] | None = None) -> None:
        self.calls: list[str] = []
        self.answer = answer or (lambda token: dict(CLAIMS) if token == TOKEN else _raise(ValueError(token)))

    def __call__(self, token: str) -> Any:
        self.calls.append(token)
        return self.answer(token)


def _raise(exc: BaseException) -> Any:
    raise exc


def signed(body: bytes = BODY, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**BEARER, SIG: sign(body, HMAC_SECRET), **(extra or {})}


def rejected(verifier: Verifier, body: bytes, headers: Any) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as info:
        verifier.verify(body, headers)
    return info.value


# --- accepted ------------------------------------------------------------------------


def test_the_claims_are_on_the_batch_read_only_and_out_of_repr() -> None:
    validator = Recorder()
    batch = Verifier(HMAC_SECRET, auth=BearerToken(validator=validator)).verify(BODY, signed())
    assert validator.calls == [TOKEN]
    assert batch.claims == CLAIMS
    assert len(batch) == 2
    assert batch.claims is not None
    with pytest.raises(TypeError):
        batch.claims["sub"] = "someone else"  # type: ignore[index]
    assert "descope-connector" not in repr(batch)
    assert "claims" not in repr(batch)


def test_the_claims_are_a_copy_of_what_the_validator_returned() -> None:
    returned = dict(CLAIMS)
    batch = Verifier(auth=BearerToken(validator=lambda token: returned)).verify(BODY, BEARER)
    returned["sub"] = "changed later"
    assert batch.claims is not None
    assert batch.claims["sub"] == "descope-connector"


def test_without_a_validator_the_claims_are_none() -> None:
    assert Verifier(auth=BearerToken(TOKEN)).verify(BODY, BEARER).claims is None
    assert Verifier(HMAC_SECRET).verify(BODY, {SIG: sign(BODY, HMAC_SECRET)}).claims is None


def test_a_fixed_token_is_accepted_without_calling_the_validator() -> None:
    # Migrating a connector from a fixed token to OAuth: both are accepted for a while.
    validator = Recorder()
    verifier = Verifier(auth=BearerToken("fixed-old-token", validator=validator))
    assert verifier.verify(BODY, {"Authorization": "Bearer fixed-old-token"}).claims is None
    assert validator.calls == []
    assert verifier.verify(BODY, BEARER).claims == CLAIMS
    assert validator.calls == [TOKEN]
    assert rejected(verifier, BODY, {"Authorization": "Bearer fixed-old-tokem"}).code == "invalid_credentials"


def test_the_scheme_is_case_insensitive_and_spaces_around_the_token_are_ignored() -> None:
    validator = Recorder()
    verifier = Verifier(auth=BearerToken(validator=validator))
    for value in (f"bearer {TOKEN}", f"BEARER   {TOKEN}  "):
        assert verifier.verify(BODY, {"Authorization": value}).claims == CLAIMS
    assert validator.calls == [TOKEN, TOKEN]


def test_any_mapping_is_taken_as_claims() -> None:
    class Claims(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return CLAIMS[key]

        def __iter__(self) -> Iterator[str]:
            return iter(CLAIMS)

        def __len__(self) -> int:
            return len(CLAIMS)

    assert Verifier(auth=BearerToken(validator=lambda token: Claims())).verify(BODY, BEARER).claims == CLAIMS


def test_the_auth_protocol_check_runs_the_validator_too() -> None:
    # BearerToken.check(), as the Auth protocol defines it, is the whole check.
    found = {"authorization": [f"Bearer {TOKEN}"]}
    BearerToken(validator=Recorder()).check(found)
    with pytest.raises(AuthenticationError) as info:
        BearerToken(validator=Recorder()).check({"authorization": ["Bearer other"]})
    assert info.value.code == "invalid_credentials"


# --- refused: whatever the validator does --------------------------------------------


class CustomError(Exception):
    pass


def _recurse(depth: int = 0) -> Any:
    return _recurse(depth + 1)


def _takes_no_arguments() -> Any:
    return dict(CLAIMS)


RAISES: dict[str, Callable[[str], Any]] = {
    "ValueError": lambda token: _raise(ValueError(f"bad token {token}")),
    "CustomError": lambda token: _raise(CustomError(token)),
    "KeyError": lambda token: dict[str, Any]()[token],
    "RecursionError": lambda token: _recurse(),
    "StopIteration": lambda token: _raise(StopIteration(token)),
    "MemoryError": lambda token: _raise(MemoryError(token)),
    "AuthenticationError": lambda token: _raise(AuthenticationError(token, code="token_revoked")),
    "PayloadError": lambda token: _raise(PayloadError(token)),
    "ConfigurationError": lambda token: _raise(ConfigurationError(token)),
    "TypeError": _takes_no_arguments,  # type: ignore[dict-item]  # the wrong signature
}

RETURNS: dict[str, Any] = {
    "None": None,
    "empty dict": {},
    "True": True,
    "the token": TOKEN,
    "a list of pairs": [("sub", "x")],
    "a set": {"sub"},
}


def _assert_refused(error: AuthenticationError, detail: str) -> None:
    assert error.status_code == 401
    assert error.code == "invalid_credentials"
    assert error.message == "invalid credentials"
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="descope-audit-hook"'
    assert error.detail is not None
    assert detail in error.detail
    # The validator's own exception, whose message may hold the token, is not kept.
    assert error.__cause__ is None
    assert error.__context__ is None
    for text in (str(error), repr(error), error.detail, error.message, str(error.to_dict())):
        assert TOKEN not in text


@pytest.mark.parametrize("name", list(RAISES))
def test_whatever_the_validator_raises_is_a_401(name: str) -> None:
    verifier = Verifier(HMAC_SECRET, auth=BearerToken(validator=RAISES[name]))
    _assert_refused(rejected(verifier, BODY, signed()), f"raised {name}")


@pytest.mark.parametrize("name", list(RETURNS))
def test_whatever_the_validator_returns_instead_of_claims_is_a_401(name: str) -> None:
    answer = RETURNS[name]
    verifier = Verifier(auth=BearerToken(validator=lambda token: answer))
    _assert_refused(rejected(verifier, BODY, BEARER), "returned")


def test_a_mapping_that_cannot_be_read_is_a_401() -> None:
    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError(key)

        def __iter__(self) -> Iterator[str]:
            return iter(["sub"])

        def __len__(self) -> int:
            return 1

    _assert_refused(rejected(Verifier(auth=BearerToken(validator=lambda t: Broken())), BODY, BEARER), "RuntimeError")


class Interrupt(BaseException):
    """Neither an error nor a credential problem: like KeyboardInterrupt, it must go through."""


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3), Interrupt(), GeneratorExit()])
def test_a_base_exception_that_is_not_an_exception_goes_through(exc: BaseException) -> None:
    verifier = Verifier(auth=BearerToken(validator=lambda token: _raise(exc)))
    with pytest.raises(type(exc)):
        verifier.verify(BODY, BEARER)


def test_the_rejection_is_logged_once_with_the_class_name_and_never_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class ExpiredSignatureError(Exception):
        pass

    verifier = Verifier(auth=BearerToken(validator=lambda token: _raise(ExpiredSignatureError(f"expired: {token}"))))
    with caplog.at_level(logging.DEBUG, logger="descope_audit_hook"):
        rejected(verifier, BODY, BEARER)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "descope audit webhook rejected (401 invalid_credentials): invalid credentials "
        "(the token validator raised ExpiredSignatureError)"
    )
    assert record.exc_info is None
    assert TOKEN not in caplog.text


def test_the_token_is_not_in_any_repr() -> None:
    def validate(token: str) -> dict[str, Any]:
        return dict(CLAIMS)

    auth = BearerToken("fixed-SECRET-token", validator=validate)
    assert repr(auth) == (
        "BearerToken(<1 token(s) hidden>, validator="
        "tests.core.test_token_validator.test_the_token_is_not_in_any_repr.<locals>.validate)"
    )
    assert "SECRET" not in repr(Verifier(auth=auth))
    batch = Verifier(auth=auth).verify(BODY, BEARER)
    assert TOKEN not in repr(batch)


# --- refused before the validator is called ---------------------------------------


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("", "malformed_credentials"),
        ("Bearer", "malformed_credentials"),
        ("Bearer ", "malformed_credentials"),
        ("Bearer \t ", "malformed_credentials"),
        (f"Basic {TOKEN}", "malformed_credentials"),
        (TOKEN, "malformed_credentials"),
        # Not RFC 6750 token syntax: user code never sees spaces, control or non-ASCII text.
        ("Bearer two words", "malformed_credentials"),
        ("Bearer tök.en", "malformed_credentials"),
        ("Bearer a=b", "malformed_credentials"),
        ("Bearer a\x00b", "malformed_credentials"),
        ("Bearer {json}", "malformed_credentials"),
    ],
)
def test_malformed_tokens_never_reach_the_validator(value: str, code: str) -> None:
    validator = Recorder()
    error = rejected(Verifier(auth=BearerToken(validator=validator)), BODY, {"Authorization": value})
    assert error.code == code
    assert error.headers["WWW-Authenticate"].startswith("Bearer ")
    assert validator.calls == []


def test_token_syntax_the_validator_may_receive() -> None:
    validator = Recorder(lambda token: {"token_seen": True})
    verifier = Verifier(auth=BearerToken(validator=validator))
    for token in ("abc", "a.b.c", "A-Z_a~z+/0.9", "opaque==", "x" * 4096):
        verifier.verify(BODY, {"Authorization": f"Bearer {token}"})
    assert validator.calls == ["abc", "a.b.c", "A-Z_a~z+/0.9", "opaque==", "x" * 4096]


def test_the_validator_is_called_after_every_cheaper_check() -> None:
    # A stranger must not be able to make us call the validator (which may fetch a JWKS or
    # call an introspection endpoint) while a check that costs us a bounded amount of CPU
    # can refuse the request first: the size, the static headers, the signature.
    validator = Recorder()
    verifier = Verifier(
        HMAC_SECRET, auth=BearerToken(validator=validator), required_headers={"x-env": "prod"}, max_body_bytes=len(BODY)
    )
    good = signed(extra={"x-env": "prod"})
    cases: list[tuple[bytes, Any, type[VerificationError], str]] = [
        (BODY + b" ", good, PayloadTooLarge, "payload_too_large"),
        (BODY, {k: v for k, v in good.items() if k != "Authorization"}, AuthenticationError, "missing_credentials"),
        (BODY, [*good.items(), ("authorization", f"Bearer {TOKEN}")], AuthenticationError, "duplicate_header"),
        (BODY, {**good, "x-env": "staging"}, AuthenticationError, "invalid_header"),
        (BODY, {k: v for k, v in good.items() if k != "x-env"}, AuthenticationError, "missing_header"),
        (BODY, {k: v for k, v in good.items() if k != SIG}, SignatureError, "missing_signature"),
        (BODY, {**good, SIG: "not base64"}, SignatureError, "malformed_signature"),
        (BODY, {**good, SIG: sign(BODY, "another-secret")}, SignatureError, "invalid_signature"),
        (BODY.replace(b"LoginFailed", b"LoginFAILED"), good, SignatureError, "invalid_signature"),
    ]
    for body, headers, error, code in cases:
        with pytest.raises(error) as info:
            verifier.verify(body, headers)
        assert info.value.code == code
    assert validator.calls == []
    assert verifier.verify(BODY, good).claims == CLAIMS
    assert validator.calls == [TOKEN]


def test_the_body_is_parsed_only_after_the_validator_accepted_the_token() -> None:
    # Nothing about the payload is revealed to (or parsed for) a caller whose token is refused.
    validator = Recorder()
    verifier = Verifier(auth=BearerToken(validator=validator))
    garbage = b'[{"action": "LoginSucceed", '
    assert rejected(verifier, garbage, {"Authorization": "Bearer not-the-token"}).code == "invalid_credentials"
    with pytest.raises(PayloadError) as info:
        verifier.verify(garbage, BEARER)
    assert info.value.code == "invalid_json"
    assert validator.calls == ["not-the-token", TOKEN]


# --- configuration ----------------------------------------------------------------------


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="at least one token or a validator"):
        BearerToken()
    with pytest.raises(ConfigurationError, match="must be callable"):
        BearerToken(validator="myapp.auth:validate")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        BearerToken(" padded", validator=Recorder())
    # A validator-only BearerToken has no token to send (make_delivery, the CLI's send).
    with pytest.raises(ConfigurationError, match="no fixed token to send"):
        BearerToken(validator=Recorder()).connector_headers()
    assert BearerToken("t", validator=Recorder()).connector_headers() == {"Authorization": "Bearer t"}


async def _async_validator(token: str) -> dict[str, Any]:
    return dict(CLAIMS)


class _AsyncCallable:
    async def __call__(self, token: str) -> dict[str, Any]:
        return dict(CLAIMS)


def test_async_callables_are_recognised() -> None:
    import functools

    assert is_async_callable(_async_validator)
    assert is_async_callable(functools.partial(_async_validator))
    assert is_async_callable(_AsyncCallable())
    assert not is_async_callable(Recorder())
    assert not is_async_callable(lambda token: None)
    assert BearerToken(validator=_AsyncCallable()).asynchronous
    assert not BearerToken(validator=Recorder()).asynchronous
    assert not BearerToken("t").asynchronous


def test_an_async_validator_needs_the_async_path() -> None:
    # A developer's mistake, not the caller's: a ConfigurationError (a 500), never a 4xx.
    verifier = Verifier(auth=BearerToken(validator=_async_validator))
    with pytest.raises(ConfigurationError, match="async"):
        verifier.verify(BODY, BEARER)
    assert asyncio.run(verifier.verify_async(BODY, BEARER)).claims == CLAIMS


def test_a_plain_function_returning_a_coroutine_is_refused_without_a_warning() -> None:
    verifier = Verifier(auth=BearerToken(validator=lambda token: _async_validator(token)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigurationError, match="awaitable"):
            verifier.verify(BODY, BEARER)
        gc.collect()  # a coroutine left unawaited would warn when collected
    assert asyncio.run(verifier.verify_async(BODY, BEARER)).claims == CLAIMS


# --- verify_async -------------------------------------------------------------------------


def test_verify_async_awaits_an_async_validator_on_the_loop() -> None:
    seen: list[int] = []

    async def validate(token: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        seen.append(threading.get_ident())
        return dict(CLAIMS)

    async def main() -> AuditBatch:
        seen.append(threading.get_ident())
        return await Verifier(HMAC_SECRET, auth=BearerToken(validator=validate)).verify_async(BODY, signed())

    assert asyncio.run(main()).claims == CLAIMS
    assert seen[0] == seen[1]


def test_verify_async_runs_a_sync_validator_off_the_loop() -> None:
    seen: list[int] = []

    def validate(token: str) -> dict[str, Any]:
        seen.append(threading.get_ident())
        return dict(CLAIMS)

    async def main() -> list[AuditBatch]:
        seen.append(threading.get_ident())
        verifier = Verifier(auth=BearerToken(validator=validate))
        ran: list[str] = []

        async def run_sync(func: Callable[[str], Any], token: str) -> Any:
            ran.append(token)
            return await asyncio.to_thread(func, token)

        batches = [
            await verifier.verify_async(BODY, BEARER),
            await verifier.verify_async(BODY, BEARER, run_sync=run_sync),
        ]
        assert ran == [TOKEN]
        return batches

    assert [b.claims for b in asyncio.run(main())] == [CLAIMS, CLAIMS]
    loop_thread, *validator_threads = seen
    assert all(thread != loop_thread for thread in validator_threads)


@pytest.mark.parametrize("name", ["ValueError", "RecursionError", "StopIteration", "AuthenticationError"])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_verify_async_refuses_whatever_the_validator_raises(name: str, asynchronous: bool) -> None:
    sync = RAISES[name]

    async def async_validator(token: str) -> Any:
        return sync(token)

    verifier = Verifier(auth=BearerToken(validator=async_validator if asynchronous else sync))
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(verifier.verify_async(BODY, BEARER))
    # A StopIteration raised inside a coroutine becomes a RuntimeError (PEP 479). In a worker
    # thread it stays there: carried across to an asyncio future it would hang the request.
    _assert_refused(info.value, "raised RuntimeError" if asynchronous and name == "StopIteration" else f"raised {name}")


def test_verify_async_lets_cancellation_through() -> None:
    started = asyncio.Event

    async def main() -> None:
        entered = started()

        async def validate(token: str) -> dict[str, Any]:
            entered.set()
            await asyncio.sleep(3600)
            return dict(CLAIMS)

        verifier = Verifier(auth=BearerToken(validator=validate))
        task = asyncio.ensure_future(verifier.verify_async(BODY, BEARER))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_verify_async_without_a_validator_is_verify() -> None:
    verifier = Verifier(HMAC_SECRET, auth=BearerToken(TOKEN))
    batch = asyncio.run(verifier.verify_async(BODY, signed()))
    assert batch == verifier.verify(BODY, signed())
    assert batch.claims is None
    with pytest.raises(SignatureError):
        asyncio.run(verifier.verify_async(BODY.replace(b"LoginFailed", b"LoginFAILED"), signed()))


# --- the claims travel with the batch --------------------------------------------------


def _claimed() -> AuditBatch:
    return Verifier(auth=BearerToken(validator=lambda token: dict(CLAIMS))).verify(BODY, BEARER)


def test_a_batch_with_claims_pickles_copies_and_compares() -> None:
    batch = _claimed()
    for twin in (pickle.loads(pickle.dumps(batch)), copy.deepcopy(batch), copy.copy(batch)):  # noqa: S301
        assert twin == batch
        assert twin.claims == CLAIMS
        assert twin.claims is not None
        with pytest.raises(TypeError):
            twin.claims["sub"] = "x"  # type: ignore[index]
    assert hash(batch) == hash(dataclasses.replace(batch, claims={"sub": "other"}))
    assert batch != dataclasses.replace(batch, claims=None)


def test_exactly_once_keeps_the_claims() -> None:
    with exactly_once(_claimed(), MemoryDedupeStore()) as fresh:
        assert fresh.claims == CLAIMS
        assert len(fresh) == 2


def test_a_batch_built_by_hand_takes_any_mapping_as_claims() -> None:
    batch = AuditBatch((), claims={"sub": "x"})
    assert batch.claims == {"sub": "x"}
    with pytest.raises(TypeError):
        batch.claims["sub"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        AuditBatch((), claims=[("sub", "x")])  # type: ignore[arg-type]
