"""The verified events of one delivery: :class:`AuditBatch`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, overload

from ._events import AuditEvent
from ._signature import SignedForm

__all__ = ["AuditBatch"]


@dataclass(frozen=True, slots=True)
class AuditBatch(Sequence[AuditEvent]):
    """The verified events of one delivery: a read-only sequence of :class:`AuditEvent`.

    ``signed_form`` says which form of the payload the signature matched (``None`` when
    no HMAC secret is configured). ``body`` holds the bytes the signature covers: the
    received body under ``raw``, the body without its trailing whitespace under
    ``trimmed``, the re-serialized string under ``compact`` and ``compact-escaped``, the
    received body when no secret is configured; the events are read from those bytes
    (docs/security.md). It is kept out of ``repr``. ``duplicates`` counts events dropped
    because they were completed before or repeated inside the delivery; ``in_progress``
    those dropped because another request holds them (both set by ``exactly_once``).
    ``claims`` is what the Bearer token validator returned, read-only and kept out of
    ``repr`` (``None`` when no validator checked the token).
    """

    events: tuple[AuditEvent, ...]
    signed_form: SignedForm | None = None
    body: bytes = field(default=b"", repr=False)
    duplicates: int = 0
    in_progress: int = 0
    claims: Mapping[str, Any] | None = field(default=None, repr=False, hash=False)

    def __post_init__(self) -> None:
        claims = self.claims
        if claims is not None and type(claims) is not MappingProxyType:
            if not isinstance(claims, Mapping):
                raise TypeError("AuditBatch.claims must be a mapping or None")
            object.__setattr__(self, "claims", MappingProxyType(dict(claims)))

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The read-only claims cannot be pickled (nor deep-copied): send a plain dict, wrapped again.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if values["claims"] is not None:
            values["claims"] = dict(values["claims"])
        return _unpickle_batch, (values,)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[AuditEvent]:
        return iter(self.events)

    @overload
    def __getitem__(self, index: int) -> AuditEvent: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AuditEvent]: ...

    def __getitem__(self, index: int | slice) -> AuditEvent | Sequence[AuditEvent]:
        return self.events[index]


def _unpickle_batch(values: dict[str, Any]) -> AuditBatch:
    return AuditBatch(**values)
