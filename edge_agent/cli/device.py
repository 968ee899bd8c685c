"""Device commands: identity, enrolment, running the agent, and what is being shared right now."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from edge_agent.cli.common import device_paths, paths_of, profile_root_of
from edge_agent.config.identity import enroll, init_identity, load_enrollment, load_identity
from edge_agent.config.models import Profile, TlsSettings, Zone
from edge_agent.consent.api import WaitingItem, waiting
from edge_agent.consent.state import ConsentRecord, ConsentStore, describe
from edge_agent.core.paths import DevicePaths
from edge_agent.core.text import shown
from edge_agent.device.agent_state import AgentState, read_agent_state
from edge_agent.device.daemon import Page, RunOptions, run_agent
from edge_agent.device.frames import FrameTap
from edge_agent.device.uplink import describe_outbox
from edge_agent.errors import ConfigError
from edge_agent.transport.model import parse_broker_url

log = logging.getLogger(__name__)


def cmd_keys_init(args: argparse.Namespace) -> int:
    print(init_identity(paths_of(args), args.device_id))
    print("Give this public identity file to the crime center: edge-center devices add FILE", file=sys.stderr)
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    paths = device_paths(args)
    load_identity(paths)
    parse_broker_url(args.broker)  # mqtt:// or mqtts://HOST[:PORT], checked now rather than at the first run
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
    # The agent takes the data folder's lock and writes agent.pid itself (a second agent is refused first).
    summary = run_agent(
        RunOptions(
            data_dir=paths.root,
            profile=args.profile,
            # --profile-root, else --profile, else the flashed profile when there is one: a flash, then
            # SIGHUP, then reloads what was flashed.
            profile_root=Path(args.profile_root) if args.profile_root else (
                None if args.profile else profile_root_of(args)),
            source=args.source,
            duration=args.duration,
            realtime=not args.fast,
            serve_page=serve_page,
        )
    )
    events = ", ".join(f"{k}={v}" for k, v in sorted(summary.events.items())) or "none"
    print(
        f"frames={summary.frames} segments={summary.segments} shared={summary.shared} "
        f"delivered={summary.delivered} fail-closed/events: {events}"
    )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """What the records allow, and what the agent is really doing: running, connected, sharing, refused."""
    paths = device_paths(args)
    record = ConsentStore(paths.consent).current()
    enrollment = load_enrollment(paths)
    print(f"device: {load_identity(paths).device_id} ({paths.root})")
    print(f"consent: {describe(record)}")
    if enrollment is None:
        print("crime center: not enrolled with any: nothing can be shared")
    else:
        print(f"crime center: {enrollment.center.center_id} via {enrollment.broker}")
    for line in agent_lines(read_agent_state(paths), record):
        print(line)
    print(describe_outbox(paths))
    for line in waiting_lines(waiting(paths)):
        print(line)
    return 0


KIND_WORDS = {"police": "police request", "masking": "neighbour's masking request"}


def waiting_lines(items: list[WaitingItem]) -> list[str]:
    """Requests that expire unless the homeowner answers them: said last, where the eye lands."""
    if not items:
        return ["waiting for your answer: nothing"]
    lines = [f"WAITING FOR YOUR ANSWER: {len(items)} request(s) (edge-agent requests list)"]
    for item in items:
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(item.answer_by))
        what = "case" if item.kind == "police" else "for"
        lines.append(f"  {item.id}  {KIND_WORDS[item.kind]} {what} {shown(item.label, 60)}: answer by {until}"
                     f" (edge-agent requests show {item.id})")
    return lines


def agent_lines(state: AgentState | None, record: ConsentRecord) -> list[str]:
    if state is None or not state.alive():
        lines = ["agent: NOT RUNNING: nothing is recorded or shared now"]
        if record.is_live_at(time.time()):
            lines.append("  (the live grant above allows sharing, but no agent is running to share)")
        return lines
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started_at))
    lines = [f"agent: running since {since} (pid {state.pid}), profile {state.profile} ({state.profile_source}),"
             f" camera {state.camera}"]
    if state.enrolled:
        link = "connected" if state.connected else "NOT CONNECTED (segments wait in the outbox)"
        lines.append(f"broker: {link}; {state.delivered} segment(s) delivered in this run")
        if state.refused:
            lines.append(f"broker REFUSED {state.refused} segment(s): {state.last_refusal} (not shared; check that "
                         "the device certificate's common name is this device id)")
    lines.append("sharing now: yes" if state.sharing and state.connected else "sharing now: no")
    if state.home_assistant:
        lines.append(f"home assistant: {state.home_assistant}")
    return lines


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
    p.add_argument("--profile", help="profile name or .toml path (default: the flashed profile, else the embedded "
                   "default)")
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
