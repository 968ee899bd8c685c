"""The broker's answers keep their reason codes: a refusal says which (135: not authorized), and a link that
stopped before any answer is a named code of ours, not a refusal."""

from __future__ import annotations

from edge_agent.outbox.drain import OutboxPublisher
from edge_agent.transport.result import LINK_STOPPED, Ack, PublishResult


def _result(*answers: tuple[int, str]) -> PublishResult:
    acks = []
    for code, reason in answers:
        ack = Ack()
        ack.settle(code, reason)
        acks.append(ack)
    return PublishResult("edge/door-1/segments", acks)


def test_a_refusal_keeps_the_brokers_code_and_words() -> None:
    result = _result((0, "Success"), (135, "Not authorized"))
    assert result.refused and not result.abandoned and result.done
    assert result.refusal == (135, "Not authorized")
    assert OutboxPublisher._refusal(result) == "Not authorized (135)"


def test_a_stopped_link_is_not_a_refusal() -> None:
    result = _result((LINK_STOPPED, "link stopped before the broker answered"))
    assert result.abandoned and not result.refused and result.refusal is None
    assert LINK_STOPPED < 0  # never one of MQTT's reason codes (0-255)
