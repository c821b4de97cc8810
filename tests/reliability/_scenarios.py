"""Deliveries raced by worker threads and processes over a store; threads and processes started at once."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from descope_audit_hook import DedupeStore, Verifier, exactly_once
from descope_audit_hook.testing import Delivery
from tests.support.secrets import HMAC_SECRET

__all__ = ["Outcome", "run_concurrently", "run_threads", "spawn_all"]


@dataclass
class Outcome:
    handled: Counter[str] = field(default_factory=Counter)
    delivered_events: int = 0
    duplicates: int = 0
    in_progress: int = 0
    failures: int = 0
    errors: list[BaseException] = field(default_factory=list)


class _InjectedFailure(Exception):
    pass


def run_concurrently(
    store_for_worker: Callable[[int], DedupeStore],
    deliveries: list[Delivery],
    *,
    workers: int,
    fail_every: int = 0,
    seed: int = 7,
) -> Outcome:
    """Every worker thread delivers every delivery (in its own order) at the same time.

    The handler commits a batch's events under a lock only when it does not fail; with
    ``fail_every`` = n, every n-th handler call raises before committing and the worker
    redelivers, as the sender would after a 5xx. A delivery with events in progress
    elsewhere is delivered again too (the adapters will answer it 503).
    """
    verifier = Verifier(HMAC_SECRET)
    outcome = Outcome()
    lock = threading.Lock()
    calls = [0]
    barrier = threading.Barrier(workers)

    def handler(events: list[str]) -> None:
        with lock:
            calls[0] += 1
            fail = fail_every > 0 and calls[0] % fail_every == 0
            if fail:
                outcome.failures += 1
            else:
                outcome.handled.update(events)
        if fail:
            raise _InjectedFailure

    def worker(index: int) -> None:
        try:
            store = store_for_worker(index)
            order = list(deliveries)
            random.Random(seed + index).shuffle(order)  # noqa: S311 - test data
            barrier.wait(30)
            for body, headers in order:
                while True:
                    batch = verifier.verify(body, headers)
                    try:
                        with exactly_once(batch, store) as new:
                            assert new.body == batch.body
                            assert new.signed_form == batch.signed_form
                            handler([event.fingerprint for event in new])
                    except _InjectedFailure:
                        continue  # the sender got a 5xx and redelivers
                    with lock:
                        outcome.delivered_events += len(batch)
                        outcome.duplicates += new.duplicates
                        outcome.in_progress += new.in_progress
                    if new.in_progress:
                        time.sleep(0.001)  # another worker holds some: redeliver once it is done
                        continue
                    break
        except BaseException as exc:
            with lock:
                outcome.errors.append(exc)

    run_threads(worker, workers, "delivery")
    return outcome


def run_threads(target: Callable[[int], None], count: int, name: str) -> None:
    """Run ``target(index)`` in ``count`` threads at once; wait (bounded) until all end; fail if one hung."""
    threads = [threading.Thread(target=target, args=(i,), name=f"{name}-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads), f"a {name} thread hung"


def spawn_all(target: Callable[..., None], args_for: Callable[[int, object], tuple[object, ...]], count: int) -> None:
    """Start ``count`` processes (spawn) of ``target(*args_for(index, barrier))``; wait until all exit 0."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(count)
    processes = [ctx.Process(target=target, args=args_for(i, barrier), daemon=True) for i in range(count)]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
        assert [p.exitcode for p in processes] == [0] * count
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5)
