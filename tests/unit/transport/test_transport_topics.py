"""Topic names: built and parsed in one place, device ids validated both ways."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_agent.errors import TransportError
from edge_agent.transport.model import parse_broker_url
from edge_agent.transport.topics import (
    KINDS,
    Topics,
    check_filter,
    device_filter,
    parse_topic,
    segments_filter,
)


def test_topics_of_a_device() -> None:
    t = Topics("rtcc/v1", "door-1")
    assert t.status == "rtcc/v1/door-1/status"
    assert t.consent == "rtcc/v1/door-1/consent"
    assert t.segments == "rtcc/v1/door-1/segments"
    assert t.requests == "rtcc/v1/door-1/requests"
    assert t.answers == "rtcc/v1/door-1/answers"
    assert t.loghead == "rtcc/v1/door-1/loghead"


@pytest.mark.parametrize("bad", ["", "ab", "Door-1", "door/1", "door+", "#", "a" * 65, "door 1", "dóor"])
def test_invalid_device_ids_are_refused(bad: str) -> None:
    with pytest.raises(TransportError, match="invalid device id"):
        Topics("rtcc/v1", bad)


@pytest.mark.parametrize("bad", ["", "/rtcc", "rtcc/", "rtcc//v1", "rtcc/+", "rtcc/#", "$SYS"])
def test_invalid_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(TransportError, match="invalid topic prefix"):
        Topics(bad, "door-1")


@given(
    device_id=st.from_regex(r"[a-z0-9-]{3,64}", fullmatch=True),
    kind=st.sampled_from(sorted(KINDS)),
)
def test_parse_inverts_build(device_id: str, kind: str) -> None:
    topic = Topics("rtcc/v1", device_id).topic(kind)
    assert parse_topic("rtcc/v1", topic) == (device_id, kind)


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/door-1/segments",
        "rtcc/v1/door-1",
        "rtcc/v1/door-1/segments/x",
        "rtcc/v1/Door-1/segments",
        "rtcc/v1/../segments",
        "rtcc/v1/door-1/secrets",
        "rtcc/v10/door-1/segments",
    ],
)
def test_foreign_topics_are_refused(topic: str) -> None:
    with pytest.raises(TransportError):
        parse_topic("rtcc/v1", topic)


def test_filters() -> None:
    assert segments_filter("rtcc/v1") == "rtcc/v1/+/segments"
    assert segments_filter("rtcc/v1", "center") == "$share/center/rtcc/v1/+/segments"
    assert device_filter("rtcc/v1", "answers") == "rtcc/v1/+/answers"
    assert device_filter("rtcc/v1", "status", "g1") == "$share/g1/rtcc/v1/+/status"
    with pytest.raises(TransportError, match="share group"):
        segments_filter("rtcc/v1", "a/b")
    with pytest.raises(TransportError, match="unknown topic kind"):
        device_filter("rtcc/v1", "#")


def test_broker_urls() -> None:
    a = parse_broker_url("mqtt://127.0.0.1:1884")
    assert (a.host, a.port, a.tls, a.url) == ("127.0.0.1", 1884, False, "mqtt://127.0.0.1:1884")
    b = parse_broker_url("mqtts://center.example")
    assert (b.port, b.tls) == (8883, True)
    assert parse_broker_url("mqtt://[::1]:1883").url == "mqtt://[::1]:1883"
    for bad in ["http://h:1", "mqtt://", "mqtt://h:99999", "mqtt://u:p@h:1", "mqtt://h:1/x", "h:1"]:
        with pytest.raises(TransportError, match="invalid broker URL"):
            parse_broker_url(bad)


@pytest.mark.parametrize(
    "good", ["rtcc/v1/+/segments", "rtcc/#", "#", "+", "$share/center/rtcc/v1/+/segments", "a/+/b/#"]
)
def test_valid_filters(good: str) -> None:
    assert check_filter(good) == good


@pytest.mark.parametrize("bad", ["", "rtcc/#/x", "rtcc/a#", "rtcc/a+/b", "$share/center", "$share//a", "a\0b"])
def test_invalid_filters_are_refused_before_they_are_stored(bad: str) -> None:
    with pytest.raises(TransportError, match="invalid"):
        check_filter(bad)
