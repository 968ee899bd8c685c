"""``edge-agent audit show|verify`` and ``edge-agent transparency``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from edge_agent.cli.common import device_paths
from edge_agent.consent.api import audit_entries, verify_audit
from edge_agent.consent.transparency import format_report, transparency_report
from edge_agent.core.timeparse import parse_time

_SKIP = {"seq", "time", "kind", "prev", "hash"}


def cmd_show(args: argparse.Namespace) -> int:
    entries = audit_entries(device_paths(args))
    if args.json:
        print(json.dumps(entries, indent=2, sort_keys=True))
        return 0
    for entry in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(str(entry.get("time", 0)))))
        rest = " ".join(f"{k}={json.dumps(v)}" for k, v in sorted(entry.items()) if k not in _SKIP)
        print(f"{entry.get('seq'):>6} {when} {entry.get('kind')} {rest}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    result = verify_audit(device_paths(args))
    if result.ok:
        print(f"OK: {result.count} entries, chain intact, last hash {result.last_hash[:16]}")
        return 0
    print(f"FAILED at entry {result.bad_seq}: {result.problem}", file=sys.stderr)
    return 1


def cmd_transparency(args: argparse.Namespace) -> int:
    now = time.time()
    start = parse_time(args.since, now) if args.since else None
    end = parse_time(args.until, now) if args.until else None
    report = transparency_report(device_paths(args), start, end, now)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(format_report(report)))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("audit", help="the append-only, hash-chained audit log").add_subparsers(
        dest="action", required=True
    )
    p = group.add_parser("show", help="every entry")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_show)
    p = group.add_parser("verify", help="check the chain; exits 1 naming the first bad entry")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("transparency", help="what was shared and requested (default: the last 30 days)")
    p.add_argument("--since", metavar="TIME", help="start of the range (ISO 8601)")
    p.add_argument("--until", metavar="TIME", help="end of the range (ISO 8601; default: now)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_transparency)
