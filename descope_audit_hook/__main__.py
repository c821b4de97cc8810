"""``python -m descope_audit_hook``: the same command line as ``descope-audit-hook``."""

from .cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
