"""The ``edge-agent`` command line. Thin: each command group lives in its own module and calls into the stages.

A command module exposes ``register(subparsers, common)`` which adds its sub-commands; each sub-command sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from edge_agent import __version__
from edge_agent.errors import EdgeAgentError

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
        default="edge-data",
        help="folder for keys, consent, outbox and logs (default: ./edge-data)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except EdgeAgentError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)
