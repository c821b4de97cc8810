"""The ``descope-audit-hook`` command line: send, sign, verify, serve, demo.

Exit status: 0 success, 1 the delivery was rejected or failed, 2 bad usage or configuration.
The receiver's configuration options come from the settings table, as
:meth:`Verifier.from_env` does: each option overrides its ``DESCOPE_AUDIT_*`` variable, so
one set of variables configures ``serve``, ``verify`` and your own application alike.
Secrets are never printed.

One module per command family: ``_send`` (with ``_oauth`` and the HTTP client
``_client``), ``_verify`` (sign, verify), ``_serve``, ``_demo``; ``_config`` turns the
settings into options, ``_args`` holds what they all share.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from descope_audit_hook._errors import ConfigurationError

from ._args import PROG, Parser, UsageError, argv_problem, error
from ._client import SendError
from ._demo import add_demo
from ._send import add_send
from ._serve import add_serve
from ._verify import add_sign, add_verify

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser: one sub-command per family, each added by its own module."""
    from descope_audit_hook import __version__

    parser = Parser(
        prog=PROG,
        description="Emulate, verify and receive Descope Audit Webhook Connector deliveries.",
        epilog="Run '%(prog)s COMMAND --help' for a command's options. Exit status: 0 ok, 1 rejected or failed, "
        "2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (add_send, add_sign, add_verify, add_serve, add_demo):
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    import sys

    arguments = sys.argv[1:] if argv is None else list(argv)
    problem = argv_problem(arguments)
    if problem is not None:
        error(problem)
        return 2
    args = build_parser().parse_args(arguments)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (UsageError, ConfigurationError) as exc:
        error(str(exc))
        return 2
    except SendError as exc:
        error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
