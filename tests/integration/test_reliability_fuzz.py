"""Hostile input, short run (the long one is bench/fuzz_run.py): the center's decoders and the device's request
parser survive arbitrary bytes and reject every bad input with their one error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge_agent.errors import TransportError
from edge_agent.transport.parts import MSG, PART, SHA256, SIZE
from edge_agent.transport.reassembly import Reassembler
from tests.integration import fuzz_documents as fd
from tests.integration import fuzz_targets as ft

RUN = settings(max_examples=300, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> ft.World:
    return ft.make_world(tmp_path_factory.mktemp("fuzz"))


def test_envelope_decoder(world: ft.World) -> None:
    RUN(given(ft.payloads(world.sealed))(lambda data: ft.envelope_target(world, data)))()
    assert world.outcomes["envelope: OpenError"] > 0


def test_center_ingest(world: ft.World) -> None:
    topics = st.one_of(st.just(ft.TOPIC), st.text(max_size=60))
    RUN(given(topics, ft.payloads(world.sealed))(lambda t, d: ft.ingest_target(world, t, d)))()
    assert world.outcomes["ingest: rejected"] > 0


@example(((PART, "1/1"), (MSG, "0" * 32), (SHA256, "0" * 64), (SIZE, "²")), b"x")  # str.isdigit() says yes
@example(((PART, "2/1"), (MSG, "0" * 32), (SHA256, "0" * 64), (SIZE, "1")), b"x")
@example(((PART, "0/0"),), b"")
@given(props=ft.part_props, payload=st.binary(max_size=256))
@RUN
def test_part_properties(world: ft.World, props: tuple[tuple[str, str], ...], payload: bytes) -> None:
    ft.parts_target(world, props, payload)


def test_parts_of_a_real_segment_still_reassemble(world: ft.World, tmp_path: Path) -> None:
    reassembler = Reassembler(tmp_path / "parts")
    results = [reassembler.feed(msg) for msg in ft.split_parts(world.sealed[0])]
    assert results[-1] == world.sealed[0] and results[:-1] == [None] * (len(results) - 1)
    # A part whose size is not plain ASCII digits is refused with the reassembler's one error.
    bad = ft.InboundMessage(ft.TOPIC, b"x", False, ((PART, "1/1"), (MSG, "0" * 32), (SHA256, "0" * 64),
                                                    (SIZE, "²")))
    with pytest.raises(TransportError, match="malformed part properties"):
        reassembler.feed(bad)


def test_device_request_messages(world: ft.World) -> None:
    RUN(given(ft.payloads(world.requests))(lambda data: ft.request_bytes_target(world, data)))()
    assert world.outcomes["request: OpenError"] > 0


def test_signed_requests_with_hostile_fields(world: ft.World) -> None:
    RUN(given(ft.request_docs(world))(lambda doc: ft.request_fields_target(world, doc)))()
    assert world.outcomes["request fields: ConsentError"] > 0


# The document targets run fewer inputs here (bench/fuzz_run.py runs the long ones): each is signed and verified.
DOCS = settings(max_examples=120, database=None, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def documents(world: ft.World) -> fd.Documents:
    return fd.make_documents(world)


@pytest.mark.parametrize("kind", ["consent", "answer", "loghead", "resend-answer", "status"])
def test_every_document_type_with_hostile_fields(documents: fd.Documents, kind: str) -> None:
    DOCS(given(fd.hostile(documents, kind))(lambda doc: fd.center_document_target(documents, kind, doc)))()
    assert documents.world.outcomes[f"{kind}: rejected"] > 0


@pytest.mark.parametrize("kind", ["consent", "answer", "loghead", "resend-answer", "status"])
def test_every_document_type_as_mutated_bytes(documents: fd.Documents, kind: str) -> None:
    DOCS(given(fd.raw(documents, kind))(lambda data: fd.center_document_target(documents, kind, None, data)))()
    assert documents.world.outcomes[f"{kind}: rejected"] > 0


def test_resend_requests_with_hostile_fields_and_mutated_bytes(documents: fd.Documents) -> None:
    DOCS(given(fd.hostile(documents, "resend"))(lambda doc: fd.resend_target(documents, doc)))()
    DOCS(given(fd.raw(documents, "resend"))(lambda data: fd.resend_target(documents, None, data)))()
    assert documents.world.outcomes["resend: ConsentError"] > 0
