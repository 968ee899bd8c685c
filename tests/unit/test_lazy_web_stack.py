"""The daemon's process never loads the web stack unless the page is on: flask, werkzeug and jinja2 cost about
8 MB of a Pi's memory. Checked in a fresh interpreter (the test process itself has them loaded)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import edge_agent.cli
import edge_agent.device.daemon
edge_agent.cli.build_parser()
from edge_agent.ui.access import AccessStore
from edge_agent.ui.listen import DEFAULT_LISTEN
loaded = sorted(m for m in ("flask", "werkzeug", "jinja2") if m in sys.modules)
print(",".join(loaded) or "none")
"""


def test_command_line_and_agent_do_not_load_flask() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none"


def test_the_page_still_loads_it_when_asked() -> None:
    code = "import sys; from edge_agent.ui import UiServer; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_the_centers_command_line_loads_it_only_for_the_public_page() -> None:
    code = ("import sys; import edge_agent.center.cli as c; c.build_parser(); import edge_agent.center.subscriber; "
            "print('flask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
