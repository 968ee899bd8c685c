"""The homeowner's Home Assistant, on a real Mosquitto standing in for the homeowner's broker (with a password, as
Home Assistant's Mosquitto add-on has): discovery checked against the documented schema, states, one event per
request, the stop button revoking exactly like ``consent revoke``, availability, and nothing of the center's."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.config.identity import init_identity
from edge_agent.config.loader import load_profile
from edge_agent.config.models import HomeAssistantSettings, Profile
from edge_agent.consent.inbox import Inbox
from edge_agent.consent.masking import make_masking_request
from edge_agent.consent.masking_inbox import MaskingInbox
from edge_agent.consent.requests import make_request
from edge_agent.consent.state import ConsentStore
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.device import homeowner
from edge_agent.device.daemon import Agent, RunOptions
from edge_agent.device.home_assistant import HomeAssistantBridge, check_not_center
from edge_agent.errors import ConfigError
from edge_agent.transport.mqtt import Credentials, InboundMessage, MqttLink
from tests.integration.ha_schema import check_discovery, check_event
from tests.integration.spine_helpers import CenterThread, make_setup, wait_for

USER, PASSWORD = "edge-agent", "correct horse battery"
DEVICE = "door-ha"


class Listener:
    """Home Assistant's side: everything published on the homeowner's broker, by topic."""

    def __init__(self, url: str) -> None:
        self.messages: dict[str, list[InboundMessage]] = defaultdict(list)
        self.lock = threading.Lock()
        self.link = MqttLink(url, client_id=f"home-assistant-test-{id(self)}", credentials=Credentials(USER, PASSWORD),
                             on_message=self._got)
        self.link.subscribe("#", qos=1)
        self.link.connect(timeout=5)

    def _got(self, message: InboundMessage) -> None:
        with self.lock:
            self.messages[message.topic].append(message)

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            found = self.messages.get(topic)
            return found[-1].payload if found else None

    def all(self, topic: str) -> list[bytes]:
        with self.lock:
            return [m.payload for m in self.messages.get(topic, [])]

    def topics(self) -> list[str]:
        with self.lock:
            return list(self.messages)

    def wait(self, what: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not what():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)

    def press(self, payload: bytes = b"STOP", retain: bool = False) -> None:
        self.link.publish(f"edge-agent/{DEVICE}/stop-sharing", payload, qos=1, retain=retain).wait(5)


@pytest.fixture
def home_broker(mosquitto_factory, tmp_path: Path):
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD], check=True,
                   capture_output=True)
    passwords.chmod(0o600)
    return mosquitto_factory([f"password_file {passwords}", "allow_anonymous false"])


def _settings(url: str, tmp_path: Path) -> HomeAssistantSettings:
    secret = tmp_path / "ha-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    return HomeAssistantSettings(enabled=True, broker=url, username=USER, password_file=str(secret))


@pytest.fixture
def device(tmp_path: Path) -> tuple[DevicePaths, Profile]:
    paths = DevicePaths(tmp_path / "device")
    init_identity(paths, DEVICE)
    profile, _ = load_profile(None)
    return paths, profile


@pytest.fixture
def listener(home_broker) -> Iterator[Listener]:
    listening = Listener(home_broker.url)
    yield listening
    listening.link.stop()


def _bridge(paths: DevicePaths, profile: Profile, settings: HomeAssistantSettings) -> HomeAssistantBridge:
    return HomeAssistantBridge(
        paths, settings, device_id=DEVICE, profile_name=profile.name,
        consent=lambda: ConsentStore(paths.consent).current(),
        stop_sharing=lambda: homeowner.revoke(paths, profile, reason="stop pressed in Home Assistant"),
    )


def _police_request(paths: DevicePaths, case_id: str) -> str:
    key = Ed25519PrivateKey.generate()
    now = time.time()
    _, wire = make_request(key, device_id=DEVICE, center_id="c-1", start=now - 900, end=now - 300, case_id=case_id,
                           reason="burglary \u202eopposite", now=now)
    return Inbox(paths).receive(wire, center_key=key.public_key(), device_id=DEVICE, max_window_hours=2.0,
                                mode="on-request", now=now).id


def _masking_request(paths: DevicePaths, prop: str) -> str:
    """A neighbour's signed masking request, checked into the device's inbox as the agent does."""
    key = Ed25519PrivateKey.generate()
    now = time.time()
    _, wire = make_masking_request(key, device_id=DEVICE, center_id="c-1", property=prop,
                                   description="the blue house", area="Elm St north", now=now)
    inbox = MaskingInbox(paths)
    request = inbox.authentic(wire, key.public_key(), DEVICE, now)
    assert request is not None
    return inbox.accept(request, now).id


def test_discovery_states_events_and_the_stop_button(device, home_broker, listener, tmp_path):
    paths, profile = device
    homeowner.grant_live(paths, profile, until=time.time() + 1800)
    listener.press(retain=True)  # a stale retained press waits on the broker: it must not revoke anything
    bridge = _bridge(paths, profile, _settings(home_broker.url, tmp_path))
    bridge.start()
    try:
        base = f"edge-agent/{DEVICE}"
        configs = [f"homeassistant/{c}/{DEVICE}/{o}/config" for c, o in
                   (("sensor", "sharing"), ("sensor", "requests_waiting"), ("button", "stop_sharing"),
                    ("event", "request"))]
        listener.wait(lambda: all(listener.last(t) for t in configs) and listener.last(f"{base}/pending") == b"0")
        checked = {}
        for topic in configs:
            _, config = check_discovery(topic, listener.last(topic))
            checked[config["unique_id"]] = config
            assert config["availability_topic"] == f"{base}/availability"
            assert config["device"]["identifiers"] == [f"edge-agent-{DEVICE}"]
        late = Listener(home_broker.url)  # Home Assistant started later: the configs wait for it, retained
        try:
            late.wait(lambda: all(late.last(t) for t in configs))
            assert all(late.messages[t][-1].retain for t in configs)
        finally:
            late.link.stop()
        assert listener.last(f"{base}/availability") == b"online"
        assert listener.last(f"{base}/consent") == b"live"
        attributes = json.loads(listener.last(f"{base}/consent/attributes"))
        assert attributes["sharing_now"] is True and attributes["until"].endswith("Z")
        assert ConsentStore(paths.consent).current().mode == "live"  # the retained press did nothing

        request_id = _police_request(paths, "CASE-\u202e9")
        event_config = checked[f"edge-agent-{DEVICE}-request"]
        listener.wait(lambda: listener.all(f"{base}/request-event"))
        event = check_event(listener.all(f"{base}/request-event")[0], event_config)
        assert event == {"event_type": "police_request", "id": request_id, "case": "CASE-9",
                         "answer_by": event["answer_by"]}
        listener.wait(lambda: listener.last(f"{base}/pending") == b"1")
        assert json.loads(listener.last(f"{base}/pending/attributes"))["ids"] == [request_id]

        # A neighbour's masking request is announced the same way, as its own event type.
        masking_id = _masking_request(paths, "14 Elm \u202eStreet")
        listener.wait(lambda: len(listener.all(f"{base}/request-event")) == 2)
        event = check_event(listener.all(f"{base}/request-event")[1], event_config)
        assert event == {"event_type": "masking_request", "id": masking_id, "property": "14 Elm Street",
                         "answer_by": event["answer_by"]}
        listener.wait(lambda: listener.last(f"{base}/pending") == b"2")
        pending = json.loads(listener.last(f"{base}/pending/attributes"))
        assert pending["ids"] == [request_id, masking_id] and (pending["police"], pending["masking"]) == (1, 1)

        listener.press(b"PRESS")  # not the documented payload_press: ignored
        time.sleep(2.5)
        assert ConsentStore(paths.consent).current().mode == "live"
        listener.press()
        listener.wait(lambda: listener.last(f"{base}/consent") == b"off")
        record = ConsentStore(paths.consent).current()
        assert record.mode == "off" and record.reason == "stop pressed in Home Assistant"
        change = [e for e in AuditLog(paths.audit).entries() if e["kind"] == "consent_change"][-1]
        assert change["mode"] == "off" and change["consent_id"] == record.id

        before = len(listener.all(configs[0]))
        listener.link.publish("homeassistant/status", b"online", qos=1).wait(5)  # Home Assistant restarted
        listener.wait(lambda: len(listener.all(configs[0])) > before)
    finally:
        bridge.stop()
    listener.wait(lambda: listener.last(f"edge-agent/{DEVICE}/availability") == b"offline")

    again = _bridge(paths, profile, _settings(home_broker.url, tmp_path))  # a restart announces nothing twice
    again.start()
    try:
        listener.wait(lambda: listener.last(f"edge-agent/{DEVICE}/availability") == b"online")
        time.sleep(2.5)
    finally:
        again.stop()
    assert len(listener.all(f"edge-agent/{DEVICE}/request-event")) == 2
    # Only the device's own topics and Home Assistant's: nothing of the crime center's.
    assert all(t.startswith(("homeassistant/", f"edge-agent/{DEVICE}/")) for t in listener.topics())


def test_the_crime_centers_broker_is_refused_for_home_assistant(device, tmp_path):
    settings = HomeAssistantSettings(enabled=True, broker="mqtts://rtcc.example.org:8883")
    with pytest.raises(ConfigError, match="crime center's broker"):
        check_not_center(settings, "mqtts://RTCC.example.org")  # 8883 by default
    check_not_center(settings, "mqtts://broker.other.example:8883")
    check_not_center(settings, "mqtts://rtcc.example.org:8884")  # another broker on that host
    with pytest.raises(ConfigError, match="readable by others"):
        secret = tmp_path / "open"
        secret.write_text("x\n")
        secret.chmod(0o644)
        paths, profile = device
        _bridge(paths, profile, HomeAssistantSettings(enabled=True, broker="mqtt://127.0.0.1:1", username="u",
                                                      password_file=str(secret)))


def test_a_wrong_password_keeps_the_doorbell_running(device, home_broker, tmp_path):
    paths, profile = device
    settings = _settings(home_broker.url, tmp_path)
    (tmp_path / "ha-password").write_text("not it\n")
    bridge = _bridge(paths, profile, settings)
    bridge.start()
    try:
        time.sleep(1.5)
        assert not bridge.link.connected
        bridge.tick(time.time())  # nothing to send to, nothing raised
    finally:
        bridge.stop()


def test_the_agent_stops_sharing_when_the_button_is_pressed(tmp_path, mosquitto, home_broker):
    """The whole agent: a live stream to the center; Home Assistant's button stops it like ``consent revoke``."""
    setup = make_setup(tmp_path, mosquitto.url, device_id=DEVICE)
    secret = _settings(home_broker.url, tmp_path).password_file
    setup.profile.write_text(setup.profile.read_text().replace("[camera]", f"""[home_assistant]
enabled = true
broker = "{home_broker.url}"
username = "{USER}"
password_file = "{secret}"

[camera]"""))
    profile, _ = load_profile(str(setup.profile))
    homeowner.grant_live(setup.device, profile, until=time.time() + 600)
    listener = Listener(home_broker.url)
    agent = Agent(RunOptions(data_dir=setup.device.root, profile=str(setup.profile), duration=12.0))
    base = f"edge-agent/{DEVICE}"
    try:
        with CenterThread(setup):
            device = threading.Thread(target=agent.run, daemon=True)
            device.start()
            listener.wait(lambda: listener.last(f"{base}/consent") == b"live")
            assert wait_for((setup.center.root / "evidence.jsonl").exists, timeout=15)
            listener.press()
            listener.wait(lambda: listener.last(f"{base}/consent") == b"off")
            revoked = ConsentStore(setup.device.consent).current()
            device.join(timeout=40)
            listener.wait(lambda: listener.last(f"{base}/availability") == b"offline")  # the agent said goodbye
    finally:
        listener.link.stop()
    assert revoked.mode == "off" and revoked.reason == "stop pressed in Home Assistant"
    evidence = [json.loads(line) for line in (setup.center.root / "evidence.jsonl").read_text().splitlines()]
    assert evidence and all(e["end"] <= revoked.starts_at for e in evidence)  # nothing made after the press left
