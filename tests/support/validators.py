"""Token validators named by import path in the configuration tests (``tests.support.validators:accept``)."""

from __future__ import annotations

from typing import Any

#: The one token :func:`accept` takes.
GOOD = "good.token.value"

NOT_CALLABLE = {"sub": "not a function"}


def accept(token: str) -> dict[str, Any]:
    if token != GOOD:
        raise ValueError("unknown token")
    return {"sub": "descope-connector", "scope": "audit:write"}


async def accept_async(token: str) -> dict[str, Any]:
    return accept(token)


class Holder:
    """For a dotted attribute path after the colon: ``tests.support.validators:Holder.validate``."""

    validate = staticmethod(accept)
