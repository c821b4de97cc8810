"""Code run in child processes (multiprocessing with spawn imports it by module name)."""

from __future__ import annotations

import json
import os
from typing import Any

from descope_audit_hook import ClaimState, SQLiteDedupeStore, Verifier, exactly_once

from ._stores import StoreSpec, build_store

__all__ = ["claim_keys", "handle_deliveries"]


def handle_deliveries(
    db_path: str, secret: str, deliveries: list[tuple[bytes, dict[str, str]]], barrier: Any, out_path: str
) -> None:
    """Verify each delivery and run it through exactly_once; write what reached the handler."""
    verifier = Verifier(secret)
    handled: list[str] = []
    duplicates = 0
    with SQLiteDedupeStore(db_path, timeout=60) as store:
        barrier.wait(60)
        for body, headers in deliveries:
            while True:
                batch = verifier.verify(body, headers)
                with exactly_once(batch, store) as new:
                    handled.extend(event.fingerprint for event in new)
                if not new.in_progress:  # else another process holds some: deliver again
                    duplicates += new.duplicates
                    break
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"handled": handled, "duplicates": duplicates}, out)


def claim_keys(spec: StoreSpec, keys: list[str], barrier: Any, out_path: str) -> None:
    """Claim each key on its own (maximum contention); write the keys this process won."""
    won: list[str] = []
    store, close = build_store(spec)
    try:
        barrier.wait(60)
        for key in keys:
            if store.claim([key], f"owner-{os.getpid()}") == [ClaimState.CLAIMED]:
                won.append(key)
    finally:
        close()
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(won, out)
