"""Regenerate the test vectors in this folder: ``python tests/vectors/generate.py``.

This is a second, independent implementation of ``docs/envelope.md`` (it does not import ``edge_agent``), built
from ``cryptography``'s primitives and the standard library only. It also carries a small RFC 9180 HPKE
(base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) whose ephemeral key is derived from a
fixed seed, because the library's HPKE always draws fresh randomness. Every key, content key and timestamp is
derived from a fixed label, so the output is the same byte for byte on every run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

HERE = Path(__file__).resolve().parent
ENVELOPE_FILE = HERE / "envelope-v1.json"
DOCUMENT_FILE = HERE / "signed-document-v1.json"

MAGIC = b"EDGESEAL"
VERSION = 1
PREFIX = struct.Struct(">8sHIQ")
DOC_CONTEXT = b"edge-agent signed document v1\x00"
RAW = serialization.Encoding.Raw


# --- RFC 9180, section 4 and 5.1, base mode, single shot -----------------------------------------------------

KEM_SUITE = b"KEM" + (0x0020).to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + (0x0020).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0x0003).to_bytes(2, "big")


def labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), b"HPKE-v1" + suite + label + ikm, hashlib.sha256).digest()


def labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled = length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info
    return HKDFExpand(hashes.SHA256(), length, labeled).derive(prk)


def derive_x25519(ikm: bytes) -> X25519PrivateKey:
    """DeriveKeyPair for X25519 (RFC 9180, 7.1.3)."""
    prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm)
    return X25519PrivateKey.from_private_bytes(labeled_expand(KEM_SUITE, prk, b"sk", b"", 32))


def x25519_raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(RAW, serialization.PublicFormat.Raw)


def hpke_seal_base(pk_r: X25519PublicKey, ikm_e: bytes, info: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """enc || ciphertext of the first (sequence number 0) message of a base-mode context."""
    sk_e = derive_x25519(ikm_e)
    enc = x25519_raw(sk_e.public_key())
    dh = sk_e.exchange(pk_r)
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared = labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + x25519_raw(pk_r), 32)
    context = (
        b"\x00"
        + labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
        + labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    )
    secret = labeled_extract(HPKE_SUITE, shared, b"secret", b"")
    key = labeled_expand(HPKE_SUITE, secret, b"key", context, 32)
    base_nonce = labeled_expand(HPKE_SUITE, secret, b"base_nonce", context, 12)
    return enc + ChaCha20Poly1305(key).encrypt(base_nonce, plaintext, aad)


# --- the envelope, from docs/envelope.md ---------------------------------------------------------------------


def seed(label: str) -> bytes:
    return hashlib.sha256(b"edge-agent test vector " + label.encode()).digest()


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def hkdf(content_key: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, None, info).derive(content_key)


def hpke_info(device_id: str, seq: int, kid: str) -> bytes:
    return MAGIC + VERSION.to_bytes(2, "big") + canonical({"device_id": device_id, "kid": kid, "seq": seq})


def encrypt_chunks(key: bytes, plaintext: bytes, chunk_size: int, aad: bytes, final_flag: bool = True) -> bytes:
    count = max(1, -(-len(plaintext) // chunk_size))
    out = b""
    for i in range(count):
        last = final_flag and i == count - 1
        nonce = i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        out += ChaCha20Poly1305(key).encrypt(nonce, plaintext[i * chunk_size : (i + 1) * chunk_size], aad)
    return out


def assemble(header: bytes, body: bytes, signer: Ed25519PrivateKey) -> bytes:
    signed = PREFIX.pack(MAGIC, VERSION, len(header), len(body)) + header + body
    return signed + signer.sign(signed)


def pattern(n: int) -> bytes:
    return bytes((i * 31 + 7) % 256 for i in range(n))


class Keys:
    def __init__(self) -> None:
        self.device = Ed25519PrivateKey.from_private_bytes(seed("device"))
        self.other_device = Ed25519PrivateKey.from_private_bytes(seed("other device"))
        self.x25519 = {name: X25519PrivateKey.from_private_bytes(seed(name)) for name in RECIPIENTS}

    def kid(self, name: str) -> str:
        return key_id(x25519_raw(self.x25519[name].public_key()))

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, ed in (("device", self.device), ("other_device", self.other_device)):
            out[name] = {
                "ed25519_private": seed(name.replace("_", " ")).hex(),
                "ed25519_public": ed.public_key().public_bytes(RAW, serialization.PublicFormat.Raw).hex(),
            }
        for name in RECIPIENTS:
            public = x25519_raw(self.x25519[name].public_key())
            out[name] = {"x25519_private": seed(name).hex(), "x25519_public": public.hex(), "kid": key_id(public)}
        return out


RECIPIENTS = ("center", "archive", "stranger")
DEVICE_ID = "doorbell-test-01"


def header_doc(keys: Keys, spec: dict[str, Any], wraps: list[dict[str, Any]], content_key: bytes) -> dict[str, Any]:
    seq = spec["seq"]
    return {
        "version": VERSION,
        "device_id": DEVICE_ID,
        "seq": seq,
        "start": 1767225600.0 + 2 * seq,
        "end": 1767225602.0 + 2 * seq,
        "frame_count": 50,
        "width": 1280,
        "height": 720,
        "fps": 25.0,
        "content_type": "video/mp2t",
        "profile_hash": seed("profile").hex(),
        "consent_id": "consent-0001",
        "prev_hash": spec.get("prev_hash", ""),
        "created_at": 1767225610.25 + 2 * seq,
        "chunk_size": spec["chunk_size"],
        "plaintext_len": len(spec["plaintext"]),
        "key_commitment": hkdf(content_key, b"edge-agent seal v1 key commitment").hex(),
        "recipients": [
            {"kid": w["kid"], "wrapped": base64.b64encode(bytes.fromhex(w["wrapped"])).decode()} for w in wraps
        ],
    }


def make_wraps(keys: Keys, spec: dict[str, Any], content_key: bytes) -> list[dict[str, Any]]:
    wraps = []
    for name in spec["recipients"]:
        kid = keys.kid(name)
        info = hpke_info(DEVICE_ID, spec.get("wrap_seq", spec["seq"]), kid)
        ikm_e = seed(f"{spec['name']} ephemeral {name}")
        wrapped = hpke_seal_base(keys.x25519[name].public_key(), ikm_e, info, b"", content_key)
        wraps.append(
            {"recipient": name, "kid": kid, "info": info.hex(), "ikm_e": ikm_e.hex(), "wrapped": wrapped.hex()}
        )
    return wraps


def make_envelope(keys: Keys, spec: dict[str, Any]) -> dict[str, Any]:
    """Build one envelope from ``spec``; the optional keys of ``spec`` produce the damaged variants."""
    content_key = seed(f"{spec['name']} content key")
    wraps = make_wraps(keys, spec, content_key)
    doc = header_doc(keys, spec, wraps, content_key)
    doc.update(spec.get("header_overrides", {}))
    header = spec["header_bytes"](doc) if "header_bytes" in spec else canonical(doc)
    aad = hashlib.sha256(header).digest()
    body_key = hkdf(content_key, b"edge-agent seal v1 body key")
    body = encrypt_chunks(body_key, spec["plaintext"], spec["chunk_size"], aad, spec.get("final_flag", True))
    body = spec.get("body_edit", lambda b: b)(body)
    blob = assemble(header, body, keys.other_device if spec.get("wrong_signer") else keys.device)
    return {
        "name": spec["name"],
        "description": spec["description"],
        "blob": blob.hex(),
        "plaintext": spec["plaintext"].hex(),
        "header": json.loads(header) if spec.get("keep_header", True) else None,
        "header_hash": aad.hex(),
        "sealed_sha256": hashlib.sha256(blob).hexdigest(),
        "intermediate": {
            "content_key": content_key.hex(),
            "body_key": body_key.hex(),
            "key_commitment": doc["key_commitment"],
            "wraps": wraps,
        },
    }


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _edited(blob_hex: str, edit: Any) -> str:
    return bytes(edit(bytes.fromhex(blob_hex))).hex()


def _spec(name: str, text: str, seq: int, size: int, chunk: int, to: list[str], prev: str = "") -> dict[str, Any]:
    return {"name": name, "description": text, "seq": seq, "plaintext": pattern(size), "chunk_size": chunk,
            "recipients": to, "prev_hash": prev}  # fmt: skip


def _bad(name: str, text: str, blob: str, verify_ok: bool, **over: Any) -> dict[str, Any]:
    return {"name": name, "description": text, "blob": blob, "open_with": "center", "device_key": "device",
            "verify_ok": verify_ok, **over}  # fmt: skip


def envelope_vectors(keys: Keys) -> dict[str, Any]:
    first = make_envelope(keys, _spec("single-chunk", "first segment of the device", 0, 1000, 65536, ["center"]))
    base = _spec("multi-chunk", "chunks of 64+64+64+8 bytes", 1, 200, 64, ["center", "archive"], first["header_hash"])
    multi = make_envelope(keys, base)
    valid = [
        first,
        multi,
        make_envelope(
            keys,
            _spec(
                "exact-multiple", "two full chunks, no extra empty chunk", 2, 128, 64, ["archive"], multi["header_hash"]
            ),
        ),
        make_envelope(keys, _spec("empty", "one empty final chunk of 16 bytes", 3, 0, 64, ["center"])),
    ]
    for vector in valid:
        vector["open_with"] = [w["recipient"] for w in vector["intermediate"]["wraps"]]
    blob = multi["blob"]
    body_at = PREFIX.size + len(canonical(multi["header"]))
    edits = [
        ("bad-magic", "first magic byte changed", lambda b: _flip(b, 0)),
        ("unsupported-version", "version 2", lambda b: b[:8] + b"\x00\x02" + b[10:]),
        ("header-len-over-limit", "header_len 65537", lambda b: b[:10] + (65537).to_bytes(4, "big") + b[14:]),
        ("too-short", "first 21 bytes only", lambda b: b[:21]),
        ("truncated", "last byte removed", lambda b: b[:-1]),
        ("appended", "one byte appended", lambda b: b + b"\x00"),
        ("flipped-header-byte", "a byte inside the header changed", lambda b: _flip(b, PREFIX.size + 40)),
        ("flipped-body-byte", "a byte of chunk 1 changed", lambda b: _flip(b, body_at + 90)),
        ("flipped-signature-byte", "a byte of the signature changed", lambda b: _flip(b, len(b) - 10)),
    ]
    invalid = [_bad(name, text, _edited(blob, edit), False) for name, text, edit in edits]
    invalid.append(_bad("unknown-device", "the device id has no key at the opener", blob, False, device_key=None))
    invalid.append(_bad("not-a-recipient", "opened with a key that has no entry", blob, True, open_with="stranger"))
    for variant, text, verify_ok in _resigned_variants():
        built = make_envelope(keys, {**base, **variant, "description": text})
        invalid.append(_bad(variant["name"], text, built["blob"], verify_ok))
    return {"format": "edge-agent envelope v1", "device_id": DEVICE_ID, "keys": keys.as_json(),
            "valid": valid, "invalid": invalid}  # fmt: skip


def _resigned_variants() -> list[tuple[dict[str, Any], str, bool]]:
    """Damage that a correctly signing device could produce: each must fail after the signature checks out."""

    def swap01(body: bytes) -> bytes:
        return body[80:160] + body[:80] + body[160:]

    return [
        ({"name": "wrong-signer", "wrong_signer": True}, "signed by another device's key", False),
        ({"name": "tampered-chunk", "body_edit": lambda b: _flip(b, 90)}, "chunk 1 changed, re-signed", True),
        ({"name": "chunks-swapped", "body_edit": swap01}, "chunks 0 and 1 swapped, re-signed", True),
        ({"name": "last-flag-missing", "final_flag": False}, "last chunk sealed without the last flag", True),
        (
            {"name": "last-chunk-dropped", "header_overrides": {"plaintext_len": 192}, "body_edit": lambda b: b[:240]},
            "last chunk dropped and lengths fixed up: chunk 2 is not marked last",
            True,
        ),
        (
            {"name": "wrong-commitment", "header_overrides": {"key_commitment": seed("other").hex()}},
            "key_commitment does not match the content key",
            True,
        ),
        ({"name": "wrap-for-other-seq", "wrap_seq": 2}, "key wrapped with the HPKE info of seq 2", True),
        (
            {"name": "body-length-mismatch", "header_overrides": {"plaintext_len": 201}},
            "plaintext_len does not match body_len",
            False,
        ),
        (
            {"name": "duplicate-header-key", "header_bytes": lambda d: canonical(d)[:-1] + b',"seq":9}'},
            "header repeats the key seq",
            False,
        ),
        ({"name": "unknown-header-field", "header_overrides": {"extra": 1}}, "header has an unknown field", False),
        ({"name": "seq-not-integer", "header_overrides": {"seq": 1.0}}, "seq written as 1.0", False),
        (
            {"name": "header-not-utf8", "header_bytes": lambda d: canonical(d)[:-2] + b"\xff}", "keep_header": False},
            "header is not UTF-8",
            False,
        ),
        ({"name": "version-mismatch", "header_overrides": {"version": 2}}, "header version 2 in a v1 frame", False),
    ]


def _respaced(wire: bytes) -> bytes:
    return json.dumps(json.loads(wire), ensure_ascii=False, separators=(", ", ": "), sort_keys=True).encode()


def _reordered(wire: bytes) -> bytes:
    parsed = json.loads(wire)
    return json.dumps(
        {k: parsed[k] for k in sorted(parsed, reverse=True)}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def document_vectors(keys: Keys) -> dict[str, Any]:
    doc = {
        "type": "consent",
        "consent_id": "consent-0001",
        "device_id": DEVICE_ID,
        "from": 1767225600,
        "until": 1767312000,
        "scope": ["segments"],
        "note": "Zoë's doorbell, 2 cameras",
    }
    kid = key_id(keys.device.public_key().public_bytes(RAW, serialization.PublicFormat.Raw))

    def wire(body: dict[str, Any], signer: Ed25519PrivateKey = keys.device, **over: Any) -> str:
        sig = base64.b64encode(signer.sign(DOC_CONTEXT + canonical(body))).decode()
        return canonical({"doc": body, "kid": kid, "sig": sig, **over}).hex()

    good = wire(doc)
    good_text = bytes.fromhex(good)
    tampered = good_text.replace(b'"until":1767312000', b'"until":1767398400')
    invalid = [
        ("tampered", "until changed after signing", tampered.hex()),
        ("other-signer", "signed by another key under this key's kid", wire(doc, keys.other_device)),
        ("wrong-kid", "kid of another key", wire(doc, kid="0" * 16)),
        ("short-signature", "signature of 63 bytes", wire(doc, sig=base64.b64encode(bytes(63)).decode())),
        ("extra-field", "unknown top-level field", wire(doc, extra=1)),
        ("duplicate-key", "doc repeats a key", good_text.replace(b'{"consent_id"', b'{"type":"x","consent_id"').hex()),
        ("re-spaced", "the valid document with a space after each separator", _respaced(good_text).hex()),
        ("reordered", "the valid document with its top-level fields in another order", _reordered(good_text).hex()),
        ("not-json", "junk bytes", b"\x00\xffjunk".hex()),
        ("not-an-object", "a JSON array", b"[]".hex()),
    ]
    return {
        "format": "edge-agent signed document v1",
        "signer_ed25519_private": seed("device").hex(),
        "valid": [{"name": "consent", "doc": doc, "wire": good}],
        "invalid": [{"name": n, "description": d, "wire": w} for n, d, w in invalid],
    }


def render() -> dict[Path, str]:
    keys = Keys()
    return {
        ENVELOPE_FILE: json.dumps(envelope_vectors(keys), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        DOCUMENT_FILE: json.dumps(document_vectors(keys), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
    }


def main(argv: list[str]) -> int:
    """Write the vector files; with ``--check``, only report whether they are up to date."""
    stale = [path for path, text in render().items() if not path.exists() or path.read_text("utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.name} is out of date")
        return 1 if stale else 0
    for path, text in render().items():
        path.write_text(text, "utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
