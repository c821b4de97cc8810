"""Fixtures of the whole suite; what they are built on is in tests/support/.

``clean_env``: ``os.environ`` without the machine's ``DESCOPE_AUDIT_*`` variables (the
same cleaning as ``support.env.clean_env`` for a subprocess); real engines, one of each
per session; a loopback OAuth 2.0 authorization server. The Hypothesis profile is
loaded here (``support.properties``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from tests.support import properties
from tests.support.engines import postgres_cluster, redis_cluster, redis_server
from tests.support.env import clean_os_environ
from tests.support.paths import FIXTURES

if TYPE_CHECKING:
    from tests.support.oauth_issuer import Issuer

properties.load_profile()


@pytest.fixture
def fixtures_dir() -> Path:
    """The directory of recorded, signed sample deliveries."""
    return FIXTURES


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No ``DESCOPE_AUDIT_*`` variable of the machine in ``os.environ`` for this test; set yours on the result."""
    return clean_os_environ(monkeypatch)


# --- real engines, one of each per test session (tests/support/engines.py) --------------------


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


# --- a real OAuth 2.0 authorization server on loopback (tests/support/oauth_issuer.py) ---------


@pytest.fixture(scope="session")
def oauth_issuer() -> Iterator[Issuer]:
    """A loopback OAuth 2.0 authorization server, shared by the session.

    Tests that change it (rotate its keys, switch to opaque tokens) make their own.
    """
    from tests.support.oauth_issuer import Issuer

    with Issuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def oauth_recipe(oauth_issuer: Issuer) -> ModuleType:
    """docs/oauth.md's JWT validator, examples/oauth_validator.py as written, configured for ``oauth_issuer``."""
    from tests.support.oauth_issuer import load_example

    return load_example("oauth_validator", oauth_issuer.env())
