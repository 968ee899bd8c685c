"""Device commands: identity, enrolment, running the agent, and what is being shared right now."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from edge_agent.config.identity import enroll, init_identity, load_enrollment, load_identity
from edge_agent.config.models import Profile, TlsSettings, Zone
from edge_agent.consent.state import ConsentStore, describe
from edge_agent.core.files import atomic_write, pid_alive
from edge_agent.core.paths import DevicePaths
from edge_agent.device.daemon import Page, RunOptions, run_agent
from edge_agent.device.frames import FrameTap
from edge_agent.device.uplink import describe_outbox
from edge_agent.errors import ConfigError

log = logging.getLogger(__name__)


def paths_of(args: argparse.Namespace) -> DevicePaths:
    return DevicePaths(Path(args.data_dir))


def cmd_keys_init(args: argparse.Namespace) -> int:
    print(init_identity(paths_of(args), args.device_id))
    print("Give this public identity file to the crime center: edge-center devices add FILE", file=sys.stderr)
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    paths = paths_of(args)
    load_identity(paths)
    tls = None
    if args.tls_ca:
        tls = TlsSettings(ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key)
    elif args.broker.startswith("mqtts://"):
        raise ConfigError("an mqtts:// broker needs --tls-ca (and --tls-cert/--tls-key for client certificates)")
    enrollment = enroll(paths, Path(args.center_key), args.broker, tls, args.archive_key)
    print(f"enrolled with center {enrollment.center.center_id} at {enrollment.broker}")
    return 0


def serve_page(paths: DevicePaths, profile: Profile, zones: list[Zone]) -> tuple[FrameTap, Page]:
    """The page inside the agent, fed by its own frames. Imported here: the web stack costs memory a device
    without the page should not pay."""
    from edge_agent.ui.embedded import start_embedded_ui  # noqa: PLC0415

    return start_embedded_ui(paths, profile, zones)


def cmd_run(args: argparse.Namespace) -> int:
    paths = paths_of(args)
    if not paths.signing_key.exists():
        created = init_identity(paths)
        log.info("created a new device identity: %s", created)
    atomic_write(paths.pid, f"{os.getpid()}\n".encode())
    try:
        summary = run_agent(
            RunOptions(
                data_dir=paths.root,
                profile=args.profile,
                profile_root=Path(args.profile_root) if args.profile_root else None,
                source=args.source,
                duration=args.duration,
                realtime=not args.fast,
                serve_page=serve_page,
            )
        )
    finally:
        paths.pid.unlink(missing_ok=True)
    events = ", ".join(f"{k}={v}" for k, v in sorted(summary.events.items())) or "none"
    print(
        f"frames={summary.frames} segments={summary.segments} shared={summary.shared} "
        f"delivered={summary.delivered} fail-closed/events: {events}"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    paths = paths_of(args)
    record = ConsentStore(paths.consent).current()
    enrollment = load_enrollment(paths)
    print(describe(record))
    if enrollment is None:
        print("not enrolled with any crime center: nothing can be shared")
    else:
        print(f"crime center: {enrollment.center.center_id} via {enrollment.broker}")
    print(describe_outbox(paths))
    print("agent: running" if _agent_running(paths) else "agent: not running")
    return 0


def _agent_running(paths: DevicePaths) -> bool:
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    return pid_alive(pid)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="the device's identity key").add_subparsers(dest="action", required=True)
    p = keys.add_parser("init", help="create the device identity; prints the public identity file for the center")
    p.add_argument("--device-id", help="a name for this device (default: derived from its key)")
    p.set_defaults(func=cmd_keys_init)

    p = sub.add_parser("enroll", help="record the crime center's public key and broker")
    p.add_argument("--center-key", required=True, help="the center's center.pub.json")
    p.add_argument("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
    p.add_argument("--archive-key", help="base64 X25519 public key of the homeowner's archive (optional recipient)")
    p.add_argument("--tls-ca", help="CA certificate (PEM) for an mqtts:// broker")
    p.add_argument("--tls-cert", help="this device's client certificate (PEM)")
    p.add_argument("--tls-key", help="this device's client key (PEM)")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("run", help="run the agent (default: synthetic scene, default profile, consent off)")
    p.add_argument("--source", help="synthetic | usb:N | rtsp://... | FILE | FOLDER | picamera2 (default: profile)")
    p.add_argument("--profile", help="profile name or .toml path (default: the embedded default)")
    p.add_argument(
        "--profile-root",
        metavar="DIR",
        help="use the profile flashed under DIR (e.g. /etc/edge-agent), signature checked; overrides --profile",
    )
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--fast", action="store_true", help="do not pace file and synthetic sources in real time")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="what is being shared right now, and with whom")
    p.set_defaults(func=cmd_status)
