"""``edge-center neighbours``: staff's side of the neighbours' opt-out, and ``edge-center devices place``.

```
edge-center --dir DIR devices place door-1 --area "Elm St north" --near 52.52,13.40
edge-center --dir DIR neighbours ask --address "14 Elm Street" --description "house and driveway" [--point LAT,LON]
edge-center --dir DIR neighbours list               # each ask, each device asked, what it answered
edge-center --dir DIR neighbours open               # masking requests still open, per device
edge-center --dir DIR neighbours dispatch           # send now (the subscriber does it on its own, every 2 s)
edge-center --dir DIR neighbours extend n-...       # a new deadline: unanswered devices are asked again
edge-center --dir DIR neighbours policy --refuse-live-when-overdue on
```
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from edge_agent.center.config import broker_for
from edge_agent.center.keys import CenterPaths
from edge_agent.center.neighbour_policy import OverduePolicy
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.places import Places, parse_point
from edge_agent.config.models import TlsSettings
from edge_agent.core.text import shown
from edge_agent.errors import CenterError
from edge_agent.transport.mqtt import MqttLink

PUBLISH_TIMEOUT_S = 10.0
DAY = 86400.0


def _desk(args: argparse.Namespace) -> NeighbourDesk:
    return NeighbourDesk(CenterPaths(Path(args.dir)))


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def cmd_place(args: argparse.Namespace) -> int:
    near = parse_point(args.near) if args.near else None
    place = Places(Path(args.dir)).set(args.device, args.area or "", near)
    where = f" near {place.near[0]:.2f},{place.near[1]:.2f}" if place.near else ""
    print(f"{args.device}: area {place.area or '(none)'}{where} (rounded: never an address)")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    point = parse_point(args.point) if args.point else None
    ask, token = _desk(args).new_ask(args.address, args.description or "", point=point, area=args.area or "",
                                     ttl_s=args.days * DAY)
    print(f"recorded {ask.id}; the devices near it are asked at the next dispatch; answers by {_when(ask.respond_by)}")
    print(f"the neighbour's private link: /opt-out/{token}  (shown once: give it to the neighbour)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    desk = _desk(args)
    asks = desk.asks()
    if not asks:
        print("no asks from neighbours")
    for ask in asks:
        print(f"{ask.id}  {_when(ask.received_at)}  {shown(ask.address, 60)!r}  area {ask.area or '-'}  "
              f"answer by {_when(ask.respond_by)}  via {ask.via}")
        for item in desk.progress(ask):
            note = ""
            if item.answer is not None and item.answer.decision == "declined":
                note = f": {shown(item.answer.reason, 80)}"
            elif item.answer is not None and item.answer.decision == "masked":
                note = f" by {', '.join(z.name for z in item.answer.zones)}"
            print(f"    {item.device_id}  {item.request_id}  {item.state}{note}")
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    found = _desk(args).open_by_device()
    if not found:
        print("no open masking requests")
    for device_id, items in sorted(found.items()):
        print(f"{device_id}: " + ", ".join(f"{i.request_id} ({i.state}, by {_when(i.respond_by)})" for i in items))
    return 0


def cmd_dispatch(args: argparse.Namespace) -> int:
    paths = CenterPaths(Path(args.dir))
    tls = TlsSettings(ca_file=args.tls_ca, cert_file=args.tls_cert, key_file=args.tls_key) if args.tls_ca else None
    broker, tls = broker_for(paths, args.broker, tls)
    link = MqttLink(broker, client_id=f"edge-center-neighbours-{time.monotonic_ns() % 10**9}", tls=tls)
    results = []

    def publish(topic: str, payload: bytes, **properties: object) -> object:
        results.append(link.publish(topic, payload, **properties))  # type: ignore[arg-type]
        return results[-1]

    try:
        link.connect(timeout=PUBLISH_TIMEOUT_S)
        link.start()
        sent = NeighbourDesk(paths).dispatch(publish, args.topic_prefix, force=True)
        if not all(r.wait(PUBLISH_TIMEOUT_S) for r in results):
            raise CenterError(f"the broker {broker} did not acknowledge every masking request")
    finally:
        link.stop()
    print(f"{sent} masking request(s) sent")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    ask = _desk(args).extend(args.ask, args.days * DAY)
    print(f"{ask.id}: new deadline {_when(ask.respond_by)}; devices that did not answer are asked again")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    policy = OverduePolicy(CenterPaths(Path(args.dir)))
    if args.refuse_live_when_overdue is not None:
        policy.set(args.refuse_live_when_overdue == "on")
    state = "on" if policy.enabled() else "off"
    print(f"refuse live segments from a device with a masking request unanswered past its deadline: {state}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = devices.add_parser("place", help="a device's coarse location (area, rounded point): never an address")
    p.add_argument("device")
    p.add_argument("--area", help="an area name shown on the public page, e.g. 'Elm St north'")
    p.add_argument("--near", metavar="LAT,LON", help="a point near the device, rounded to about 1 km")
    p.set_defaults(func=cmd_place)

    group = sub.add_parser("neighbours", help="neighbours' requests to have their property masked").add_subparsers(
        dest="action", required=True)
    p = group.add_parser("ask", help="record a neighbour's ask (taken by phone or at the desk)")
    p.add_argument("--address", default="", help="the property, in the neighbour's words (or give --point)")
    p.add_argument("--description", help="what to mask, e.g. 'the house and its driveway'")
    p.add_argument("--point", metavar="LAT,LON", help="where it is, for choosing the devices near it")
    p.add_argument("--area", help="the area it is in (devices placed in it are asked)")
    p.add_argument("--days", type=float, default=14.0, help="days the homeowners have to answer (default 14)")
    p.set_defaults(func=cmd_ask)
    p = group.add_parser("list", help="every ask, the devices asked and their answers")
    p.set_defaults(func=cmd_list)
    p = group.add_parser("open", help="masking requests not answered yet, per device")
    p.set_defaults(func=cmd_open)
    p = group.add_parser("dispatch", help="send masking requests for new asks now")
    p.add_argument("--broker", help="mqtt://host:port or mqtts://host:port (default: edge-center broker set)")
    p.add_argument("--topic-prefix", default="rtcc/v1")
    p.add_argument("--tls-ca")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.set_defaults(func=cmd_dispatch)
    p = group.add_parser("extend", help="give an ask a new deadline; devices that did not answer are asked again")
    p.add_argument("ask")
    p.add_argument("--days", type=float, default=14.0)
    p.set_defaults(func=cmd_extend)
    p = group.add_parser("policy", help="show or set the center's policy on unanswered masking requests")
    p.add_argument("--refuse-live-when-overdue", choices=("on", "off"),
                   help="refuse live segments from a device that left one unanswered past its deadline")
    p.set_defaults(func=cmd_policy)
