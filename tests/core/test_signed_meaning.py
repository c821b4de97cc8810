"""The handler gets the meaning of the signed string, never the received bytes' own spelling.

Under a compact form the signature covers a re-serialization of the body, so someone
holding one signed delivery can respell it (``3`` as ``3.0``, ``null`` as a huge integer,
``2^53`` as ``2^53 + 1``). Each such body must be rejected, or give exactly the batch that
verifying the signed string itself gives: the same events, the same values and Python
types in ``raw`` and ``data``, the same fingerprints. A respelled replay is then no new
event for ``exactly_once``.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descope_audit_hook import (
    AuditBatch,
    MemoryDedupeStore,
    SignatureError,
    SignedForm,
    VerificationError,
    Verifier,
    exactly_once,
    sign,
)
from descope_audit_hook.testing import signed_string
from tests.support.deliveries import SIG
from tests.support.properties import examples
from tests.support.secrets import HMAC_SECRET

COMPACT_FORMS: tuple[SignedForm, ...] = ("compact", "compact-escaped")
VERIFIER = Verifier(HMAC_SECRET)


def typed(value: Any) -> Any:
    """``value`` with the Python type of every scalar made part of it (``3 != 3.0`` here)."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed(item) for item in value]
    if isinstance(value, float) and value == 0:
        return ("float", math.copysign(1.0, value))
    return (type(value).__name__, value)


def meaning(batch: AuditBatch) -> list[Any]:
    """Everything a handler can read from a batch's events, types included."""
    return [
        (typed(event.to_dict()), typed(dict(event.raw)), typed(dict(event.data)), event.fingerprint, repr(event))
        for event in batch
    ]


def signed_for(form: SignedForm, compact_text: str) -> bytes:
    """The string a sender using ``form`` signs for a document whose compact JSON is ``compact_text``."""
    signed = compact_text
    if form == "compact-escaped":
        for char in "<>&\u2028\u2029":
            signed = signed.replace(char, f"\\u{ord(char):04x}")
    return signed.encode("utf-8")


def assert_rejected_or_same(body: bytes, signed: bytes) -> AuditBatch | None:
    """``body`` under a signature over ``signed``: a SignatureError, or the signed string's own batch."""
    headers = {SIG: sign(signed, HMAC_SECRET)}
    expected = VERIFIER.verify(signed, headers)  # the signed string itself, as raw
    try:
        batch = VERIFIER.verify(body, headers)
    except SignatureError:
        return None
    assert meaning(batch) == meaning(expected)
    assert batch.body == signed
    return batch


# --- one test per respelling --------------------------------------------------------------

# The captured delivery: compact JSON, as Go's json.Marshal and JSON.stringify write it.
# "a<b & c" makes the Go-escaped signed string differ from the compact one.
TEMPLATE = (
    '[{"action":"LoginFailed","occurred":1700000000000,"type":"warn",'
    '"data":{"note":"a<b & c","value":%s,"reason":null}}]'
)

RESPELLINGS = [
    # (the value in the signed document, how the attacker writes it)
    ("3", "3.0"),
    ("3", "3e0"),
    ("3", "0.3e1"),
    ("3", "3E+0"),
    ("30", "3e1"),
    ("100", "100.0"),
    ("100", "1e2"),
    ("null", "1" + "0" * 400),
    ("null", "-" + "9" * 400),
    ("null", "1e400"),
    ("9007199254740992", "9007199254740993"),
    ("9007199254740992", "9007199254740992.0"),
    ("-9007199254740992", "-9007199254740993"),
    ("0", "-0"),
    ("0", "-0.0"),
    ("0", "0.0"),
    ("0", "0e5"),
    ("1.5", "1.50"),
    ("1.5", "15e-1"),
    ("1.5", "1.5000000000000000001"),
    ("1e-7", "1e-07"),
    ("1e-7", "0.0000001"),
    ("1e+21", "1e21"),
    ("1e+21", "1000000000000000000000"),
    ("0.1", "0.10000000000000001"),
]


@pytest.mark.parametrize("form", COMPACT_FORMS)
@pytest.mark.parametrize(("signed_value", "respelled"), RESPELLINGS, ids=[f"{a}->{b[:24]}" for a, b in RESPELLINGS])
def test_a_respelled_number_is_rejected_or_means_what_was_signed(
    form: SignedForm, signed_value: str, respelled: str
) -> None:
    compact_text = TEMPLATE % signed_value
    signed = signed_for(form, compact_text)
    captured = compact_text.encode()
    respelled_body = (TEMPLATE % respelled).encode()
    assert_rejected_or_same(captured, signed)
    assert_rejected_or_same(respelled_body, signed)
    # Pretty-printed too: the candidate then always differs from the body.
    pretty = TEMPLATE.replace(",", ", ").replace("[{", "[\n  {") % respelled
    assert_rejected_or_same(pretty.encode(), signed)


@pytest.mark.parametrize("form", COMPACT_FORMS)
@pytest.mark.parametrize(("signed_value", "respelled"), RESPELLINGS, ids=[f"{a}->{b[:24]}" for a, b in RESPELLINGS])
def test_a_respelled_replay_is_no_new_event(form: SignedForm, signed_value: str, respelled: str) -> None:
    compact_text = TEMPLATE % signed_value
    headers = {SIG: sign(signed_for(form, compact_text), HMAC_SECRET)}
    store = MemoryDedupeStore()
    first = VERIFIER.verify(compact_text.encode(), headers)
    with exactly_once(first, store) as new:
        assert len(new) == 1
    try:
        replay = VERIFIER.verify((TEMPLATE % respelled).encode(), headers)
    except SignatureError:
        return
    with exactly_once(replay, store) as new:
        assert len(new) == 0
        assert new.duplicates == 1


def test_the_issue_example() -> None:
    # Verbatim from the report: 1 new, 0 new, then 1 new with 3.0 and 1 new with a 401-digit integer.
    store = MemoryDedupeStore()
    b = b'[{"action":"LoginFailed","occurred":1700000000000,"data":{"attempts":3,"reason":null}}]'
    h = {"x-descope-webhook-s256": sign(b, HMAC_SECRET)}
    seen: list[Any] = []
    for body in (b, b, b.replace(b":3,", b":3.0,"), b.replace(b"null", b"1" + b"0" * 400)):
        try:
            batch = VERIFIER.verify(body, h)
        except SignatureError:
            seen.append(None)
            continue
        with exactly_once(batch, store) as new:
            seen.append((batch.signed_form, len(new), typed(dict(batch[0].data))))
    assert seen[0] == ("raw", 1, {"attempts": ("int", 3), "reason": ("NoneType", None)})
    assert seen[1] == ("raw", 0, {"attempts": ("int", 3), "reason": ("NoneType", None)})
    assert seen[2] in (None, ("compact", 0, {"attempts": ("int", 3), "reason": ("NoneType", None)}))
    assert seen[3] is None


# --- which bytes batch.body holds -----------------------------------------------------------


@pytest.mark.parametrize("form", ["raw", "trimmed", "compact", "compact-escaped"])
def test_batch_body_is_the_signed_string(form: SignedForm) -> None:
    payload = [{"action": "A", "occurred": 1, "data": {"n": 1.0, "s": "<&>"}}]
    body, signed = signed_string(payload, form)
    batch = VERIFIER.verify(body, {SIG: sign(signed, HMAC_SECRET)})
    assert batch.signed_form == form
    assert batch.body == signed
    assert VERIFIER.verify(batch.body, {SIG: sign(signed, HMAC_SECRET)}).signed_form == "raw"


def test_batch_body_is_the_received_body_without_a_secret() -> None:
    body = b'[ {"action": "A", "occurred": 1.0} ]\n'
    batch = Verifier(allow_unauthenticated=True).verify(body, {})
    assert batch.body == body
    assert batch.signed_form is None


# --- the property ---------------------------------------------------------------------------

# Every kind of number a JSON document can hold.
numbers = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**64), 2**64),
    st.sampled_from([0, 2**53, 2**53 + 1, -(2**53) - 1, 10**21, 10**22, 10**400, -(10**309), 1780949905843]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e-6, max_value=1e-6, allow_nan=False),
    st.floats(min_value=1e15, max_value=1e22),
    st.sampled_from([0.0, -0.0, 1.0, 3.0, 1e21, 1e-7, 1.5e-5, 5e-324, 1.7976931348623157e308, 0.1, 2.5, 1e16]),
)
scalars = st.one_of(st.none(), st.booleans(), st.text(max_size=6), numbers)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)
documents = st.lists(
    st.fixed_dictionaries(
        {"action": st.sampled_from(["LoginFailed", "UserModified"]), "occurred": st.just(1780949905843)},
        optional={"data": st.dictionaries(st.text(max_size=4), values, max_size=4), "n": numbers},
    ),
    min_size=1,
    max_size=3,
)


def _exponent_forms(text: str) -> list[str]:
    """``text`` (a finite number) with its decimal point and exponent moved, in every letter case."""
    sign = "-" if text.startswith("-") else ""
    exact = Decimal(text.lstrip("-")).normalize()
    _, digit_tuple, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    out = []
    for shift in (0, 1, -2, len(digits)):
        # digits x 10^exponent == (digits / 10^shift) x 10^(exponent + shift)
        point = len(digits) - shift
        if point <= 0:
            mantissa = "0." + "0" * -point + digits
        elif point >= len(digits):
            mantissa = digits + "0" * (point - len(digits))
        else:
            mantissa = digits[:point] + "." + digits[point:]
        power = exponent + shift
        out += [f"{sign}{mantissa}e{power}", f"{sign}{mantissa}E{power:+d}", f"{sign}{mantissa}e{power:+03d}"]
    return out


@st.composite
def respell(draw: st.DrawFn, value: Any) -> str:
    """JSON text for ``value`` with every number and null written in one of its legal spellings."""
    if isinstance(value, dict):
        sep = draw(st.sampled_from([",", ", ", ",\n  "]))
        inner = sep.join(f"{json.dumps(k, ensure_ascii=False)}: {draw(respell(v))}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(draw(respell(v)) for v in value) + "]"
    if value is None:
        return draw(st.sampled_from(["null", "null", "1" + "0" * 400, "-1e400", "1e999"]))
    if isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, int):
        text = str(value)
        options = [text, text + ".0", text + "e0", text + ".000", str(value + 1), str(value - 1)]
        if value == 0:
            options += ["-0", "-0.0", "0e9"]
        if abs(value) < 2**1000:
            options.append(repr(float(value)))
    else:
        text = repr(value)
        options = [text, f"{value:.17g}", f"{value:.20e}", text.upper(), f"{value:.17f}"]
        if value.is_integer():
            options.append(str(int(value)))
        if "e" not in text:
            options.append(text + "000")
    if len(text) < 400:
        options += _exponent_forms(text)
    return draw(st.sampled_from(options))


def _signed(document: list[dict[str, Any]], form: SignedForm) -> tuple[bytes, bytes] | None:
    """``signed_string(document, form)``, or ``None`` when the signed string itself is refused.

    The sender signs its own compact form of the document (the testing helper writes it
    independently of the verifier). A huge integer, say, is refused as a payload even when
    signed: there is nothing to compare a respelling with.
    """
    body, signed = signed_string(document, form)
    try:
        VERIFIER.verify(signed, {SIG: sign(signed, HMAC_SECRET)})
    except VerificationError:
        return None
    return body, signed


@settings(max_examples=examples(600))
@given(document=documents, form=st.sampled_from(COMPACT_FORMS), data=st.data())
def test_any_respelling_is_rejected_or_means_what_was_signed(
    document: list[dict[str, Any]], form: SignedForm, data: st.DataObject
) -> None:
    # The attacker holds the signature and writes any body.
    pair = _signed(document, form)
    if pair is not None:
        assert_rejected_or_same(data.draw(respell(document)).encode("utf-8", "surrogatepass"), pair[1])


@settings(max_examples=examples(300))
@given(document=documents, form=st.sampled_from(COMPACT_FORMS), data=st.data())
def test_a_pretty_printed_delivery_is_accepted(
    document: list[dict[str, Any]], form: SignedForm, data: st.DataObject
) -> None:
    # What the compact forms exist for: whitespace and escapes changed on the way.
    pair = _signed(document, form)
    if pair is None:
        return
    body, signed = pair
    # The helper's body: pretty-printed, numbers as JavaScript writes them.
    assert assert_rejected_or_same(body, signed) is not None, body
    # The signed string re-indented and re-escaped by Python: what a pretty-printing hop sends.
    reformatted = json.dumps(json.loads(signed), indent=data.draw(st.sampled_from([None, 1, 4])), ensure_ascii=True)
    batch = assert_rejected_or_same(reformatted.encode(), signed)
    if _only_canonical_numbers(signed):
        assert batch is not None, reformatted


def _only_canonical_numbers(signed: bytes) -> bool:
    # json.dumps writes the same number text as the signer for ints and for the floats
    # JavaScript writes as Python does (not 1e-07, 1e+16, 1.0).
    text = json.dumps(json.loads(signed), separators=(",", ":"), ensure_ascii=False)
    return text.encode() == signed or text.encode() == _unescape_go(signed)


def _unescape_go(signed: bytes) -> bytes:
    for char in "<>&\u2028\u2029":
        signed = signed.replace(f"\\u{ord(char):04x}".encode(), char.encode())
    return signed
