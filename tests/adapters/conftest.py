"""Fixtures of the adapter suite: ``make_harness`` runs each test once per adapter.

``make_any_harness`` adds the Django decorator on an ``async def`` view (``django-async``),
for the checks where sync and async paths differ (a token validator).
"""

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


@pytest.fixture(params=[*KINDS, "django-async"])
def any_kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def make_harness(kind: str) -> Iterator[Callable[[Verifier | None, DedupeStore | None], Harness]]:
    """``make_harness(verifier, dedupe=None)`` starts this test's adapter app; closed after the test."""
    yield from _opener(kind)


@pytest.fixture
def make_any_harness(any_kind: str) -> Iterator[Callable[[Verifier | None, DedupeStore | None], Harness]]:
    """``make_harness`` over every adapter and the Django async view."""
    yield from _opener(any_kind)


def _opener(kind: str) -> Iterator[Callable[[Verifier | None, DedupeStore | None], Harness]]:
    opened: list[AbstractContextManager[Harness]] = []

    def make(verifier: Verifier | None, dedupe: DedupeStore | None = None) -> Harness:
        manager = harness_for(kind, verifier, dedupe)
        harness = manager.__enter__()
        opened.append(manager)
        return harness

    yield make
    while opened:
        opened.pop().__exit__(None, None, None)
