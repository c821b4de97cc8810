"""Run the command line as a user would: ``python -m descope_audit_hook ...`` in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from .env import clean_env

__all__ = ["CLI", "run_cli", "self_signed"]

CLI = [sys.executable, "-m", "descope_audit_hook"]


def run_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 60,
    inherit: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``descope-audit-hook args`` in a clean environment (plus ``env``); its output decoded.

    ``inherit=False``: only ``env`` (and ``PATH``, ``HOME``, ``LANG``), as a README's commands would run.
    """
    result = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        env=clean_env(env, inherit=inherit),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
    )


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for localhost / 127.0.0.1, made by openssl (Debian has it)."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - openssl ships with Debian and with CI
        pytest.fail("openssl is needed to make the test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
