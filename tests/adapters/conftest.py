"""Fixtures of the adapter suite: ``harness`` runs each test once per adapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from descope_audit_hook import DedupeStore, Verifier

from ._harness import KINDS, Harness, harness_for

MakeHarness = Callable[..., AbstractContextManager[Harness]]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def make_harness(kind: str) -> Iterator[Callable[[Verifier | None, DedupeStore | None], Harness]]:
    """``make_harness(verifier, dedupe=None)`` starts this test's adapter app; closed after the test."""
    opened: list[AbstractContextManager[Harness]] = []

    def make(verifier: Verifier | None, dedupe: DedupeStore | None = None) -> Harness:
        manager = harness_for(kind, verifier, dedupe)
        harness = manager.__enter__()
        opened.append(manager)
        return harness

    yield make
    while opened:
        opened.pop().__exit__(None, None, None)
