"""What every command shares: argument types, usage errors, text that is safe on a terminal.

Every bad value is one line on stderr and exit 2. The types below are given to
``argparse`` (``type=port``); a value they refuse, like any usage error argparse finds
itself, is reported by :class:`Parser` as one line, ``descope-audit-hook: error: ...``,
never as a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn, TypeAlias

from descope_audit_hook._setting_kinds import parse_int

__all__ = [
    "PROG",
    "Commands",
    "Parser",
    "UsageError",
    "argv_problem",
    "check_header",
    "count",
    "error",
    "escape_controls",
    "host",
    "parse_header_option",
    "port",
    "positive_int",
    "read_bytes",
    "refuse_reserved",
    "safe_text",
    "seconds",
    "stop_on_sigterm",
]

PROG = "descope-audit-hook"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class UsageError(Exception):
    """The command line asked for something impossible (exit status 2)."""


def escape_controls(text: str, keep: str = "") -> str:
    """Control characters (C0, DEL, C1) but those in ``keep`` shown as ``\\xNN``: one line stays one line,
    and text from an argument or a response cannot drive the terminal."""
    return "".join(c if c in keep or 32 <= ord(c) < 127 or ord(c) > 159 else f"\\x{ord(c):02x}" for c in text)


def safe_text(text: str) -> str:
    """Untrusted text for the terminal: control characters (C0, DEL, C1) shown as ``\\xNN``."""
    return escape_controls(text, keep="\n\t")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (and exit 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {escape_controls(message)} (see '{self.prog} --help')\n")


#: What a command family adds its sub-command to.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


def argv_problem(argv: Sequence[str]) -> str | None:
    """Why the arguments cannot be used as text (bytes that are not UTF-8, a NUL), or ``None``."""
    for index, argument in enumerate(argv, 1):
        if "\x00" in argument:
            return f"argument {index} contains a NUL character"
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {index} is not valid UTF-8 text"
    return None


def _integer(lower: int, upper: int, message: str) -> Callable[[str], int]:
    """An argparse type: ASCII digits from ``lower`` to ``upper``, else ``message``."""

    def parse(text: str) -> int:
        value = parse_int(text, lower, upper)
        if value is None:
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


port = _integer(0, 65535, "must be a port number from 0 to 65535")
positive_int = _integer(1, 2**62, "must be a positive integer")
count = _integer(1, 10_000, "must be a positive integer, at most 10000")


def seconds(text: str) -> float:
    try:
        value = float(text) if text.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= 86_400):
        raise argparse.ArgumentTypeError("must be a number of seconds above 0 and at most 86400")
    return value


def host(text: str) -> str:
    """An address to listen on: an IP address, or a host name (letters, digits, '-', '_', '.')."""
    name = text.strip()
    try:
        ipaddress.ip_address(name)
    except ValueError:
        labels = name.rstrip(".").split(".")
        valid = all(0 < len(label) <= 63 and set(label) <= _NAME_CHARS for label in labels)
        if not name or len(name) > 253 or not valid:
            raise argparse.ArgumentTypeError("must be an IP address or a host name") from None
    return name


def parse_header_option(value: str, option: str = "--header") -> tuple[str, str]:
    """``NAME:VALUE`` (or ``Name: value``) -> ``(name, value)``; anything else is a :class:`UsageError`.

    The messages never repeat the argument: a header value may be a secret.
    """
    name, sep, rest = value.partition(":")
    if not sep:
        raise UsageError(f"{option} must look like NAME:VALUE; the argument has no ':'")
    return check_header(name.strip(), rest.strip(" \t"), option)


def check_header(name: str, value: str, where: str) -> tuple[str, str]:
    """``(name, value)`` if they can be sent as a header: a non-empty token, a value without
    control characters (tab aside); else a :class:`UsageError` naming ``where`` (never the value).
    """
    usage = f"{where} must look like NAME:VALUE"
    if not name:
        raise UsageError(f"{usage}; the name before ':' is empty")
    if not set(name) <= _TOKEN:
        raise UsageError(f"{usage}; the name before ':' is not a valid HTTP header name")
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        raise UsageError(f"{where} {name}: the value must not contain control characters")
    return name, value


def refuse_reserved(names: Iterable[str], reserved: Iterable[str], what: str, why: str) -> None:
    """A :class:`UsageError` if a header name is one of ``reserved``, in any case: ``what`` cannot
    set it, ``why``. A second spelling would send the header twice."""
    refused = {name.lower() for name in reserved}
    for name in names:
        if name.lower() in refused:
            raise UsageError(f"{what} cannot set {name}: {why}")


def read_bytes(path: str) -> bytes:
    """A file's bytes; a file that cannot be read is a :class:`UsageError`."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def error(message: str) -> None:
    """The one line of an error on stderr, whatever a file name or a value in the message holds."""
    print(f"{PROG}: error: {escape_controls(message)}", file=sys.stderr)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM stops a long-running command as Ctrl-C does (exit status 130)."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
