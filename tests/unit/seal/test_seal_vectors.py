"""The published test vectors: every valid one opens, every invalid one is refused, and both the library and
the independent generator reproduce them byte for byte."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge_agent.errors import OpenError
from edge_agent.seal import Recipient, open_segment, sign_document, verify_document, verify_segment
from edge_agent.seal.envelope import build_envelope
from edge_agent.segment.model import Segment, SegmentMeta

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
ENVELOPES: dict[str, Any] = json.loads((VECTORS / "envelope-v1.json").read_text("utf-8"))
DOCUMENTS: dict[str, Any] = json.loads((VECTORS / "signed-document-v1.json").read_text("utf-8"))
KEYS = ENVELOPES["keys"]


def _x25519(name: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(KEYS[name]["x25519_private"]))


def _lookup(name: str | None) -> Callable[[str], Ed25519PublicKey | None]:
    public = None if name is None else Ed25519PublicKey.from_public_bytes(bytes.fromhex(KEYS[name]["ed25519_public"]))
    return lambda device_id: public if device_id == ENVELOPES["device_id"] else None


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["name"] for v in vectors]


def test_vector_files_are_what_the_generator_writes() -> None:
    for path, text in GEN.render().items():
        assert path.read_text("utf-8") == text, f"{path.name}: run python tests/vectors/generate.py"


def test_generator_hpke_matches_rfc9180_appendix_a21() -> None:
    """RFC 9180 A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode, sequence 0."""
    sk_r = X25519PrivateKey.from_private_bytes(
        bytes.fromhex("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb")
    )
    assert GEN.x25519_raw(sk_r.public_key()).hex() == (
        "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a"
    )
    out = GEN.hpke_seal_base(
        sk_r.public_key(),
        bytes.fromhex("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b"),
        bytes.fromhex("4f6465206f6e2061204772656369616e2055726e"),
        b"Count-0",
        b"Beauty is truth, truth beauty",
    )
    assert out.hex() == (
        "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a"
        "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"
    )


@pytest.mark.parametrize("vector", ENVELOPES["valid"], ids=_ids(ENVELOPES["valid"]))
def test_valid_vector_opens(vector: dict[str, Any]) -> None:
    blob = bytes.fromhex(vector["blob"])
    for name in vector["open_with"]:
        opened = open_segment(blob, private_key=_x25519(name), device_key=_lookup("device"))
        assert opened.plaintext.hex() == vector["plaintext"]
        assert opened.header_hash == vector["header_hash"]
        assert opened.sealed_sha256 == vector["sealed_sha256"]
        expected = dict(vector["header"])
        recipients = expected.pop("recipients")
        assert {k: getattr(opened.header, k) for k in expected} == expected
        assert [(e.kid, base64.b64encode(e.wrapped).decode()) for e in opened.header.recipients] == [
            (r["kid"], r["wrapped"]) for r in recipients
        ]
    assert verify_segment(blob, device_key=_lookup("device")).seq == vector["header"]["seq"]
    with pytest.raises(OpenError):
        open_segment(blob, private_key=_x25519("stranger"), device_key=_lookup("device"))


@pytest.mark.parametrize("vector", ENVELOPES["invalid"], ids=_ids(ENVELOPES["invalid"]))
def test_invalid_vector_is_refused(vector: dict[str, Any]) -> None:
    blob = bytes.fromhex(vector["blob"])
    with pytest.raises(OpenError):
        open_segment(blob, private_key=_x25519(vector["open_with"]), device_key=_lookup(vector["device_key"]))
    if vector["verify_ok"]:
        verify_segment(blob, device_key=_lookup(vector["device_key"]))  # damage is past the signature
    else:
        with pytest.raises(OpenError):
            verify_segment(blob, device_key=_lookup(vector["device_key"]))


@pytest.mark.parametrize("vector", ENVELOPES["valid"], ids=_ids(ENVELOPES["valid"]))
def test_library_seals_the_same_bytes(vector: dict[str, Any]) -> None:
    """Given the vector's content key and ephemeral seeds, the library's sealer writes the identical blob."""
    header = vector["header"]
    wraps = {w["kid"]: w for w in vector["intermediate"]["wraps"]}

    def wrap(content_key: bytes, public: X25519PublicKey, info: bytes) -> bytes:
        entry = wraps[GEN.key_id(GEN.x25519_raw(public))]
        assert info.hex() == entry["info"]
        return bytes(GEN.hpke_seal_base(public, bytes.fromhex(entry["ikm_e"]), info, b"", content_key))

    meta = SegmentMeta(**{f: header[f] for f in SegmentMeta.__dataclass_fields__})
    sealed = build_envelope(
        Segment(meta=meta, data=bytes.fromhex(vector["plaintext"])),
        consent_id=header["consent_id"],
        prev_hash=header["prev_hash"],
        signer=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(KEYS["device"]["ed25519_private"])),
        recipients=[Recipient(_x25519(w["recipient"]).public_key()) for w in vector["intermediate"]["wraps"]],
        content_key=bytes.fromhex(vector["intermediate"]["content_key"]),
        created_at=header["created_at"],
        wrap=wrap,
        chunk_size=header["chunk_size"],
    )
    assert sealed.blob.hex() == vector["blob"]
    assert sealed.header_hash == vector["header_hash"]


def test_signed_document_vectors() -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(DOCUMENTS["signer_ed25519_private"]))
    for vector in DOCUMENTS["valid"]:
        wire = bytes.fromhex(vector["wire"])
        assert sign_document(vector["doc"], key) == wire  # Ed25519 is deterministic
        assert verify_document(wire, key.public_key()) == vector["doc"]
    for vector in DOCUMENTS["invalid"]:
        with pytest.raises(OpenError):
            verify_document(bytes.fromhex(vector["wire"]), key.public_key())
