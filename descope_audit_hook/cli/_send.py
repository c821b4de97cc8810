"""``send``: an emulator of Descope's Audit Webhook Connector, which builds a delivery and POSTs it.

The delivery itself (body, auth headers, static headers, signature) comes from
:func:`descope_audit_hook.testing.make_delivery` (kept in ``_samples``), so the
emulator and the library's test helpers cannot drift apart.

Which signed form is the default, and why: Descope's backend is written in Go, and the
plain Go way to send a signed JSON request is to ``json.Marshal`` the events once, sign
those bytes and send the same bytes as the body. The receiver then sees a compact body
whose exact bytes were signed: the ``raw`` form. Descope's remark that the signature is
made "from a JSON string, not the raw post body" reads best as a warning to receivers
whose framework parsed the body before they could see it. The other forms stay one
option away (``--signed-form``) because that reading is not confirmed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from descope_audit_hook._auth import Auth
from descope_audit_hook._samples import SAMPLE_KINDS, Delivery, make_delivery, sample_event, sample_events
from descope_audit_hook._settings import PREFIX, SETTINGS, settings_of
from descope_audit_hook._settings_loader import build_auth
from descope_audit_hook._signature import FORMS, SignedForm

from ._args import (
    PROG,
    Commands,
    UsageError,
    check_header,
    count,
    error,
    parse_header_option,
    refuse_reserved,
    safe_text,
    seconds,
)
from ._client import RESERVED, parse_url, request, shown_url
from ._config import add_option, found_in
from ._oauth import add_oauth_options, fetch_token, token_request

__all__ = ["DEFAULT_SIGNED_FORM", "SAMPLES", "add_send", "build_delivery", "load_payload", "sample_payload"]

#: What Descope most likely signs; see the module docstring.
DEFAULT_SIGNED_FORM: SignedForm = "raw"

#: Built-in samples: the kinds of :func:`sample_event`, and ``mixed`` (:func:`sample_events`).
SAMPLES: tuple[str, ...] = (*SAMPLE_KINDS, "mixed")

#: The settings ``send`` takes as options: the HMAC secret and the authentication types.
_OPTIONS = tuple(s for s in SETTINGS if s.send_help)
#: What ``--from-env`` reads: the receiver's settings, but its token validator (not the sender's business).
_FROM_ENV = tuple(s for s in settings_of("verifier") if s.name != "BEARER_VALIDATOR")


def add_send(commands: Commands) -> None:
    send = commands.add_parser(
        "send",
        help="send a delivery the way Descope's connector does",
        description="Emulate Descope's Audit Webhook Connector: POST signed, authenticated audit events to URL. "
        "Prints the response status and body; exits 1 on a non-2xx answer or a connection error.",
        epilog=f"Default signed form: {DEFAULT_SIGNED_FORM} (Descope's Go backend most likely signs the exact "
        "bytes it sends; see docs/cli.md). Prefer --from-env for secrets: command lines are visible to other users.",
    )
    send.add_argument("url", metavar="URL", help="the receiver, http:// or https://")
    auth = send.add_argument_group("authentication type (default: none)")
    for setting in _OPTIONS:
        add_option(auth if setting.auth else send, setting, str(setting.send_help))
    send.add_argument(
        "--header", action="append", metavar="NAME:VALUE", help="a static header sent on every request (repeatable)"
    )
    send.add_argument(
        "--signed-form",
        choices=FORMS,
        default=DEFAULT_SIGNED_FORM,
        help=f"which string is signed (default {DEFAULT_SIGNED_FORM})",
    )
    send.add_argument(
        "--from-env",
        action="store_true",
        help="take the secret, auth type and static headers from the DESCOPE_AUDIT_* variables "
        "(the first value of each) where no option gives them",
    )
    send.add_argument(
        "--trust-any-certificate",
        action="store_true",
        help="skip TLS certificate verification (the connector's setting; off by default)",
    )
    source = send.add_mutually_exclusive_group()
    source.add_argument("--file", metavar="FILE", help="send the events of this JSON file ('-' for stdin)")
    source.add_argument(
        "--sample", choices=tuple(SAMPLES), default="mixed", help="send a built-in sample (default: mixed)"
    )
    send.add_argument("--count", type=count, metavar="N", help="events in the mixed sample (default 10)")
    send.add_argument("--seed", type=int, default=0, metavar="N", help="vary the mixed sample (default 0)")
    send.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS", help="default 10")
    add_oauth_options(send)
    send.set_defaults(func=_send)


def _credentials(args: argparse.Namespace, headers: dict[str, str]) -> tuple[str | None, Auth | None]:
    """The HMAC secret and the authentication to send (the first value of each; OAuth fetches its own).

    With ``--from-env``, the variables fill in what the options leave out; ``headers`` gets
    the static headers of ``DESCOPE_AUDIT_HEADERS``.
    """
    oauth = args.oauth_token_url is not None
    given = found_in(args, _OPTIONS)
    auth = build_auth(given, ["--oauth-token-url"] if oauth else [])
    secret: str | None = given.values.get("HMAC_SECRET", [None])[0]
    if args.from_env:
        found = found_in(argparse.Namespace(), _FROM_ENV, os.environ)
        if auth is None and not oauth:
            auth = build_auth(found)
            if auth is None and os.environ.get(PREFIX + "BEARER_VALIDATOR", "").strip():
                raise UsageError(
                    f"{PREFIX}BEARER_VALIDATOR is set: the connector's OAuth type fetches its token; "
                    "pass --oauth-token-url, --client-id and the client secret"
                )
        if secret is None:
            secret = found.values.get("HMAC_SECRET", [None])[0]
        for name, value in found.values.get("HEADERS", {}).items():
            headers.setdefault(*check_header(name, value, f"{PREFIX}HEADERS"))
    return secret, auth


def _send(args: argparse.Namespace) -> int:
    parse_url(args.url)  # a bad URL is refused before anything is printed or built
    headers = dict(parse_header_option(item) for item in args.header or ())
    secret, auth = _credentials(args, headers)
    refuse_reserved(headers, RESERVED, "a header", "the request sets it from the body")
    token = token_request(args)
    if args.file is not None:
        if args.count is not None:
            raise UsageError("--count applies to the mixed sample only, not to --file")
        payload = load_payload(args.file, sys.stdin)
    else:
        payload = sample_payload(args.sample, args.count, args.seed)
    events = len(payload) if isinstance(payload, list) else 1
    if events > 100:
        print(f"{PROG}: note: Descope sends at most 100 events per request; sending {events}", file=sys.stderr)
    if token is not None:
        auth = fetch_token(token, args)
    body, sent_headers = build_delivery(
        payload, hmac_secret=secret, auth=auth, headers=headers, signed_form=args.signed_form
    )
    signed = f"signed ({args.signed_form} form)" if secret is not None else "unsigned"
    print(f"POST {shown_url(args.url)}: {events} event(s), {len(body)} bytes, {signed}", flush=True)
    response = request(
        args.url, body, sent_headers, trust_any_certificate=args.trust_any_certificate, timeout=args.timeout
    )
    print(f"HTTP {response.status} {safe_text(response.reason)}")
    text = safe_text(response.text())
    if text:
        print(text.rstrip("\n"))
    if not response.ok:
        error(f"the receiver answered {response.status} {response.reason}")
        return 1
    return 0


def sample_payload(name: str, count: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The events of a built-in sample."""
    if name not in SAMPLES:
        raise UsageError(f"unknown sample {name!r}; choose from {', '.join(SAMPLES)}")
    if name == "mixed":
        number = 10 if count is None else count
        if number < 1:
            raise UsageError("--count must be at least 1")
        return sample_events(number, seed=seed)
    if count is not None:
        raise UsageError("--count applies to the mixed sample only")
    return [sample_event(name)]


def load_payload(path: str, stdin: TextIO | None = None) -> list[dict[str, Any]] | dict[str, Any]:
    """The JSON of ``path`` (``-`` for stdin): an array of event objects or one object."""
    label = "stdin" if path == "-" else path
    try:
        if path == "-":
            if stdin is None:
                raise UsageError("no stdin to read")
            text = stdin.read()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{label} is not UTF-8 text") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError):
        # json.loads' own limits: a number of more than 4300 digits, arrays nested thousands deep.
        raise UsageError(f"{label} is JSON too deeply nested or with a number too long to read") from None
    if isinstance(payload, dict):
        return payload
    if isinstance(payload, list) and all(isinstance(item, dict) for item in payload):
        return payload
    raise UsageError(f"{label} must hold a JSON array of event objects or one JSON object")


def build_delivery(
    payload: list[dict[str, Any]] | dict[str, Any] | bytes,
    *,
    hmac_secret: str | None = None,
    auth: Auth | None = None,
    headers: Mapping[str, str] | None = None,
    signed_form: SignedForm = DEFAULT_SIGNED_FORM,
) -> Delivery:
    """The request the connector would send: body and headers (ready ``bytes`` are signed as they are)."""
    return make_delivery(payload, hmac_secret=hmac_secret, auth=auth, required_headers=headers, signed_form=signed_form)
