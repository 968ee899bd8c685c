"""The signed head of the audit log: its document, and the device's own last copy (``<data-dir>/loghead.json``).

The device publishes the head (retained) so that the crime center holds proof of how long the log was; the local
copy lets ``audit verify`` catch a log cut short after a head was published.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_agent.core.audit import LogHead
from edge_agent.core.paths import DevicePaths


def loghead_path(paths: DevicePaths) -> Path:
    return paths.root / "loghead.json"


def loghead_document(head: LogHead, device_id: str, now: float, shared_seq: int = -1) -> dict[str, Any]:
    """``shared_seq``: the last sequence number the device shared, so that the center sees a loss at the tail."""
    return {"type": "loghead", "device_id": device_id, "count": head.count, "last_hash": head.last_hash,
            "time": round(now, 3), "shared_seq": shared_seq}


def read_local_head(paths: DevicePaths) -> LogHead | None:
    """The last log head this device signed, if any (not re-verified: the center holds the proof copy)."""
    try:
        wire = json.loads(loghead_path(paths).read_text(encoding="utf-8"))
        doc = wire["doc"]
        return LogHead(int(doc["count"]), str(doc["last_hash"]))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
