"""Puts ``benchmarks/`` on ``sys.path`` for ``bench_common``, and the repository for ``tests.support``.

The repository goes last: the library measured is the one first on the path (``PYTHONPATH``).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__: list[str] = []

_HERE = Path(__file__).resolve().parent.parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))
if str(_HERE.parent) not in sys.path:
    sys.path.append(str(_HERE.parent))
