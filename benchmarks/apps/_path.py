"""Puts ``benchmarks/`` on ``sys.path`` so the apps can import ``bench_common``."""

from __future__ import annotations

import sys
from pathlib import Path

__all__: list[str] = []

_HERE = str(Path(__file__).resolve().parent.parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
