"""``edge-agent ui``: the homeowner's web page on the local network, and pairing a browser with it."""

from __future__ import annotations

import argparse
import getpass
import logging
import time

from edge_agent.cli.common import device_paths, paths_of, profile_of
from edge_agent.errors import ConfigError
from edge_agent.ui.access import AccessStore
from edge_agent.ui.listen import DEFAULT_LISTEN

log = logging.getLogger(__name__)


def cmd_serve(args: argparse.Namespace) -> int:
    # The web stack is loaded here, not when the command line is built: `edge-agent run` never needs it.
    from edge_agent.ui.context import UiContext  # noqa: PLC0415
    from edge_agent.ui.feed import SourceFeed  # noqa: PLC0415
    from edge_agent.ui.server import UiServer  # noqa: PLC0415

    paths = device_paths(args)
    profile, _ = profile_of(args)
    context = UiContext(paths, profile, None, any_network=args.any_network)
    context.feed = SourceFeed(profile, context.zones.load(), args.source).start()
    server = UiServer(context, args.listen)
    print(f"homeowner page on {server.url} (pair a browser: edge-agent --data-dir {paths.root} ui pair)")
    try:
        server.serve_forever()
    finally:
        context.feed.close()
    return 0


def cmd_pair(args: argparse.Namespace) -> int:
    code = AccessStore(paths_of(args).root).new_code()
    end = time.strftime("%H:%M", time.localtime(code.expires_at))
    print(f"pairing code: {code.display}  (type it on the page; it works once, until {end})")
    return 0


def cmd_password(args: argparse.Namespace) -> int:
    first = getpass.getpass("new page password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigError("the two passwords differ; nothing changed")
    AccessStore(paths_of(args).root).set_password(first)
    print("page password set")
    return 0


def cmd_unpair(args: argparse.Namespace) -> int:
    AccessStore(paths_of(args).root).unpair_all()
    print("every paired browser is signed out; restart the page (edge-agent ui) for it to take effect")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ui", help="the homeowner's web page (local network only)")
    p.add_argument("--listen", default=DEFAULT_LISTEN, metavar="ADDR:PORT",
                   help=f"where to serve (default {DEFAULT_LISTEN}; only local-network clients are answered)")
    p.add_argument("--profile", help="profile name or file (default: the flashed profile)")
    p.add_argument("--profile-root", help="use the flashed, signature-checked profile under this folder")
    p.add_argument("--source", help="camera source for the live view (default: the profile's camera.source)")
    p.add_argument("--any-network", action="store_true",
                   help="also answer clients outside loopback/private/link-local addresses (not recommended)")
    p.set_defaults(func=cmd_serve)
    actions = p.add_subparsers(dest="ui_action", metavar="ACTION")
    a = actions.add_parser("pair", help="show a one-time code that pairs one browser with the page")
    a.set_defaults(func=cmd_pair)
    a = actions.add_parser("password", help="set a page password (instead of pairing codes)")
    a.set_defaults(func=cmd_password)
    a = actions.add_parser("unpair", help="sign out every paired browser")
    a.set_defaults(func=cmd_unpair)
