"""The ``edge-center`` command line: keys, the device allow-list, and the subscriber."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from edge_agent import __version__
from edge_agent.center.cli_console import register as register_console
from edge_agent.center.config import broker_for, load_settings, save_settings
from edge_agent.center.devices import device_statuses, withdraw_device
from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.center.neighbours_cli import register as register_neighbours
from edge_agent.center.places import Places, parse_point
from edge_agent.center.public_cli import register as register_public
from edge_agent.center.requests import register as register_requests
from edge_agent.center.services import Center, command_line_user
from edge_agent.center.subscriber import SubscribeOptions, run_subscriber
from edge_agent.center.verify import verify_store
from edge_agent.config.models import CenterSettings, TlsSettings
from edge_agent.core.cmdline import run
from edge_agent.errors import CenterError


def _paths(args: argparse.Namespace) -> CenterPaths:
    return CenterPaths(Path(args.dir))


def cmd_keys_init(args: argparse.Namespace) -> int:
    public = init_keys(_paths(args), args.center_id)
    print(public)
    print("Give this file to each device's installer: edge-agent enroll --center-key FILE --broker URL",
          file=sys.stderr)
    return 0


def cmd_devices_add(args: argparse.Namespace) -> int:
    near = parse_point(args.near) if args.near else None  # checked before anything is written
    ident = add_device(_paths(args), Path(args.file))
    print(f"enrolled device {ident.device_id}")
    if args.area or near:
        Places(Path(args.dir)).set(ident.device_id, args.area or "", near)
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    with Center.open(_paths(args)) as center:
        statuses = device_statuses(center.paths, center.index.device_summaries(), center.consent)
    for s in statuses:
        seen = f"{'online' if s.online else 'offline'}" + (f" since {_utc(s.since)}" if s.since else "")
        live = f" until {_utc(s.live_until)}" if s.live_until else ""
        last = f"last #{s.last_seq} {_utc(s.last_end)}" if s.last_seq is not None else "no segment"
        complete = "complete" if s.complete else f"{s.missing} missing"
        fates = "".join(f", {n} {what}" for n, what in ((s.repaired, "repaired"), (s.withheld, "withheld"),
                                                        (s.lost, "lost")) if n)
        print(f"{s.device_id:24} {'enrolled' if s.enrolled else 'WITHDRAWN':9} {seen:33} {s.consent}{live:24} "
              f"{last:32} {s.stored} stored{fates}, {complete}")
    return 0


def cmd_devices_remove(args: argparse.Namespace) -> int:
    when = withdraw_device(_paths(args), args.device_id)
    with Center.open(_paths(args)) as center:
        center.access.append(command_line_user(), "device_withdraw", device_id=args.device_id)
    print(f"device {args.device_id} withdrawn at {_utc(when)}: its segments and documents are refused from now on; "
          "its stored evidence stays. Stop trusting its certificate at the broker too (README).")
    return 0


def _utc(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def tls_from_args(args: argparse.Namespace) -> TlsSettings | None:
    if not args.tls_ca:
        return None
    return TlsSettings(ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key)


def add_tls_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-ca", help="CA certificate file (PEM) for an mqtts:// broker")
    parser.add_argument("--tls-cert", help="this client's certificate (PEM)")
    parser.add_argument("--tls-key", help="this client's private key (PEM)")


def cmd_broker_set(args: argparse.Namespace) -> int:
    settings = CenterSettings(broker=args.url, tls=tls_from_args(args), topic_prefix=args.topic_prefix)
    save_settings(_paths(args), settings)
    print(f"broker for this center: {settings.broker}")
    return 0


def cmd_broker_show(args: argparse.Namespace) -> int:
    settings = load_settings(_paths(args))
    print("no broker set (edge-center broker set URL)" if settings is None else f"broker: {settings.broker}")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    paths = _paths(args)
    if args.share and not args.worker and not args.client_id:
        raise CenterError("each worker of a --share group needs its own --worker NAME (its persistent session)")
    broker, tls = broker_for(paths, args.broker, tls_from_args(args))
    options = SubscribeOptions(
        broker=broker,
        topic_prefix=args.topic_prefix,
        share_group=args.share,
        duration=args.duration,
        client_id=args.client_id,
        worker=args.worker or "main",
        clean_session=args.clean_session,
        tls=tls,
    )
    stop = threading.Event()
    # systemd and the demo stop the subscriber with SIGTERM: finish the message in hand and print the counts.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    counts = run_subscriber(_paths(args), options, stop)
    print(
        f"stored {counts['stored']} segment(s), {counts['duplicate']} duplicate(s), "
        f"{counts['rejected']} rejected; evidence in {_paths(args).store}"
    )
    for key in sorted(k for k in counts if k.startswith("rejected: ")):
        print(f"  {key}: {counts[key]}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify_store(_paths(args))
    for line in report.lines:
        print(line)
    # The evidence index shows each segment's state as this check found it.
    now = time.time()
    with Center.open(_paths(args)) as center:
        for (device_id, seq), state in report.states.items():
            center.index.set_state(device_id, seq, state, now)
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-center",
        description="Crime center side of edge-agent: verify, decrypt and store segments that devices share.",
    )
    parser.add_argument("--version", action="version", version=f"edge-center {__version__}")
    parser.add_argument("--dir", default="center-data", help="the center's folder (default: ./center-data)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    keys = sub.add_parser("keys", help="the center's key pair").add_subparsers(dest="action", required=True)
    p = keys.add_parser("init", help="create the center's keys and print the public key file's path")
    p.add_argument("--center-id", help="a name for this center (default: random)")
    p.set_defaults(func=cmd_keys_init)

    devices = sub.add_parser("devices", help="the allow-list of enrolled devices").add_subparsers(
        dest="action", required=True
    )
    p = devices.add_parser("add", help="enrol a device from its public identity file (device.pub.json)")
    p.add_argument("file")
    p.add_argument("--area", help="optional: the device's area, for neighbours' requests and the public page")
    p.add_argument("--near", metavar="LAT,LON", help="optional: a point near it, rounded to about 1 km")
    p.set_defaults(func=cmd_devices_add)
    p = devices.add_parser("list", help="every device: online, consent, last segment, completeness")
    p.set_defaults(func=cmd_devices_list)
    p = devices.add_parser("remove", help="withdraw a device: refuse its segments from now on, keep its evidence")
    p.add_argument("device_id", metavar="DEVICE")
    p.set_defaults(func=cmd_devices_remove)

    broker = sub.add_parser("broker", help="the broker this center's tools use").add_subparsers(
        dest="action", required=True
    )
    p = broker.add_parser("set", help="remember the broker (and TLS files) for subscribe and request")
    p.add_argument("url", metavar="URL", help="mqtt://host:port or mqtts://host:port")
    p.add_argument("--topic-prefix", default="rtcc/v1")
    add_tls_args(p)
    p.set_defaults(func=cmd_broker_set)
    p = broker.add_parser("show", help="the broker set for this center")
    p.set_defaults(func=cmd_broker_show)

    p = sub.add_parser("subscribe", help="receive, verify, decrypt and store segments")
    p.add_argument("--broker", help="mqtt://host:port or mqtts://host:port (default: edge-center broker set)")
    p.add_argument("--share", metavar="GROUP", help="join an MQTT v5 shared subscription group (scale out)")
    p.add_argument("--duration", type=float, help="stop after this many seconds (default: run until stopped)")
    p.add_argument("--worker",
                   help="this worker's name: with the center's id it makes the persistent session's client id "
                        "(each worker of a --share group needs its own; default: main)")
    p.add_argument("--client-id", help="use this client id instead of the one made from the center and worker")
    p.add_argument("--clean-session", action="store_true",
                   help="no persistent session: whatever is sent while the subscriber is away is lost to it")
    p.add_argument("--topic-prefix", default="rtcc/v1")
    add_tls_args(p)
    p.set_defaults(func=cmd_subscribe)

    p = sub.add_parser("verify", help="re-check every stored segment's hashes, signature and chain")
    p.set_defaults(func=cmd_verify)
    register_requests(sub)
    register_neighbours(sub, devices)
    register_public(sub)
    register_console(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("edge_agent").setLevel(logging.INFO)
    return run(build_parser(), argv)
