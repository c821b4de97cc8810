"""The settings as command-line options, derived from the settings table (:mod:`descope_audit_hook._settings`).

``serve`` and ``verify`` take the verifier's settings, ``serve`` the receiver's too, each
option over its ``DESCOPE_AUDIT_*`` variable; ``send`` takes the HMAC secret and the
authentication types it sends, ``sign`` the HMAC secret. Values given as options are
typed (a repeated option is a list), never turned into the variables' text.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from typing import Any

from descope_audit_hook._request import require_sync
from descope_audit_hook._setting_kinds import Flag, HeaderMap, PositiveInt
from descope_audit_hook._settings import PREFIX, SETTINGS, Setting, settings_of
from descope_audit_hook._settings_loader import Found, Source, build_verifier, read, variables
from descope_audit_hook._verifier import Verifier

from ._args import UsageError, parse_header_option, positive_int

__all__ = ["add_option", "add_options", "epilog", "found_in", "options_of", "receiver_settings", "verifier_from_args"]

_FLAGS = {s.name: s.flag for s in SETTINGS if s.flag}


def _named(setting: Setting) -> str:
    """How a message names a setting on the command line: its option, or its variable."""
    return setting.flag or PREFIX + setting.name


def add_option(parser: argparse._ActionsContainer, setting: Setting, help: str, *, repeat: bool = False) -> None:
    """``setting``'s option (``dest`` is its name): a switch, repeatable, an integer or a string."""
    flag = _named(setting)
    if isinstance(setting.kind, Flag):
        parser.add_argument(flag, dest=setting.name, action="store_true", help=help)
        return
    kwargs: dict[str, Any] = {"action": "append"} if repeat else {}
    if isinstance(setting.kind, PositiveInt):
        kwargs["type"] = positive_int
    parser.add_argument(flag, dest=setting.name, metavar=setting.metavar, help=help, **kwargs)


def options_of(scope: str) -> tuple[Setting, ...]:
    return tuple(s for s in settings_of(scope) if s.flag)


def add_options(parser: argparse.ArgumentParser, scope: str, title: str) -> None:
    """The options of the ``scope``'s settings, each naming its variable; a list is a repeated option."""
    group = parser.add_argument_group(title)
    for setting in options_of(scope):
        add_option(group, setting, f"{setting.help} [{PREFIX}{setting.name}]", repeat=setting.kind.many)


def epilog(*scopes: str) -> str:
    """The epilog of a command that takes the settings of ``scopes`` as options."""
    names = ", ".join(s.name for scope in scopes for s in options_of(scope))
    readers = "Verifier.from_env() reads"
    if "receiver" in scopes:
        readers = "Verifier.from_env() and receiver.create_app() read"
    return (
        f"Each configuration option overrides its DESCOPE_AUDIT_* environment variable ({names}), as "
        f"{readers} them. Prefer the variables for secrets: command lines are visible to other local users."
    )


def _given(args: argparse.Namespace, settings: Iterable[Setting]) -> dict[str, object]:
    """The options given, as typed values by setting name."""
    given: dict[str, object] = {}
    for setting in settings:
        value = getattr(args, setting.name, None)
        if value is None or value is False:
            continue
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, str) and not item.strip() for item in items):
            raise UsageError(f"{_named(setting)} must not be empty")
        if isinstance(setting.kind, HeaderMap):
            given[setting.name] = dict(parse_header_option(item, _named(setting)) for item in items)
        elif isinstance(value, list):
            # One value per use: a comma is most likely the variable's format pasted ("new,old").
            if any("," in item for item in items):
                raise UsageError(f"{_named(setting)} must not contain ',': repeat the option for each value")
            given[setting.name] = items
        else:
            given[setting.name] = [value] if setting.kind.many else value
    return given


def found_in(args: argparse.Namespace, settings: Iterable[Setting], environ: Mapping[str, str] | None = None) -> Found:
    """The ``settings`` given as options, each over its variable in ``environ`` (``None``: options only).

    An authentication type given as options replaces another type set in ``environ``;
    variables of the same type fill in what the options leave out.
    """
    settings = tuple(settings)
    given = _given(args, settings)
    sources = [Source(given, str, _FLAGS.__getitem__)]
    if environ is not None:
        types = {s.auth for s in SETTINGS if s.auth is not None and s.name in given}
        dropped = {PREFIX + s.name for s in SETTINGS if types and s.auth is not None and s.auth not in types}
        sources.append(variables({k: v for k, v in environ.items() if k not in dropped}))
    return read(sources, settings, _named)


def verifier_from_args(args: argparse.Namespace) -> Verifier:
    """The verifier of ``serve`` and ``verify``: the options over the ``DESCOPE_AUDIT_*`` variables."""
    found = found_in(args, settings_of("verifier"), os.environ)
    verifier = build_verifier(found, "configured (options or DESCOPE_AUDIT_* variables)")
    return require_sync(verifier, "the command line")


def receiver_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``serve``'s own settings (database, path, page tokens, allowed hosts), options over variables."""
    return found_in(args, settings_of("receiver"), os.environ).values
