"""A case bundle for a court: ``edge-center export --case CASE -o bundle.zip`` (and the console's Export button).

One zip file that a third party can check with Python and ``cryptography`` alone, without the center's keys::

    README.txt                              what is inside and how to check it
    manifest.json, manifest.sig             every file's SHA-256 and size, each segment's facts and content key;
                                            signed by the center's Ed25519 key
    center.pub.json                         the center's public identity (it signed the manifest and the requests)
    devices/<device>.pub.json               each device's public identity (it signed its segments and documents)
    sealed/<device>/<seq>-<tag>.sealed      the sealed segments exactly as the devices sent them
    video/<device>/<seq>-<tag>.ts           the decrypted segments (MPEG-TS, H.264)
    derived/<device>.mp4                    one MP4 per device joined from them for viewing: a DERIVED COPY
    documents/consent|requests|answers/...  the signed consent records, requests and answers, as received
    evidence.jsonl                          the center's evidence line of each segment
    verify_bundle.py                        the offline verifier (:mod:`edge_agent.center.bundle_verifier`)

Each segment's **content key** is disclosed in the manifest (:func:`edge_agent.seal.disclose_content_key`): it
matches the key commitment the device signed and opens that segment only, so the verifier can prove the
decrypted video is what the device sealed. The center's own keys never leave it.

The bundle is written to a temporary file beside the target and renamed into place when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_agent.center import bundle_verifier
from edge_agent.center.devices import evidence_keys
from edge_agent.center.index import SegmentRow
from edge_agent.center.keys import CenterPaths, load_keys
from edge_agent.center.media import join_segments
from edge_agent.center.services import Center
from edge_agent.errors import CenterError, OpenError
from edge_agent.seal import disclose_content_key

README = """edge-center case bundle: case {case}

Made by the crime center {center} on {when} UTC by {who}.
{segments} segment(s) from {devices} device(s): {device_list}.

Check it offline (Python 3.10+ and the 'cryptography' package; no network, no keys of the center):

    python3 verify_bundle.py {name}

The verifier checks that the manifest is signed by the center key in center.pub.json (compare its key id with
the one the center publishes), that every file matches its SHA-256, that each sealed segment is signed by its
device, that the disclosed content key opens it to exactly the video file given, the order of each device's
chain, and which signed document authorised each segment (the homeowner's live consent, or the center's request
with the device's signed approval).

The evidence is in sealed/ (as the devices sent it) and video/ (decrypted). The files in derived/ are copies
joined from video/ for viewing only: DERIVED COPIES, not evidence.
"""


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    case_id: str
    segments: int
    devices: tuple[str, ...]
    size: int


class _Writer:
    """Adds files to the zip, keeping each one's SHA-256 and size for the manifest."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.files: dict[str, dict[str, Any]] = {}

    def add(self, name: str, data: bytes) -> None:
        self.archive.writestr(name, data)
        self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    def add_file(self, name: str, path: Path) -> None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        self.archive.write(path, name)
        self.files[name] = {"sha256": digest.hexdigest(), "size": path.stat().st_size}


def log_export(center: Center, case_id: str, name: str, *, exported_by: str) -> int:
    """Write the export to the access log before the bundle is made: one entry per device of the case, with the
    window its footage covers and how many segments (so the log answers "who exported this device's footage?").
    Returns the number of segments."""
    rows = center.index.case_segments(case_id)
    for device_id in sorted({r.device_id for r in rows}):
        mine = [r for r in rows if r.device_id == device_id]
        center.access.append(exported_by, "export", device_id=device_id, start=min(r.start for r in mine),
                             end=max(r.end for r in mine), case_id=case_id, segments=len(mine),
                             detail=f"writing {name}")
    return len(rows)


def export_case(center: Center, case_id: str, out: Path, *, exported_by: str) -> ExportResult:
    """Write the bundle of ``case_id`` to ``out``. CenterError when the case has no footage or evidence is altered."""
    rows = center.index.case_segments(case_id)
    if not rows:
        raise CenterError(f"case {case_id}: no stored segment belongs to it (edge-center search --case {case_id})")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            _write(center, case_id, rows, _Writer(archive), who=exported_by, name=out.name)
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    devices = tuple(sorted({r.device_id for r in rows}))
    return ExportResult(out, case_id, len(rows), devices, out.stat().st_size)


def _write(center: Center, case_id: str, rows: list[SegmentRow], zf: _Writer, *, who: str, name: str) -> None:
    paths = center.paths
    keys = load_keys(paths)
    segments, evidence_lines = _add_segments(paths, rows, zf)
    devices = sorted({r.device_id for r in rows})
    _add_documents(paths, rows, zf)
    for device_id in devices:
        for folder in (paths.devices, paths.withdrawn):
            if (folder / f"{device_id}.json").is_file():
                zf.add(f"devices/{device_id}.pub.json", (folder / f"{device_id}.json").read_bytes())
                break
    derived = _add_derived(paths, rows, devices, case_id, zf)
    zf.add("center.pub.json", paths.public.read_bytes())
    zf.add("evidence.jsonl", ("\n".join(evidence_lines) + "\n").encode("utf-8"))
    zf.add("verify_bundle.py", Path(bundle_verifier.__file__).read_bytes())
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    zf.add("README.txt", README.format(case=case_id, center=keys.identity.center_id, when=when, who=who,
                                       segments=len(rows), devices=len(devices), device_list=", ".join(devices),
                                       name=name).encode("utf-8"))
    manifest = {
        "format": bundle_verifier.FORMAT, "case_id": case_id, "center_id": keys.identity.center_id,
        "created_at": round(time.time(), 3), "created_by": who, "segments": segments, "derived": derived,
        "windows": [asdict(w) for w in center.index.case_windows(case_id)],
        "requests": [r.id for r in center.index.requests(case_id=case_id)], "files": zf.files,
    }
    raw = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
    zf.archive.writestr("manifest.json", raw)
    zf.archive.writestr("manifest.sig", keys.ed25519.sign(bundle_verifier.MANIFEST_CONTEXT + raw))


def _add_segments(paths: CenterPaths, rows: list[SegmentRow], zf: _Writer) -> tuple[list[dict[str, Any]], list[str]]:
    """Each segment's sealed and decrypted files, its manifest entry (with its content key) and evidence line."""
    keys = load_keys(paths)
    registry = evidence_keys(paths)
    segments: list[dict[str, Any]] = []
    evidence_lines = []
    for row in rows:
        folder = paths.store / row.device_id
        sealed, video = (folder / row.sealed).read_bytes(), (folder / row.video).read_bytes()
        if (hashlib.sha256(sealed).hexdigest(), hashlib.sha256(video).hexdigest()) != (row.sealed_sha256,
                                                                                       row.opened_sha256):
            raise CenterError(f"{row.device_id} #{row.seq}: stored evidence no longer matches its record; "
                              "run edge-center verify, nothing was exported")
        try:
            content_key = disclose_content_key(sealed, private_key=keys.x25519, device_key=registry)
        except OpenError as exc:
            raise CenterError(f"{row.device_id} #{row.seq}: the sealed segment no longer opens") from exc
        sealed_name, video_name = f"sealed/{row.device_id}/{row.sealed}", f"video/{row.device_id}/{row.video}"
        zf.add(sealed_name, sealed)
        zf.add(video_name, video)
        segments.append({"device_id": row.device_id, "seq": row.seq, "start": row.start, "end": row.end,
                         "consent_id": row.consent_id, "header_hash": row.header_hash,
                         "content_key": content_key.hex(), "sealed": sealed_name, "video": video_name})
        evidence_lines.append((folder / f"{row.seq:010d}.json").read_text(encoding="utf-8").strip())
    return segments, evidence_lines


def _document_files(paths: CenterPaths, rows: list[SegmentRow]) -> Iterator[tuple[str, Path]]:
    """The signed documents behind the segments: every consent record of a device with live footage (a later
    one can end a grant early), and each request with its answer."""
    live = sorted({r.device_id for r in rows if r.consent_id.startswith("c-")})
    for device_id in live:
        for path in sorted((paths.root / "consent" / device_id).glob("c-*.json")):
            yield f"documents/consent/{device_id}/{path.name}", path
    asked = sorted({(r.device_id, r.consent_id) for r in rows if r.consent_id.startswith("r-")})
    for device_id, request_id in asked:
        for kind in ("requests", "answers"):
            name = f"{kind}/{device_id}/{request_id}.json"
            yield f"documents/{name}", paths.root / name


def _add_documents(paths: CenterPaths, rows: list[SegmentRow], zf: _Writer) -> None:
    for name, path in _document_files(paths, rows):
        if path.is_file():
            zf.add(name, path.read_bytes())


def _add_derived(paths: CenterPaths, rows: list[SegmentRow], devices: list[str], case_id: str,
                 zf: _Writer) -> list[str]:
    names = []
    with tempfile.TemporaryDirectory(prefix="edge-export-") as tmp:
        for device_id in devices:
            mine = [r for r in rows if r.device_id == device_id]
            path = Path(tmp) / f"{device_id}.mp4"
            join_segments(((r.start, (paths.store / device_id / r.video).read_bytes()) for r in mine), path,
                          f"case {case_id}, {device_id}, {len(mine)} segment(s)")
            zf.add_file(f"derived/{device_id}.mp4", path)
            names.append(f"derived/{device_id}.mp4")
    return names
