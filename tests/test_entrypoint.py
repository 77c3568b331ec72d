"""The `gld8tr` entry point dispatches to subcommands and turns user errors into exit code 2."""

import subprocess
import sys


def _gld8tr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    res = _gld8tr("--help")
    assert res.returncode == 0
    for name in ("run", "train", "benchmark", "serve", "worker", "models", "view"):
        assert name in res.stdout


def test_unknown_command_exits_2_without_traceback():
    res = _gld8tr("frobnicate")
    assert res.returncode == 2
    assert "unknown command" in res.stderr
    assert "Traceback" not in res.stderr
