"""``edge-agent requests`` for neighbours' masking requests (ids ``m-...``): show, mask, decline.

Police requests and masking requests share one inbox for the homeowner (``requests list``); answering a masking
request names the neighbour zone that now covers the property (drawn on the page, or here with ``--points``), or
declines it with a reason. The running agent sends the signed answer with a redacted still.
"""

from __future__ import annotations

import argparse
import json
import time

from edge_agent.cli.common import device_paths, profile_of
from edge_agent.consent import api
from edge_agent.consent.masking_inbox import MaskingEntry
from edge_agent.core.text import shown
from edge_agent.device import homeowner
from edge_agent.errors import ConfigError


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def line(entry: MaskingEntry) -> str:
    req = entry.request
    return (f"{req.id}  {entry.state:8s}  neighbour asks to mask {shown(req.property, 60)!r}"
            f"  answer by {_when(req.respond_by)}")


def show(entry: MaskingEntry, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry.to_dict(), indent=2, sort_keys=True))
        return
    req = entry.request
    print(line(entry))
    print(f"  from center {shown(req.center_id)}, area {shown(req.area) or '(not given)'}, sent {_when(req.issued_at)}")
    print(f"  property: {shown(req.property)}")
    print(f"  what to mask: {shown(req.description) or '(no description)'}")
    if entry.state == "masked":
        sent = "sent" if entry.published else "not sent yet (the running agent sends it with a still)"
        print(f"  masked by zone(s) {', '.join(entry.zones)}; answer {sent}")
    elif entry.state == "declined":
        print(f"  declined: {shown(entry.reason)}")
    elif entry.state == "pending":
        print("  answer: edge-agent requests mask ID --zone NAME [--points 'x,y x,y x,y'], or requests decline ID "
              "--reason TEXT")


def parse_points(text: str) -> list[tuple[float, float]]:
    """``"0.7,0.1 0.95,0.1 0.95,0.5"``: relative 0-1 corners, x right, y down."""
    points = []
    for pair in text.split():
        try:
            x, y = (float(v) for v in pair.split(","))
        except ValueError:
            raise ConfigError(f"--points: {pair!r} is not x,y (relative 0-1, e.g. 0.7,0.1)") from None
        points.append((x, y))
    if len(points) < 3:
        raise ConfigError("--points: a zone needs at least three corners, e.g. '0.7,0.1 0.95,0.1 0.95,0.5'")
    return points


def cmd_mask(args: argparse.Namespace) -> int:
    paths = device_paths(args)
    profile, _ = profile_of(args)
    api.show_masking(paths, args.id)  # a wrong id is named before any zone is drawn
    if args.points:
        zones = homeowner.add_neighbour_zone(paths, profile, args.zone, parse_points(args.points))
        print(f"neighbour zone {args.zone!r} drawn; the running agent masks it from its next frame")
    else:
        zones = homeowner.zones_in_force(paths, profile)
    entry = api.mask_for_neighbour(paths, args.id, [args.zone], zones)
    print(f"answered {entry.id}: masked by {', '.join(entry.zones)}; the running agent sends the signed answer with "
          "a redacted still of your view (the zone black) so the neighbour can see it")
    return 0


def cmd_decline(args: argparse.Namespace) -> int:
    entry = api.decline_masking(device_paths(args), args.id, args.reason)
    print(f"declined {entry.id}: the running agent sends your signed answer and reason to the crime center")
    return 0


def add_commands(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = group.add_parser("mask", help="a neighbour's masking request: mask their property with a neighbour zone")
    p.add_argument("id", help="the masking request (m-...)")
    p.add_argument("--zone", required=True, help="the neighbour zone that covers the property (drawn on the page, "
                   "or new with --points)")
    p.add_argument("--points", help="draw a new neighbour zone: relative corners 'x,y x,y x,y ...' (0-1)")
    p.add_argument("--profile", help="profile name or file (default: the flashed profile)")
    p.set_defaults(func=cmd_mask)
    p = group.add_parser("decline", help="decline a neighbour's masking request, with a reason")
    p.add_argument("id", help="the masking request (m-...)")
    p.add_argument("--reason", required=True, help="why (the neighbour and the center read it)")
    p.set_defaults(func=cmd_decline)
