"""The ``edge-agent`` command line. Thin: each command group lives in its own module and calls into the stages.

A command module exposes ``register(subparsers, common)`` which adds its sub-commands; each sub-command sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from importlib import import_module

from edge_agent import __version__
from edge_agent.core.cmdline import run
from edge_agent.core.paths import DATA_DIR_ENV, SYSTEM_DATA_DIR

# Command groups, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "edge_agent.cli.device",
    "edge_agent.cli.consent",
    "edge_agent.cli.requests",
    "edge_agent.cli.audit",
    "edge_agent.cli.redact",
    "edge_agent.cli.profile",
    "edge_agent.cli.ui",
)

log = logging.getLogger("edge_agent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-agent",
        description=(
            "Privacy-first doorbell camera agent. Redacts neighbours' property and passers-by on the device, "
            "and shares only what the homeowner consented to, sealed for the crime center."
        ),
    )
    parser.add_argument("--version", action="version", version=f"edge-agent {__version__}")
    parser.add_argument(
        "--data-dir",
        default=None,
        help=f"the device's folder for keys, consent, outbox and logs (default: ${DATA_DIR_ENV}, "
        f"else {SYSTEM_DATA_DIR})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        import_module(name).register(sub)  # a group that fails to import is a broken install: say so, loudly
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
