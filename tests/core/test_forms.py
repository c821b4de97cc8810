"""The four signed forms, tampering, and JSON.stringify / Go fidelity of the re-serializer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from descope_audit_hook import PayloadError, SignatureError, SignedForm, Verifier, sign
from descope_audit_hook._compact import _by_encoder, _rewrite_budget, compact_form
from descope_audit_hook._forms import FORMS, compact_escaped, decode_signature, forms_of
from descope_audit_hook._payload import parse_json
from descope_audit_hook.testing import sample_events, signed_string

from ._support import SECRET, SIG, event, stringify_vectors

VECTORS = stringify_vectors()


def _sig(message: bytes, secret: str = SECRET) -> str:
    # Independent of the library: the definition from the wire-format page.
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def _verify(body: bytes, signature: str, **kwargs: Any) -> SignedForm | None:
    return Verifier(SECRET, **kwargs).verify(body, {SIG: signature}).signed_form


# --- sign() ------------------------------------------------------------------------------


def test_sign_is_standard_padded_base64_hmac_sha256() -> None:
    body = b'[{"action":"LoginSucceed"}]'
    assert sign(body, SECRET) == _sig(body)
    assert sign(body, SECRET).endswith("=")
    assert len(sign(body, SECRET)) == 44


def test_sign_rejects_bad_arguments() -> None:
    from descope_audit_hook import ConfigurationError

    with pytest.raises(ConfigurationError):
        sign(b"x", "")
    with pytest.raises(ConfigurationError):
        sign(b"x", "  \t")
    with pytest.raises(ConfigurationError):
        sign(123, SECRET)  # type: ignore[arg-type]


# --- each form accepted and reported ------------------------------------------------------

PAYLOAD = [
    event(type="info", data={"note": "<b>café</b> & \u2028 co", "ratio": 1.0, "tiny": 1e-7}),
    event(action="LoginFailed", type="warn", tenants=None, loginIds=["bob@example.com"]),
]


def test_raw_form() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert _verify(body, _sig(body)) == "raw"


def test_trimmed_form() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert _verify(body + b"\n", _sig(body)) == "trimmed"
    assert _verify(body + b" \r\n\t ", _sig(body)) == "trimmed"


def test_compact_form_is_json_stringify() -> None:
    pretty = json.dumps(PAYLOAD, indent=4, ensure_ascii=True).encode()
    # What JSON.stringify(JSON.parse(pretty)) gives, written out by hand.
    stringified = (
        '[{"action":"LoginSucceed","occurred":1780949905843,"type":"info","data":'
        '{"note":"<b>café</b> & \u2028 co","ratio":1,"tiny":1e-7}},'
        '{"action":"LoginFailed","occurred":1780949905843,"type":"warn","tenants":null,'
        '"loginIds":["bob@example.com"]}]'
    ).encode()
    assert _verify(pretty, _sig(stringified)) == "compact"


def test_compact_escaped_form_is_go_json_marshal() -> None:
    pretty = json.dumps(PAYLOAD, indent=1).encode()
    go = (
        '[{"action":"LoginSucceed","occurred":1780949905843,"type":"info","data":'
        '{"note":"\\u003cb\\u003ecafé\\u003c/b\\u003e \\u0026 \\u2028 co","ratio":1,"tiny":1e-7}},'
        '{"action":"LoginFailed","occurred":1780949905843,"type":"warn","tenants":null,'
        '"loginIds":["bob@example.com"]}]'
    ).encode()
    assert _verify(pretty, _sig(go)) == "compact-escaped"


@pytest.mark.parametrize("form", FORMS)
def test_each_form_via_testing_helper(form: SignedForm) -> None:
    body, signed = signed_string(PAYLOAD, form)
    assert _verify(body, _sig(signed)) == form


@pytest.mark.parametrize("form", FORMS)
def test_signed_forms_option_restricts_the_accepted_forms(form: SignedForm) -> None:
    body, signed = signed_string(PAYLOAD, form)
    if form == "raw":
        # Without trailing whitespace the trimmed body is the raw body: sign one that has some.
        body = signed = body + b"\n"
    others = [f for f in FORMS if f != form]
    with pytest.raises(SignatureError):
        _verify(body, _sig(signed), signed_forms=others)
    assert _verify(body, _sig(signed), signed_forms=[form]) == form


def test_raw_is_tried_first_when_forms_coincide() -> None:
    body = b'[{"action":"LoginSucceed","occurred":1}]'  # raw == trimmed == compact
    assert _verify(body, _sig(body)) == "raw"


# --- tampering ------------------------------------------------------------------------------


def test_one_changed_byte_anywhere_is_rejected() -> None:
    body = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    signature = _sig(body)
    for index in range(0, len(body), 7):
        tampered = bytearray(body)
        tampered[index] ^= 0x01
        with pytest.raises(SignatureError):
            _verify(bytes(tampered), signature)


def test_changed_value_is_rejected_in_every_form() -> None:
    for form in FORMS:
        body, signed = signed_string(PAYLOAD, form)
        tampered = body.replace(b"LoginFailed", b"LoginFailee")
        with pytest.raises(SignatureError):
            _verify(tampered, _sig(signed))


def test_reordered_keys_are_rejected_for_the_order_dependent_forms() -> None:
    signed = b'{"action":"LoginSucceed","occurred":1780949905843}'
    reordered = b'{"occurred":1780949905843,"action":"LoginSucceed"}'
    with pytest.raises(SignatureError):
        _verify(reordered, _sig(signed))
    with pytest.raises(SignatureError):
        _verify(b"[" + reordered + b"]", _sig(b"[" + signed + b"]"))


def test_leading_whitespace_is_not_a_form_but_compact_covers_it() -> None:
    body = b'{"action":"LoginSucceed","occurred":1}'
    # A leading newline is not "trimmed", but the compact form still reconstructs it.
    assert _verify(b"\n" + body, _sig(body)) == "compact"
    # Not JSON: no compact form (401), or one built from the text alone whose signature,
    # once it matched, leads to a payload error (400); never a batch.
    with pytest.raises((SignatureError, PayloadError)):
        _verify(b"\n" + body + b"}", _sig(body + b"}"))


def test_wrong_secret_is_rejected() -> None:
    body = json.dumps(PAYLOAD).encode()
    with pytest.raises(SignatureError) as info:
        _verify(body, _sig(body, "another-secret"))
    assert info.value.code == "invalid_signature"


def _urlsafe(signature: str) -> str:
    # URL-safe base64 of the same MAC; force a '-' if the MAC happens to have no '+' or '/'.
    urlsafe = signature.replace("+", "-").replace("/", "_")
    return urlsafe if urlsafe != signature else "-" + signature[1:]


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda s: s[:-2], "malformed_signature"),  # truncated
        (lambda s: s[:20], "malformed_signature"),
        (lambda s: base64.b64decode(s).hex(), "malformed_signature"),  # hex of the same MAC
        (lambda s: _urlsafe(s), "malformed_signature"),
        (lambda s: s + "A", "malformed_signature"),
        (lambda s: s + "==", "malformed_signature"),
        (lambda s: " ".join([s[:10], s[10:]]), "malformed_signature"),
        (lambda s: "", "malformed_signature"),  # present but empty
        (lambda s: "sha256=" + s, "malformed_signature"),
    ],
)
def test_malformed_signatures(mangle: Any, code: str) -> None:
    body = json.dumps(PAYLOAD).encode()
    with pytest.raises(SignatureError) as info:
        _verify(body, mangle(_sig(body)))
    assert info.value.code == code
    assert info.value.status_code == 401


def test_unpadded_signature_is_accepted() -> None:
    body = json.dumps(PAYLOAD).encode()
    signature = _sig(body)
    assert signature.endswith("=")
    assert _verify(body, signature.rstrip("=")) == "raw"


def test_surrounding_whitespace_in_the_header_is_ignored() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert _verify(body, "  " + _sig(body) + "\t") == "raw"


def test_non_canonical_base64_is_rejected() -> None:
    body = json.dumps(PAYLOAD).encode()
    signature = _sig(body)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # The last data character carries 2 unused bits: flip them and the bytes are unchanged.
    last = alphabet.index(signature[42])
    sibling = signature[:42] + alphabet[last | 1] + "="
    assert sibling != signature
    assert base64.b64decode(sibling) == base64.b64decode(signature)
    with pytest.raises(SignatureError) as info:
        _verify(body, sibling)
    assert info.value.code == "malformed_signature"


def test_decode_signature() -> None:
    raw = bytes(range(32))
    good = base64.b64encode(raw).decode()
    assert decode_signature(good) == raw
    assert decode_signature(good.rstrip("=")) == raw
    for bad in ["", good[:-2], good + "=", base64.urlsafe_b64encode(b"\xff" * 32).decode(), raw.hex(), "é" * 44]:
        assert decode_signature(bad) is None


# --- the re-serializer against Node.js and Go -----------------------------------------------


# Where the compact form departs from Node on purpose: integers are written exactly, as Go
# and Python write them, where JSON.parse rounds those beyond 2^53 to a double
# (docs/wire-format.md says why). Every other vector is Node's own output.
EXACT_INTEGERS = {
    "[9007199254740993]": "[9007199254740993]",
    "[12345678901234567890]": "[12345678901234567890]",
    "[-9007199254740993]": "[-9007199254740993]",
}


def _expected(vector: dict[str, str], key: str) -> str:
    return EXACT_INTEGERS.get(vector["input"], vector[key])


def _compact(text: str) -> bytes:
    form = compact_form(text.encode("utf-8"))
    assert form is not None
    return form.text


@pytest.mark.parametrize("vector", VECTORS, ids=[v["input"][:40] for v in VECTORS])
def test_compact_matches_json_stringify(vector: dict[str, str]) -> None:
    assert _compact(vector["input"]).decode("utf-8") == _expected(vector, "compact")


@pytest.mark.parametrize("vector", VECTORS, ids=[v["input"][:40] for v in VECTORS])
def test_compact_escaped_matches_go(vector: dict[str, str]) -> None:
    assert compact_escaped(_compact(vector["input"])).decode("utf-8") == _expected(vector, "go")


def test_the_exact_integers_are_the_only_departures_from_node() -> None:
    differing = [v["input"] for v in VECTORS if v["compact"] != _expected(v, "compact")]
    assert sorted(differing) == sorted(EXACT_INTEGERS)
    for text in EXACT_INTEGERS:
        # Node rounds them to the nearest double, which they are not.
        assert float(text[1:-1]) != int(text[1:-1])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["input"][:40] for v in VECTORS])
def test_testing_helper_stringify_agrees_with_node(vector: dict[str, str]) -> None:
    # testing.signed_string has its own number formatter; it must agree with Node as well.
    _, signed = signed_string(json.loads(vector["input"]), "compact")
    assert signed.decode("utf-8") == _expected(vector, "compact")


@pytest.mark.parametrize(
    ("text", "go"),
    [
        # Go's encoding/json.Marshal output written out by hand (HTMLEscape rules).
        ('["<script>"]', '["\\u003cscript\\u003e"]'),
        ('["a&b"]', '["a\\u0026b"]'),
        ('["\u2028\u2029"]', '["\\u2028\\u2029"]'),
        ('{"<k>":"v"}', '{"\\u003ck\\u003e":"v"}'),
        ('["\\u003c"]', '["\\u003c"]'),
        ('["plain é"]', '["plain é"]'),
    ],
)
def test_go_escaping_by_hand(text: str, go: str) -> None:
    assert compact_escaped(_compact(text)).decode("utf-8") == go


def test_vector_signed_as_compact_is_accepted() -> None:
    # End to end: a body holding every tricky vector, signed over Node's output.
    for vector in VECTORS:
        inner = vector["input"].strip()
        body = ('[{"action":"A","occurred":1,"data":{"v":' + inner + "}}]").encode()
        signed = ('[{"action":"A","occurred":1,"data":{"v":' + _expected(vector, "compact") + "}}]").encode()
        form = _verify(body, _sig(signed))
        assert form in ("raw", "compact"), vector["input"]


def _forms(body: bytes, allowed: tuple[SignedForm, ...] = FORMS) -> list[str]:
    return [form for form, _, _ in forms_of(body, allowed)]


def test_forms_of_skips_duplicates_and_non_json() -> None:
    body = b'[{"a":1}]'
    assert _forms(body) == ["raw"]
    assert _forms(body + b"\n") == ["raw", "trimmed"]
    # The compact form is built from the text without parsing it: a body that is not JSON
    # may have one, and a signature over it leads to a 400 (test_no_batch_for_what_parse_json_refuses).
    assert _forms(b"not json") == ["raw", "compact"]
    assert _forms(b'["not closed') == ["raw"]
    assert _forms(b'[ {"a": "<"} ]') == ["raw", "compact", "compact-escaped"]


def test_sample_events_round_trip_in_every_form() -> None:
    payload = sample_events(20, seed=3)
    for form in FORMS:
        body, signed = signed_string(payload, form)
        # Nothing in the samples needs Go's escaping, so that form coincides with compact.
        assert _verify(body, _sig(signed)) == ("compact" if form == "compact-escaped" else form)


def test_integers_are_written_exactly() -> None:
    # JSON.stringify would write null for the first two and 9007199254740992 for the third:
    # a signature over those does not match, so a captured null cannot be respelled as a
    # huge integer, nor 2^53 as 2^53 + 1.
    body = ("[" + "1" + "0" * 400 + ",-" + "9" * 400 + ",9007199254740993,1]").encode()
    assert _compact(body.decode()) == body
    _, signed = signed_string(json.loads(body), "compact")
    assert signed == body
    with pytest.raises(SignatureError):
        _verify(body.replace(b"[1", b"[ 1"), _sig(b"[null,null,9007199254740992,1]"))


def test_only_byte_forms_when_compact_forms_are_not_allowed() -> None:
    assert _forms(b"[1] ", ("raw", "trimmed")) == ["raw", "trimmed"]
    assert _forms(b"[1.0] ", ("raw",)) == ["raw"]
    assert _forms(b"[1.0] ", ("compact",)) == ["compact"]


# --- how the compact form is built ------------------------------------------------------------


def test_a_float_keeps_its_spelling_when_javascript_would_write_it_so() -> None:
    body = b"[0.1, -2.5, 0.000001, 1.5e-7, 1e+21, 1.7976931348623157e+307, 0.30000000000000004, 123456789012345.6]"
    form = compact_form(body)
    assert form is not None
    assert form.text == body.replace(b", ", b",")
    assert form.value is None  # a float: the verifier parses the signed string for the events


@pytest.mark.parametrize(
    ("token", "js"),
    [
        ("3.0", "3"),
        ("-0.0", "0"),
        ("0e5", "0"),
        ("1E2", "100"),
        ("1.50", "1.5"),
        ("15e-1", "1.5"),
        ("1e-07", "1e-7"),
        ("1e-05", "0.00001"),
        ("1e21", "1e+21"),
        ("1e16", "10000000000000000"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
        ("0.10000000000000000555", "0.1"),
        ("1234567890123456.5", "1234567890123456.5"),
    ],
)
def test_a_float_written_otherwise_is_rewritten_as_javascript_writes_it(token: str, js: str) -> None:
    form = compact_form(f'{{"n": {token}}}'.encode())
    assert form is not None
    assert form.text == f'{{"n":{js}}}'.encode()


def test_integers_and_no_floats_reuse_the_parsed_value() -> None:
    # The encoder builder parses the body: without a float, its value is the signed meaning.
    body = b'[{"a": 1, "b": [true, null, "x\\u00e9"], "c": 123456789012345678901234567890}]'
    form = _by_encoder(body)
    assert form is not None
    assert form.value == json.loads(form.text)
    assert form.text == '[{"a":1,"b":[true,null,"xé"],"c":123456789012345678901234567890}]'.encode()


def test_the_rewrite_budget_bounds_the_python_work() -> None:
    budget = _rewrite_budget(100)
    within = ("[" + ",".join(["1.0"] * budget) + "]").encode()
    beyond = ("[" + ",".join(["1.0"] * (budget + 1)) + "]").encode()
    canonical = ("[" + ",".join(["1.5"] * 10_000) + "]").encode()  # kept as written: no rewrite
    assert compact_form(within) is not None
    assert compact_form(beyond) is None
    assert compact_form(canonical) is not None
    assert _rewrite_budget(1_048_576) > _rewrite_budget(100)


@pytest.mark.parametrize(
    "body",
    [
        b"[1e400]",
        b"[-1e999]",
        b"[NaN]",
        b"[Infinity]",
        b'["\\ud800"]',
        b'["\\udc00", 1.5]',
        # The marks around a float are a high surrogate then a low one; escaped in a body the
        # pair is joined into one character, so a body can neither forge nor hide one.
        b'["\\ud800\\udc00" , 1.5, "\\ud800"]',
        b'["\\ud800 \\udc00", 1.5]',
        b"[1] x",
        b"\xef\xbb\xbf[1]",
        b"\xff",
        b"[" * 100_000,
    ],
)
def test_no_batch_for_what_parse_json_refuses(body: bytes) -> None:
    # No compact form, or one that is not strict JSON either: a signature over it gives a 400.
    form = compact_form(body)
    if form is None:
        return
    with pytest.raises(PayloadError):
        parse_json(form.text)
    with pytest.raises(PayloadError):
        Verifier(SECRET).verify(body, {SIG: sign(form.text, SECRET)})


def test_a_surrogate_pair_in_the_body_is_a_character_not_a_mark() -> None:
    form = compact_form(b'["\\ud800\\udc00", 1.5, "\\ud800\\udc01"]')
    assert form is not None
    assert form.text == '["\U00010000",1.5,"\U00010001"]'.encode()
