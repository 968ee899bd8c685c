"""``edge-center public``: the public transparency page (serve, export its signed JSON) and what it says."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge_agent.center.keys import CenterPaths
from edge_agent.center.public_figures import configure, public_report, signed_report
from edge_agent.core.files import atomic_write
from edge_agent.errors import CenterError


def _paths(args: argparse.Namespace) -> CenterPaths:
    return CenterPaths(Path(args.dir))


def cmd_serve(args: argparse.Namespace) -> int:
    # The web stack is loaded here only: no other center command needs it.
    from edge_agent.center.public_page import serve  # noqa: PLC0415

    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise CenterError(f"--listen {args.listen!r}: expected ADDR:PORT, e.g. 127.0.0.1:8090")
    serve(_paths(args), host.strip("[]") or "127.0.0.1", int(port), args.host or (), args.behind_proxy)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    paths = _paths(args)
    signed = signed_report(paths, public_report(paths, months=args.months))
    atomic_write(Path(args.output), signed, mode=0o644)
    print(f"signed transparency report written to {args.output} (check it with center.pub.json)")
    return 0


def cmd_configure(args: argparse.Namespace) -> int:
    current = configure(_paths(args), name=args.name or "", operator=args.operator or "",
                        retention=args.retention or "", contact=args.contact or "")
    for key, value in sorted(current.items()):
        print(f"{key}: {value}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("public", help="the public transparency page and the neighbours' opt-out").add_subparsers(
        dest="action", required=True)
    p = group.add_parser("serve", help="serve the public page (put it behind the center's TLS proxy)")
    p.add_argument("--listen", default="127.0.0.1:8090", metavar="ADDR:PORT")
    p.add_argument("--host", action="append", metavar="NAME",
                   help="a public name the page answers to (repeat); any other Host header is refused")
    p.add_argument("--behind-proxy", action="store_true",
                   help="one TLS proxy in front sets X-Forwarded-For/-Proto/-Host: trust them (the ask limit is per "
                        "client address)")
    p.set_defaults(func=cmd_serve)
    p = group.add_parser("export", help="write the signed transparency report (JSON) to a file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--months", type=int, default=12)
    p.set_defaults(func=cmd_export)
    p = group.add_parser("configure", help="what the page says about the program and its retention")
    p.add_argument("--name")
    p.add_argument("--operator")
    p.add_argument("--retention", help="how long the center keeps shared video, in words")
    p.add_argument("--contact")
    p.set_defaults(func=cmd_configure)
