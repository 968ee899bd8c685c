"""Home Assistant's MQTT discovery schema, as its documentation states it, to check what the device publishes.

Transcribed from home-assistant.io (source/_integrations/mqtt.markdown "Discovery messages", sensor.mqtt,
button.mqtt and event.mqtt): the discovery topic is ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``
with node and object ids of ``[a-zA-Z0-9_-]``; the payload is a JSON object with the platform's configuration
variables; the ``device`` block ties entities into the device registry, works only with ``unique_id`` and needs
``identifiers`` or ``connections``. Home Assistant ignores unknown keys, so a misspelt key would fail silently:
here every key must be one the documentation lists, with the documented type.
"""

from __future__ import annotations

import json
import re
from typing import Any

ID = re.compile(r"^[a-zA-Z0-9_-]+$")
TOPIC = re.compile(r"^[^#+\x00]+$")

# Variables every MQTT entity platform documents.
COMMON = {
    "availability": list, "availability_mode": str, "availability_template": str, "availability_topic": str,
    "device": dict, "enabled_by_default": bool, "encoding": str, "entity_category": str, "icon": str,
    "json_attributes_template": str, "json_attributes_topic": str, "name": str, "object_id": str,
    "payload_available": str, "payload_not_available": str, "qos": int, "unique_id": str,
}
PLATFORMS: dict[str, tuple[dict[str, type], set[str]]] = {
    "sensor": ({**COMMON, "device_class": str, "expire_after": int, "force_update": bool, "state_class": str,
                "state_topic": str, "unit_of_measurement": str, "value_template": str}, {"state_topic"}),
    "button": ({**COMMON, "command_template": str, "command_topic": str, "device_class": str,
                "payload_press": str, "retain": bool}, {"command_topic"}),
    "event": ({**COMMON, "device_class": str, "event_types": list, "state_topic": str, "value_template": str},
              {"state_topic", "event_types"}),
}
DEVICE = {"configuration_url": str, "connections": list, "hw_version": str, "identifiers": list,
          "manufacturer": str, "model": str, "name": str, "suggested_area": str, "sw_version": str,
          "via_device": str}


def check_discovery(topic: str, payload: bytes, discovery_prefix: str = "homeassistant") -> tuple[str, dict[str, Any]]:
    """Assert that one discovery message follows the documentation; returns ``(component, config)``."""
    parts = topic.split("/")
    assert topic.startswith(discovery_prefix + "/") and parts[-1] == "config", topic
    middle = parts[len(discovery_prefix.split("/")):-1]
    assert len(middle) in (2, 3), topic  # component, [node_id], object_id
    component, ids = middle[0], middle[1:]
    assert component in PLATFORMS, component
    assert all(ID.fullmatch(i) for i in ids), topic
    config = json.loads(payload)
    assert isinstance(config, dict)
    fields, required = PLATFORMS[component]
    assert required <= config.keys(), (topic, required - config.keys())
    for key, value in config.items():
        assert key in fields, f"{topic}: {key!r} is not a documented {component} variable"
        assert isinstance(value, fields[key]) and not (fields[key] is int and isinstance(value, bool)), (key, value)
        if key.endswith("_topic"):
            assert TOPIC.fullmatch(value), (key, value)
    assert "availability" not in config or "availability_topic" not in config  # "must not be used together"
    assert config.get("qos", 0) in (0, 1, 2)
    if "device" in config:
        assert "unique_id" in config  # the device block only works with unique_id
        device = config["device"]
        assert "identifiers" in device or "connections" in device
        for key, value in device.items():
            assert key in DEVICE and isinstance(value, DEVICE[key]), (key, value)
    if component == "event":
        assert config["event_types"] and all(isinstance(t, str) for t in config["event_types"])
    return component, config


def check_event(payload: bytes, config: dict[str, Any]) -> dict[str, Any]:
    """An event message: JSON with an ``event_type`` among the entity's ``event_types``."""
    event = json.loads(payload)
    assert isinstance(event, dict) and event.get("event_type") in config["event_types"], event
    return event
