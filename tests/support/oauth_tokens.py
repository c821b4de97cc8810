"""JWTs a validator must refuse, made against a :class:`~tests.support.oauth_issuer.Issuer`.

:func:`bad_tokens` names each with the PyJWT error a validator's log line must name:
wrong claims, wrong keys, ``alg: none``, HS256 keyed with public material, tampering, garbage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

from .oauth_issuer import CLIENT_ID, Issuer

__all__ = ["NAMES", "bad_tokens", "forged_hs256", "tampered", "unsigned"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_hs256(claims: dict[str, Any], secret: bytes, kid: str = "rs-1") -> str:
    """An HS256 token whose HMAC key is public material (PyJWT refuses to make one, so it is made here)."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def unsigned(claims: dict[str, Any], kid: str = "rs-1") -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def tampered(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def bad_tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    """name -> (token, the PyJWT error the log line must name)."""
    now = int(time.time())
    good = issuer.mint()
    claims = issuer.claims()
    return {
        "wrong audience": (issuer.mint(aud="https://another-api.example"), "InvalidAudienceError"),
        "no audience": (issuer.mint(aud=None), "MissingRequiredClaimError"),
        "wrong issuer": (issuer.mint(iss="https://evil.example/"), "InvalidIssuerError"),
        "expired": (issuer.mint(iat=now - 900, nbf=now - 900, exp=now - 120), "ExpiredSignatureError"),
        "no expiry": (issuer.mint(exp=None), "MissingRequiredClaimError"),
        "not yet valid": (issuer.mint(nbf=now + 120), "ImmatureSignatureError"),
        "issued in the future": (issuer.mint(iat=now + 120, nbf=None), "ImmatureSignatureError"),
        "another client's": (issuer.mint(client_id="another-client", sub="another-client"), "InvalidTokenError"),
        "signed with another key": (issuer.mint(key=issuer.stranger.private), "InvalidSignatureError"),
        "RS256 header on the ES256 key": (
            issuer.mint(kid="ec-1", key=issuer.keys["rs-1"].private, algorithm="RS256"),
            "InvalidAlgorithmError",  # the key set says ec-1 is an ES256 key
        ),
        "unknown key id": (issuer.mint(headers={"kid": "rs-unknown"}), "PyJWKClientError"),
        "no key id": (jwt.encode(claims, issuer.keys["rs-1"].private, algorithm="RS256"), "PyJWKClientError"),
        "alg none": (unsigned(claims), "InvalidAlgorithmError"),
        "HS256 with the public key as secret": (forged_hs256(claims, issuer.public_pem()), "InvalidAlgorithmError"),
        "HS256 with the JWK as secret": (
            forged_hs256(claims, json.dumps(issuer.jwks()["keys"][0]).encode()),
            "InvalidAlgorithmError",
        ),
        "tampered claims": (tampered(good, client_id=CLIENT_ID, scope="admin"), "InvalidSignatureError"),
        "garbage": ("not-a-jwt", "DecodeError"),
        "three garbage segments": ("a.b.c", "DecodeError"),
        "JWT-looking garbage": ("eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln", "DecodeError"),
    }


#: The names of :func:`bad_tokens`, for test ids (tests/examples/test_oauth_validators.py keeps them in step).
NAMES = [
    "wrong audience",
    "no audience",
    "wrong issuer",
    "expired",
    "no expiry",
    "not yet valid",
    "issued in the future",
    "another client's",
    "signed with another key",
    "RS256 header on the ES256 key",
    "unknown key id",
    "no key id",
    "alg none",
    "HS256 with the public key as secret",
    "HS256 with the JWK as secret",
    "tampered claims",
    "garbage",
    "three garbage segments",
    "JWT-looking garbage",
]
