"""AuditBatch: the verified events of one delivery, a read-only sequence."""

from __future__ import annotations

import json

import pytest

from descope_audit_hook import AuditBatch, Verifier
from descope_audit_hook.testing import sample_event

OPEN = Verifier(allow_unauthenticated=True)


def test_batch_is_a_read_only_sequence() -> None:
    body = json.dumps([sample_event("login_succeed"), sample_event("login_failed")]).encode()
    batch = OPEN.verify(body, {})
    assert isinstance(batch, AuditBatch)
    assert len(batch) == 2
    assert batch[0].action == "LoginSucceed"
    assert batch[-1].action == "LoginFailed"
    assert [e.action for e in batch[0:1]] == ["LoginSucceed"]
    assert batch[1] in batch
    assert batch.index(batch[1]) == 1
    assert batch.signed_form is None
    assert batch.body == body
    assert body.decode() not in repr(batch)
    with pytest.raises(AttributeError):
        batch.events = ()  # type: ignore[misc]
    with pytest.raises(IndexError):
        batch[2]
