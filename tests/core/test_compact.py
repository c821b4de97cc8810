"""The compact signed form against JSON.stringify (Node.js) and Go, and how it is built."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from descope_audit_hook import PayloadError, SignatureError, SignedForm, Verifier, sign
from descope_audit_hook._compact import _CHUNK, _by_encoder, _chunks, _rewrite_budget, compact_form
from descope_audit_hook._json import parse_json
from descope_audit_hook._signature import FORMS, compact_escaped, forms_of
from descope_audit_hook.testing import sample_events, signed_string
from tests.support.deliveries import SIG, signature_of, signed_form_of, stringify_vectors
from tests.support.secrets import HMAC_SECRET

VECTORS = stringify_vectors()


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
        form = signed_form_of(body, signature_of(signed))
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
        assert signed_form_of(body, signature_of(signed)) == ("compact" if form == "compact-escaped" else form)


def test_integers_are_written_exactly() -> None:
    # JSON.stringify would write null for the first two and 9007199254740992 for the third:
    # a signature over those does not match, so a captured null cannot be respelled as a
    # huge integer, nor 2^53 as 2^53 + 1.
    body = ("[" + "1" + "0" * 400 + ",-" + "9" * 400 + ",9007199254740993,1]").encode()
    assert _compact(body.decode()) == body
    _, signed = signed_string(json.loads(body), "compact")
    assert signed == body
    with pytest.raises(SignatureError):
        signed_form_of(body.replace(b"[1", b"[ 1"), signature_of(b"[null,null,9007199254740992,1]"))


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
        Verifier(HMAC_SECRET).verify(body, {SIG: sign(form.text, HMAC_SECRET)})


def test_a_surrogate_pair_in_the_body_is_a_character_not_a_mark() -> None:
    form = compact_form(b'["\\ud800\\udc00", 1.5, "\\ud800\\udc01"]')
    assert form is not None
    assert form.text == '["\U00010000",1.5,"\U00010001"]'.encode()


@pytest.mark.parametrize(
    "body",
    [
        b'{"\x7f":null}',
        b'{"a\x7fb": "x"}\n',
        b"[" + b",".join([b'"abcd\x7fefg"'] * 3000) + b"]\n",  # dense in strings (6 bytes a quote)
        b'[ "' + b"long text \x7f " * 400 + b'" ]',
    ],
)
def test_a_raw_delete_character_stays_raw_as_javascript_writes_it(body: bytes) -> None:
    # JSON.stringify escapes only the controls below U+0020; DEL (U+007F) is written as is.
    # The ASCII encoder (ensure_ascii) would write it \u007f: the body is not "plain ASCII" then.
    expected = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()
    assert b"\x7f" in expected
    form = compact_form(body)
    by_encoder = _by_encoder(body)
    assert form is not None
    assert by_encoder is not None
    assert form.text == by_encoder.text == expected


def test_a_large_body_denser_in_strings_than_any_audit_payload_has_no_compact_form() -> None:
    # One quote per 2.5 bytes: splitting it would cost over 3x json.loads. A batch of audit
    # events has one per 7 to 11 bytes; so does the same list under 16 KiB.
    dense = b"[" + b",\n".join([b'"a"'] * 20_000) + b"]"
    assert compact_form(dense) is None
    assert compact_form(dense[:15_000].rpartition(b",")[0] + b"]") is not None
    sparse = b"[" + b",\n".join([b'"abcdefghij"'] * 20_000) + b"]"
    assert compact_form(sparse) is not None
    # Read chunk by chunk: a dense part is refused before the rest of the body is split.
    assert compact_form(dense + b" " * 200_000) is None


@pytest.mark.parametrize("indent", [None, 1])
def test_a_large_body_is_built_chunk_by_chunk_as_the_encoder_builds_it(indent: int | None) -> None:
    # Several 64 KiB chunks (cut at line breaks, or before an opening quote on one long
    # line), with floats to rewrite and escapes to decode in more than one of them.
    events = [
        {
            "action": f"a {index}",
            "occurred": 1700000000000 + index,
            "data": {
                "ratio": 3.0 if index % 1000 == 0 else index / 7 + 0.5,
                "tiny": 1e-07 if index % 1000 == 1 else 0.00015,
                "text": "a/b \u00e9 \u2028 <&>" if index % 300 == 0 else f"note {index}, done",
                "neg": -0.0 if index % 1000 == 2 else -1,
            },
        }
        for index in range(4000)
    ]
    body = json.dumps(events, indent=indent, ensure_ascii=True).replace("a/b", "a\\/b").encode()
    assert len(body) > 4 * 65536
    expected = _by_encoder(body)
    assert expected is not None
    form = compact_form(body)
    assert form is not None
    assert form.text == expected.text
    for respelled in (b"3.0,", b"1e-07", b"\\/"):
        assert respelled not in form.text


def test_a_large_body_on_one_line_is_built_chunk_by_chunk_too() -> None:
    # No line break and no quote: the chunks are cut before commas. In one piece, a list of
    # floats with one to rewrite held 33 times the body (a string per float, split twice).
    items = [f"{index}.{index % 997 + 1}5" for index in range(120_000)]
    body = ("[" + ",".join([*items, "1.0"]) + "]").encode()
    assert len(list(_chunks(body, _CHUNK))) > 10
    tracemalloc.start()
    try:
        form = compact_form(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert form is not None
    assert form.text == body.replace(b",1.0]", b",1]")
    assert peak < 8 * len(body)
