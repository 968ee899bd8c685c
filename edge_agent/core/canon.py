"""Canonical JSON for everything that is signed, and a strict parser for everything that is verified.

Canonical form: keys sorted by code point, no whitespace (``,`` and ``:`` separators), UTF-8 without escaping
non-ASCII characters, no NaN or infinities. The parser refuses what would let two readers disagree about a
signed document: duplicate keys, NaN/Infinity, numbers too large to be finite floats, deep nesting.
"""

from __future__ import annotations

import json
import math
from typing import Any

from edge_agent.errors import OpenError, SealError

# Signed documents and headers are shallow; a deep one is an attack on the parser's recursion.
MAX_DEPTH = 32


def canonical_json(obj: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of ``obj``. Raises :class:`SealError` for values JSON cannot carry."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SealError(f"cannot encode as canonical JSON: {exc}") from None
    return text.encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate key")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _check_value(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(value, float) and not math.isfinite(value):
        # json turns "1e999" into inf without calling parse_constant.
        raise ValueError("non-finite number")
    if isinstance(value, dict):
        for item in value.values():
            _check_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_value(item, depth + 1)


def strict_loads(data: bytes) -> Any:
    """Parse UTF-8 JSON strictly. Raises :class:`OpenError` (and nothing else) on any bad input."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
        _check_value(value, 0)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise OpenError() from None
    return value
