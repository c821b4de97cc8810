"""The signature: ``sign``, the four signed forms, tampering, malformed signature headers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from descope_audit_hook import PayloadError, SignatureError, SignedForm, sign
from descope_audit_hook._signature import FORMS, decode_signature
from descope_audit_hook.testing import signed_string
from tests.support.deliveries import event, signature_of, signed_form_of
from tests.support.secrets import HMAC_SECRET

# --- sign() ------------------------------------------------------------------------------


def test_sign_is_standard_padded_base64_hmac_sha256() -> None:
    body = b'[{"action":"LoginSucceed"}]'
    assert sign(body, HMAC_SECRET) == signature_of(body)
    assert sign(body, HMAC_SECRET).endswith("=")
    assert len(sign(body, HMAC_SECRET)) == 44


def test_sign_rejects_bad_arguments() -> None:
    from descope_audit_hook import ConfigurationError

    with pytest.raises(ConfigurationError):
        sign(b"x", "")
    with pytest.raises(ConfigurationError):
        sign(b"x", "  \t")
    with pytest.raises(ConfigurationError):
        sign(123, HMAC_SECRET)  # type: ignore[arg-type]


# --- each form accepted and reported ------------------------------------------------------

PAYLOAD = [
    event(type="info", data={"note": "<b>café</b> & \u2028 co", "ratio": 1.0, "tiny": 1e-7}),
    event(action="LoginFailed", type="warn", tenants=None, loginIds=["bob@example.com"]),
]


def test_raw_form() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert signed_form_of(body, signature_of(body)) == "raw"


def test_trimmed_form() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert signed_form_of(body + b"\n", signature_of(body)) == "trimmed"
    assert signed_form_of(body + b" \r\n\t ", signature_of(body)) == "trimmed"


def test_compact_form_is_json_stringify() -> None:
    pretty = json.dumps(PAYLOAD, indent=4, ensure_ascii=True).encode()
    # What JSON.stringify(JSON.parse(pretty)) gives, written out by hand.
    stringified = (
        '[{"action":"LoginSucceed","occurred":1780949905843,"type":"info","data":'
        '{"note":"<b>café</b> & \u2028 co","ratio":1,"tiny":1e-7}},'
        '{"action":"LoginFailed","occurred":1780949905843,"type":"warn","tenants":null,'
        '"loginIds":["bob@example.com"]}]'
    ).encode()
    assert signed_form_of(pretty, signature_of(stringified)) == "compact"


def test_compact_escaped_form_is_go_json_marshal() -> None:
    pretty = json.dumps(PAYLOAD, indent=1).encode()
    go = (
        '[{"action":"LoginSucceed","occurred":1780949905843,"type":"info","data":'
        '{"note":"\\u003cb\\u003ecafé\\u003c/b\\u003e \\u0026 \\u2028 co","ratio":1,"tiny":1e-7}},'
        '{"action":"LoginFailed","occurred":1780949905843,"type":"warn","tenants":null,'
        '"loginIds":["bob@example.com"]}]'
    ).encode()
    assert signed_form_of(pretty, signature_of(go)) == "compact-escaped"


@pytest.mark.parametrize("form", FORMS)
def test_each_form_via_testing_helper(form: SignedForm) -> None:
    body, signed = signed_string(PAYLOAD, form)
    assert signed_form_of(body, signature_of(signed)) == form


@pytest.mark.parametrize("form", FORMS)
def test_signed_forms_option_restricts_the_accepted_forms(form: SignedForm) -> None:
    body, signed = signed_string(PAYLOAD, form)
    if form == "raw":
        # Without trailing whitespace the trimmed body is the raw body: sign one that has some.
        body = signed = body + b"\n"
    others = [f for f in FORMS if f != form]
    with pytest.raises(SignatureError):
        signed_form_of(body, signature_of(signed), signed_forms=others)
    assert signed_form_of(body, signature_of(signed), signed_forms=[form]) == form


def test_raw_is_tried_first_when_forms_coincide() -> None:
    body = b'[{"action":"LoginSucceed","occurred":1}]'  # raw == trimmed == compact
    assert signed_form_of(body, signature_of(body)) == "raw"


# --- tampering ------------------------------------------------------------------------------


def test_one_changed_byte_anywhere_is_rejected() -> None:
    body = json.dumps(PAYLOAD, separators=(",", ":")).encode()
    signature = signature_of(body)
    for index in range(0, len(body), 7):
        tampered = bytearray(body)
        tampered[index] ^= 0x01
        with pytest.raises(SignatureError):
            signed_form_of(bytes(tampered), signature)


def test_changed_value_is_rejected_in_every_form() -> None:
    for form in FORMS:
        body, signed = signed_string(PAYLOAD, form)
        tampered = body.replace(b"LoginFailed", b"LoginFailee")
        with pytest.raises(SignatureError):
            signed_form_of(tampered, signature_of(signed))


def test_reordered_keys_are_rejected_for_the_order_dependent_forms() -> None:
    signed = b'{"action":"LoginSucceed","occurred":1780949905843}'
    reordered = b'{"occurred":1780949905843,"action":"LoginSucceed"}'
    with pytest.raises(SignatureError):
        signed_form_of(reordered, signature_of(signed))
    with pytest.raises(SignatureError):
        signed_form_of(b"[" + reordered + b"]", signature_of(b"[" + signed + b"]"))


def test_leading_whitespace_is_not_a_form_but_compact_covers_it() -> None:
    body = b'{"action":"LoginSucceed","occurred":1}'
    # A leading newline is not "trimmed", but the compact form still reconstructs it.
    assert signed_form_of(b"\n" + body, signature_of(body)) == "compact"
    # Not JSON: no compact form (401), or one built from the text alone whose signature,
    # once it matched, leads to a payload error (400); never a batch.
    with pytest.raises((SignatureError, PayloadError)):
        signed_form_of(b"\n" + body + b"}", signature_of(body + b"}"))


def test_wrong_secret_is_rejected() -> None:
    body = json.dumps(PAYLOAD).encode()
    with pytest.raises(SignatureError) as info:
        signed_form_of(body, signature_of(body, "another-secret"))
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
        signed_form_of(body, mangle(signature_of(body)))
    assert info.value.code == code
    assert info.value.status_code == 401


def test_unpadded_signature_is_accepted() -> None:
    body = json.dumps(PAYLOAD).encode()
    signature = signature_of(body)
    assert signature.endswith("=")
    assert signed_form_of(body, signature.rstrip("=")) == "raw"


def test_surrounding_whitespace_in_the_header_is_ignored() -> None:
    body = json.dumps(PAYLOAD).encode()
    assert signed_form_of(body, "  " + signature_of(body) + "\t") == "raw"


def test_non_canonical_base64_is_rejected() -> None:
    body = json.dumps(PAYLOAD).encode()
    signature = signature_of(body)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # The last data character carries 2 unused bits: flip them and the bytes are unchanged.
    last = alphabet.index(signature[42])
    sibling = signature[:42] + alphabet[last | 1] + "="
    assert sibling != signature
    assert base64.b64decode(sibling) == base64.b64decode(signature)
    with pytest.raises(SignatureError) as info:
        signed_form_of(body, sibling)
    assert info.value.code == "malformed_signature"


def test_decode_signature() -> None:
    raw = bytes(range(32))
    good = base64.b64encode(raw).decode()
    assert decode_signature(good) == raw
    assert decode_signature(good.rstrip("=")) == raw
    for bad in ["", good[:-2], good + "=", base64.urlsafe_b64encode(b"\xff" * 32).decode(), raw.hex(), "é" * 44]:
        assert decode_signature(bad) is None


@pytest.mark.parametrize("last", list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
def test_only_the_canonical_base64_of_32_bytes_is_a_signature(last: str) -> None:
    # The 43rd character carries the last 4 bits and 2 unused ones: 4 spellings decode to
    # the same bytes; only the one with the unused bits zero is base64 of those bytes.
    value = base64.b64encode(bytes(range(32))).decode()[:42] + last + "="
    canonical = base64.b64encode(base64.b64decode(value)).decode() == value
    assert (decode_signature(value) is not None) == canonical
    assert (decode_signature(value[:43]) is not None) == canonical


def test_a_compact_body_is_hashed_once_when_its_signature_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its compact candidate is the body itself, already tried as raw: not hashed again.
    import descope_audit_hook._signature as signature

    hashed: list[bytes] = []
    real = signature.hmac_digest

    def counting(secret: bytes, message: bytes | memoryview) -> bytes:
        hashed.append(bytes(message))
        return real(secret, message)

    monkeypatch.setattr(signature, "hmac_digest", counting)
    body = b'[{"action":"A","occurred":1,"data":{"a":"<b>"}}]'
    assert signature.find_signed(body, b"\0" * 32, [b"k"]) is None
    assert hashed == [body, body.replace(b"<", b"\\u003c").replace(b">", b"\\u003e")]
