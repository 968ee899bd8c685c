"""Does a segment fit the device's hash chain as the center has stored it?

Every sealed header carries ``prev_hash``, the header hash of the device's previous sequence number. A device
never reuses a number and its chain has no forks (``edge_agent.device.sealer`` writes the chain state before the outbox
put), so a genuine segment always links to whichever of its immediate neighbours (``seq - 1``, ``seq + 1``) the
center already holds. Late arrivals (resent after a crash, or taken by another worker of a shared subscription)
fit; a segment numbered below stored ones that does not fit is the device's sequence going backwards (a restored
or cloned data folder) and is refused. Only the two neighbours' records are read: constant cost per message.

An empty ``prev_hash`` marks a chain that restarted (the first segment, or a state file restored from a backup,
see ``Sharer._skip_past_outbox``), so it is not compared with its predecessor.
"""

from __future__ import annotations

import json
from pathlib import Path

BACKWARDS = "sequence number goes backwards: the segment does not fit the device's stored chain"


def _record(folder: Path, seq: int) -> dict[str, object] | None:
    if seq < 0:
        return None
    try:
        data = json.loads((folder / f"{seq:010d}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None  # absent, or (never in practice: records are written atomically) unreadable
    return data if isinstance(data, dict) else None


def chain_conflict(folder: Path, seq: int, header_hash: str, prev_hash: str) -> str:
    """``""`` when the segment fits the stored neighbours, else the rejection reason."""
    after = _record(folder, seq + 1)
    if after is not None and after.get("prev_hash") != header_hash:
        return BACKWARDS
    before = _record(folder, seq - 1)
    if prev_hash and before is not None and before.get("header_hash") != prev_hash:
        return BACKWARDS
    return ""
