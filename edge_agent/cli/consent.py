"""``edge-agent consent``: live sharing for a bounded time, on-request mode, show, and revoke at once."""

from __future__ import annotations

import argparse
import time

from edge_agent.cli.common import device_paths, profile_of
from edge_agent.consent.api import consent_status
from edge_agent.core.timeparse import parse_duration, parse_time
from edge_agent.device.homeowner import ConsentChange, grant_live, revoke, set_on_request
from edge_agent.errors import ConfigError


def _report(change: ConsentChange) -> int:
    if change.outbox_dropped:
        print(f"deleted {change.outbox_dropped} waiting segment(s) from the outbox")
    for request_id in change.withdrawn:
        print(f"withdrew request {request_id}: it was approved but not delivered yet, and nothing of it is sent")
    print(change.summary)
    if change.published:
        print("the crime center's broker now shows this consent state")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    profile, _ = profile_of(args)
    now = time.time()
    if (args.duration is None) == (args.until is None):
        raise ConfigError("say how long: --for DURATION or --until TIME (live sharing is never open-ended)")
    until = now + parse_duration(args.duration) if args.duration else parse_time(args.until, now)
    return _report(grant_live(device_paths(args), profile, until=until, daily=args.daily or "", now=now))


def cmd_on_request(args: argparse.Namespace) -> int:
    profile, _ = profile_of(args)
    return _report(set_on_request(device_paths(args), profile))


def cmd_revoke(args: argparse.Namespace) -> int:
    profile, _ = profile_of(args)
    return _report(revoke(device_paths(args), profile, args.reason or ""))


def cmd_show(args: argparse.Namespace) -> int:
    status = consent_status(device_paths(args))
    print(status.summary)
    if status.pending_requests:
        print(f"{status.pending_requests} police request(s) wait for your answer: edge-agent requests list")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = sub.add_parser("consent", help="what the homeowner agrees to share").add_subparsers(
        dest="action", required=True
    )
    p = consent.add_parser("live", help="stream redacted video to the crime center for a bounded time")
    p.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 30m, 2h")
    p.add_argument("--until", metavar="TIME", help="ISO 8601 time or HH:MM")
    p.add_argument("--daily", metavar="HH:MM-HH:MM", help="only within these hours each day (local time)")
    p.add_argument("--profile", help="profile whose consent caps apply (default: the flashed profile)")
    p.set_defaults(func=cmd_live)
    p = consent.add_parser("on-request", help="stream nothing; answer each police request yourself")
    p.add_argument("--profile", help="profile whose topic prefix applies (default: the flashed profile)")
    p.set_defaults(func=cmd_on_request)
    p = consent.add_parser("revoke", help="stop sharing now and delete waiting segments (consent off)")
    p.add_argument("--reason", help="optional note for the audit log")
    p.add_argument("--profile", help="profile whose topic prefix applies (default: the flashed profile)")
    p.set_defaults(func=cmd_revoke)
    p = consent.add_parser("off", help="the same as revoke")
    p.add_argument("--reason", help="optional note for the audit log")
    p.add_argument("--profile", help="profile whose topic prefix applies (default: the flashed profile)")
    p.set_defaults(func=cmd_revoke)
    p = consent.add_parser("show", help="the current consent state")
    p.set_defaults(func=cmd_show)
