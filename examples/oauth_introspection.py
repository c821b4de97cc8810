"""Check opaque access tokens of Descope's OAuth 2.0 connector by asking your authorization server.

For a server that issues opaque tokens (not JWTs): RFC 7662 token introspection. The
receiver, registered at your server as a client of its own, posts each token to the
introspection endpoint and gets ``{"active": true, ...}`` back. Answers are cached by a
hash of the token (never the token itself) until the token expires or a minute has
passed, whichever comes first. Walk-through: docs/oauth.md.

    export OAUTH_INTROSPECTION_URL=https://auth.example.com/oauth2/introspect
    export OAUTH_RESOURCE_CLIENT_ID=... OAUTH_RESOURCE_CLIENT_SECRET=...   # the receiver's own client
    export OAUTH_CLIENT_ID=...            # the Client ID entered in Descope: only its tokens are accepted
    export DESCOPE_AUDIT_BEARER_VALIDATOR=oauth_introspection:validate       # or :validate_async

``validate`` uses the standard library; ``validate_async`` (for Starlette/FastAPI, awaited on
the event loop) needs ``httpx``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import urllib.request
from collections import OrderedDict
from typing import Any
from urllib.parse import quote_plus, urlencode, urlsplit

INTROSPECTION_URL = os.environ["OAUTH_INTROSPECTION_URL"]
if urlsplit(INTROSPECTION_URL).scheme not in ("https", "http"):  # urllib would also open file: URLs
    raise RuntimeError("OAUTH_INTROSPECTION_URL must be an https:// URL (http:// only on a trusted network)")
CLIENT_ID = os.environ["OAUTH_CLIENT_ID"]
_RESOURCE_ID = os.environ["OAUTH_RESOURCE_CLIENT_ID"]
_RESOURCE_SECRET = os.environ["OAUTH_RESOURCE_CLIENT_SECRET"]
CACHE_SECONDS = 60
CACHE_ENTRIES = 1024
TIMEOUT_SECONDS = 5

# RFC 6749 section 2.3.1: each credential form-urlencoded, then HTTP Basic.
_BASIC = base64.b64encode(f"{quote_plus(_RESOURCE_ID)}:{quote_plus(_RESOURCE_SECRET)}".encode()).decode()
_HEADERS = {
    "Authorization": f"Basic {_BASIC}",
    "Content-Type": "application/x-www-form-urlencoded",
    "Accept": "application/json",
}

_cache: OrderedDict[bytes, tuple[float, dict[str, Any]]] = OrderedDict()
_lock = threading.Lock()


def validate(token: str) -> dict[str, Any]:
    """The introspection answer for an active token of Descope's client; raises otherwise."""
    key = hashlib.sha256(token.encode()).digest()
    claims = _cached(key)
    if claims is None:
        form = urlencode({"token": token, "token_type_hint": "access_token"}).encode()
        request = urllib.request.Request(INTROSPECTION_URL, data=form, headers=_HEADERS, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - checked above
            claims = _checked(json.load(response), key)
    return claims


async def validate_async(token: str) -> dict[str, Any]:
    """:func:`validate` with httpx, for an event loop: the await never blocks it."""
    import httpx

    key = hashlib.sha256(token.encode()).digest()
    claims = _cached(key)
    if claims is None:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            form = {"token": token, "token_type_hint": "access_token"}
            response = await client.post(INTROSPECTION_URL, data=form, headers=_HEADERS)
        response.raise_for_status()
        claims = _checked(response.json(), key)
    return claims


def _cached(key: bytes) -> dict[str, Any] | None:
    with _lock:
        hit = _cache.get(key)
        if hit is None or hit[0] <= time.time():
            return None
        _cache.move_to_end(key)
        return hit[1]


def _checked(answer: Any, key: bytes) -> dict[str, Any]:
    # Only active tokens of Descope's client are accepted, and only they are cached: a
    # stranger's made-up tokens would otherwise push the good entry out.
    if not isinstance(answer, dict) or answer.get("active") is not True:
        raise PermissionError("the token is not active")
    if answer.get("client_id") != CLIENT_ID:
        raise PermissionError("the token was issued to another client")
    now = time.time()
    expires = answer.get("exp")
    until = min(now + CACHE_SECONDS, float(expires) if isinstance(expires, (int, float)) else now)
    with _lock:
        _cache[key] = (until, answer)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return answer
