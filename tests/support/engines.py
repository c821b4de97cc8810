"""Real Redis and PostgreSQL servers for the tests: throw-away, on free loopback ports.

    with redis_server() as server:                  # redis-server, no persistence
        redis.Redis(server.host, server.port)
    with redis_cluster() as nodes:                  # three masters, all 16384 slots
        RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes])
    with postgres_cluster() as cluster, cluster.running() as pg:   # initdb'd in a temp dir
        psycopg.connect(pg.dsn)

Session-scoped fixtures over them are in tests/conftest.py (``redis_url``,
``redis_cluster_nodes``, ``postgres_dsn``); a test that stops or restarts a server
starts its own. PostgreSQL refuses to run as root: as root the cluster belongs to the
``postgres`` system user (Debian's package creates it; else ``nobody``), and the
server and ``initdb`` run as that user. An engine that is not installed skips its
tests, or fails them when ``CI=true`` (``scripts/test`` installs them with apt-get).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support.servers import Server, free_port, serve

__all__ = [
    "PostgresCluster",
    "PostgresServer",
    "postgres_cluster",
    "redis_cluster",
    "redis_server",
    "require_engine",
]


def require_engine(found: bool, message: str) -> None:
    """Skip the test when an engine is missing; fail it when ``CI=true``."""
    if found:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing engine fails)")
    pytest.skip(message)


# --- Redis -----------------------------------------------------------------------------------


def _redis_argv(*extra: str) -> list[str]:
    require_engine(
        shutil.which("redis-server") is not None,
        "redis-server is not installed (apt-get install redis-server; scripts/test does it)",
    )
    return ["redis-server", "--bind", "{host}", "--port", "{port}", "--save", "", "--appendonly", "no", *extra]


@contextlib.contextmanager
def redis_server(*extra: str, port: int | None = None) -> Iterator[Server]:
    """A redis-server without persistence; ``extra`` are more ``--option value`` arguments."""
    with serve(_redis_argv(*extra), port=port) as server:
        yield server


@contextlib.contextmanager
def redis_cluster(masters: int = 3) -> Iterator[list[tuple[str, int]]]:
    """``masters`` redis-servers in cluster mode, sharing the 16384 slots; yields their addresses."""
    require_engine(shutil.which("redis-cli") is not None, "redis-cli is not installed (apt-get install redis-tools)")
    with tempfile.TemporaryDirectory(prefix="redis-cluster-") as workdir, contextlib.ExitStack() as stack:
        nodes: list[tuple[str, int]] = []
        for index in range(masters):
            # The cluster bus gets its own free port (the default, port + 10000, may be taken).
            extra = ["--cluster-enabled", "yes", "--cluster-port", str(free_port()), "--dir", workdir]
            extra += ["--cluster-config-file", f"nodes-{index}.conf", "--cluster-node-timeout", "5000"]
            server = stack.enter_context(redis_server(*extra))
            nodes.append((server.host, server.port))
        create = ["redis-cli", "--cluster", "create", *[f"{h}:{p}" for h, p in nodes]]
        create += ["--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        _wait_for_cluster(nodes)
        yield nodes


def _wait_for_cluster(nodes: list[tuple[str, int]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for host, port in nodes:
            info = subprocess.run(
                ["redis-cli", "-h", host, "-p", str(port), "cluster", "info"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            states.append("cluster_state:ok" in info)
        if all(states):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Redis cluster did not become ready: {states}")
        time.sleep(0.1)


# --- PostgreSQL ------------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    """Debian's newest /usr/lib/postgresql/N/bin, else wherever ``postgres`` is on the PATH."""
    versions = []
    for candidate in Path("/usr/lib/postgresql").glob("*/bin/postgres"):
        match = re.fullmatch(r"\d+", candidate.parent.parent.name)
        if match:
            versions.append((int(match.group()), candidate.parent))
    if versions:
        return max(versions)[1]
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def _unprivileged_user() -> str | None:
    """None when not root; else the user the cluster runs as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists")


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL: connect with ``dsn`` (superuser ``postgres``, trust authentication)."""

    host: str
    port: int
    dsn: str
    server: Server


@dataclass(frozen=True)
class PostgresCluster:
    """An initdb'd data directory; :meth:`running` starts a server on it (again after a stop)."""

    bindir: Path
    root: Path
    user: str | None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @contextlib.contextmanager
    def running(self, port: int | None = None) -> Iterator[PostgresServer]:
        """The server on ``port`` (a free one by default) until the block ends (fast shutdown)."""
        argv = [str(self.bindir / "postgres"), "-D", str(self.datadir), "-k", str(self.root), "-h", "{host}"]
        argv += ["-p", "{port}", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        argv += ["-c", "max_connections=200", "-c", "log_min_messages=warning"]
        with serve(argv, cwd=self.root, port=port, user=self.user, stop_signal=signal.SIGINT) as server:
            dsn = f"host={server.host} port={server.port} user=postgres dbname=postgres connect_timeout=5"
            _wait_for_postgres(dsn, server)
            yield PostgresServer(server.host, server.port, dsn, server)


def _wait_for_postgres(dsn: str, server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(dsn).close()
            return
        except psycopg.OperationalError:
            # "the database system is starting up" until recovery ends
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not accept connections:\n" + server.output()[-3000:]) from None
            time.sleep(0.05)


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throw-away cluster in a temp dir (``initdb``), owned by an unprivileged user when run as root."""
    bindir = _postgres_bindir()
    require_engine(
        bindir is not None and (bindir / "initdb").exists(),
        "PostgreSQL is not installed (apt-get install postgresql; scripts/test does it)",
    )
    assert bindir is not None
    user = _unprivileged_user()
    # Not under pytest's tmp_path: its parents are private to root, and the server's user must reach it.
    root = Path(tempfile.mkdtemp(prefix="descope-pg-"))
    try:
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        initdb = [str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        initdb += ["--no-sync", "--no-instructions"]
        subprocess.run(initdb, check=True, capture_output=True, timeout=120, cwd=root, user=user)
        yield PostgresCluster(bindir, root, user)
    finally:
        shutil.rmtree(root, ignore_errors=True)
