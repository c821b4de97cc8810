"""The ``descope-audit-hook`` command line: send, sign, verify, serve, demo.

Exit status: 0 success, 1 the delivery was rejected or failed, 2 bad usage or configuration.
The receiver's configuration options mirror :meth:`Verifier.from_env`: each option
overrides its ``DESCOPE_AUDIT_*`` variable, so one set of variables configures ``serve``,
``verify`` and your own application alike. Secrets are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from ._auth import ApiKey, Auth, BasicAuth, BearerToken
from ._cli_args import Parser, argv_problem, count, escape_controls, host, port, positive_int, seconds
from ._config import kwargs_from_env
from ._errors import ConfigurationError, VerificationError
from ._forms import FORMS, sign
from ._models import AuditEvent
from ._request import require_sync
from ._sender import (
    DEFAULT_SIGNED_FORM,
    SAMPLES,
    SendError,
    TokenRequest,
    UsageError,
    build_delivery,
    fetch_bearer,
    load_payload,
    parse_header_option,
    parse_url,
    request,
    sample_payload,
)
from ._verifier import Verifier

__all__ = ["build_parser", "config_environ", "main", "safe_text", "verifier_from_args"]

PREFIX = "DESCOPE_AUDIT_"
PROG = "descope-audit-hook"
_AUTH_GROUPS = (
    ("BEARER_TOKEN", "BEARER_VALIDATOR"),
    ("API_KEY_HEADER", "API_KEY"),
    ("BASIC_USERNAME", "BASIC_PASSWORD"),
)
#: Read by ``send`` only: the OAuth client secret, kept off the command line.
OAUTH_SECRET_VAR = PREFIX + "OAUTH_CLIENT_SECRET"

_EPILOG_CONFIG = (
    "Each configuration option overrides its DESCOPE_AUDIT_* environment variable "
    "(HMAC_SECRET, BEARER_TOKEN, BEARER_VALIDATOR, API_KEY_HEADER, API_KEY, BASIC_USERNAME, BASIC_PASSWORD, HEADERS, "
    "MAX_BODY_BYTES, SIGNED_FORMS, ALLOW_UNAUTHENTICATED, ...), the same variables Verifier.from_env() reads. "
    "Prefer the variables for secrets: command lines are visible to other local users."
)


# --- configuration shared by serve and verify -------------------------------------------


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("receiver configuration (overrides DESCOPE_AUDIT_* variables)")
    group.add_argument(
        "--hmac-secret", action="append", metavar="SECRET", help="the connector's HMAC secret; repeat to rotate"
    )
    group.add_argument("--bearer-token", action="append", metavar="TOKEN", help="Bearer token; repeat to rotate")
    group.add_argument(
        "--bearer-validator",
        metavar="MODULE:FUNC",
        help="Bearer/OAuth 2.0 type: a token validator's import path (importable: installed or on PYTHONPATH)",
    )
    group.add_argument("--api-key-header", metavar="NAME", help="API key type: the header name (the key)")
    group.add_argument("--api-key", action="append", metavar="VALUE", help="API key type: the value; repeat to rotate")
    group.add_argument("--basic-user", metavar="USER", help="Basic type: the username")
    group.add_argument(
        "--basic-password", action="append", metavar="PASSWORD", help="Basic type: the password; repeat to rotate"
    )
    group.add_argument(
        "--required-header",
        action="append",
        metavar="NAME:VALUE",
        help="a static header the connector sends; it must arrive with this value (repeatable)",
    )
    group.add_argument("--max-body-bytes", type=positive_int, metavar="N", help="body size limit (default 1048576)")
    group.add_argument(
        "--signed-forms", metavar="FORMS", help=f"accepted signed forms, comma-separated (default: {','.join(FORMS)})"
    )
    group.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="accept deliveries with no signature and no credentials (the connector's auth type None)",
    )


def _joined(values: Sequence[str], option: str) -> str:
    for value in values:
        if "," in value:
            raise UsageError(f"{option} must not contain ',' (values are joined with commas, like the variables)")
    return ",".join(values)


def config_environ(args: argparse.Namespace, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``DESCOPE_AUDIT_*`` variables with the command line's options laid over them."""
    source = os.environ if base is None else base
    env = {key: value for key, value in source.items() if key.startswith(PREFIX)}
    if args.hmac_secret:
        env[PREFIX + "HMAC_SECRET"] = _joined(args.hmac_secret, "--hmac-secret")
    given = {
        "BEARER_TOKEN": _joined(args.bearer_token, "--bearer-token") if args.bearer_token else None,
        "BEARER_VALIDATOR": args.bearer_validator,
        "API_KEY_HEADER": args.api_key_header,
        "API_KEY": _joined(args.api_key, "--api-key") if args.api_key else None,
        "BASIC_USERNAME": args.basic_user,
        "BASIC_PASSWORD": _joined(args.basic_password, "--basic-password") if args.basic_password else None,
    }
    for group in _AUTH_GROUPS:
        if any(given[name] is not None for name in group):
            # An authentication type on the command line replaces any other type set in the
            # environment; variables of the same type fill in what the options leave out.
            for other in _AUTH_GROUPS:
                if other is not group:
                    for name in other:
                        env.pop(PREFIX + name, None)
    env.update({PREFIX + name: value for name, value in given.items() if value is not None})
    if args.required_header:
        pairs = dict(parse_header_option(item, "--required-header") for item in args.required_header)
        env[PREFIX + "HEADERS"] = json.dumps(pairs)
    if args.max_body_bytes is not None:
        env[PREFIX + "MAX_BODY_BYTES"] = str(args.max_body_bytes)
    if args.signed_forms:
        env[PREFIX + "SIGNED_FORMS"] = args.signed_forms
    if args.allow_unauthenticated:
        env[PREFIX + "ALLOW_UNAUTHENTICATED"] = "true"
    return env


def _check_configured(env: Mapping[str, str]) -> None:
    kwargs = kwargs_from_env(env, PREFIX)
    if kwargs["hmac_secret"] is None and kwargs["auth"] is None and not kwargs["allow_unauthenticated"]:
        raise UsageError(
            "no HMAC secret and no authentication configured: pass --hmac-secret and/or one of "
            "--bearer-token, --bearer-validator, --api-key-header with --api-key, --basic-user with --basic-password "
            "(or set the DESCOPE_AUDIT_* variables), or --allow-unauthenticated"
        )


def verifier_from_args(args: argparse.Namespace) -> Verifier:
    env = config_environ(args)
    _check_configured(env)
    return require_sync(Verifier.from_env(env, prefix=PREFIX), "the command line")


# --- send ----------------------------------------------------------------------------------


def _send_auth(args: argparse.Namespace) -> Auth | None:
    chosen = [
        name
        for name, present in (
            ("--bearer-token", args.bearer_token is not None),
            ("--api-key-header/--api-key", args.api_key_header is not None or args.api_key is not None),
            ("--basic-user/--basic-password", args.basic_user is not None or args.basic_password is not None),
            ("--oauth-token-url", args.oauth_token_url is not None),
        )
        if present
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one authentication type, not {' and '.join(chosen)}")
    if args.bearer_token is not None:
        return BearerToken(args.bearer_token)
    if args.api_key_header is not None or args.api_key is not None:
        if args.api_key_header is None or args.api_key is None:
            raise UsageError("--api-key-header and --api-key go together")
        return ApiKey(args.api_key_header, args.api_key)
    if args.basic_user is not None or args.basic_password is not None:
        if args.basic_user is None or args.basic_password is None:
            raise UsageError("--basic-user and --basic-password go together")
        return BasicAuth(args.basic_user, args.basic_password)
    return None


def _token_request(args: argparse.Namespace) -> TokenRequest | None:
    """The OAuth 2.0 options as a token request; ``None`` without ``--oauth-token-url``."""
    if args.oauth_token_url is None:
        given = [
            option
            for option, value in (
                ("--client-id", args.client_id),
                ("--client-secret", args.client_secret),
                ("--scope", args.scope),
                ("--auth-style", args.auth_style),
                ("--token-header", args.token_header),
            )
            if value is not None
        ]
        if given:
            raise UsageError(f"{', '.join(given)} need --oauth-token-url")
        return None
    if not args.client_id:
        raise UsageError("--oauth-token-url needs --client-id")
    secret = args.client_secret if args.client_secret is not None else os.environ.get(OAUTH_SECRET_VAR)
    if secret is None:
        raise UsageError(f"--oauth-token-url needs the client secret: set {OAUTH_SECRET_VAR} (or pass --client-secret)")
    if not secret.strip():
        raise UsageError("the client secret must not be empty")
    headers = dict(parse_header_option(item, "--token-header") for item in args.token_header or ())
    return TokenRequest(
        args.oauth_token_url, args.client_id, secret, tuple(args.scope or ()), args.auth_style or "header", headers
    )


def safe_text(text: str) -> str:
    """Untrusted text for the terminal: control characters (C0, DEL, C1) shown as ``\\xNN``."""
    return escape_controls(text, keep="\n\t")


def _shown_url(url: str) -> str:
    # A query string may carry a token: show that there is one, not what it is.
    base, sep, _ = url.partition("?")
    return base + ("?..." if sep else "")


def _cmd_send(args: argparse.Namespace) -> int:
    parse_url(args.url)  # a bad URL is refused before anything is printed or built
    headers = dict(parse_header_option(item) for item in args.header or ())
    auth = _send_auth(args)
    token_request = _token_request(args)
    secret: str | None = args.hmac_secret
    if args.from_env:
        # The receiver's token validator is not the sender's business (nor need it import here).
        env = {k: v for k, v in os.environ.items() if k != PREFIX + "BEARER_VALIDATOR"}
        kwargs = kwargs_from_env(env, PREFIX)
        if auth is None and token_request is None:
            auth = kwargs["auth"]
            if auth is None and os.environ.get(PREFIX + "BEARER_VALIDATOR", "").strip():
                raise UsageError(
                    f"{PREFIX}BEARER_VALIDATOR is set: the connector's OAuth type fetches its token; "
                    "pass --oauth-token-url, --client-id and the client secret"
                )
        if secret is None and kwargs["hmac_secret"]:
            secret = kwargs["hmac_secret"][0]
        for name, value in (kwargs.get("required_headers") or {}).items():
            headers.setdefault(name, value)
    if secret is not None and not secret.strip():
        raise UsageError("--hmac-secret must not be empty")
    if args.file is not None:
        if args.count is not None:
            raise UsageError("--count applies to the mixed sample only, not to --file")
        payload = load_payload(args.file, sys.stdin)
    else:
        payload = sample_payload(args.sample, args.count, args.seed)
    events = len(payload) if isinstance(payload, list) else 1
    if events > 100:
        print(f"{PROG}: note: Descope sends at most 100 events per request; sending {events}", file=sys.stderr)
    if token_request is not None:
        auth = _fetch_token(token_request, args)
    body, sent_headers = build_delivery(
        payload, hmac_secret=secret, auth=auth, headers=headers, signed_form=args.signed_form
    )
    signed = f"signed ({args.signed_form} form)" if secret is not None else "unsigned"
    print(f"POST {_shown_url(args.url)}: {events} event(s), {len(body)} bytes, {signed}", flush=True)
    response = request(
        args.url, body, sent_headers, trust_any_certificate=args.trust_any_certificate, timeout=args.timeout
    )
    print(f"HTTP {response.status} {response.reason}")
    text = safe_text(response.text())
    if text:
        print(text.rstrip("\n"))
    if not response.ok:
        _error(f"the receiver answered {response.status} {response.reason}")
        return 1
    return 0


def _fetch_token(token: TokenRequest, args: argparse.Namespace) -> Auth:
    """The grant, announced and reported without the secret or the token."""
    scope = f", scope {' '.join(token.scopes)}" if token.scopes else ""
    print(
        f"POST {_shown_url(token.url)}: client credentials grant, {token.auth_style} authentication{scope}", flush=True
    )
    grant = fetch_bearer(token, trust_any_certificate=args.trust_any_certificate, timeout=args.timeout)
    details = [f"expires in {grant.expires_in} s"] if type(grant.expires_in) is int else []
    if isinstance(grant.scope, str) and grant.scope:
        details.append(f"scope {safe_text(grant.scope[:200])}")
    print("got a Bearer token" + (f" ({', '.join(details)})" if details else ""), flush=True)
    return grant.auth


def _add_oauth_options(send: argparse.ArgumentParser) -> None:
    """``send``'s OAuth 2.0 client-credentials options: the connector's auth_url, client_id, ... settings."""
    oauth = send.add_argument_group(
        "OAuth 2.0 client credentials (the connector's OAuth type: it fetches a token and sends it as Bearer)"
    )
    oauth.add_argument("--oauth-token-url", metavar="URL", help="the authorization server's token endpoint")
    oauth.add_argument("--client-id", metavar="ID", help="the client id")
    oauth.add_argument(
        "--client-secret",
        metavar="SECRET",
        help=f"the client secret (default: {OAUTH_SECRET_VAR}; prefer the variable, command lines are visible)",
    )
    oauth.add_argument(
        "--scope", action="append", metavar="SCOPE", help="a scope to ask for (repeatable, or space-separated)"
    )
    oauth.add_argument(
        "--auth-style",
        choices=("header", "body"),
        help="how the client authenticates to the token endpoint: HTTP Basic (header, the default) or form fields",
    )
    oauth.add_argument(
        "--token-header",
        action="append",
        metavar="NAME:VALUE",
        help="an extra header on the token request (repeatable)",
    )


# --- sign ----------------------------------------------------------------------------------


def _cmd_sign(args: argparse.Namespace) -> int:
    secret = args.hmac_secret
    if secret is None:
        values = [part.strip() for part in os.environ.get(PREFIX + "HMAC_SECRET", "").split(",") if part.strip()]
        if not values:
            raise UsageError(f"no HMAC secret: pass --hmac-secret or set {PREFIX}HMAC_SECRET")
        secret = values[0]
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    print(sign(body, secret))
    return 0


# --- verify --------------------------------------------------------------------------------


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
    parts = [
        event.occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        event.action,
        event.severity.value if event.severity else "-",
    ]
    for label, value in (("actor", event.actor_id), ("user", event.user_id)):
        if value:
            parts.append(f"{label}={value}")
    if event.tenants:
        parts.append("tenants=" + ",".join(event.tenants))
    if event.login_ids:
        parts.append("loginIds=" + ",".join(event.login_ids))
    for label, value in (("method", event.method), ("geo", event.geo), ("ip", event.remote_address)):
        if value:
            parts.append(f"{label}={value}")
    return "  " + " ".join(safe_text(part) for part in parts)


def _cmd_verify(args: argparse.Namespace) -> int:
    headers: list[tuple[str, str]] = []
    if args.headers_file:
        headers += _read_headers_file(args.headers_file)
    headers += [parse_header_option(item, "-H") for item in args.header or ()]
    try:
        body = Path(args.body).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.body}: {exc.strerror or exc}") from None
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


# --- serve ---------------------------------------------------------------------------------


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the audit page and the server")
    group.add_argument(
        "--page-token",
        action="append",
        metavar="TOKEN",
        help=f"access token of the audit page and its data ({PREFIX}PAGE_TOKEN; 16+ characters; repeat to rotate); "
        "required to show the page on a non-loopback address",
    )
    group.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help=f"a Host name served besides loopback and the bound address ({PREFIX}ALLOWED_HOSTS; repeatable)",
    )
    group.add_argument(
        "--request-timeout",
        type=seconds,
        default=30.0,
        metavar="SECONDS",
        help="time for a whole request (line, headers, body) to arrive; later: 408 (default 30)",
    )
    group.add_argument(
        "--max-connections",
        type=count,
        default=64,
        metavar="N",
        help="connections served at once; more are answered 503 (default 64)",
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from .receiver import create_app, log_requests_to_stderr, make_server

    env = config_environ(args)
    for name, value in (("DB", args.db), ("PATH", args.path)):
        if value is not None:
            env[PREFIX + name] = value
    if args.page_token:
        env[PREFIX + "PAGE_TOKEN"] = _joined(args.page_token, "--page-token")
    if args.allowed_host:
        env[PREFIX + "ALLOWED_HOSTS"] = _joined(args.allowed_host, "--allowed-host")
    _check_configured(env)
    app = create_app(env, prefix=PREFIX, bound_host=args.host)
    log_requests_to_stderr()
    try:
        server = make_server(
            args.host, args.port, app, request_timeout=args.request_timeout, max_connections=args.max_connections
        )
    except (OSError, UnicodeError) as exc:
        _error(f"cannot listen on {args.host}:{args.port}: {getattr(exc, 'strerror', None) or exc}")
        return 1
    port = server.server_address[1]
    base = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{port}"
    (path,) = app.hooks
    print(f"receiving Descope audit deliveries on POST {base}{path}   database: {app.store.path}", flush=True)
    if app.access.has_token or app.access.local_only:
        login = " (log in with the access token)" if app.access.has_token else ""
        print(f"audit page: {base}/{login}   JSON: {base}/api/events", flush=True)
    else:
        print(
            f"audit page: off on a non-loopback address without an access token (--page-token or {PREFIX}PAGE_TOKEN)",
            flush=True,
        )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# --- demo ----------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    signal.signal(signal.SIGTERM, _raise_interrupt)
    return run_demo(keep_serving=args.keep_serving, port=args.port, db=args.db, out=sys.stdout)


# --- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Emulate, verify and receive Descope Audit Webhook Connector deliveries.",
        epilog="Run '%(prog)s COMMAND --help' for a command's options. Exit status: 0 ok, 1 rejected or failed, "
        "2 bad usage.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
    auth.add_argument("--bearer-token", metavar="TOKEN", help="send Authorization: Bearer TOKEN")
    auth.add_argument("--api-key-header", metavar="NAME", help="API key type: the header name (the key)")
    auth.add_argument("--api-key", metavar="VALUE", help="API key type: the header value (the token)")
    auth.add_argument("--basic-user", metavar="USER", help="Basic type: the username")
    auth.add_argument("--basic-password", metavar="PASSWORD", help="Basic type: the password")
    send.add_argument(
        "--header", action="append", metavar="NAME:VALUE", help="a static header sent on every request (repeatable)"
    )
    send.add_argument("--hmac-secret", metavar="SECRET", help="sign the body into x-descope-webhook-s256")
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
    _add_oauth_options(send)
    send.set_defaults(func=_cmd_send)

    sign_cmd = commands.add_parser(
        "sign",
        help="print the x-descope-webhook-s256 value for a body",
        description="Print the x-descope-webhook-s256 value Descope would send for exactly these bytes: "
        "base64 of HMAC-SHA256(secret, body).",
    )
    sign_cmd.add_argument("file", nargs="?", default="-", metavar="FILE", help="the body (default: stdin)")
    sign_cmd.add_argument(
        "--hmac-secret", metavar="SECRET", help=f"the secret (default: the first value of {PREFIX}HMAC_SECRET)"
    )
    sign_cmd.set_defaults(func=_cmd_sign)

    verify_cmd = commands.add_parser(
        "verify",
        help="check a captured request against a configuration",
        description="Check a captured request (body file plus headers) the way the receiver would. Prints the "
        "verdict, the signed form that matched and the events; exits 1 with the reason when rejected.",
        epilog=_EPILOG_CONFIG,
    )
    verify_cmd.add_argument("--body", required=True, metavar="FILE", help="the request body, byte for byte")
    verify_cmd.add_argument(
        "-H", "--header", action="append", metavar="'Name: value'", help="a request header (repeatable)"
    )
    verify_cmd.add_argument("--headers-file", metavar="FILE", help="request headers, one 'Name: value' per line")
    verify_cmd.add_argument("--json", action="store_true", help="print the events as JSON")
    _add_config_options(verify_cmd)
    verify_cmd.set_defaults(func=_cmd_verify)

    serve = commands.add_parser(
        "serve",
        help="run the reference receiver with its audit page",
        description="Receive deliveries (POST PATH), verify them, store accepted events once each in SQLite, "
        "and show them on an audit page (GET /) and as JSON (GET /api/events).",
        epilog=_EPILOG_CONFIG + " DESCOPE_AUDIT_DB and DESCOPE_AUDIT_PATH set --db and --path.",
    )
    serve.add_argument("--host", type=host, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--db", metavar="FILE", help="SQLite database (default ./audit-events.db)")
    serve.add_argument("--path", metavar="PATH", help="the webhook path (default /descope/audit)")
    _add_config_options(serve)
    _add_serve_options(serve)
    serve.set_defaults(func=_cmd_serve)

    demo = commands.add_parser(
        "demo",
        help="run a receiver and show what it accepts and rejects",
        description="Start the receiver on a free loopback port with a temporary database and generated "
        "secrets, send it valid deliveries for each authentication type and tampered, forged, wrongly "
        "authenticated and oversize ones, and print what was accepted and rejected. Exits 0 only when every "
        "outcome is the expected one.",
    )
    demo.add_argument("--keep-serving", action="store_true", help="leave the receiver up to browse its audit page")
    demo.add_argument("--port", type=port, default=0, help="port for the receiver (default: a free one)")
    demo.add_argument("--db", metavar="FILE", help="keep the events in this SQLite file (default: temporary)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def _error(message: str) -> None:
    # One line, whatever a file name or a value in the message holds.
    print(f"{PROG}: error: {escape_controls(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    problem = argv_problem(arguments)
    if problem is not None:
        _error(problem)
        return 2
    parser = build_parser()
    args = parser.parse_args(arguments)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (UsageError, ConfigurationError) as exc:
        _error(str(exc))
        return 2
    except SendError as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
