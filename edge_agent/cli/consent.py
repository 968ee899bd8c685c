"""``edge-agent consent``: grant live sharing for a bounded time, show it, revoke it at once."""

from __future__ import annotations

import argparse
import time

from edge_agent.cli.device import paths_of
from edge_agent.cli.timeparse import parse_duration, parse_time
from edge_agent.config.loader import load_profile
from edge_agent.consent.audit import AuditLog
from edge_agent.consent.state import ConsentStore, describe, live_record, revoke_record
from edge_agent.errors import ConfigError
from edge_agent.outbox.spool import Outbox
from edge_agent.sharing import drop_live_grants


def cmd_live(args: argparse.Namespace) -> int:
    profile, _ = load_profile(args.profile)
    paths = paths_of(args)
    store = ConsentStore(paths.consent)
    now = time.time()
    if (args.duration is None) == (args.until is None):
        raise ConfigError("say how long: --for DURATION or --until TIME (live sharing is never open-ended)")
    until = now + parse_duration(args.duration) if args.duration else parse_time(args.until, now)
    record = live_record(now, until, store.current(), profile.consent.max_live_hours)
    store.write(record)
    AuditLog(paths.audit).append("consent_change", consent_id=record.id, mode=record.mode,
                                 expires_at=record.expires_at, replaces=record.replaces)
    print(describe(record, now))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    paths = paths_of(args)
    store = ConsentStore(paths.consent)
    record = revoke_record(time.time(), store.current(), args.reason or "")
    store.write(record)
    audit = AuditLog(paths.audit)
    audit.append("consent_change", consent_id=record.id, mode=record.mode, replaces=record.replaces)
    # The daemon also drops them when it sees the change; doing it here covers a daemon that is not running.
    if paths.outbox.exists():
        dropped = drop_live_grants(Outbox(paths.outbox, 1 << 62))
        if dropped:
            audit.append("outbox_revoked", consent_id=record.id, segments=[i.seq for i in dropped])
            print(f"deleted {len(dropped)} waiting segment(s) from the outbox")
    print(describe(record))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    print(describe(ConsentStore(paths_of(args).consent).current()))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    consent = sub.add_parser("consent", help="what the homeowner agrees to share").add_subparsers(
        dest="action", required=True
    )
    p = consent.add_parser("live", help="stream redacted video to the crime center for a bounded time")
    p.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 30m, 2h")
    p.add_argument("--until", metavar="TIME", help="ISO 8601 time or HH:MM")
    p.add_argument("--profile", help="profile whose consent caps apply (default: the embedded default)")
    p.set_defaults(func=cmd_live)
    p = consent.add_parser("revoke", help="stop sharing now and delete waiting segments")
    p.add_argument("--reason", help="optional note for the audit log")
    p.set_defaults(func=cmd_revoke)
    p = consent.add_parser("show", help="the current consent state")
    p.set_defaults(func=cmd_show)
