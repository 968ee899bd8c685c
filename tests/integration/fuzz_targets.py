"""Fuzz targets for everything that reads bytes from the network: the center's envelope decoder and ingest, the
part reassembler, and the device's request parser. Shared by the short run in the test suite and the long one in
``bench/fuzz_run.py``.

Each target states the contract: for any input it returns normally or raises the one error its caller handles
(``OpenError`` for envelopes and signed documents, ``ConsentError`` for request fields, ``TransportError`` for part
properties). Anything else, including a hang, is a finding. Inputs are hypothesis strategies: raw bytes, and
mutations (bit flips, truncation, insertion, splicing) of valid sealed segments and signed requests, which reach
far deeper than random bytes.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import strategies as st

from edge_agent.center.ingest import Ingestor
from edge_agent.center.keys import CenterPaths, DeviceRegistry, add_device, init_keys, load_keys
from edge_agent.config.identity import center_recipient_keys, enroll, init_identity, load_enrollment, load_identity
from edge_agent.consent.requests import make_request, parse_request
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError, OpenError, SealError, TransportError
from edge_agent.redact.redactor import RedactedFrame
from edge_agent.seal import Recipient, open_segment, seal_segment
from edge_agent.seal.signed import sign_document, verify_document
from edge_agent.segment.encoder import SegmentEncoder
from edge_agent.transport.model import InboundMessage
from edge_agent.transport.parts import MSG, PART, SHA256, SIZE, split_payload
from edge_agent.transport.reassembly import Reassembler

DEVICE = "fuzz-device"
TOPIC = f"rtcc/v1/{DEVICE}/segments"


@dataclass
class World:
    """A center with one enrolled device, valid sealed segments and valid signed requests to mutate."""

    root: Path
    center: CenterPaths
    ingestor: Ingestor
    reassembler: Reassembler
    sealed: list[bytes]
    requests: list[bytes]
    center_signing_key: Any
    outcomes: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0

    def timed(self, name: str, fn: Callable[[], str]) -> None:
        start = time.perf_counter()
        outcome = fn()
        self.slowest = max(self.slowest, time.perf_counter() - start)
        self.outcomes[f"{name}: {outcome}"] += 1


def make_world(root: Path | None = None) -> World:
    root = root or Path(tempfile.mkdtemp(prefix="edge-fuzz-"))
    center = CenterPaths(root / "center")
    center_pub = init_keys(center, "fuzz-center")
    device = DevicePaths(root / "device")
    add_device(center, init_identity(device, DEVICE))
    enroll(device, center_pub, "mqtt://127.0.0.1:1", None, None)
    enrollment = load_enrollment(device)
    assert enrollment is not None
    recipients = [Recipient(k) for k in center_recipient_keys(enrollment)]
    signer = load_identity(device).signing_key
    encoder = SegmentEncoder(device_id=DEVICE, width=32, height=32, fps=10, seconds=0.3, profile_hash="0" * 64)
    now = time.time()
    rng = np.random.default_rng(7)
    sealed: list[bytes] = []
    prev = ""
    for i in range(13):
        segment = encoder.push(RedactedFrame(i, now + i / 10, rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)))
        if segment is not None:
            s = seal_segment(segment, consent_id="c-fuzz", prev_hash=prev, signer=signer, recipients=recipients)
            sealed.append(s.blob)
            prev = s.header_hash
    keys = load_keys(center)
    requests = [
        make_request(keys.ed25519, device_id=DEVICE, center_id="fuzz-center", start=now - 3600, end=now,
                     case_id=f"case-{i}", reason="burglary", now=now)[1]
        for i in range(2)
    ]
    ingestor = Ingestor(center, keys, DeviceRegistry(center.devices), "rtcc/v1", check_consent=False)
    return World(root, center, ingestor, Reassembler(root / "parts"), sealed, requests, keys.ed25519)


# -- strategies ----------------------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "splice", "overwrite"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "splice":
            other = draw(st.sampled_from(seeds))
            cut = draw(st.integers(0, len(other)))
            data[pos:] = other[cut:]
        else:
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[pos : pos + len(chunk)] = chunk
    return bytes(data)


def payloads(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=2048), mutated(seeds))


_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=80))
json_values = st.recursive(_json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=12), inner,
                                                                               max_size=4)), max_leaves=12)
_REQUEST_KEYS = ["type", "id", "device_id", "center_id", "start", "end", "case_id", "reason", "legal_basis",
                 "nonce", "issued_at", "expires_at"]


@st.composite
def request_docs(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """Documents shaped like requests, with any field replaced, removed or of the wrong type."""
    base = verify_document(draw(st.sampled_from(world.requests)), world.center_signing_key.public_key())
    doc = dict(base)
    for key in draw(st.lists(st.sampled_from(_REQUEST_KEYS), max_size=4)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(json_values)
    return doc


part_props = st.lists(
    st.tuples(st.sampled_from([PART, MSG, SHA256, SIZE, "x"]), st.text(max_size=70)), max_size=6
).map(tuple)


# -- targets -------------------------------------------------------------------------------------------------


def envelope_target(world: World, data: bytes) -> None:
    keys = world.ingestor._keys  # the center's real keys
    registry = DeviceRegistry(world.center.devices)

    def run() -> str:
        try:
            open_segment(data, private_key=keys.x25519, device_key=registry)
        except OpenError:
            return "OpenError"
        return "opened" if data in world.sealed else "OPENED A MUTANT"

    world.timed("envelope", run)
    assert world.outcomes["envelope: OPENED A MUTANT"] == 0


def ingest_target(world: World, topic: str, data: bytes) -> None:
    def run() -> str:
        result = world.ingestor.ingest(topic, data)
        if result.status in ("stored", "duplicate") and data not in world.sealed:
            return "STORED A MUTANT"
        return result.status

    world.timed("ingest", run)
    assert world.outcomes["ingest: STORED A MUTANT"] == 0


def parts_target(world: World, props: tuple[tuple[str, str], ...], payload: bytes) -> None:
    def run() -> str:
        try:
            world.reassembler.feed(InboundMessage(TOPIC, payload, False, props))
        except TransportError:
            return "TransportError"
        return "accepted"

    world.timed("parts", run)


def split_parts(payload: bytes) -> list[InboundMessage]:
    return [InboundMessage(TOPIC, data, False, props) for data, props in split_payload(payload, 97)]


def request_bytes_target(world: World, data: bytes) -> None:
    """The device's first step on a request message: signature, then fields."""
    def run() -> str:
        try:
            doc = verify_document(data, world.center_signing_key.public_key())
        except OpenError:
            return "OpenError"
        try:
            request = parse_request(doc)
        except ConsentError:
            return "ConsentError"
        if data in world.requests:
            return "parsed"
        # The signature covers the canonical document, not the wire bytes: JSON whitespace around it changes the
        # bytes, not the request (the device de-duplicates by id and nonce). Any other change is a finding.
        originals = [parse_request(verify_document(r, world.center_signing_key.public_key())) for r in world.requests]
        return "parsed (same request, other whitespace)" if request in originals else "PARSED A MUTANT"

    world.timed("request", run)
    assert world.outcomes["request: PARSED A MUTANT"] == 0


def request_fields_target(world: World, doc: dict[str, Any]) -> None:
    """A correctly signed document with hostile fields (a buggy or compromised center tool)."""
    def run() -> str:
        try:
            data = sign_document(doc, world.center_signing_key)
        except SealError:
            return "unsignable"  # e.g. NaN: the center's own tools cannot send it
        try:
            parse_request(verify_document(data, world.center_signing_key.public_key()))
        except ConsentError:
            return "ConsentError"
        return "parsed"

    world.timed("request fields", run)


def summary(world: World) -> str:
    return json.dumps(dict(sorted(world.outcomes.items())), indent=1)
