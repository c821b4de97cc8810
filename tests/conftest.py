"""Shared pytest configuration for the whole suite.

Hypothesis: every profile turns off the per-example deadline, which flakes on a loaded
2-core machine; each property test sets its own example budget
(``tests/core/_support.examples``). ``dev`` (the default) explores new random examples
on every run and replays past failures from ``.hypothesis/``. ``ci`` (the default when
``CI=true``) is derandomized: the same examples on every run, so a submission's result
does not depend on the draw; new ground is covered by ``dev`` runs and by
``HYPOTHESIS_PROFILE=thorough``, which multiplies the budgets for a long local run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tests.engines import postgres_cluster, redis_cluster, redis_server

if TYPE_CHECKING:
    from tests.oauth.issuer import Issuer

FIXTURES = Path(__file__).parent / "fixtures"

_RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _RELAXED)
settings.register_profile("ci", _RELAXED, derandomize=True)
settings.register_profile("thorough", _RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") == "true" else "dev"))


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of recorded, signed sample deliveries."""
    return FIXTURES


# --- real engines, one of each per test session (tests/engines.py) --------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port, without persistence; tests flush what they use."""
    with redis_server() as server:
        yield f"redis://{server.host}:{server.port}/0"


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> Iterator[list[tuple[str, int]]]:
    """A three-master Redis cluster on loopback: the (host, port) of each node."""
    with redis_cluster(3) as nodes:
        yield nodes


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A throw-away PostgreSQL cluster (superuser ``postgres``, database ``postgres``): its libpq DSN."""
    with postgres_cluster() as cluster, cluster.running() as server:
        yield server.dsn


# --- a real OAuth 2.0 authorization server on loopback (tests/oauth/issuer.py) ------------------


@pytest.fixture(scope="session")
def oauth_issuer() -> Iterator[Issuer]:
    """A loopback OAuth 2.0 authorization server (tests/oauth/issuer.py), shared by the session.

    Tests that change it (rotate its keys, switch to opaque tokens) make their own.
    """
    from tests.oauth.issuer import Issuer

    with Issuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def oauth_recipe(oauth_issuer: Issuer) -> ModuleType:
    """docs/oauth.md's JWT validator, examples/oauth_validator.py as written, configured for ``oauth_issuer``."""
    from tests.oauth.issuer import load_example

    return load_example("oauth_validator", oauth_issuer.env())
