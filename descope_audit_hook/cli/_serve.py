"""``serve``: the reference receiver, configured by options over the ``DESCOPE_AUDIT_*`` variables."""

from __future__ import annotations

import argparse

from descope_audit_hook._settings import PREFIX, setting

from ._args import Commands, count, error, host, port, seconds, stop_on_sigterm
from ._config import add_options, epilog, receiver_settings, verifier_from_args

__all__ = ["add_serve"]

_PAGE_TOKEN = setting("PAGE_TOKEN")


def add_serve(commands: Commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the reference receiver with its audit page",
        description="Receive deliveries (POST PATH), verify them, store accepted events once each in SQLite, "
        "and show them on an audit page (GET /) and as JSON (GET /api/events).",
        epilog=epilog("verifier", "receiver"),
    )
    serve.add_argument("--host", type=host, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=port, default=8000, help="port (default 8000; 0 picks a free one)")
    add_options(serve, "verifier", "receiver configuration (overrides DESCOPE_AUDIT_* variables)")
    add_options(serve, "receiver", "the database, the webhook path and the audit page")
    _add_server_options(serve)
    serve.set_defaults(func=_serve)


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("the server")
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


def _serve(args: argparse.Namespace) -> int:
    from descope_audit_hook.receiver import log_requests_to_stderr, make_server
    from descope_audit_hook.receiver._app import configured_app

    app = configured_app(verifier_from_args(args), receiver_settings(args), args.host)
    log_requests_to_stderr()
    try:
        server = make_server(
            args.host, args.port, app, request_timeout=args.request_timeout, max_connections=args.max_connections
        )
    except (OSError, UnicodeError) as exc:
        error(f"cannot listen on {args.host}:{args.port}: {getattr(exc, 'strerror', None) or exc}")
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
            f"audit page: off on a non-loopback address without an access token ({_PAGE_TOKEN.flag} or "
            f"{PREFIX}{_PAGE_TOKEN.name})",
            flush=True,
        )
    stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


