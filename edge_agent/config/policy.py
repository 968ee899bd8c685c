"""The privacy floor: what no profile, flag or technician may weaken.

The profile models have no switch for the promises made to the neighbours: there is no setting that turns off
neighbour masks, passers-by masking in public zones, fail-closed redaction, the consent gate or the audit log.
A profile that tries anyway (``neighbour_masks = false``, ``[audit] enabled = false``, ``method = "none"``) would
only get pydantic's "extra inputs are not permitted"; this module recognises such attempts and refuses them with
the rule they break, so that a technician learns that the setting is not missing but forbidden. Caps are checked
against the hard limits below before the field bounds, for the same reason.

This module does not import the models (they import it); it is given the model class to walk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

# Hard limits in code: no profile may raise a cap above these.
MAX_LIVE_GRANT_HOURS = 24.0
MAX_REQUEST_WINDOW_HOURS = 24.0
MAX_RETENTION_HOURS = 24.0 * 7
# The largest sealed segment the crime center accepts (and reassembles from parts): a profile whose bitrate and
# segment length could make a larger one, with room for x264 to overshoot its target twofold, is refused.
MAX_SEGMENT_BYTES = 64 << 20
SEGMENT_OVERSHOOT = 2.0


def segment_bytes_bound(bitrate_kbps: float, seconds: float) -> float:
    """The most bytes a segment of ``seconds`` at ``bitrate_kbps`` is allowed for (the overshoot included)."""
    return bitrate_kbps * 1000.0 / 8.0 * seconds * SEGMENT_OVERSHOOT


@dataclass(frozen=True, slots=True)
class FloorRule:
    id: str
    promise: str
    # Words that, in the name of a key a profile tries to set, mark an attempt to switch this promise off.
    words: tuple[str, ...]


# Order matters: the first rule whose words match names the violation ("neighbour_masks" is about neighbours,
# not masks in general).
NEIGHBOUR_MASKS = FloorRule("neighbour-masks", "neighbour zones are always masked", ("neighbour", "neighbor"))
AUDIT_LOG = FloorRule(
    "audit-log", "every share, request, consent and profile change is audited", ("audit", "journal", "log")
)
CONSENT_GATE = FloorRule(
    "consent-gate",
    "nothing is published without the homeowner's consent",
    ("consent", "gate", "auto_share", "always_share", "share_without", "publish_all", "unattended"),
)
FAIL_CLOSED = FloorRule(
    "fail-closed",
    "redaction fails closed (detector error, overload or a moved camera masks the public zone)",
    ("fail", "fallback", "guard", "scene_shift", "passthrough", "pass_through", "degrade"),
)
PUBLIC_PASSERS_BY = FloorRule(
    "public-passers-by",
    "passers-by in public zones are always masked",
    ("redact", "mask", "passer", "people", "person", "pedestrian", "face", "blur", "pixelat", "anonymi",
     "privacy", "public"),
)
HARD_CAPS = FloorRule("hard-caps", "caps stay within the hard limits in the code", ())

RULES: tuple[FloorRule, ...] = (NEIGHBOUR_MASKS, AUDIT_LOG, CONSENT_GATE, FAIL_CLOSED, PUBLIC_PASSERS_BY)

# Values that mean "off" when a profile sets a key that is not a setting at all.
OFF_VALUES = frozenset({"off", "none", "no", "false", "disabled", "disable", "skip", "raw", "open", "0"})

# Words that make a key with a true value an attempt to weaken (``fail_open = true``, ``skip_consent = true``).
WEAKENING_WORDS = ("open", "bypass", "skip", "disable", "unmask", "visible", "show", "allow", "without",
                   "raw", "passthrough", "ignore", "no_", "off", "auto", "always")

# Known settings whose value may name an "off" mode that the floor forbids: (section, key) -> rule.
FORBIDDEN_MODES: dict[tuple[str, str], FloorRule] = {("redaction", "method"): PUBLIC_PASSERS_BY}

# (section, key) -> (lowest, highest, rule, why): settings a profile may tune, but not to values that make the
# mechanism useless. A scene guard that accepts any view, or latches only after seconds of a moved camera, is
# no guard; a detector that needs certainty, boxes without margin, or a background that learns a person who
# stops within seconds, is no masking.
FLOOR_BOUNDS: dict[tuple[str, str], tuple[float, float, FloorRule, str]] = {
    ("redaction", "scene_shift_threshold"): (0.2, 0.9, FAIL_CLOSED, "the share of the view that must be in place"),
    ("redaction", "scene_shift_frames"): (1, 10, FAIL_CLOSED, "frames of a moved view before sharing pauses"),
    ("redaction", "warmup_frames"): (5, 600, FAIL_CLOSED, "frames masked whole while the background is learnt"),
    ("redaction", "absorb_seconds"): (30.0, 3600.0, PUBLIC_PASSERS_BY, "how long a person who stops stays masked"),
    ("redaction", "face_score"): (0.05, 0.7, PUBLIC_PASSERS_BY, "the face detector's threshold"),
    ("redaction", "box_padding"): (0.1, 1.0, PUBLIC_PASSERS_BY, "the margin around each person"),
    ("redaction", "track_hold_seconds"): (1.0, 60.0, PUBLIC_PASSERS_BY, "how long a lost person stays masked"),
    ("redaction", "person_every_seconds"): (0.2, 5.0, PUBLIC_PASSERS_BY, "how often people who stand still are sought"),
    ("redaction", "person_score"): (0.05, 0.6, PUBLIC_PASSERS_BY, "the person detector's threshold"),
}

# (section, key) -> (hard limit, what it caps)
HARD_LIMITS: dict[tuple[str, str], tuple[float, str]] = {
    ("consent", "max_live_hours"): (MAX_LIVE_GRANT_HOURS, "the longest live grant"),
    ("consent", "max_request_window_hours"): (MAX_REQUEST_WINDOW_HOURS, "the longest request window"),
    ("retention", "hours"): (MAX_RETENTION_HOURS, "local retention"),
}


@dataclass(frozen=True, slots=True)
class Violation:
    rule: FloorRule
    key: str
    detail: str

    @property
    def message(self) -> str:
        return f"breaks privacy floor rule '{self.rule.id}' ({self.rule.promise}): {self.detail}"


def _is_off(value: object) -> bool:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        return value.strip().lower() in OFF_VALUES
    return False


def _weakens(leaf: str) -> bool:
    lowered = leaf.lower().replace("-", "_")
    return any(word in lowered for word in WEAKENING_WORDS)


def _rule_for(words_in: str) -> FloorRule | None:
    lowered = words_in.lower().replace("-", "_")
    for rule in RULES:
        if any(word in lowered for word in rule.words):
            return rule
    return None


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{...}"
    return repr(value) if isinstance(value, str) else str(value)


def _unknown_key(path: str, leaf: str, value: object) -> Violation | None:
    """A key that is not a setting: forbidden if its name, or its path with an "off" value, names a promise."""
    if not (_is_off(value) or _weakens(leaf)):
        return None
    rule = _rule_for(leaf) or _rule_for(path)
    if rule is None:
        return None
    return Violation(rule, path, f"{path} = {_show(value)} is not a setting: this promise cannot be switched off")


def _walk_unknown(path: str, value: object) -> list[Violation]:
    """Every key below an unknown table is itself unknown."""
    if isinstance(value, Mapping):
        found: list[Violation] = []
        for key, sub in value.items():
            found.extend(_walk_unknown(f"{path}.{key}", sub))
        return found
    hit = _unknown_key(path, path.rsplit(".", 1)[-1], value)
    return [hit] if hit else []


def _section_model(model: type[BaseModel], section: str) -> type[BaseModel] | None:
    field = model.model_fields.get(section)
    annotation = field.annotation if field else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _out_of_bounds(section: str, key: str, value: object) -> list[Violation]:
    bounds = FLOOR_BOUNDS.get((section, key))
    if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
        return []
    lowest, highest, rule, what = bounds
    if lowest <= value <= highest:
        return []
    path = f"{section}.{key}"
    return [Violation(rule, path, f"{path} = {value:g} is outside {lowest:g}-{highest:g} ({what})")]


def section_violations(section: str, value: object, model: type[BaseModel]) -> list[Violation]:
    """Floor violations inside one section (``[consent]``, ``[redaction]``, ...) of a profile."""
    if not isinstance(value, Mapping):
        return []
    sub_model = _section_model(model, section)
    known = set(sub_model.model_fields) if sub_model else set()
    found: list[Violation] = []
    for raw_key, sub in value.items():
        key = str(raw_key)
        path = f"{section}.{key}"
        if key not in known:
            found.extend(_walk_unknown(path, sub))
            continue
        rule = FORBIDDEN_MODES.get((section, key))
        if rule is not None and _is_off(sub):
            found.append(Violation(rule, path, f"{path} = {_show(sub)} is not allowed"))
        found.extend(_out_of_bounds(section, key, sub))
        limit = HARD_LIMITS.get((section, key))
        if limit is not None and isinstance(sub, int | float) and not isinstance(sub, bool) and sub > limit[0]:
            found.append(
                Violation(HARD_CAPS, path, f"{path} = {sub:g} is above the hard limit {limit[0]:g} for {limit[1]}")
            )
    return found


def top_level_violations(data: object, model: type[BaseModel]) -> list[Violation]:
    """Floor violations in keys or tables at the top of a profile that are not settings."""
    if not isinstance(data, Mapping):
        return []
    found: list[Violation] = []
    for key, value in data.items():
        if str(key) not in model.model_fields:
            found.extend(_walk_unknown(str(key), value))
    return found


def floor_violations(data: object, model: type[BaseModel]) -> list[Violation]:
    """All floor violations of a whole profile document (parsed TOML), top level first."""
    found = top_level_violations(data, model)
    if isinstance(data, Mapping):
        for section, value in data.items():
            if str(section) in model.model_fields:
                found.extend(section_violations(str(section), value, model))
    return found


def enforce(violations: list[Violation]) -> None:
    """Raise ``ValueError`` (pydantic turns it into a validation error) naming every broken rule."""
    if violations:
        raise ValueError("; ".join(v.message for v in violations))
