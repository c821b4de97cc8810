"""``sign`` and ``verify``: the signature Descope would send, and a captured request checked as the receiver would."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from descope_audit_hook._errors import VerificationError
from descope_audit_hook._events import LISTED, AuditEvent
from descope_audit_hook._field_kinds import Time
from descope_audit_hook._settings import PREFIX, setting
from descope_audit_hook._signature import sign
from descope_audit_hook._time import iso_text

from ._args import Commands, UsageError, parse_header_option, read_bytes, safe_text
from ._config import add_option, add_options, epilog, found_in, verifier_from_args

__all__ = ["add_sign", "add_verify"]

_HMAC_SECRET = setting("HMAC_SECRET")


def add_sign(commands: Commands) -> None:
    sign_cmd = commands.add_parser(
        "sign",
        help="print the x-descope-webhook-s256 value for a body",
        description="Print the x-descope-webhook-s256 value Descope would send for exactly these bytes: "
        "base64 of HMAC-SHA256(secret, body).",
    )
    sign_cmd.add_argument("file", nargs="?", default="-", metavar="FILE", help="the body (default: stdin)")
    add_option(sign_cmd, _HMAC_SECRET, f"the secret (default: the first value of {PREFIX}{_HMAC_SECRET.name})")
    sign_cmd.set_defaults(func=_sign)


def add_verify(commands: Commands) -> None:
    verify_cmd = commands.add_parser(
        "verify",
        help="check a captured request against a configuration",
        description="Check a captured request (body file plus headers) the way the receiver would. Prints the "
        "verdict, the signed form that matched and the events; exits 1 with the reason when rejected.",
        epilog=epilog("verifier"),
    )
    verify_cmd.add_argument("--body", required=True, metavar="FILE", help="the request body, byte for byte")
    verify_cmd.add_argument(
        "-H", "--header", action="append", metavar="'Name: value'", help="a request header (repeatable)"
    )
    verify_cmd.add_argument("--headers-file", metavar="FILE", help="request headers, one 'Name: value' per line")
    verify_cmd.add_argument("--json", action="store_true", help="print the events as JSON")
    add_options(verify_cmd, "verifier", "receiver configuration (overrides DESCOPE_AUDIT_* variables)")
    verify_cmd.set_defaults(func=_verify)


def _sign(args: argparse.Namespace) -> int:
    secrets: list[str] | None = found_in(args, [_HMAC_SECRET], os.environ).values.get(_HMAC_SECRET.name)
    if secrets is None:
        raise UsageError(f"no HMAC secret: pass {_HMAC_SECRET.flag} or set {PREFIX}{_HMAC_SECRET.name}")
    body = sys.stdin.buffer.read() if args.file == "-" else read_bytes(args.file)
    print(sign(body, secrets[0]))
    return 0


def _read_headers_file(path: str) -> list[tuple[str, str]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    pairs = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if number == 1 and " HTTP/" in line and ":" not in line.split(" ", 1)[0]:
            continue  # a captured request line, "POST /descope/audit HTTP/1.1"
        try:
            pairs.append(parse_header_option(line, f"line {number} of {path}"))
        except UsageError:
            raise UsageError(f"line {number} of {path} is not 'Name: value'") from None
    return pairs


def _event_line(event: AuditEvent) -> str:
    """The fields with a label in the table of fields, in listing order: bare ones always
    (``-`` when empty), ``label=value`` ones when they have a value."""
    parts = []
    for row in LISTED:
        if row.label is None:
            continue
        value = row.kind.to_json(getattr(event, row.name))
        if isinstance(row.kind, Time):
            text = iso_text(value)
        elif isinstance(value, list):
            text = ",".join(value)
        else:
            text = "" if value is None else str(value)
        if not row.label:
            parts.append(text or "-")
        elif text:
            parts.append(f"{row.label}={text}")
    return "  " + " ".join(safe_text(part) for part in parts)


def _verify(args: argparse.Namespace) -> int:
    headers: list[tuple[str, str]] = []
    if args.headers_file:
        headers += _read_headers_file(args.headers_file)
    headers += [parse_header_option(item, "-H") for item in args.header or ()]
    body = read_bytes(args.body)
    verifier = verifier_from_args(args)
    try:
        batch = verifier.verify(body, headers)
    except VerificationError as exc:
        print(f"rejected: {exc.status_code} {exc.code}: {exc.message}")
        return 1
    form = f"signature matched the {batch.signed_form} form" if batch.signed_form else "no signature configured"
    print(f"accepted: {len(batch)} event(s); {form}")
    if args.json:
        # ASCII-only: a hostile payload cannot put control characters on the terminal.
        print(json.dumps([event.to_dict() for event in batch], indent=2, ensure_ascii=True))
    else:
        for event in batch:
            print(_event_line(event))
    return 0
