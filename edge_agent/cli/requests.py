"""``edge-agent requests``: the homeowner's inbox: police requests (list, show, approve, deny) and neighbours'
masking requests (list, show, and :mod:`edge_agent.cli.masking`'s mask and decline)."""

from __future__ import annotations

import argparse
import json
import time

from edge_agent.cli import masking
from edge_agent.cli.common import device_paths
from edge_agent.consent.api import (
    approve_request,
    deny_request,
    list_masking,
    list_requests,
    show_masking,
    show_request,
)
from edge_agent.consent.inbox import InboxEntry
from edge_agent.core.text import shown


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _line(entry: InboxEntry) -> str:
    req = entry.request
    return (f"{req.id}  {entry.state:8s}  case {shown(req.case_id)}  window {_when(req.start)} to {_when(req.end)}"
            f"  expires {_when(req.expires_at)}")


def cmd_list(args: argparse.Namespace) -> int:
    paths = device_paths(args)
    entries = list_requests(paths)
    neighbours = list_masking(paths)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries] + [e.to_dict() for e in neighbours], indent=2,
                         sort_keys=True))
        return 0
    if not entries:
        print("no police requests")
    for entry in entries:
        print(_line(entry))
    for other in neighbours:
        print(masking.line(other))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    if args.id.startswith("m-"):
        masking.show(show_masking(device_paths(args), args.id), args.json)
        return 0
    entry = show_request(device_paths(args), args.id)
    if args.json:
        print(json.dumps(entry.to_dict(), indent=2, sort_keys=True))
        return 0
    req = entry.request
    print(_line(entry))
    print(f"  from center {shown(req.center_id)}, issued {_when(req.issued_at)}")
    print(f"  reason: {shown(req.reason)}")
    print(f"  legal basis: {shown(req.legal_basis) or '(none given)'}")
    if entry.answered_at is not None:
        note = f" ({shown(entry.answer_reason)})" if entry.answer_reason else ""
        print(f"  answered {_when(entry.answered_at)}: {entry.state}{note}")
    if entry.state == "approved":
        sent = f"{len(entry.segments)} segment(s) sent" if entry.published else "not sent yet (the agent sends it)"
        print(f"  {sent}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    entry = approve_request(device_paths(args), args.id)
    print(f"approved {entry.id}: the running agent sends the redacted segments that overlap "
          f"{_when(entry.request.start)} to {_when(entry.request.end)} (whole segments, so up to one segment more "
          f"at each end), and nothing else; revoking consent before they are sent withdraws the approval")
    return 0


def cmd_deny(args: argparse.Namespace) -> int:
    entry = deny_request(device_paths(args), args.id, args.reason or "")
    print(f"denied {entry.id}: the running agent sends the signed denial to the crime center")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser(
        "requests", help="police requests for footage and neighbours' masking requests: list and answer them"
    ).add_subparsers(dest="action", required=True)
    p = group.add_parser("list", help="every request and its state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)
    p = group.add_parser("show", help="one request in full")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show)
    p = group.add_parser("approve", help="share exactly the redacted segments of the request's window")
    p.add_argument("id")
    p.set_defaults(func=cmd_approve)
    p = group.add_parser("deny", help="refuse the request (a signed denial is sent)")
    p.add_argument("id")
    p.add_argument("--reason", help="optional reason sent with the denial")
    p.set_defaults(func=cmd_deny)
    masking.add_commands(group)
