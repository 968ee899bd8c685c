"""The homeowner's Home Assistant: a client to the homeowner's own MQTT broker (``[home_assistant]`` in the
profile), never the crime center's.

It publishes Home Assistant's MQTT discovery documents (:mod:`.ha_discovery`) and keeps their states current: the
consent state, the requests waiting for an answer, and one event per new request, so that Home Assistant can
notify the homeowner's phone. The "Stop sharing now" button revokes consent exactly as ``edge-agent consent
revoke`` does (the daemon hands in that call). Nothing flows the other way but that button: the only messages this
client acts on are a press (``STOP``, not retained, so a stale retained message cannot revoke at every
reconnection) and Home Assistant's own "online" (send discovery again after Home Assistant restarts).

Threads: paho's network thread only queues a press or flags a re-announcement; this worker's thread does the
rest once a second. An event is remembered as announced (``<data-dir>/home-assistant/announced.json``) only once
the broker has acknowledged it, so a request that arrives while Home Assistant's broker is away is announced
when it comes back, and only once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_agent.config import keys
from edge_agent.config.models import HomeAssistantSettings
from edge_agent.consent.api import WaitingItem, waiting
from edge_agent.consent.state import ConsentRecord
from edge_agent.core.files import atomic_write
from edge_agent.core.paths import DevicePaths
from edge_agent.device import ha_discovery as ha
from edge_agent.device.ticker import Ticker
from edge_agent.errors import ConfigError
from edge_agent.transport.model import Credentials, TlsSettings, parse_broker_url
from edge_agent.transport.mqtt import InboundMessage, MqttLink, Will
from edge_agent.transport.topics import HomeAssistantTopics

log = logging.getLogger(__name__)

TICK_S = 1.0
ACK_WAIT_S = 3.0
PRESSES_MAX = 4


def check_not_center(settings: HomeAssistantSettings, center_broker: str | None) -> None:
    """Refuse the crime center's broker as Home Assistant's: nothing of the homeowner's goes there."""
    if center_broker is None:
        return
    ours, theirs = parse_broker_url(settings.broker), parse_broker_url(center_broker)
    if (ours.host.lower(), ours.port) == (theirs.host.lower(), theirs.port):
        raise ConfigError(
            f"home_assistant.broker {settings.broker} is the crime center's broker ({theirs.url}): Home Assistant "
            "must use the homeowner's own broker"
        )


def _credentials(settings: HomeAssistantSettings) -> Credentials | None:
    if not settings.username:
        return None
    password = keys.read_password(Path(settings.password_file)) if settings.password_file else ""
    return Credentials(settings.username, password)


class HomeAssistantBridge:
    def __init__(
        self,
        paths: DevicePaths,
        settings: HomeAssistantSettings,
        *,
        device_id: str,
        profile_name: str,
        consent: Callable[[], ConsentRecord],
        stop_sharing: Callable[[], None],
        center_broker: str | None = None,
    ) -> None:
        check_not_center(settings, center_broker)
        self.paths = paths
        self.settings = settings
        self.topics = HomeAssistantTopics(settings.discovery_prefix, settings.topic_prefix, device_id)
        self._entities = ha.discovery(self.topics, settings.name, profile_name)
        self._consent = consent
        self._stop_sharing = stop_sharing
        self.link = MqttLink(
            settings.broker,
            client_id=f"{device_id}-home-assistant",
            tls=TlsSettings(settings.tls_ca) if settings.tls_ca else None,
            will=Will(self.topics.availability, ha.OFFLINE, retain=True),
            credentials=_credentials(settings),
            on_message=self._on_message,
        )
        self._presses: queue.Queue[float] = queue.Queue(maxsize=PRESSES_MAX)
        self._announce = threading.Event()
        self._published: dict[str, bytes] = {}
        self._announced_path = paths.root / "home-assistant" / "announced.json"
        self._announced = self._load_announced()
        self._ticker = Ticker("Home Assistant", TICK_S, self.tick)
        self.presses = 0  # presses carried out (for tests and the log)

    # -- life cycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.link.subscribe(self.topics.stop_sharing, qos=1)
        self.link.subscribe(self.topics.home_assistant_status, qos=1)
        self.link.add_connection_listener(self._connection)
        self.link.start()  # connects in the background; the doorbell does not wait for Home Assistant
        self._ticker.start()
        log.info("Home Assistant: connecting to %s", self.link.url)

    def stop(self) -> None:
        self._ticker.stop()
        if self.link.connected:
            self.link.publish(self.topics.availability, ha.OFFLINE, qos=1, retain=True).wait(ACK_WAIT_S)
        self.link.stop()

    def _connection(self, up: bool) -> None:
        if up:
            self._announce.set()

    def _on_message(self, message: InboundMessage) -> None:
        """On paho's network thread: only queue."""
        if message.topic == self.topics.home_assistant_status:
            if message.payload == ha.ONLINE:
                self._announce.set()
            return
        if message.topic != self.topics.stop_sharing:
            return
        if message.retain:
            log.warning("Home Assistant: a retained press on %s was ignored (only a live press stops sharing)",
                        message.topic)
        elif message.payload != ha.PRESS.encode():
            log.warning("Home Assistant: unknown payload on %s ignored", message.topic)
        else:
            with contextlib.suppress(queue.Full):  # presses already waiting stop sharing just the same
                self._presses.put_nowait(time.time())

    # -- once a second ---------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        self._take_presses()
        if not self.link.connected:
            return
        if self._announce.is_set():
            self._announce.clear()
            for entity in self._entities:
                self._send(self.topics.config(entity.component, entity.object_id),
                           json.dumps(entity.config, sort_keys=True).encode("utf-8"))
            self._send(self.topics.availability, ha.ONLINE)
            self._published.clear()  # every state again: Home Assistant may have forgotten them
        state, attributes = ha.consent_state(self._consent(), now)
        self._update(self.topics.consent, state)
        self._update(self.topics.consent_attributes, attributes)
        items = waiting(self.paths, now)
        count, details = ha.pending_state(items)
        self._update(self.topics.pending, count)
        self._update(self.topics.pending_attributes, details)
        self._announce_new(items)

    def _take_presses(self) -> None:
        pressed = 0
        while True:
            try:
                self._presses.get_nowait()
            except queue.Empty:
                break
            pressed += 1
        if pressed:
            log.warning("Home Assistant: 'Stop sharing now' pressed: revoking consent")
            self._stop_sharing()
            self.presses += 1

    def _send(self, topic: str, payload: bytes, retain: bool = True) -> bool:
        return self.link.publish(topic, payload, qos=1, retain=retain).wait(ACK_WAIT_S)

    def _update(self, topic: str, payload: bytes) -> None:
        if self._published.get(topic) != payload and self._send(topic, payload):
            self._published[topic] = payload

    def _announce_new(self, items: list[WaitingItem]) -> None:
        current = {item.id for item in items}
        changed = not self._announced <= current
        self._announced &= current  # answered or expired: forgotten, so the file stays as small as the inbox
        for item in items:
            if item.id not in self._announced and self._send(self.topics.request_event, ha.request_event(item),
                                                             retain=False):
                self._announced.add(item.id)
                changed = True
                log.info("Home Assistant: told of %s request %s", item.kind, item.id)
        if changed:
            atomic_write(self._announced_path, json.dumps(sorted(self._announced)).encode("utf-8"), mode=0o600)

    def _load_announced(self) -> set[str]:
        try:
            data = json.loads(self._announced_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return {str(x) for x in data} if isinstance(data, list) else set()
