"""Check the access tokens of Descope's "OAuth 2.0 client credentials" connector: JWTs.

Descope gets a token from your authorization server and sends it as ``Authorization:
Bearer <token>``; :func:`validate` checks it against that server's published keys and
returns its claims (they become ``batch.claims``), or raises. Walk-through: docs/oauth.md.

    pip install "PyJWT[crypto]>=2.14"
    export OAUTH_ISSUER=https://auth.example.com/                         # the tokens' "iss", exactly
    export OAUTH_AUDIENCE=https://api.example.com/descope-audit            # the API they are issued for
    export OAUTH_JWKS_URL=https://auth.example.com/.well-known/jwks.json   # the server's public keys
    export OAUTH_CLIENT_ID=...            # the Client ID entered in Descope: only its tokens are accepted
    export DESCOPE_AUDIT_BEARER_VALIDATOR=oauth_validator:validate         # Verifier.from_env() uses it
"""

from __future__ import annotations

import os
from typing import Any

import jwt

# Pinned, never read from the token: what your server signs with (RS256 and ES256 are the usual).
ALGORITHMS = ["RS256", "ES256"]
# Clock difference tolerated on exp, nbf and iat between your server and this one.
LEEWAY_SECONDS = 30

ISSUER = os.environ["OAUTH_ISSUER"]
AUDIENCE = os.environ["OAUTH_AUDIENCE"]
CLIENT_ID = os.environ["OAUTH_CLIENT_ID"]
REQUIRED_SCOPE = os.environ.get("OAUTH_REQUIRED_SCOPE", "")

# One client per process: it caches the key set for `lifespan` seconds, and fetches it again
# early only for a token whose key id it does not know (a key rotation), at most once per
# `cooldown_duration` seconds, so that made-up key ids cannot make it hammer your server.
jwks = jwt.PyJWKClient(os.environ["OAUTH_JWKS_URL"], cache_jwk_set=True, lifespan=300, cooldown_duration=30, timeout=5)


def validate(token: str) -> dict[str, Any]:
    """The token's claims if your authorization server issued it to Descope's client; raises otherwise."""
    signing_key = jwks.get_signing_key_from_jwt(token)  # the key named by the token's "kid"
    claims: dict[str, Any] = jwt.decode(
        token,
        signing_key,  # a PyJWK: the token's "alg" must also be the key's own
        algorithms=ALGORITHMS,
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=LEEWAY_SECONDS,
        options={"require": ["exp", "iat", "iss", "aud"]},  # nbf is checked whenever present
    )
    # Any client of your server that may ask for this audience could otherwise post audit events.
    # RFC 9068 names the client "client_id"; some servers say "azp".
    if claims.get("client_id", claims.get("azp")) != CLIENT_ID:
        raise jwt.InvalidTokenError("the token was issued to another client")
    if REQUIRED_SCOPE and REQUIRED_SCOPE not in str(claims.get("scope", "")).split():
        raise jwt.InvalidTokenError("the token lacks the required scope")
    return claims
