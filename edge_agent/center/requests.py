"""Police requests from the crime center: sign, record and publish one; list what was asked and answered.

``edge-center --dir DIR request DEVICE --start TIME --end TIME --case ID --reason TEXT [--legal-basis TEXT]``
signs a request with the center's Ed25519 key, keeps it in ``requests/<device>/<id>.json`` (the center checks
approved segments against this copy) and publishes it with QoS 1 on the device's requests topic. The device
answers on its answers topic; the subscriber records each answer (see :mod:`edge_agent.center.consent_check`).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.config import broker_for
from edge_agent.center.consent_check import read_doc
from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.presence import PresenceBook
from edge_agent.center.services import Center, command_line_user
from edge_agent.config.models import TlsSettings
from edge_agent.consent.documents import parse_answer
from edge_agent.consent.requests import PoliceRequest, make_request, parse_request
from edge_agent.core.timeparse import parse_duration, parse_time
from edge_agent.errors import CenterError
from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics, check_device_id

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RequestStatus:
    request: PoliceRequest
    decision: str  # "waiting", or the device's answer: "approved", "denied", "refused", "expired", "withdrawn"
    segments: tuple[int, ...]  # the sequence numbers the device says it sent for an approval
    reason: str = ""  # the device's reason for a refusal or denial
    offline_since: float | None = None  # while waiting: the device is offline since then

    def describe(self) -> str:
        """One line for a person: the decision, and what it means."""
        if self.decision == "approved":
            return f"approved, {len(self.segments)} segment(s) sent" + (
                f" (seq {self.segments[0]}..{self.segments[-1]})" if self.segments else "")
        if self.decision == "waiting" and self.offline_since is not None:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.offline_since))
            return f"waiting: device offline since {since}; the request is delivered when it connects"
        return f"{self.decision}: {self.reason}" if self.reason else self.decision


def send_request(
    paths: CenterPaths,
    *,
    broker: str,
    device_id: str,
    start: float,
    end: float,
    case_id: str,
    reason: str,
    legal_basis: str = "",
    ttl_s: float = 24 * 3600.0,
    topic_prefix: str = "rtcc/v1",
    tls: TlsSettings | None = None,
) -> PoliceRequest:
    keys = load_keys(paths)
    check_device_id(device_id)
    if DeviceRegistry(paths.devices)(device_id) is None:
        raise CenterError(f"device {device_id} is not enrolled here (edge-center devices add FILE)")
    request, signed = make_request(
        keys.ed25519, device_id=device_id, center_id=keys.identity.center_id, start=start, end=end,
        case_id=case_id, reason=reason, legal_basis=legal_basis, ttl_s=ttl_s,
    )
    write_private(paths.root / "requests" / device_id / f"{request.id}.json", signed)
    link = MqttLink(broker, client_id=f"edge-center-request-{time.monotonic_ns() % 10**9}", tls=tls)
    try:
        link.connect(timeout=PUBLISH_TIMEOUT_S)
        link.start()
        # Expires on the broker with the request, so a device that connects late never sees a stale one.
        result = link.publish(Topics(topic_prefix, device_id).requests, signed, qos=1,
                              content_type="application/json", expiry=max(1, int(ttl_s)))
        if not result.wait(PUBLISH_TIMEOUT_S):
            raise CenterError(f"the broker {broker} did not acknowledge the request within {PUBLISH_TIMEOUT_S:g}s")
    finally:
        link.stop()
    return request


def list_requests(paths: CenterPaths, now: float | None = None) -> list[RequestStatus]:
    now = time.time() if now is None else now
    presence = PresenceBook(paths.status)
    out = []
    for path in sorted((paths.root / "requests").glob("*/r-*.json")):
        doc = read_doc(path)
        if doc is None:
            continue
        request = parse_request(doc)
        answer_doc = read_doc(paths.root / "answers" / path.parent.name / path.name)
        if answer_doc is not None:
            answer = parse_answer(answer_doc)
            out.append(RequestStatus(request, answer.decision, tuple(s.seq for s in answer.segments), answer.reason))
            continue
        if now >= request.expires_at:
            out.append(RequestStatus(request, "expired", (), "no answer before the request expired"))
            continue
        seen = presence.get(request.device_id)
        offline = seen.since if seen is not None and not seen.online else None
        out.append(RequestStatus(request, "waiting", (), offline_since=offline))
    return sorted(out, key=lambda s: s.request.issued_at)


def waiting_requests(paths: CenterPaths, device_id: str, now: float | None = None) -> list[tuple[PoliceRequest, bytes]]:
    """Requests to ``device_id`` that have no answer yet and have not expired, with their signed bytes."""
    now = time.time() if now is None else now
    out = []
    for path in sorted((paths.root / "requests" / device_id).glob("r-*.json")):
        doc = read_doc(path)
        if doc is None or (paths.root / "answers" / device_id / path.name).exists():
            continue
        request = parse_request(doc)
        if now < request.expires_at:
            out.append((request, path.read_bytes()))
    return out


class RequestCourier:
    """Sends a device its unanswered requests again when it comes online: a broker that lost its queue (a
    crash, a restart without persistence) or a device that never had a persistent session still gets them. The
    device treats a request it already has as the same request (same id and nonce) and answers it once."""

    def __init__(self, paths: CenterPaths, topic_prefix: str, publish: Callable[..., object]) -> None:
        self._paths = paths
        self._prefix = topic_prefix
        self._publish = publish

    def device_online(self, device_id: str) -> int:
        now = time.time()
        waiting = waiting_requests(self._paths, device_id, now)
        for request, signed in waiting:
            self._publish(Topics(self._prefix, device_id).requests, signed, qos=1, content_type="application/json",
                          expiry=max(1, int(request.expires_at - now)))
        if waiting:
            log.info("device %s is online: %d unanswered request(s) sent again", device_id, len(waiting))
        return len(waiting)


def _paths(args: argparse.Namespace) -> CenterPaths:
    return CenterPaths(Path(args.dir))


def cmd_request(args: argparse.Namespace) -> int:
    now = time.time()
    tls = TlsSettings(ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key) if args.tls_ca else None
    broker, tls = broker_for(_paths(args), args.broker, tls)
    start, end, who = parse_time(args.start, now), parse_time(args.end, now), command_line_user()
    with Center.open(_paths(args)) as center:
        # As from the console: logged before it leaves (a request that cannot be logged is not sent), and indexed
        # at once, so that the case finds the footage its answer brings while a subscriber runs.
        center.access.append(who, "request", device_id=args.device, start=start, end=end, case_id=args.case,
                             detail=f"reason: {args.reason}"[:500])
        request = send_request(
            _paths(args), broker=broker, device_id=args.device, start=start, end=end, case_id=args.case,
            reason=args.reason, legal_basis=args.legal_basis or "", ttl_s=parse_duration(args.expires_in),
            topic_prefix=args.topic_prefix, tls=tls,
        )
        center.index.add_request(request, who)
    print(f"sent request {request.id} to {request.device_id} for case {request.case_id}; "
          f"it expires {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(request.expires_at))}")
    seen = PresenceBook(_paths(args).status).get(request.device_id)
    if seen is not None and not seen.online:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seen.since))
        print(f"device {request.device_id} is offline since {since}: the request waits for it until it expires")
    return 0


def cmd_requests(args: argparse.Namespace) -> int:
    for status in list_requests(_paths(args)):
        req = status.request
        print(f"{req.id}  {req.device_id}  case {req.case_id}  {status.describe()}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("request", help="ask a device's homeowner for a time window of footage (signed)")
    p.add_argument("device", metavar="DEVICE")
    p.add_argument("--start", required=True, metavar="TIME", help="start of the window (ISO 8601)")
    p.add_argument("--end", required=True, metavar="TIME", help="end of the window (ISO 8601)")
    p.add_argument("--case", required=True, metavar="ID", help="the case this footage is for")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, in words the homeowner reads")
    p.add_argument("--legal-basis", metavar="TEXT", help="warrant or other legal basis, if any")
    p.add_argument("--expires-in", default="24h", metavar="DURATION", help="how long the request stays open")
    p.add_argument("--broker", help="mqtt://host:port or mqtts://host:port (default: edge-center broker set)")
    p.add_argument("--topic-prefix", default="rtcc/v1")
    p.add_argument("--tls-ca", help="CA certificate file (PEM) for an mqtts:// broker")
    p.add_argument("--tls-cert", help="this client's certificate (PEM)")
    p.add_argument("--tls-key", help="this client's private key (PEM)")
    p.set_defaults(func=cmd_request)
    p = sub.add_parser("requests", help="requests sent and the answers received")
    p.set_defaults(func=cmd_requests)
