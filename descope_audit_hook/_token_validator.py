"""Calling the user's Bearer token validator, and reading what it answers.

A Bearer token that changes on every fetch (the connector's OAuth 2.0 type, usually a
JWT) is checked by a *validator*, a callable of the user's that returns the token's
claims or raises. Whatever it raises (any ``Exception``) or returns instead of claims is
a refusal; it is never logged with the token, only with the class of what it raised.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Union

__all__ = ["Claims", "RunSync", "TokenValidator", "call", "call_async", "describe", "is_async_callable"]

#: What a token validator returns: the token's validated claims, a non-empty mapping.
Claims = Mapping[str, Any]
#: ``validate(token) -> claims`` (or raises); ``async def`` validators are awaited by the async paths.
TokenValidator = Callable[[str], Union[Claims, Awaitable[Union[Claims, None]], None]]
#: How an async caller runs a sync validator off its event loop: ``await run_sync(validator, token)``.
RunSync = Callable[[Callable[[str], Any], str], Awaitable[Any]]

#: The validator's outcome: its claims (read-only), or why they were refused (for the log line).
Outcome = Union[Claims, str]


def is_async_callable(func: object) -> bool:
    """Whether calling ``func`` gives a coroutine: ``async def``, a partial of one, or ``async def __call__``."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004


def describe(func: object) -> str:
    """The validator's module and name, for a repr: an object's own repr could hold a secret."""
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    module = getattr(func, "__module__", None) or type(func).__module__
    return f"{module}.{name}"


def call(validator: TokenValidator, token: str) -> Outcome | None:
    """The outcome of a synchronous call; ``None`` if the validator returned an awaitable."""
    result, failure = _outcome(validator, token)
    if failure is None and inspect.isawaitable(result):
        _discard(result)
        return None
    return _claims(result, failure)


async def call_async(validator: TokenValidator, token: str, run_sync: RunSync, asynchronous: bool) -> Outcome:
    """The outcome on an event loop: an async validator is awaited, a sync one runs in ``run_sync``."""
    if asynchronous:
        result, failure = await _awaited(lambda: validator(token))
    else:
        # The call and whatever it raises stay in the worker thread; only the outcome
        # comes back. (A StopIteration cannot be set on an asyncio future: raised across
        # the thread boundary it would leave the request waiting forever.)
        result, failure = await run_sync(functools.partial(_outcome, validator), token)
        if failure is None and inspect.isawaitable(result):  # a plain function that returned a coroutine
            result, failure = await _awaited(lambda: result)
    return _claims(result, failure)


def _outcome(validator: Callable[[str], Any], token: str) -> tuple[Any, str | None]:
    """``(result, None)``, or ``(None, what it raised)``: whatever the user's code raises is a refusal."""
    try:
        return validator(token), None
    except Exception as exc:  # a BaseException (cancellation, KeyboardInterrupt) goes through
        # Only the class name is kept: the exception's message may hold the token.
        return None, f"the token validator raised {type(exc).__name__}"


async def _awaited(call: Callable[[], Any]) -> tuple[Any, str | None]:
    try:
        return await call(), None
    except Exception as exc:
        return None, f"the token validator raised {type(exc).__name__}"


def _discard(result: object) -> None:
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and callable(close):
        close()  # no "coroutine was never awaited" warning on top of the error


def _claims(result: object, failure: str | None) -> Outcome:
    """The validator's answer as read-only claims, or why it is refused: a failure, or anything but a non-empty mapping.

    The caller raises its error outside any ``except`` block, so that the validator's own
    exception is neither chained to it nor kept as its context.
    """
    if failure is None:
        if isinstance(result, Mapping):
            try:
                claims = dict(result)
            except Exception as exc:
                failure = f"the token validator's claims could not be read ({type(exc).__name__})"
            else:
                if claims:
                    return MappingProxyType(claims)
                failure = "the token validator returned no claims (an empty mapping)"
        else:
            failure = f"the token validator returned {type(result).__name__}, not the claims"
    return failure
