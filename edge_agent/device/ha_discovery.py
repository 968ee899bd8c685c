"""What the device tells the homeowner's Home Assistant, as Home Assistant's MQTT discovery documents and states.

Four entities, grouped under one device by the ``device`` block, each with the device's availability topic:

- ``sensor`` *Sharing*: ``off``, ``live`` or ``on-request``; attributes: what is shared in words, until when;
- ``sensor`` *Requests waiting*: how many police and neighbours' requests wait for an answer; attributes: which;
- ``button`` *Stop sharing now*: revokes consent exactly as ``edge-agent consent revoke`` does;
- ``event`` *Request*: one event per new request (``police_request`` or ``masking_request``).

Field names follow Home Assistant's MQTT documentation (``sensor.mqtt``, ``button.mqtt``, ``event.mqtt`` and the
discovery section of ``mqtt``); the tests check every document against those field lists. Nothing here comes from
the crime center's broker: the states are made from the device's own files, and an event names a request by its
id, kind, case or property and deadline, never by the center's message.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from edge_agent import __version__
from edge_agent.consent.api import WaitingItem
from edge_agent.consent.state import ConsentRecord, describe
from edge_agent.core.text import shown
from edge_agent.transport.topics import HomeAssistantTopics

PRESS = "STOP"
ONLINE, OFFLINE = b"online", b"offline"
EVENT_TYPES = {"police": "police_request", "masking": "masking_request"}


@dataclass(frozen=True, slots=True)
class Entity:
    component: str
    object_id: str
    config: dict[str, Any]


def iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def discovery(topics: HomeAssistantTopics, name: str, profile_name: str) -> list[Entity]:
    """The discovery documents, each published retained to ``topics.config(component, object_id)``."""
    device_id = topics.device_id
    common: dict[str, Any] = {
        "availability_topic": topics.availability,
        "payload_available": ONLINE.decode(),
        "payload_not_available": OFFLINE.decode(),
        "qos": 1,
        "device": {
            "identifiers": [f"edge-agent-{device_id}"],
            "name": f"{name} ({device_id})",
            "manufacturer": "edge-agent",
            "model": f"profile {profile_name}",
            "sw_version": __version__,
        },
    }

    def entity(component: str, object_id: str, **fields: Any) -> Entity:
        config = {"unique_id": f"edge-agent-{device_id}-{object_id}", **common, **fields}
        return Entity(component, object_id, config)

    return [
        entity("sensor", "sharing", name="Sharing", icon="mdi:cctv", state_topic=topics.consent,
               json_attributes_topic=topics.consent_attributes),
        entity("sensor", "requests_waiting", name="Requests waiting", icon="mdi:email-alert",
               state_topic=topics.pending, json_attributes_topic=topics.pending_attributes),
        entity("button", "stop_sharing", name="Stop sharing now", icon="mdi:video-off",
               command_topic=topics.stop_sharing, payload_press=PRESS, retain=False),
        entity("event", "request", name="Request", icon="mdi:bell-alert", state_topic=topics.request_event,
               event_types=sorted(EVENT_TYPES.values())),
    ]


def consent_state(record: ConsentRecord, now: float) -> tuple[bytes, bytes]:
    """The *Sharing* sensor's state and attributes."""
    live = record.is_live_at(now)
    state = "live" if live else ("on-request" if record.mode == "on-request" else "off")
    attributes = {"summary": describe(record, now), "sharing_now": live,
                  "until": iso(record.expires_at) if live else None, "record": record.id}
    return state.encode(), _json(attributes)


def pending_state(items: list[WaitingItem]) -> tuple[bytes, bytes]:
    """The *Requests waiting* sensor's state (a count) and attributes."""
    attributes = {
        "police": sum(1 for i in items if i.kind == "police"),
        "masking": sum(1 for i in items if i.kind == "masking"),
        "next_answer_by": iso(min((i.answer_by for i in items), default=None)),
        "ids": [i.id for i in items],
    }
    return str(len(items)).encode(), _json(attributes)


def request_event(item: WaitingItem) -> bytes:
    """One event: the JSON Home Assistant's event entity reads (``event_type`` plus attributes)."""
    what = "case" if item.kind == "police" else "property"
    return _json({"event_type": EVENT_TYPES[item.kind], "id": item.id, what: shown(item.label, 120),
                  "answer_by": iso(item.answer_by)})


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False).encode("utf-8")
