"""Durations and times as people type them: ``90s``, ``10m``, ``2h``, ``1h30m``; ISO 8601 or ``HH:MM`` today."""

from __future__ import annotations

import re
import time
from datetime import datetime

from edge_agent.errors import ConfigError

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; a bare number means seconds."""
    cleaned = text.strip().lower().replace(" ", "")
    try:
        return float(cleaned)
    except ValueError:
        pass
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        raise ConfigError(f"cannot read duration {text!r}: use e.g. 90s, 10m, 2h or 1h30m")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def parse_time(text: str, now: float | None = None) -> float:
    """Epoch seconds for an ISO 8601 time (local time when no zone is given) or ``HH:MM`` (next occurrence)."""
    now = time.time() if now is None else now
    cleaned = text.strip()
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", cleaned)
    if match:
        base = datetime.fromtimestamp(now)
        target = base.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
        stamp = target.timestamp()
        return stamp if stamp > now else stamp + 86400.0
    try:
        return datetime.fromisoformat(cleaned.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ConfigError(f"cannot read time {text!r}: use ISO 8601 (2026-11-22T18:00) or HH:MM") from exc
