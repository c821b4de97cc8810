"""Part (d): each adapter under a real server, against the same route without verification.

Each framework app in ``apps/`` has ``/verified`` (the adapter: body read, every check,
typed events) and ``/plain`` (the body read and ``json.loads``-ed by the view itself).
One server process per framework (uvicorn for FastAPI and Starlette, gunicorn with one
gthread worker for Flask and Django) serves both; keep-alive ``http.client`` clients in
threads of this process post the same signed 100-event body for ``duration`` seconds,
alternating plain and verified ``rounds`` times; the best requests/s of each is kept.
Every answer must be 200, or the benchmark stops.
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import bench_common as common

from tests.support.servers import HOST, gunicorn_env, serve

__all__ = ["load", "section_servers", "serving"]

APPS = Path(__file__).resolve().parent / "apps"


def _command(framework: str) -> list[str]:
    python = sys.executable
    if framework in ("fastapi", "starlette"):
        return [
            python, "-m", "uvicorn", f"{framework}_bench:app", "--app-dir", str(APPS),
            "--host", "{host}", "--port", "{port}", "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    module = {"flask": "flask_bench:app", "django": "django_bench:application"}[framework]
    return [
        python, "-m", "gunicorn", module, "--chdir", str(APPS), "--bind", "{host}:{port}",
        "--workers", "1", "--worker-class", "gthread", "--threads", "4", "--log-level", "warning",
    ]  # fmt: skip


@contextlib.contextmanager
def serving(framework: str) -> Iterator[int]:
    """The framework's bench app on a free loopback port (tests/support/servers.py starts and stops it)."""
    with serve(_command(framework), gunicorn_env(), APPS) as server:
        yield server.port


def load(port: int, path: str, body: bytes, headers: Mapping[str, str], *, duration: float, connections: int) -> float:
    """Requests per second over ``duration`` seconds from ``connections`` keep-alive clients."""
    counts = [0] * connections
    errors: list[str] = []
    start_line = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def client(slot: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            start_line.wait()
            while time.perf_counter() < stop_at[0] and not errors:
                conn.request("POST", path, body, dict(headers))
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{path}: HTTP {response.status}")
                    return
                counts[slot] += 1
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{path}: {type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(connections)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + duration
    start_line.wait()
    for thread in threads:
        thread.join(duration + 60)
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / elapsed


def section_servers(frameworks: Sequence[str], *, duration: float, rounds: int, connections: int) -> None:
    print("\n== servers: requests/s with the adapter vs the same route reading and parsing the body itself ==")
    body, headers = common.make_body(common.events(100), "raw")
    headers = dict(headers, Connection="keep-alive")
    print(
        f"   {len(body) / 1024:.1f} KB body, {connections} keep-alive clients (threads), "
        f"{rounds} x {duration:g} s per route, alternating, best kept"
    )
    for framework in frameworks:
        with serving(framework) as port:
            for path in ("/plain", "/verified"):  # warm up both routes (imports, first requests)
                load(port, path, body, headers, duration=min(0.2, duration), connections=1)
            best = {"/plain": 0.0, "/verified": 0.0}
            for round_ in range(rounds):
                order = ("/plain", "/verified") if round_ % 2 == 0 else ("/verified", "/plain")
                for path in order:
                    rate = load(port, path, body, headers, duration=duration, connections=connections)
                    best[path] = max(best[path], rate)
        ratio = best["/verified"] / best["/plain"]
        server = "uvicorn" if framework in ("fastapi", "starlette") else "gunicorn gthread"
        print(
            f"  {framework:<10} ({server:<16})"
            f" plain {best['/plain']:7.1f} req/s  verified {best['/verified']:7.1f} req/s"
            f"  ratio {ratio:5.2f}x  target >= 0.9x  {'met' if ratio >= 0.9 else 'MISSED'}"
        )
