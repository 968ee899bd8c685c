#!/usr/bin/env python3
"""Check a kept copy of a crime center's transparency report:
``python3 verify_transparency.py transparency.json center.pub.json``.

The center's public page serves all three files (``/transparency.json``, ``/center.pub.json`` and this script as
``/verify_transparency.py``). Needs Python 3.10+ and the ``cryptography`` package, nothing else: it imports
nothing of edge-agent on purpose, so that anyone can read all of it and run it without the center's software.

It checks that the report is signed by the key in ``center.pub.json`` and prints what the report says: the
center, its key id, when it was made, what the program promises and the figures of the newest month. The key id
is what to compare over time: a report and a key fetched together from one page only show that the two match, a
key id that stays the same across months (or matches one the center publishes elsewhere) shows that the center
signed each copy. Exit status: 0 the signature holds, 1 it does not, 2 a file cannot be read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOC_CONTEXT = b"edge-agent signed document v1\x00"  # edge_agent.seal.signed.DOC_CONTEXT


class NotValid(Exception):
    """The report does not check out (the reason is the message)."""


def _strict(data: bytes) -> Any:
    """JSON without duplicate keys or NaN: two readers must not disagree about what was signed."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("a key appears twice")
        return dict(items)

    def bad(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    return json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=bad)


def canonical(obj: Any) -> bytes:
    """What the signature covers: sorted keys, no whitespace, UTF-8 (edge_agent.core.canon)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def check(signed: bytes, key_file: bytes) -> tuple[dict[str, Any], str]:
    """The report and the key id that signed it; :class:`NotValid` when it does not check out."""
    try:
        key_doc = _strict(key_file)
        raw = base64.b64decode(key_doc["ed25519"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise NotValid(f"the key file is not a center's public key ({exc})") from None
    kid = hashlib.sha256(raw).hexdigest()[:16]
    try:
        wire = _strict(signed)
    except ValueError as exc:
        raise NotValid(f"the report is not JSON ({exc})") from None
    if not isinstance(wire, dict) or set(wire) != {"doc", "kid", "sig"} or not isinstance(wire["doc"], dict):
        raise NotValid("the report is not a signed document ({doc, kid, sig})")
    if wire["kid"] != kid:
        raise NotValid(f"the report names key {wire['kid']!r}, the key file holds {kid!r}")
    try:
        key.verify(base64.b64decode(str(wire["sig"]), validate=True), DOC_CONTEXT + canonical(wire["doc"]))
    except (InvalidSignature, binascii.Error, ValueError):
        raise NotValid("the signature does not match: the report was changed after the center signed it") from None
    if wire["doc"].get("type") != "transparency":
        raise NotValid(f"a signed {wire['doc'].get('type')!r} document, not a transparency report")
    return wire["doc"], kid


def summary(report: dict[str, Any], kid: str) -> list[str]:
    made = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(report.get("generated_at", 0))))
    lines = [f"signed by center {report.get('center_id')} with key {kid}, made {made}"]
    program = report.get("program") or {}
    retention = program.get("retention") or {}
    if program:
        lines.append(f"program: {program.get('name')}, run by {program.get('operator')}")
        lines += [f"  the cameras: {statement}" for statement in program.get("devices_do", [])]
        lines.append(f"  footage kept: {retention.get('device')} At the center: {retention.get('center')}")
    lines.append(f"cameras by area: {json.dumps(report.get('devices_by_area', {}), sort_keys=True)}")
    months = report.get("months") or []
    if months:
        newest = months[-1]
        figures = ", ".join(f"{k} {v}" for k, v in newest.items() if k not in ("month", "devices_enrolled"))
        lines.append(f"{newest.get('month')}: {figures}")
    lines.append(f"access log: {report.get('access_log_entries')} entries, newest {report.get('access_log_head')}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: verify_transparency.py transparency.json center.pub.json", file=sys.stderr)
        return 2
    try:
        signed, key_file = Path(argv[0]).read_bytes(), Path(argv[1]).read_bytes()
    except OSError as exc:
        print(f"cannot read: {exc}", file=sys.stderr)
        return 2
    try:
        report, kid = check(signed, key_file)
    except NotValid as exc:
        print(f"NOT VALID: {exc}")
        return 1
    # The report's texts are the center's: no control or direction-changing characters reach the terminal.
    print("VALID: " + "\n".join("".join(c for c in line if c.isprintable()) for line in summary(report, kid)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
