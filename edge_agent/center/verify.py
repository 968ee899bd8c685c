"""Re-check stored evidence: file hashes, device signatures, and the per-device hash chain.

Tampering (a file that no longer matches its record, a signature that fails) makes the report fail. Gaps
(missing sequence numbers, a ``prev_hash`` that points at a segment the center never received) are listed so
that the evidence's completeness is stated, not assumed, and so is what became of each segment the device shared:
expected, stored, repaired (asked for again and received), withheld (consent revoked since), lost (with the
device's reason in ``repair/<device>.json``) and still missing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.center.keys import CenterPaths, DeviceRegistry
from edge_agent.center.repair import chain_counts
from edge_agent.errors import OpenError
from edge_agent.seal import verify_segment


@dataclass(slots=True)
class VerifyReport:
    ok: bool = True
    lines: list[str] = field(default_factory=list)
    # What each record's check found: "valid", "missing" or "altered" (for the evidence index).
    states: dict[tuple[str, int], str] = field(default_factory=dict)

    def fail(self, line: str) -> None:
        self.ok = False
        self.lines.append(f"FAIL {line}")


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _check_record(folder: Path, rec: dict[str, Any], registry: DeviceRegistry, report: VerifyReport) -> None:
    key = (str(rec["device_id"]), int(rec["seq"]))
    report.states[key] = _record_state(folder, rec, registry, report)


def _record_state(folder: Path, rec: dict[str, Any], registry: DeviceRegistry, report: VerifyReport) -> str:
    name = f"{rec['device_id']}/{rec['seq']}"
    sealed = folder / str(rec["sealed"])
    for path, digest, what in ((sealed, rec["sealed_sha256"], "sealed"),
                               (folder / str(rec["video"]), rec["opened_sha256"], "video")):
        found = _sha256(path)
        if found != digest:
            report.fail(f"{name}: {what} file {'missing' if found is None else 'altered'}")
            return "missing" if found is None else "altered"
    try:
        header = verify_segment(sealed.read_bytes(), device_key=registry)
    except OpenError:
        report.fail(f"{name}: device signature does not verify")
        return "altered"
    if header.seq != rec["seq"] or header.device_id != rec["device_id"]:
        report.fail(f"{name}: record does not match the signed header")
        return "altered"
    return "valid"


def verify_store(paths: CenterPaths) -> VerifyReport:
    report = VerifyReport()
    registry = DeviceRegistry(paths.devices, paths.withdrawn)  # a withdrawn device's evidence still checks
    devices = sorted(p for p in paths.store.iterdir() if p.is_dir()) if paths.store.is_dir() else []
    for folder in devices:
        records = []
        for path in sorted(folder.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                report.fail(f"{path}: evidence record is not valid JSON")
                continue
            if isinstance(record, dict) and isinstance(record.get("seq"), int):
                records.append(record)
            else:
                report.fail(f"{path}: evidence record is not a segment record")
        records.sort(key=lambda r: int(r["seq"]))
        gaps = 0
        for prev, rec in zip([None, *records[:-1]], records, strict=True):
            _check_record(folder, rec, registry, report)
            if prev is not None and rec["prev_hash"] != prev["header_hash"]:
                gaps += 1
                report.lines.append(f"gap  {folder.name}: before seq {rec['seq']} (previous stored seq {prev['seq']})")
        report.lines.append(f"{folder.name}: {len(records)} segment(s) checked, {gaps} gap(s) in the chain")
        report.lines.append("  " + chain_counts(paths, folder.name).line(folder.name))
    report.lines.append("OK: no stored evidence was altered" if report.ok else "FAILED: evidence was altered")
    return report
