"""The command line as a whole: help, usage and version; the console script and ``python -m``."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from descope_audit_hook.cli import main
from tests.support.cli import run_cli

COMMANDS = ("send", "sign", "verify", "serve", "demo")


def test_top_level_help_lists_every_command() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run_cli([command, "--help"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: descope-audit-hook {command}")


def test_no_command_is_bad_usage() -> None:
    result = run_cli([])
    assert result.returncode == 2
    assert result.stderr == (
        "descope-audit-hook: error: the following arguments are required: COMMAND (see 'descope-audit-hook --help')\n"
    )
    assert result.stdout == ""


def test_unknown_option_is_bad_usage() -> None:
    result = run_cli(["send", "http://127.0.0.1:9/", "--no-such-option"])
    assert result.returncode == 2
    assert "unrecognized arguments: --no-such-option" in result.stderr


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0
    assert result.stdout.startswith("descope-audit-hook ")


def test_the_console_script_and_python_m_run_the_cli_package() -> None:
    (script,) = entry_points(group="console_scripts", name="descope-audit-hook")
    assert script.value == "descope_audit_hook.cli:main"
    assert script.load() is main
    import descope_audit_hook.__main__ as dunder_main

    assert vars(dunder_main)["main"] is main
    installed = Path(sys.executable).parent / "descope-audit-hook"
    done = subprocess.run([str(installed), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("descope-audit-hook ")
