"""Coverage-guided fuzz target (atheris / libFuzzer) for header parsing, signature decoding, payload parsing.

    python fuzz/fuzz_verify.py -max_total_time=60 -dict=fuzz/json.dict /tmp/corpus fuzz/seeds
    python fuzz/fuzz_verify.py crash-<sha1>          # replay one input

The first byte of an input picks a target; the rest is its data. A crash is any
exception other than a :class:`VerificationError` (a hostile input must never become a
500), or a broken invariant (an ``AssertionError``). ``tests/fuzz/test_atheris.py`` runs
this for a bounded time in CI; every crash found becomes a regression test there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from descope_audit_hook import ApiKey, BasicAuth, BearerToken, VerificationError, Verifier
    from descope_audit_hook._compact import compact_form
    from descope_audit_hook._forms import compact_escaped, decode_signature
    from descope_audit_hook._headers import collect
    from descope_audit_hook._payload import _event, parse_batch, parse_events, parse_json

__all__ = ["SECRET", "TOKEN", "one_input"]

SECRET = b"fuzz-hmac-secret"
TOKEN = "fuzz-token"  # noqa: S105 - the fuzz target's own credential
SIG = "x-descope-webhook-s256"

_BEARER = Verifier(SECRET, auth=BearerToken(TOKEN), required_headers={"x-env": "prod"})
_SIGNED_ONLY = Verifier([SECRET, b"old-secret"], max_body_bytes=2048)
_UNSIGNED = Verifier(auth=ApiKey("x-api-key", "k1", "k2"))
_BASIC = Verifier(SECRET, auth=BasicAuth("user", "pw", ("user", "old")))
_WANTED = frozenset({"authorization", SIG, "x-env", "x-api-key"})


def _require(condition: object, detail: object = "") -> None:
    """An invariant; its failure is a crash for the fuzzer (``assert`` would vanish under ``-O``)."""
    if not condition:
        raise AssertionError(detail)


def _sign(message: bytes, secret: bytes = SECRET) -> str:
    return base64.b64encode(hmac.digest(secret, message, hashlib.sha256)).decode()


def _check_batch(batch: Any) -> None:
    for event in batch:
        _require(isinstance(event.action, str))
        _require(event.action)
        _require(event.occurred.tzinfo is not None)
        _require(len(event.fingerprint) == 64)
        json.dumps(event.to_dict(), default=str)
        repr(event)


def _expect_rejection_or_batch(verifier: Verifier, body: bytes, headers: Any) -> None:
    try:
        batch = verifier.verify(body, headers)
    except VerificationError as exc:
        _require(exc.status_code in (400, 401, 405, 413), exc.status_code)
        text = json.dumps(exc.to_dict())
        _require(TOKEN not in text)
        _require(SECRET.decode() not in text)
        return
    _check_batch(batch)


def _headers(fdp: atheris.FuzzedDataProvider) -> list[tuple[Any, Any]]:
    names = ["Authorization", "authorization", SIG, SIG.upper(), "X-Env", "x-api-key", "content-type", "x"]
    pairs: list[tuple[Any, Any]] = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        name = names[fdp.ConsumeIntInRange(0, len(names) - 1)]
        value: Any = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 60))
        if fdp.ConsumeBool():
            value = value.encode("utf-8", "surrogatepass")
        pairs.append((name.encode() if fdp.ConsumeBool() else name, value))
    return pairs


def _checked(value: list[Any]) -> tuple[Any, ...]:
    return tuple(_event(item, f"$[{index}]") for index, item in enumerate(value))


def _outcome(fn: Any, value: Any) -> Any:
    try:
        return [_fields(event) for event in fn(value)]
    except VerificationError as exc:
        return (exc.code, str(exc))


def _same_json(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(_same_json(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers) and type(left) is not bool and type(right) is not bool:
        try:
            return float(left) == float(right)
        except OverflowError:
            return left == right
    return type(left) is type(right) and bool(left == right)


def _refuse(name: str) -> Any:
    raise ValueError(name)


def _typed(value: Any) -> Any:
    """``value`` with each scalar's type made part of it, so that 3 and 3.0 differ."""
    if isinstance(value, dict):
        return [(key, _typed(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value), repr(value))


def _meaning(batch: Any) -> list[Any]:
    return [(_fields(event), _typed(dict(event.raw)), event.fingerprint) for event in batch]


def _fields(event: Any) -> tuple[Any, ...]:
    return tuple((type(getattr(event, name)), getattr(event, name)) for name in event.__slots__ if name != "raw")


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 8, data[1:]
    if mode == 0:
        # Signature decoding: None, or exactly the 32 bytes whose canonical base64 was given.
        text = rest.decode("latin-1")
        decoded = decode_signature(text)
        if decoded is not None:
            _require(len(decoded) == 32)
            _require(base64.b64encode(decoded).decode().rstrip("=") == text.rstrip("="))
    elif mode == 1:
        # Arbitrary headers (str or bytes, repeated, odd case) and body against every auth type.
        fdp = atheris.FuzzedDataProvider(rest)
        headers = _headers(fdp)
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
        with contextlib.suppress(VerificationError):
            collect(headers, _WANTED)
        for verifier in (_BEARER, _SIGNED_ONLY, _UNSIGNED, _BASIC):
            _expect_rejection_or_batch(verifier, body, headers)
            _expect_rejection_or_batch(verifier, body, dict(headers) if fdp.ConsumeBool() else iter(headers))
    elif mode in (2, 3):
        # A correctly signed (raw) body: everything past the signature is exercised.
        signed_headers = {"Authorization": f"Bearer {TOKEN}", "x-env": "prod", SIG: _sign(rest)}
        _expect_rejection_or_batch(_BEARER, rest, signed_headers)
        _expect_rejection_or_batch(_SIGNED_ONLY, rest, {SIG: _sign(rest)})
        _expect_rejection_or_batch(_UNSIGNED, rest, {"x-api-key": "k2"})
    elif mode == 4:
        # Signed over the re-serialized form, as a sender that pretty-printed the body would.
        # Whatever the body's spelling (repeated keys, 3.0 for 3, escapes, spacing, not JSON at
        # all), an accepted batch must be exactly the batch of the signed string itself.
        form = compact_form(rest)
        if form is None:
            return
        signed = form.text
        try:
            meaning = json.loads(rest.decode("utf-8"), parse_constant=_refuse)
        except (ValueError, RecursionError):
            meaning = None
        if meaning is not None:
            # A JSON body: its compact form means the same (numbers compared as doubles:
            # 9444444440071992547.1 is written as JavaScript writes its double, 9444444440071993000).
            _require(_same_json(json.loads(signed), meaning), "the compact form changed the meaning")
        if form.value is not None:
            _require(_typed(form.value) == _typed(json.loads(signed)), "the reused value is not the signed meaning")
        escaped = data[0] // 8 % 2 == 1
        if escaped:  # Go's json.Marshal: < > & U+2028 U+2029 escaped
            signed = compact_escaped(signed)
            if len(signed) > 256 + len(form.text) * 9 // 8:
                return  # too dense in < > &: no compact-escaped form (tested in tests/core)
        compact_headers = {"Authorization": f"Bearer {TOKEN}", "x-env": "prod", SIG: _sign(signed)}
        try:
            batch = _BEARER.verify(rest, compact_headers)
        except VerificationError as exc:
            _require(exc.status_code == 400, exc.code)  # the signature matched: only the payload can be wrong
            return
        forms = ("raw", "trimmed", "compact", "compact-escaped") if escaped else ("raw", "trimmed", "compact")
        _require(batch.signed_form in forms, batch.signed_form)
        _require(batch.body == signed, "batch.body is not the signed string")
        own = _BEARER.verify(signed, compact_headers)
        _require(_meaning(batch) == _meaning(own), "the batch differs from the signed string's")
        _check_batch(batch)
    elif mode in (5, 6):
        # parse_events (the column check, else the checked path) and the batch verify()
        # returns against the checked path, on any JSON value.
        try:
            value = parse_json(rest)
        except VerificationError:
            return
        got = _outcome(parse_events, value)
        deferred = _outcome(lambda v: parse_batch(v, "raw", b"").events, value)
        _require(got == deferred, (got, deferred))
        if isinstance(value, list):
            want = _outcome(_checked, value)
            _require(got == want, (got, want))
    else:
        fdp = atheris.FuzzedDataProvider(rest)
        try:
            _BEARER.check_content_length(fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 30)))
        except VerificationError as exc:
            _require(exc.status_code in (400, 413))


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
