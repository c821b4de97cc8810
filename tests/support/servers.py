"""Start a real HTTP server on a free loopback port, and stop it: a subprocess, or a WSGI server in a thread.

    with run_server([sys.executable, "-m", "uvicorn", "app:app", "--port", "{port}"], env, cwd) as base_url:
        httpx.post(base_url + "/hook", ...)

``{host}`` and ``{port}`` in ``argv`` are replaced by the chosen address. :func:`serve`
yields a :class:`Server` instead (the process and its captured output), for tests that
also read the server's log or measure the process.

The server's stdout and stderr go to a temporary file, never to a pipe (a full pipe
would block the server); when it fails to start, the tail of that output is in the
exception. Teardown sends SIGTERM to the server's whole process group (gunicorn and
uvicorn workers included), waits, then SIGKILLs whatever is left.

:func:`serving` runs a ``wsgiref`` server of this process in a thread instead (the
reference receiver's own server, a stub endpoint). ``benchmarks/`` starts its servers here
too.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIServer

from .env import clean_env

__all__ = [
    "HOST",
    "Answer",
    "Server",
    "ServerStartError",
    "free_port",
    "get_json",
    "gunicorn_env",
    "request",
    "run_server",
    "serve",
    "serving",
]

HOST = "127.0.0.1"
_TAIL_BYTES = 6000


class ServerStartError(RuntimeError):
    """The server exited, or did not answer in time; the message ends with its output."""


@dataclass(frozen=True)
class Server:
    """A running server: ``url`` is ``http://127.0.0.1:<port>`` (no trailing slash)."""

    url: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far (only inside the ``with`` block)."""
        return self.log_path.read_text("utf-8", errors="replace")


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (the server binds it next; a lost race is retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def gunicorn_env() -> dict[str, str]:
    """The environment that keeps a test's gunicorn out of the user's shared control socket.

    gunicorn >= 27 opens one under ~/.gunicorn, shared by every gunicorn of the user;
    GUNICORN_CMD_ARGS leaves the command line as it is.
    """
    major = int(importlib.metadata.version("gunicorn").split(".")[0])
    return {"GUNICORN_CMD_ARGS": "--no-control-socket"} if major >= 27 else {}


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - _TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


def _answers(host: str, port: int, ready_path: str | None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            pass
    except OSError:
        return False
    if ready_path is None:
        return True
    conn = http.client.HTTPConnection(host, port, timeout=5.0)
    try:
        conn.request("GET", ready_path)
        conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
    return True


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The server runs in its own session, so its process group id is its pid: this
    # reaches gunicorn's and uvicorn's workers too, and nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if hasattr(os, "killpg"):
            os.killpg(process.pid, sig)
        elif process.poll() is None:  # pragma: no cover - not POSIX
            process.send_signal(sig)


def _stop(process: subprocess.Popen[bytes], timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    if process.poll() is None:
        _signal_group(process, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=timeout)
    # Workers that outlived their master would keep the port: make sure none is left, and
    # wait (bounded) until they are really gone, so that the caller starts from a clean slate.
    _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))
    deadline = time.monotonic() + timeout
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies, dead but not yet reaped, do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover - not Linux: signal 0 reaches zombies too, good enough
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError, AttributeError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ..."; comm may hold spaces and parentheses.
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended while we looked
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@contextlib.contextmanager
def serve(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    *,
    ready_path: str | None = None,
    start_timeout: float = 30.0,
    stop_timeout: float = 10.0,
    inherit_env: bool = True,
    attempts: int = 3,
    port: int | None = None,
    user: str | None = None,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> Iterator[Server]:
    """Run ``argv`` as a server on a free loopback port until the ``with`` block ends.

    Ready means: the port accepts a TCP connection and, when ``ready_path`` is given, a
    ``GET`` on it gets any HTTP answer (so an app that fails to import is caught here,
    not in the first test). A port lost to another process between choosing and binding
    is retried up to ``attempts`` times. ``port``: this port, not a free one (to restart
    a server where its clients expect it). ``user``: run as this user (needs root).
    ``stop_signal``: what asks the server to stop (PostgreSQL's fast shutdown is SIGINT).
    """
    fixed = port
    if fixed is not None:
        attempts = 1
    for attempt in range(1, attempts + 1):
        port = fixed if fixed is not None else free_port()
        args = [a.replace("{host}", HOST).replace("{port}", str(port)) for a in argv]
        log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in the finally below
            prefix="server-", suffix=".log", delete=False
        )
        log_path = Path(log_file.name)
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=clean_env(env, inherit=inherit_env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user,
        )
        try:
            deadline = time.monotonic() + start_timeout
            while not _answers(HOST, port, ready_path):
                if process.poll() is not None:
                    output = _tail(log_path)
                    if "in use" in output.lower() and attempt < attempts:
                        break  # lost the port race: try another port
                    raise ServerStartError(
                        f"server exited with code {process.returncode} before answering on port {port}: "
                        f"{args[:4]}...\n--- server output (tail) ---\n{output}"
                    )
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"server did not answer on port {port} within {start_timeout:.0f}s: {args[:4]}...\n"
                        f"--- server output (tail) ---\n{_tail(log_path)}"
                    )
                time.sleep(0.05)
            else:
                yield Server(f"http://{HOST}:{port}", HOST, port, process, log_path)
                return
        finally:
            _stop(process, stop_timeout, stop_signal)
            log_file.close()
            log_path.unlink(missing_ok=True)
    raise ServerStartError(f"no free port after {attempts} attempts")  # pragma: no cover


@contextlib.contextmanager
def run_server(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    *,
    ready_path: str | None = None,
    start_timeout: float = 30.0,
) -> Iterator[str]:
    """Like :func:`serve`, but yields only the base URL, ``http://127.0.0.1:<port>``."""
    with serve(argv, env, cwd, ready_path=ready_path, start_timeout=start_timeout) as server:
        yield server.url


@contextlib.contextmanager
def serving(server: WSGIServer) -> Iterator[int]:
    """Serve ``server`` from a thread of this process; yield its port; shut it down and close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def get_json(url: str) -> Any:
    """``GET url`` and its JSON answer."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@dataclass(frozen=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(url: str, method: str, body: bytes | None, headers: Mapping[str, str]) -> Answer:
    """One request to ``url`` on a fresh connection; the whole answer."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request(method, parts.path, body=body, headers=dict(headers))
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()
