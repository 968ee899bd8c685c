"""The crime center's subscriber: MQTT in, :class:`Intake` per message, acknowledged once its answer is durable.

Every message gets an answer (stored, refused, held, set aside: see :mod:`edge_agent.center.intake`) and is then
acknowledged, in batches (:mod:`edge_agent.center.batching`): one poison message never fills the broker's in-flight
window for the center.

The session is persistent by default: the client id is derived from the center's id and the worker's name
(``edge-center-<center>-<worker>``), so a restarted subscriber resumes its session and the broker keeps what
arrives while it is away. Workers of one shared subscription each need their own ``worker`` name.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from edge_agent.center.batching import BatchIngest
from edge_agent.center.indexer import SegmentIndexer
from edge_agent.center.intake import Intake, control_filters
from edge_agent.center.keys import CenterPaths, DeviceRegistry, load_keys
from edge_agent.center.neighbours import NeighbourDesk
from edge_agent.center.requests import RequestCourier
from edge_agent.config.models import TlsSettings
from edge_agent.errors import CenterError
from edge_agent.transport.mqtt import InboundMessage, MqttLink
from edge_agent.transport.parts import MAX_PAYLOAD
from edge_agent.transport.topics import segments_filter

log = logging.getLogger(__name__)

# At most this many unacknowledged messages in flight from the broker (MQTT v5 Receive Maximum), each at most one
# maximum payload plus room for its headers (Maximum Packet Size: the broker drops larger ones for the center,
# which would refuse them anyway).
RECEIVE_MAXIMUM = 20
MAX_PACKET = MAX_PAYLOAD + (64 << 10)
REPAIR_EVERY_S = 2.0  # how often the repair looks at each device's chain (and the housekeeping runs)
SESSION_EXPIRY_S = 7 * 24 * 3600
_WORKER_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


@dataclass(frozen=True, slots=True)
class SubscribeOptions:
    broker: str
    topic_prefix: str = "rtcc/v1"
    share_group: str | None = None
    duration: float | None = None
    client_id: str | None = None  # default: derived from the center's id and the worker name
    worker: str = "main"
    clean_session: bool = False  # True: the broker forgets this subscriber when it disconnects
    tls: TlsSettings | None = None


def client_id_for(center_id: str, worker: str) -> str:
    """The stable client id of one worker of one center: its persistent session outlives restarts."""
    if not _WORKER_RE.fullmatch(worker):
        raise CenterError(f"invalid worker name {worker!r}: expected 1-32 of A-Z, a-z, 0-9, '_', '-'")
    return f"edge-center-{center_id}-{worker}"


def run_subscriber(
    paths: CenterPaths,
    options: SubscribeOptions,
    stop: threading.Event | None = None,
    counts: Counter[str] | None = None,
) -> Counter[str]:
    """Subscribe until ``duration`` elapses or ``stop`` is set; returns the ingest counts (updated live in
    ``counts`` when given)."""
    keys = load_keys(paths)

    def receive(msg: InboundMessage) -> None:
        batches.put(msg)  # on paho's network thread: only queue

    def online(device_id: str) -> None:
        courier.device_online(device_id)
        neighbours.device_online(device_id, link.publish, options.topic_prefix)

    def idle() -> None:
        intake.housekeeping()
        neighbours.dispatch(link.publish, options.topic_prefix)  # neighbours' asks recorded since the last time

    def publish(topic: str, payload: bytes, **properties: Any) -> object:
        return link.publish(topic, payload, **properties)

    intake = Intake(paths, keys, DeviceRegistry(paths.devices), options.topic_prefix, counts, durable=False,
                    on_online=online, publish=publish)
    stop = stop or threading.Event()
    client_id = options.client_id or client_id_for(keys.identity.center_id, options.worker)
    persistent = not options.clean_session
    link = MqttLink(
        options.broker,
        client_id=client_id,
        tls=options.tls,
        clean_start=not persistent,
        session_expiry=SESSION_EXPIRY_S if persistent else 0,
        on_message=receive,
        manual_ack=True,
        receive_maximum=RECEIVE_MAXIMUM,
        max_packet_size=MAX_PACKET,
    )
    courier = RequestCourier(paths, options.topic_prefix, link.publish)
    neighbours = NeighbourDesk(paths)
    batches = BatchIngest(intake.handle, intake.sync, link.ack, idle=idle, idle_every=REPAIR_EVERY_S)
    for topic_filter in control_filters(options.topic_prefix):
        link.subscribe(topic_filter, qos=1)
    link.subscribe(segments_filter(options.topic_prefix, options.share_group), qos=1)
    indexer = intake.ingestor.on_result = SegmentIndexer(paths)  # the evidence index, for the console
    worker = threading.Thread(target=batches.run, name="center-ingest", daemon=True)
    worker.start()
    try:
        link.connect()
        link.start()
        log.info("subscribed to %s as %s (%s session)", segments_filter(options.topic_prefix, options.share_group),
                 client_id, "persistent" if persistent else "clean")
        stop.wait(options.duration)
    finally:
        # Finish, sync and acknowledge what was received before disconnecting; whatever arrives after this is
        # left unacknowledged, for the broker to deliver again.
        batches.close()
        worker.join()
        link.stop()
        indexer.close()
    sizes = batches.batch_sizes
    if sizes:
        log.info("committed %d batch(es), %.1f message(s) each on average, at most %d",
                 sizes.total(), sum(k * v for k, v in sizes.items()) / sizes.total(), max(sizes))
    return intake.counts
