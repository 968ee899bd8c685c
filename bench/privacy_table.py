"""One table for every footage the redactor is measured on (see bench/privacy_eval.py).

Each section fills the columns it can measure and leaves the others as "-": PETS09 has ground truth (head
recall, over-redaction), the synthetic doorstep view has exact ground truth, the doorway clips have none (masked
share, faces an independent detector still finds, blocks across each face, mask per person).
"""

from __future__ import annotations

from dataclasses import dataclass

COLUMNS = (
    "footage",
    "redactor",
    "head recall (missed)",
    "over-redaction",
    "masked share",
    "faces found again",
    "faces over 4 blocks (worst)",
    "mask per person",
    "fps",
    "notes",
)


@dataclass(frozen=True, slots=True)
class Row:
    footage: str
    redactor: str
    recall: str = "-"
    over: str = "-"
    masked: str = "-"
    leaks: str = "-"
    blocks: str = "-"
    per_person: str = "-"
    fps: str = "-"
    notes: str = ""


def percent(value: float) -> str:
    return f"{value * 100:.2f} %"


def render(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in rows:
        cells = (r.footage, r.redactor, r.recall, r.over, r.masked, r.leaks, r.blocks, r.per_person, r.fps, r.notes)
        lines.append("| " + " | ".join(cells) + " |")
    return lines
