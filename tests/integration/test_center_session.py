"""`edge-center subscribe` keeps a persistent session by default: what the broker receives for the center while
the subscriber is stopped is delivered when it starts again with the same (default) options. A clean session
would lose it at the broker, and the repair could not ask for it either (the device here is not online)."""

from __future__ import annotations

from edge_agent.transport.mqtt import MqttLink
from edge_agent.transport.topics import Topics
from tests.integration.spine_helpers import CenterThread, make_setup, wait_for


def _publish(url: str, topic: str, payload: bytes) -> None:
    link = MqttLink(url, client_id="session-probe")
    link.connect()
    try:
        assert link.publish(topic, payload, qos=1).wait(10)
    finally:
        link.stop()


def test_default_subscriber_gets_what_arrived_while_it_was_stopped(tmp_path, mosquitto):
    setup = make_setup(tmp_path, mosquitto.url)
    topic = Topics("rtcc/v1", "test-device").segments
    with CenterThread(setup) as center:  # no client id, no session option: the defaults
        # Known to be subscribed once a message reaches it (refused: not a sealed segment); sent again until then.
        for _ in range(10):
            _publish(mosquitto.url, topic, b"probe")
            if wait_for(lambda: center.counts["rejected"] >= 1, timeout=2):
                break
        assert center.counts["rejected"] >= 1, dict(center.counts)
    _publish(mosquitto.url, topic, b"sent while the center was stopped")
    with CenterThread(setup) as again:
        assert wait_for(lambda: again.counts["rejected"] >= 1, timeout=20), dict(again.counts)
