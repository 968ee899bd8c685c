"""The command lines end quietly when their reader goes away (``edge-agent profile schema | head``)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("command", [["profile", "schema"], ["profile", "show", "--effective", "pi4-cam3"]])
def test_closed_pipe_gives_no_traceback(command: list[str]) -> None:
    # `head -c 1` closes the pipe after one byte while the command is still printing.
    shell = f"{sys.executable} -m edge_agent {' '.join(command)} | head -c 1 >/dev/null"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], check=False, capture_output=True, text=True,
                            timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    assert "BrokenPipe" not in result.stderr
    assert result.returncode in (0, 141), result.stderr


def test_every_command_group_is_there() -> None:
    """A group whose module fails to import is not silently left out of --help."""
    out = subprocess.run([sys.executable, "-m", "edge_agent", "--help"], capture_output=True, text=True, check=True)
    for group in ("keys", "run", "status", "consent", "requests", "audit", "redact", "profile", "provision", "ui"):
        assert group in out.stdout
