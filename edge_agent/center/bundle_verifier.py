#!/usr/bin/env python3
"""Check an edge-center case bundle offline: ``python3 verify_bundle.py BUNDLE.zip`` (or an unpacked folder).

Needs Python 3.10+ and the ``cryptography`` package, nothing else: no network, and none of the center's keys.
It checks, and says for each segment:

1. the manifest is signed by the center key in ``center.pub.json`` (compare its key id with the one the center
   publishes), and every file in the bundle is listed in it with its SHA-256 and size, and no other file is there;
2. each sealed segment (``sealed/``) is signed by its device's key (``devices/``), and its header names the
   device, sequence number and times the manifest lists;
3. the disclosed content key matches the key commitment the device signed, decrypts the signed body, and gives
   exactly the video file in ``video/`` (so the decrypted video is what the device sealed);
4. the segments of each device are in chain order: consecutive numbers must link (``prev_hash``), else the
   segment comes from another chain and fails; a gap in the numbers (segments not in this case) is noted;
5. the document that authorised each segment: a live consent record signed by the device covering the segment's
   whole time (not ended by a later record in the bundle), or a police request signed by the center with the
   device's signed approval listing this very segment.

Files under ``derived/`` are copies made for viewing (one MP4 per device); only their hashes are checked.
Exit status: 0 verified, 1 a check failed, 2 the bundle could not be read. This file is the same code as
``edge-center verify-bundle``; it imports nothing of edge-agent on purpose.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import os
import struct
import sys
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "edge-center case bundle v1"
MAGIC, PREFIX = b"EDGESEAL", struct.Struct(">8sHIQ")
DOC_CONTEXT = b"edge-agent signed document v1\x00"
MANIFEST_CONTEXT = b"edge-center bundle manifest v1\x00"
OWN_FILES = ("manifest.json", "manifest.sig")


class Unreadable(Exception):
    """The bundle (or a part the checks need) cannot be read at all."""


class Missing(ValueError):
    """A file the manifest lists is not in the bundle (reported as a failure; the other checks go on)."""


def _strict(data: bytes) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def bad(name: str) -> Any:
        raise ValueError(name)

    return json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=bad)


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def key_id(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def ed25519_from_file(data: bytes) -> tuple[dict[str, Any], Ed25519PublicKey, bytes]:
    doc = _strict(data)
    raw = base64.b64decode(doc["ed25519"], validate=True)
    return doc, Ed25519PublicKey.from_public_bytes(raw), raw


class Bundle:
    """Reads files from a zip or a folder, never more bytes than the manifest says a file has (plus one)."""

    def __init__(self, source: Path) -> None:
        self.zip = zipfile.ZipFile(source) if source.is_file() else None
        self.root = source
        self.members = {i.filename: i for i in self.zip.infolist()} if self.zip is not None else {}
        self.lock = threading.Lock()

    def _stored(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        """An uncompressed member's bytes straight from the file: no CRC pass (each file's SHA-256 is checked
        against the signed manifest instead), and safe from several threads (its own file handle)."""
        with open(self.root, "rb") as f:
            f.seek(info.header_offset)
            head = f.read(30)
            if len(head) != 30 or head[:4] != b"PK\x03\x04":
                raise Unreadable(f"{info.filename}: bad local header")
            name_len, extra_len = struct.unpack("<HH", head[26:30])
            f.seek(info.header_offset + 30 + name_len + extra_len)
            return f.read(min(info.file_size, limit + 1))

    def names(self) -> set[str]:
        if self.zip is not None:
            return {i.filename for i in self.zip.infolist() if not i.is_dir()}
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        if ".." in name.split("/") or name.startswith("/"):
            raise Unreadable(f"{name}: not a path inside the bundle")
        try:
            info = self.members.get(name)
            if self.zip is not None and info is None:
                raise KeyError(f"there is no item named {name!r} in the archive")
            if info is not None and info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 0x1:
                data = self._stored(info, limit)
            elif self.zip is not None:
                with self.lock, self.zip.open(name) as f:
                    data = f.read(limit + 1)
            else:
                data = (self.root / name).read_bytes()[: limit + 1]
        except (KeyError, OSError, zipfile.BadZipFile) as exc:
            raise Unreadable(f"{name}: {exc}") from exc
        if len(data) > limit:
            raise Unreadable(f"{name}: larger than the manifest says")
        return data


class Report:
    def __init__(self) -> None:
        self.ok = True
        self.lines: list[str] = []

    def merge(self, other: Report) -> None:
        self.ok = self.ok and other.ok
        self.lines.extend(other.lines)

    def fail(self, text: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL {text}")

    def note(self, text: str) -> None:
        self.lines.append(text)


class Checker:
    def __init__(self, bundle: Bundle, report: Report) -> None:
        self.bundle, self.report = bundle, report
        self.manifest: dict[str, Any] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.checked: set[str] = set()
        self.devices: dict[str, tuple[Ed25519PublicKey, bytes]] = {}
        self.center_key: Ed25519PublicKey | None = None
        self.center_raw = b""
        self.docs: dict[str, dict[str, Any] | None] = {}  # signed documents checked so far
        self.lock = threading.RLock()

    # -- files -------------------------------------------------------------------------------------------------

    def read(self, name: str, report: Report | None = None) -> bytes:
        """A listed file's bytes, checked against the manifest (a failure is reported once, to ``report``)."""
        report = report or self.report
        entry = self.files.get(name)
        if entry is None:
            raise Missing(f"{name}: not listed in the manifest")
        with self.lock:
            first = name not in self.checked
            self.checked.add(name)
        try:
            data = self.bundle.read(name, int(entry["size"]))
        except Unreadable as exc:
            if first:
                report.fail(f"{name}: listed in the manifest but unreadable or missing ({exc})")
            raise Missing(str(exc)) from exc
        if first and (len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]):
            report.fail(f"{name}: does not match its SHA-256 in the manifest")
        return data

    def load_manifest(self) -> None:
        raw = self.bundle.read("manifest.json")
        self.manifest = _strict(raw)
        if self.manifest.get("format") != FORMAT:
            raise Unreadable(f"not an {FORMAT!r} (manifest format {self.manifest.get('format')!r})")
        self.files = dict(self.manifest["files"])
        _, self.center_key, self.center_raw = ed25519_from_file(self.read("center.pub.json"))
        try:
            self.center_key.verify(self.bundle.read("manifest.sig", 64), MANIFEST_CONTEXT + raw)
            self.report.note(f"manifest signed by the center key {key_id(self.center_raw)} (center.pub.json)")
        except InvalidSignature:
            self.report.fail("manifest.sig: the manifest is not signed by the key in center.pub.json")
        extra = sorted(self.bundle.names() - set(self.files) - set(OWN_FILES))
        for name in extra:
            self.report.fail(f"{name}: in the bundle but not in the manifest")
        for name in sorted(n for n in self.files if n.startswith("devices/")):
            doc, key, raw = ed25519_from_file(self.read(name))
            self.devices[str(doc["device_id"])] = (key, raw)

    def finish(self, pool: ThreadPoolExecutor) -> None:
        """Every listed file not read yet (derived copies, the verifier itself...), checked against its hash."""

        def check(name: str) -> Report:
            mine = Report()
            with contextlib.suppress(Missing):  # reported
                self.read(name, mine)
            return mine

        for outcome in pool.map(check, sorted(set(self.files) - self.checked)):
            self.report.merge(outcome)

    def documents(self) -> None:
        """Check every signed document once, up front (the segments' checks then only look them up)."""
        for name in sorted(n for n in self.files if n.startswith("documents/")):
            kind, device = name.split("/")[1:3]
            if kind == "requests" and self.center_key is not None:
                self.document(name, self.center_key, self.center_raw, "request")
            elif device in self.devices:
                self.document(name, *self.devices[device], {"consent": "consent", "answers": "answer"}.get(kind, kind))

    # -- documents ---------------------------------------------------------------------------------------------

    def document(self, name: str, key: Ed25519PublicKey, raw: bytes, kind: str) -> dict[str, Any] | None:
        """A signed document's ``doc``, once its signature by ``key`` and its type are checked (else None)."""
        with self.lock:
            if name not in self.docs:
                self.docs[name] = self._document(name, key, raw, kind)
            return self.docs[name]

    def _document(self, name: str, key: Ed25519PublicKey, raw: bytes, kind: str) -> dict[str, Any] | None:
        if name not in self.files:
            self.report.fail(f"{name}: missing from the bundle")
            return None
        try:
            data = self.read(name)
            wire = _strict(data)
            signature = base64.b64decode(wire["sig"], validate=True)
            ok = canonical(wire) == data and wire["kid"] == key_id(raw)
            key.verify(signature, DOC_CONTEXT + canonical(wire["doc"]))
        except (ValueError, KeyError, TypeError, InvalidSignature):
            ok = False
        doc = wire.get("doc") if ok else None
        if not isinstance(doc, dict) or doc.get("type") != kind:
            self.report.fail(f"{name}: not a {kind} document signed by its key")
            return None
        return doc


def open_envelope(blob: bytes, key: Ed25519PublicKey, content_key: bytes) -> tuple[dict[str, Any], bytes, str]:
    """Check the framing and the device's signature, then decrypt with the disclosed content key. ValueError if not."""
    if len(blob) < PREFIX.size + 64:
        raise ValueError("too short")
    magic, version, header_len, body_len = PREFIX.unpack_from(blob)
    if magic != MAGIC or version != 1 or PREFIX.size + header_len + body_len + 64 != len(blob):
        raise ValueError("framing")
    header_bytes = blob[PREFIX.size : PREFIX.size + header_len]
    header = _strict(header_bytes)
    try:
        key.verify(blob[-64:], blob[:-64])
    except InvalidSignature:
        raise ValueError("the device signature does not verify") from None

    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(content_key)

    if derive(b"edge-agent seal v1 key commitment").hex() != header["key_commitment"]:
        raise ValueError("the disclosed content key does not match the signed key commitment")
    size, length = int(header["chunk_size"]), int(header["plaintext_len"])
    count = max(1, math.ceil(length / size))
    if body_len != length + 16 * count:
        raise ValueError("body length")
    aead, header_hash = ChaCha20Poly1305(derive(b"edge-agent seal v1 body key")), hashlib.sha256(header_bytes)
    body, step, parts = memoryview(blob)[PREFIX.size + header_len : -64], size + 16, []
    try:
        for i in range(count):
            nonce = i.to_bytes(11, "big") + (b"\x01" if i == count - 1 else b"\x00")
            parts.append(aead.decrypt(nonce, body[i * step : (i + 1) * step], header_hash.digest()))
    except InvalidTag:
        raise ValueError("the body does not decrypt with the disclosed key") from None
    return header, b"".join(parts), header_hash.hexdigest()


def _live_at(record: dict[str, Any], t: float, ends: float) -> bool:
    if record.get("mode") != "live" or t < float(record["starts_at"]) or t >= ends:
        return False
    daily = str(record.get("daily") or "")
    if not daily:
        return True
    first, last = (int(x[:2]) * 60 + int(x[3:]) for x in daily.split("-"))
    minute = (t / 60.0 + int(record.get("utc_offset_min", 0))) % 1440
    return first <= minute < last if first < last else (minute >= first or minute < last)


def _later_starts(chk: Checker, device: str, record: dict[str, Any]) -> list[float]:
    """When the device's later consent records (in the bundle) start: each ends the record before it."""
    key, raw = chk.devices[device]
    folder = f"documents/consent/{device}/"
    docs = [chk.document(name, key, raw, "consent") for name in sorted(chk.files) if name.startswith(folder)]
    return [float(d["starts_at"]) for d in docs if d and float(d["issued_at"]) > float(record["issued_at"])]


def check_authority(chk: Checker, header: dict[str, Any], header_hash: str, out: Report) -> str:
    """Which document authorised the segment, in words; "" after reporting a failure to ``out``."""
    device, consent_id = str(header["device_id"]), str(header["consent_id"])
    key, raw = chk.devices[device]
    start, end = float(header["start"]), float(header["end"])
    if consent_id.startswith("c-"):
        record = chk.document(f"documents/consent/{device}/{consent_id}.json", key, raw, "consent")
        if record is None:
            out.fail(f"{device} #{header['seq']}: its consent record {consent_id} is missing or not signed")
            return ""
        ends = min([float(record.get("expires_at") or math.inf), *_later_starts(chk, device, record)])
        if record.get("device_id") != device or not (_live_at(record, start, ends)
                                                     and _live_at(record, max(start, end - 1e-6), ends)):
            out.fail(f"{device} #{header['seq']}: consent record {consent_id} does not cover its time")
            return ""
        return f"live consent {consent_id}"
    assert chk.center_key is not None  # load_manifest set it
    request = chk.document(f"documents/requests/{device}/{consent_id}.json", chk.center_key, chk.center_raw,
                           "request")
    answer = chk.document(f"documents/answers/{device}/{consent_id}.json", key, raw, "answer")
    if request is None or answer is None:
        out.fail(f"{device} #{header['seq']}: request {consent_id} or its answer is missing or not signed")
        return ""
    listed = any(s.get("seq") == header["seq"] and s.get("header_hash") == header_hash for s in answer["segments"])
    if (request.get("device_id") != device or answer.get("decision") != "approved" or not listed
            or not (start < float(request["end"]) and end > float(request["start"]))):
        out.fail(f"{device} #{header['seq']}: request {consent_id} was not approved for this segment")
        return ""
    return f"request {consent_id} (case {request['case_id']}), approved by the device"


Link = tuple[str, int, str, str]  # device, seq, header hash, previous header hash


def check_segment(chk: Checker, seg: dict[str, Any]) -> tuple[Report, Link | None]:
    """Every check of one segment; its lines go to a report of its own (segments are checked in parallel)."""
    out = Report()
    name = f"{seg['device_id']} #{seg['seq']}"
    device = chk.devices.get(str(seg["device_id"]))
    if device is None:
        out.fail(f"{name}: no public identity for device {seg['device_id']} in devices/")
        return out, None
    try:
        header, plaintext, header_hash = open_envelope(chk.read(seg["sealed"], out), device[0],
                                                       bytes.fromhex(seg["content_key"]))
        video = chk.read(seg["video"], out)
    except Missing:
        return out, None  # reported
    except (ValueError, KeyError, TypeError) as exc:
        out.fail(f"{name}: {seg.get('sealed')}: {exc}")
        return out, None
    if (header["device_id"], header["seq"], header_hash) != (seg["device_id"], seg["seq"], seg["header_hash"]):
        out.fail(f"{name}: the signed header is not the one the manifest lists")
        return out, None
    if plaintext != video:  # the video file's own hash was checked against the manifest by read()
        out.fail(f"{name}: {seg['video']} is not the video the device sealed")
        return out, None
    authority = check_authority(chk, header, header_hash, out)
    if authority:
        out.note(f"ok   {name}: signed by the device, decrypts to {seg['video']}, authorised by {authority}")
    return out, (str(header["device_id"]), int(header["seq"]), header_hash, str(header["prev_hash"]))


def check_chain(chained: list[Link], report: Report) -> None:
    """A genuine device never signs two segments of one number, so consecutive numbers must link (an empty
    ``prev_hash`` marks a restarted chain); a gap means segments outside this case lie between, and is noted."""
    for prev, cur in itertools.pairwise(chained):
        if prev[0] != cur[0]:
            continue
        if cur[1] == prev[1]:
            report.fail(f"{cur[0]} #{cur[1]}: two different segments carry this number")
        elif cur[1] == prev[1] + 1 and cur[3] and cur[3] != prev[2]:
            report.fail(f"{cur[0]} #{cur[1]}: does not follow #{prev[1]} (its prev_hash names another segment)")
        elif cur[1] != prev[1] + 1:
            report.note(f"note {cur[0]}: #{prev[1]} -> #{cur[1]} not contiguous (segments outside this case between)")


def verify(source: Path, workers: int | None = None) -> Report:
    """Every check, the segments' on all cores (hashing, signatures and decryption release the GIL)."""
    report = Report()
    chk = Checker(Bundle(source), report)
    chk.load_manifest()
    report.note(f"case {chk.manifest.get('case_id')}, center {chk.manifest.get('center_id')}, "
                f"{len(chk.manifest['segments'])} segment(s)")
    chk.documents()
    chained: list[Link] = []
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for outcome, link in pool.map(lambda seg: check_segment(chk, seg), chk.manifest["segments"]):
            report.merge(outcome)
            if link is not None:
                chained.append(link)
        check_chain(sorted(chained), report)
        chk.finish(pool)
    report.note("BUNDLE VERIFIED" if report.ok else "BUNDLE FAILED: see the FAIL lines above")
    return report


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: verify_bundle.py BUNDLE.zip|FOLDER", file=sys.stderr)
        return 2
    try:
        report = verify(Path(argv[0]))
    except (Unreadable, OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        print(f"verify_bundle: cannot read {argv[0]}: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
