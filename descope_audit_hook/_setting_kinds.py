"""How a setting's value is read: from text (an environment variable) or as a typed value.

A typed value comes from a Flask ``app.config`` key, a Django setting or a command-line
option, and is taken as it is: a list of str, an int, a bool, a number of seconds or a
``timedelta``, a dict of headers, a callable. A ``str`` is read like the variable's text
(``"new,old"`` is two secrets), in every kind. Messages name the setting, never its value.
"""

from __future__ import annotations

import importlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

from ._errors import ConfigurationError

__all__ = [
    "Flag",
    "HeaderMap",
    "ImportPath",
    "Kind",
    "Listed",
    "PositiveInt",
    "Seconds",
    "Subset",
    "Text",
    "parse_bool",
    "parse_int",
    "split_list",
]

_IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?", re.ASCII)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def split_list(value: str) -> list[str]:
    """A comma-separated variable's values, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_int(text: str, lower: int, upper: int) -> int | None:
    """``text`` as an int from ``lower`` to ``upper``, or ``None``.

    Only ASCII digits: ``str.isdigit()`` also takes ``"²"``, which ``int()`` then refuses,
    and ``int()`` alone takes ``"+5"``, ``"5_0"`` and Arabic-Indic digits. At most 19 digits,
    so a hostile string never reaches ``int()``'s own digit limit.
    """
    text = text.strip()
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if lower <= value <= upper else None


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false")


class Kind:
    """A kind of setting. ``read`` returns the value, or ``None`` for a blank one (unset)."""

    #: What a typed value may be, for the message that refuses another type.
    takes = "a str"
    #: Whether the setting holds several values (a repeatable command-line option).
    many = False

    def text(self, text: str, name: str) -> Any:
        raise NotImplementedError

    def typed(self, value: object, name: str) -> Any:
        self.refuse(name)

    def refuse(self, name: str) -> NoReturn:
        raise ConfigurationError(
            f"{name} must be {self.takes}; for anything else, configure a Verifier object (DESCOPE_AUDIT_VERIFIER)"
        )

    def read(self, value: object, name: str) -> Any:
        return self.text(value, name) if isinstance(value, str) else self.typed(value, name)


class Text(Kind):
    """One string, stripped (``strip=False``: as given, for a secret); blank is unset."""

    def __init__(self, *, strip: bool = True) -> None:
        self.strip = strip

    def text(self, text: str, name: str) -> str | None:
        return (text.strip() if self.strip else text) if text.strip() else None


class Listed(Kind):
    """Several strings, in order (rotation: the first is the newest): comma-separated text, or a list."""

    takes = "a str or a list of str"
    many = True

    def text(self, text: str, name: str) -> list[str] | None:
        return split_list(text) or None

    def typed(self, value: object, name: str) -> list[str] | None:
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            self.refuse(name)
        if not all(item.strip() for item in value):
            # A blank item is a value that went missing (os.environ.get), not one to skip.
            raise ConfigurationError(f"{name} holds an empty value")
        return list(value) or None


class ImportPath(Kind):
    """A callable: given as is, or named by its import path ``pkg.module:attr`` (or ``pkg.module.attr``)."""

    takes = "a callable or its import path"

    def text(self, text: str, name: str) -> object | None:
        path = text.strip()
        if not path:
            return None
        if not _IMPORT_PATH.fullmatch(path) or ("." not in path and ":" not in path):
            raise ConfigurationError(f"{name} must be an import path like mypackage.auth:validate")
        module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
        try:
            found: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                found = getattr(found, part)
        except Exception as exc:  # ImportError, AttributeError, or whatever the module raised on import
            raise ConfigurationError(f"{name}: {path} cannot be imported ({type(exc).__name__})") from exc
        if not callable(found):
            raise ConfigurationError(f"{name}: {path} is not callable")
        return found

    def typed(self, value: object, name: str) -> object:
        if not callable(value):
            self.refuse(name)
        return value


class HeaderMap(Kind):
    """Header names to values: a JSON object as text, or a mapping."""

    takes = "a dict of header names to values"
    many = True

    def text(self, text: str, name: str) -> dict[str, str] | None:
        if not text.strip():
            return None
        try:
            loaded = json.loads(text)
        except ValueError:
            raise ConfigurationError(f"{name} must be a JSON object of header names to values") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ConfigurationError(f"{name} must be a JSON object of header names to string values")
        return loaded

    def typed(self, value: object, name: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            self.refuse(name)
        if not all(isinstance(v, str) for v in value.values()):
            raise ConfigurationError(f"{name} must map header names to string values")
        return dict(value)


class PositiveInt(Kind):
    takes = "an int"

    def text(self, text: str, name: str) -> int | None:
        if not text.strip():
            return None
        return self._checked(parse_int(text, 1, 2**62), name)

    def typed(self, value: object, name: str) -> int:
        if type(value) is not int:  # not a bool
            self.refuse(name)
        return self._checked(value if 1 <= value <= 2**62 else None, name)

    @staticmethod
    def _checked(value: int | None, name: str) -> int:
        if value is None:
            raise ConfigurationError(f"{name} must be a positive integer")
        return value


class Flag(Kind):
    """A boolean: ``true``/``false`` (``1``/``0``, ``yes``/``no``, ``on``/``off``; blank is false)."""

    takes = "a bool"

    def text(self, text: str, name: str) -> bool:
        return parse_bool(text, name)

    def typed(self, value: object, name: str) -> bool:
        if not isinstance(value, bool):
            self.refuse(name)
        return value


class Seconds(Kind):
    """A duration: a number of seconds (text, int or float) or a ``timedelta``."""

    takes = "a number of seconds or a timedelta"

    def __init__(self, *, allow_zero: bool) -> None:
        self.allow_zero = allow_zero

    def text(self, text: str, name: str) -> timedelta | None:
        if not text.strip():
            return None
        try:
            seconds = float(text.strip())
        except ValueError:
            seconds = math.nan
        return self._checked(seconds, name)

    def typed(self, value: object, name: str) -> timedelta:
        if isinstance(value, timedelta):
            return self._checked(value.total_seconds(), name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.refuse(name)
        return self._checked(value if isinstance(value, float) or abs(value) < 2**53 else math.inf, name)

    def _checked(self, seconds: float, name: str) -> timedelta:
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not self.allow_zero) or seconds > 1e9:
            sign = "non-negative" if self.allow_zero else "positive"
            raise ConfigurationError(f"{name} must be a {sign} number of seconds")
        return timedelta(seconds=seconds)


class Subset(Kind):
    """Some of a fixed set of words: comma-separated text, or a list."""

    takes = "a str or a list of str"

    def __init__(self, words: Iterable[str]) -> None:
        self.words = tuple(words)

    def text(self, text: str, name: str) -> list[str] | None:
        return self._checked(split_list(text), name) if text.strip() else None

    def typed(self, value: object, name: str) -> list[str]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            self.refuse(name)
        return self._checked(list(value), name)

    def _checked(self, chosen: list[str], name: str) -> list[str]:
        if not chosen or not set(chosen) <= set(self.words):
            raise ConfigurationError(f"{name} must be a comma-separated subset of {', '.join(self.words)}")
        return chosen
