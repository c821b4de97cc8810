"""Property-based tests: nothing but a result or one of our errors, for any input."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from descope_audit_hook import (
    ApiKey,
    AuditBatch,
    BasicAuth,
    BearerToken,
    SignatureError,
    SignedForm,
    VerificationError,
    Verifier,
    sign,
)
from descope_audit_hook._compact import _by_encoder, _by_text, _rewrite_budget, compact_form
from descope_audit_hook._js_number import js_number as _js_number
from descope_audit_hook._json import canonical_json
from descope_audit_hook._samples import _js_number as independent_js_number
from descope_audit_hook._signature import FORMS
from descope_audit_hook.testing import make_delivery, signed_string
from tests.support.deliveries import SIG
from tests.support.properties import examples
from tests.support.secrets import HMAC_SECRET


def _decoded_claims(token: str) -> Any:
    # A careless token validator: raises all sorts of things, or returns any JSON value.
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


VERIFIERS = [
    Verifier(HMAC_SECRET, auth=BearerToken("tok"), required_headers={"x-env": "prod"}),
    Verifier(auth=BearerToken("tok", validator=_decoded_claims)),
    Verifier(HMAC_SECRET, auth=ApiKey("x-api-key", "key")),
    Verifier(auth=BasicAuth("user", "pw")),
    Verifier(HMAC_SECRET),
    Verifier(allow_unauthenticated=True),
]

REAL_NAMES = ["authorization", "Authorization", SIG, SIG.upper(), "x-api-key", "x-env", "content-type"]
# Headers may hold anything a framework could hand over, lone surrogates included
# (what surrogateescape decoding produces).
odd_text = st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Zs", "Lu", "Ll", "So"]), max_size=20)
text_or_bytes = st.one_of(st.text(max_size=60), st.binary(max_size=60), odd_text)
names = st.one_of(st.sampled_from(REAL_NAMES), st.sampled_from([n.encode() for n in REAL_NAMES]), text_or_bytes)
values = st.one_of(
    text_or_bytes,
    st.sampled_from(["Bearer tok", "bearer tok", "Basic dXNlcjpwdw==", "Basic ***", "key", "prod", ""]),
    # Tokens the careless validator turns into {}, a claim, a list, a number, and not JSON.
    st.sampled_from(["Bearer e30", "Bearer eyJzdWIiOiJ4In0", "Bearer WzFd", "Bearer MQ", "Bearer _w"]),
    st.text(max_size=40).map(lambda t: "Bearer " + base64.urlsafe_b64encode(t.encode("utf-8", "replace")).decode()),
    st.binary(min_size=32, max_size=33).map(lambda b: base64.b64encode(b).decode()),
)
pairs = st.lists(st.tuples(names, values), max_size=8)
headers = st.one_of(pairs, pairs.map(lambda p: {str(k): v for k, v in p}), pairs.map(lambda p: [list(x) for x in p]))

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
json_bodies = json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass"))
bodies = st.one_of(
    st.binary(max_size=300),
    json_bodies,
    st.sampled_from([b"[]", b"[{}]", b'[{"action":"A","occurred":1}]', b"[" * 3000, b'{"audits":[1]}']),
)


def _outcome(verifier: Verifier, body: bytes, hdrs: Any) -> None:
    error: VerificationError | None = None
    try:
        result = verifier.verify(body, hdrs)
    except VerificationError as exc:  # anything else propagates and fails the test
        error = exc
    if error is None:
        assert isinstance(result, AuditBatch)
    else:
        assert error.status_code in (400, 401, 413)
        assert isinstance(error.code, str)
        assert error.code


@settings(max_examples=examples(2000))
@given(body=bodies, hdrs=headers, which=st.integers(0, len(VERIFIERS) - 1))
def test_any_request_gives_a_batch_or_our_error(body: bytes, hdrs: Any, which: int) -> None:
    _outcome(VERIFIERS[which], body, hdrs)


@settings(max_examples=examples(800))
@given(payload=json_values, which=st.integers(0, len(VERIFIERS) - 1))
def test_any_signed_json_gives_a_batch_or_a_payload_error(payload: Any, which: int) -> None:
    # Correct credentials and signature: only the payload rules are left to decide.
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
    hdrs = {"Authorization": "Bearer tok", "x-env": "prod", "x-api-key": "key", SIG: sign(body, HMAC_SECRET)}
    _outcome(VERIFIERS[which], body, hdrs)


event_strategy = st.fixed_dictionaries(
    {"action": st.text(min_size=1, max_size=12), "occurred": st.integers(0, 2**45)},
    optional={
        "type": st.sampled_from(["info", "warn", "error", "Information", ""]),
        "actorId": st.text(max_size=10),
        "tenants": st.one_of(st.none(), st.lists(st.text(max_size=6), max_size=3)),
        "loginIds": st.lists(st.text(max_size=10), max_size=2),
        "data": st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    },
)


def _floats(value: Any) -> int:
    if isinstance(value, dict):
        return sum(map(_floats, value.values()))
    if isinstance(value, list):
        return sum(map(_floats, value))
    return int(isinstance(value, float))


@settings(max_examples=examples(400))
@given(events=st.lists(event_strategy, max_size=4), form=st.sampled_from(FORMS), flip=st.integers(min_value=0))
def test_signed_delivery_accepted_and_any_flipped_bit_rejected(
    events: list[dict[str, Any]], form: SignedForm, flip: int
) -> None:
    body, hdrs = make_delivery(events, hmac_secret=HMAC_SECRET, auth=BearerToken("tok"), signed_form=form)
    verifier = Verifier(HMAC_SECRET, auth=BearerToken("tok"))
    batch = verifier.verify(body, hdrs)
    assert len(batch) == len(events)
    assert batch.signed_form is not None
    assert FORMS.index(batch.signed_form) <= FORMS.index(form)
    tampered = bytearray(body)
    tampered[flip % len(body)] ^= 0x01
    try:
        accepted = verifier.verify(bytes(tampered), hdrs)
    except SignatureError:
        return
    # The compact forms sign a re-serialization, not the bytes: a change that does not
    # change it (another spelling of the same double, 1e-07 as 1E-07) still matches, and
    # what reaches the caller is exactly what was signed.
    assert accepted.signed_form in ("compact", "compact-escaped"), "a changed byte was accepted"
    assert accepted.body == batch.body
    assert [(e.to_dict(), dict(e.raw), e.fingerprint) for e in accepted] == [
        (e.to_dict(), dict(e.raw), e.fingerprint) for e in batch
    ]


@settings(max_examples=examples(2000))
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_js_number_round_trips_and_agrees_with_the_independent_formatter(value: float) -> None:
    text = _js_number(value)
    assert float(text) == value
    assert text == independent_js_number(value)
    assert "inf" not in text
    assert not text.endswith(".0")


@settings(max_examples=examples(300))
@given(payload=json_values, indent=st.sampled_from([None, 1]))
def test_compact_agrees_with_the_testing_helper(payload: Any, indent: int | None) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=indent)
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from st.text(): not something a sender can send
        raw = b""
    assume(raw)
    _, signed = signed_string(payload, "compact")
    form = compact_form(raw)
    if form is None:
        # Only a body with more floats to rewrite (1.0, 1e-07) than the budget has none.
        assert _floats(payload) > _rewrite_budget(len(raw))
        return
    assert form.text == signed
    # When the verifier reuses the parsed value, it is exactly what the signed string means.
    if form.value is not None:
        assert _typed(form.value) == _typed(json.loads(form.text))


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value), repr(value))


@settings(max_examples=examples(300))
@given(integer=st.integers(min_value=-(10**30), max_value=10**30))
def test_integers_are_written_exactly(integer: int) -> None:
    form = compact_form(f"[ {integer} ]".encode())
    assert form is not None
    assert form.text == f"[{integer}]".encode()
    if form.value is not None:
        assert _typed(form.value) == _typed([integer])


@settings(max_examples=examples(500))
@given(
    payload=json_values,
    indent=st.sampled_from([None, 0, 1]),
    ascii_only=st.booleans(),
    slash=st.booleans(),
    chunk_size=st.integers(min_value=1, max_value=64),
)
def test_the_two_builders_write_the_same_compact_form(
    payload: Any, indent: int | None, ascii_only: bool, slash: bool, chunk_size: int
) -> None:
    # compact_form picks the text builder or the encoder by its count of backslashes; on
    # any JSON body (without a repeated key) both must give the same string, or both none,
    # however the text builder cuts the body into chunks (at line breaks, or before an
    # opening quote where there is none).
    try:
        body = json.dumps(payload, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from st.text(): both refuse it (tested elsewhere)
        return
    if slash:
        body = body.replace(b"/", b"\\/")
    by_encoder = _by_encoder(body)
    by_text = _by_text(body, body.count(b"\\"))
    assert by_text == (None if by_encoder is None else by_encoder.text)
    assert _by_text(body, body.count(b"\\"), chunk_size) == by_text
    if by_encoder is not None and by_encoder.value is not None:
        assert _typed(by_encoder.value) == _typed(json.loads(by_encoder.text))


@settings(max_examples=examples(500))
@given(value=st.one_of(json_values, st.lists(st.tuples(json_values, st.text(max_size=3)), max_size=3)))
def test_canonical_json_is_json_dumps_without_recursion(value: Any) -> None:
    # The fingerprint's fallback for very deep data must write exactly what json.dumps writes.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)
    assert canonical_json(value) == expected
