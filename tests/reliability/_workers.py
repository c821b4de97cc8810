"""Code run in child processes (multiprocessing with spawn imports it by module name)."""

from __future__ import annotations

import json
from typing import Any

from descope_audit_hook import SQLiteDedupeStore, Verifier, exactly_once

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
            batch = verifier.verify(body, headers)
            with exactly_once(batch, store) as new:
                handled.extend(event.fingerprint for event in new)
                duplicates += new.duplicates
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"handled": handled, "duplicates": duplicates}, out)


def claim_keys(db_path: str, keys: list[str], barrier: Any, out_path: str) -> None:
    """Claim each key on its own (maximum contention); write the keys this process won."""
    won: list[str] = []
    with SQLiteDedupeStore(db_path, timeout=60) as store:
        barrier.wait(60)
        for key in keys:
            if store.claim([key]) == [True]:
                won.append(key)
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump(won, out)
