"""``edge-center`` commands for people at the center: the console, staff accounts, the index, evidence search,
cases, export for court, the access log and the transparency report.

Every look at footage, search and export made here is written to the access log too, under ``cli:<user>``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path

from edge_agent.center import bundle_verifier
from edge_agent.center.db import redact_url, use_database
from edge_agent.center.export import export_case, log_export
from edge_agent.center.index import SearchQuery
from edge_agent.center.index_sync import sync_index
from edge_agent.center.keys import CenterPaths
from edge_agent.center.services import Center, command_line_user
from edge_agent.center.staff import MIN_PASSWORD
from edge_agent.center.transparency import format_report, transparency_report
from edge_agent.core.timeparse import parse_time
from edge_agent.errors import CenterError

log = logging.getLogger(__name__)
SubParsers = argparse._SubParsersAction


def _center(args: argparse.Namespace) -> Center:
    return Center.open(CenterPaths(Path(args.dir)))


def _utc(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# -- console -----------------------------------------------------------------------------------------------------


def cmd_console(args: argparse.Namespace) -> int:
    # The web stack is loaded only for this command: the subscriber and the other commands never need it.
    from edge_agent.center.console import ConsoleContext, ConsoleServer, default_hosts  # noqa: PLC0415
    from edge_agent.center.console.server import parse_listen  # noqa: PLC0415

    if bool(args.tls_cert) != bool(args.tls_key):
        raise CenterError("--tls-cert and --tls-key go together")
    center = _center(args)
    host, _ = parse_listen(args.listen)
    hosts = frozenset(h.lower() for h in args.allowed_host) if args.allowed_host else default_hosts(host)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    server = ConsoleServer(ConsoleContext(center, hosts, secure_cookies=tls is not None), args.listen, tls)
    if not center.staff.members():
        print(f"no staff account yet: edge-center --dir {args.dir} staff add NAME --role operator", file=sys.stderr)
    print(f"console at {server.url} (answers to: {', '.join(sorted(hosts))}); Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    finally:
        center.close()
    return 0


# -- staff ---------------------------------------------------------------------------------------------------------


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password (and whether it was generated, to print it)."""
    if args.generate:
        return secrets.token_urlsafe(15), True
    if args.password_file:
        return Path(args.password_file).read_text(encoding="utf-8").strip(), False
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n"), False
    first = getpass.getpass(f"password (at least {MIN_PASSWORD} characters): ")
    if getpass.getpass("again: ") != first:
        raise CenterError("the two passwords differ")
    return first, False


def cmd_staff_add(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    with _center(args) as center:
        member = center.staff.add(args.name, args.role, password)
        roles = ",".join(sorted(member.roles))
        center.access.append(command_line_user(), "staff_add", detail=f"{member.name}: {roles}")
    print(f"staff account {member.name}: {', '.join(sorted(member.roles))}")
    if generated:
        print(f"password: {password}")
    return 0


def cmd_staff_remove(args: argparse.Namespace) -> int:
    with _center(args) as center:
        center.staff.remove(args.name)
        center.access.append(command_line_user(), "staff_remove", detail=args.name)
    print(f"staff account {args.name} removed; its sessions have ended")
    return 0


def cmd_staff_list(args: argparse.Namespace) -> int:
    with _center(args) as center:
        for m in center.staff.members():
            state = "active" if m.active else f"removed {_utc(m.removed_at)}"
            print(f"{m.name:20} {','.join(sorted(m.roles)):34} {state}")
    return 0


def cmd_staff_password(args: argparse.Namespace) -> int:
    password, generated = _password(args)
    with _center(args) as center:
        center.staff.set_password(args.name, password)
    print(f"new password for {args.name}; its sessions have ended" + (f": {password}" if generated else ""))
    return 0


# -- index, search, cases --------------------------------------------------------------------------------------


def cmd_index_use(args: argparse.Namespace) -> int:
    paths = CenterPaths(Path(args.dir))
    print(f"this center's database: {use_database(paths, args.url)}")
    print(f"fill it from the files with: edge-center --dir {args.dir} index sync")
    return 0


def cmd_index_sync(args: argparse.Namespace) -> int:
    with _center(args) as center:
        report = sync_index(center.paths, center.index)
        print(f"{report.segments} segment(s) and {report.requests} request(s) added to {redact_url(center.db.where)}")
        for path in report.unreadable:
            print(f"  unreadable, left out: {path}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    now = time.time()
    query = SearchQuery(case_id=args.case or "", device_id=args.device or "",
                        start=parse_time(args.start, now) if args.start else None,
                        end=parse_time(args.end, now) if args.end else None, limit=args.limit)
    with _center(args) as center:
        center.access.append(command_line_user(), "search", device_id=query.device_id, start=query.start,
                             end=query.end, case_id=query.case_id, detail="command line")
        result = center.index.search(query)
    for r in result.rows:
        print(f"{r.device_id} #{r.seq}  {_utc(r.start)} +{r.end - r.start:.1f}s  {r.state:7}  {r.consent_id}"
              f"{'  case ' + r.case_id if r.case_id else ''}  {r.device_id}/{r.video}")
    print(f"{result.total} segment(s)" + (f", {len(result.rows)} shown" if result.total > len(result.rows) else ""))
    return 0


def cmd_case_add(args: argparse.Namespace) -> int:
    now = time.time()
    start, end = parse_time(args.start, now), parse_time(args.end, now)
    if not start < end:
        raise CenterError("--end must be after --start")
    with _center(args) as center:
        window = center.index.add_case_window(args.case, device_id=args.device, start=start, end=end,
                                              added_by=command_line_user(), note=args.note or "")
        center.access.append(command_line_user(), "case_window", device_id=args.device, start=start, end=end,
                             case_id=args.case, detail=window.id)
        found = len(center.index.case_segments(args.case))
    print(f"footage of {args.device} {_utc(start)}..{_utc(end)} added to case {args.case} ({found} segment(s) now)")
    return 0


# -- export ------------------------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.output)
    who = command_line_user()
    with _center(args) as center:
        log_export(center, args.case, out.name, exported_by=who)
        result = export_case(center, args.case, out, exported_by=who)
    print(f"case {result.case_id}: {result.segments} segment(s) of {', '.join(result.devices)} in {result.path} "
          f"({result.size / 1e6:.1f} MB); check it with: python3 verify_bundle.py {result.path.name} "
          f"(inside the bundle) or edge-center verify-bundle")
    return 0


def cmd_verify_bundle(args: argparse.Namespace) -> int:
    return bundle_verifier.main([args.bundle])


# -- access log, transparency ---------------------------------------------------------------------------------


def cmd_access_show(args: argparse.Namespace) -> int:
    with _center(args) as center:
        center.access.append(command_line_user(), "read_access_log", detail="command line")
        for e in reversed(center.access.entries(limit=args.limit, staff=args.staff or "", case_id=args.case or "",
                                                action=args.action_filter or "")):
            window = f"{_utc(e.start)}..{_utc(e.end)}" if e.start is not None else ""
            print(f"{e.seq:6} {_utc(e.time)} {e.staff:16} {e.action:15} {e.device_id:14} {window:42} {e.case_id:12}"
                  f" {e.detail}")
    return 0


def cmd_access_verify(args: argparse.Namespace) -> int:
    with _center(args) as center:
        check = center.access.verify()
    if check.ok:
        print(f"OK: {check.count} entries, chain intact, newest hash {check.head}")
        return 0
    print(f"FAILED after {check.count} good entries: {check.problem}")
    return 1


def cmd_transparency(args: argparse.Namespace) -> int:
    with _center(args) as center:
        report = transparency_report(center.paths, center.index, center.access, months=args.months)
    if args.json:
        print(json.dumps({**asdict(report), "months": [asdict(m) for m in report.months]}, indent=2))
    else:
        print(format_report(report))
    return 0


def _parser(sub: SubParsers[argparse.ArgumentParser], name: str, text: str, func: object) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=text, description=text)
    p.set_defaults(func=func)
    return p


def _password_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--password-file", metavar="FILE", help="read the password from FILE (else asked, or from stdin)")
    p.add_argument("--generate", action="store_true", help="make a random password and print it once")


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    p = _parser(sub, "console", "serve the staff console (live wall, evidence, requests, access log)", cmd_console)
    p.add_argument("--listen", default="127.0.0.1:8090", metavar="ADDR:PORT", help="default: 127.0.0.1:8090")
    p.add_argument("--allowed-host", action="append", metavar="NAME",
                   help="a name browsers use for the console (repeatable; default: this machine's own names)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (cookies then TLS-only)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")

    staff = sub.add_parser("staff", help="console accounts").add_subparsers(dest="action", required=True)
    p = _parser(staff, "add", "add an account (roles: operator, investigator, auditor)", cmd_staff_add)
    p.add_argument("name")
    p.add_argument("--role", action="append", required=True, help="operator, investigator or auditor (repeatable)")
    _password_args(p)
    p = _parser(staff, "remove", "remove an account (its sessions end at once)", cmd_staff_remove)
    p.add_argument("name")
    _parser(staff, "list", "list the accounts", cmd_staff_list)
    p = _parser(staff, "password", "set a new password (the account's sessions end)", cmd_staff_password)
    p.add_argument("name")
    _password_args(p)

    index = sub.add_parser("index", help="the evidence index (SQLite, or PostgreSQL)").add_subparsers(
        dest="action", required=True)
    p = _parser(index, "use", "use PostgreSQL (URL) or SQLite ('sqlite') for the index, staff and access log",
                cmd_index_use)
    p.add_argument("url", metavar="URL", help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE, or sqlite")
    _parser(index, "sync", "add to the index what the store holds and it lacks", cmd_index_sync)

    p = _parser(sub, "search", "find stored segments by case, device and time", cmd_search)
    p.add_argument("--case")
    p.add_argument("--device")
    p.add_argument("--start", metavar="TIME")
    p.add_argument("--end", metavar="TIME")
    p.add_argument("--limit", type=int, default=200)

    case = sub.add_parser("case", help="cases").add_subparsers(dest="action", required=True)
    p = _parser(case, "add", "attach a window of a device's footage (e.g. live) to a case", cmd_case_add)
    p.add_argument("case", metavar="CASE")
    p.add_argument("--device", required=True)
    p.add_argument("--start", required=True, metavar="TIME")
    p.add_argument("--end", required=True, metavar="TIME")
    p.add_argument("--note")

    p = _parser(sub, "export", "write a case's evidence bundle for court (verifiable offline)", cmd_export)
    p.add_argument("--case", required=True)
    p.add_argument("-o", "--output", required=True, metavar="BUNDLE.zip")
    p = _parser(sub, "verify-bundle", "check a case bundle as a court would (offline, no keys)", cmd_verify_bundle)
    p.add_argument("bundle", metavar="BUNDLE.zip")

    access = sub.add_parser("access-log", help="who looked at what").add_subparsers(dest="action", required=True)
    p = _parser(access, "show", "the newest entries", cmd_access_show)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--staff")
    p.add_argument("--case")
    p.add_argument("--action", dest="action_filter")
    _parser(access, "verify", "check the access log's hash chain", cmd_access_verify)

    p = _parser(sub, "transparency", "monthly figures: footage received, requests, looks", cmd_transparency)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--json", action="store_true")
