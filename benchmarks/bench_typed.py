"""The typed peers: audit events as pydantic and msgspec models (the optional ``bench`` extra).

What a user would write to get typed events from another verifier: the same fields as
``AuditEvent`` (unknown fields ignored, the libraries' default), ``occurred`` as a
datetime for pydantic (it reads integer milliseconds) and as the integer for msgspec
(which reads integer timestamps as seconds only).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = ["msgspec_events", "pydantic_events", "read_dicts", "read_models"]


class PydanticEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    action: str
    occurred: datetime
    type: str | None = None
    actor_id: str | None = Field(None, alias="actorId")
    user_id: str | None = Field(None, alias="userId")
    project_id: str | None = Field(None, alias="projectId")
    tenants: list[str] | None = None
    login_ids: list[str] = Field(default_factory=list, alias="loginIds")
    device: str | None = None
    method: str | None = None
    geo: str | None = None
    remote_address: str | None = Field(None, alias="remoteAddress")
    data: dict[str, Any] = Field(default_factory=dict)


class MsgspecEvent(msgspec.Struct, frozen=True, rename="camel"):
    action: str
    occurred: int
    type: str | None = None
    actor_id: str | None = None
    user_id: str | None = None
    project_id: str | None = None
    tenants: list[str] | None = None
    login_ids: list[str] = []
    device: str | None = None
    method: str | None = None
    geo: str | None = None
    remote_address: str | None = None
    data: dict[str, Any] = {}


_PYDANTIC = TypeAdapter(list[PydanticEvent])
_MSGSPEC = msgspec.json.Decoder(list[MsgspecEvent])


def pydantic_events(body: bytes) -> list[PydanticEvent]:
    return _PYDANTIC.validate_json(body)


def msgspec_events(body: bytes) -> list[MsgspecEvent]:
    return _MSGSPEC.decode(body)


def read_models(events: list[Any]) -> int:
    """The handler's reads of ``run.read``, on typed models."""
    count = 0
    for event in events:
        event.action, event.occurred, event.type, event.user_id, event.data  # noqa: B018
        count += 1
    return count


def read_dicts(events: list[dict[str, Any]]) -> int:
    """The same reads on the untyped dicts of a verifier that returns parsed JSON."""
    count = 0
    for event in events:
        event["action"], event["occurred"], event.get("type"), event.get("userId"), event.get("data")
        count += 1
    return count
