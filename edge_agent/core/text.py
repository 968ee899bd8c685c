"""Text from the network made safe to show a person.

A request's reason, case id or legal basis is written by someone else. Signed or not, it may carry characters that
change what a reader sees without being visible themselves: bidirectional overrides (``"warrant \\u202e6202/24"``
reads as "warrant 42/2026"), zero-width and other format characters, control characters, unassigned code points.
:func:`shown` drops them (line and paragraph separators become spaces) before anything is displayed on the page, in
a terminal or in Home Assistant. What is stored and signed stays as received, so a signature still verifies.
"""

from __future__ import annotations

import unicodedata

# Cc: controls (C0 and C1), Cf: format (bidi embeddings, overrides and isolates, marks, zero-width joiners),
# Cs: lone surrogates, Co: private use, Cn: unassigned (tomorrow's format characters).
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_SPACED = frozenset({"Zl", "Zp"})


def shown(text: str, limit: int | None = None) -> str:
    """``text`` without invisible or direction-changing characters, cut to ``limit`` characters if given."""
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in _DROPPED:
            continue
        out.append(" " if category in _SPACED else ch)
    result = "".join(out)
    if limit is not None and len(result) > limit:
        result = result[: max(0, limit - 1)] + "…"
    return result
