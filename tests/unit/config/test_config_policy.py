"""The privacy floor: every shipped profile passes; any attempt to weaken a promise is refused, naming the rule."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge_agent.config import policy
from edge_agent.config.loader import embedded_profile_text, load_profile, parse_toml
from edge_agent.config.models import Profile
from edge_agent.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parents[3] / "firmware_profiles"
SHIPPED = sorted(PROFILES_DIR.glob("*.toml"))
BASE = 'name = "t"\n'


def _refusal(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_toml("bad.toml", BASE + text, Profile)
    return str(info.value)


def test_the_required_setups_are_shipped() -> None:
    names = {p.stem for p in SHIPPED}
    assert {"pi-zero2w-cam2", "pi4-cam3", "pi5-cam3", "usb-uvc", "dev-linux"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_profile_validates(path: Path) -> None:
    profile, text = load_profile(str(path))
    assert profile.name == path.stem
    assert policy.floor_violations(tomllib.loads(text), Profile) == []
    assert profile.consent.max_live_hours <= policy.MAX_LIVE_GRANT_HOURS
    assert profile.retention.hours <= policy.MAX_RETENTION_HOURS


def test_shipped_profiles_cover_every_encoder() -> None:
    encoders = {load_profile(str(p))[0].camera.encoder for p in SHIPPED}
    assert {"hardware", "x264"} <= encoders


def test_embedded_default_is_within_the_floor() -> None:
    assert policy.floor_violations(tomllib.loads(embedded_profile_text()), Profile) == []
    assert load_profile(None)[0].name == "default"


@pytest.mark.parametrize(
    ("text", "rule", "key"),
    [
        ("[redaction]\nneighbour_masks = false\n", "neighbour-masks", "redaction.neighbour_masks"),
        ("[redaction]\nmask_neighbors = false\n", "neighbour-masks", "redaction.mask_neighbors"),
        ("[redaction]\nenabled = false\n", "public-passers-by", "redaction.enabled"),
        ("[redaction]\nmethod = \"none\"\n", "public-passers-by", "redaction.method"),
        ("[redaction]\nmask_passers_by = false\n", "public-passers-by", "redaction.mask_passers_by"),
        ("[redaction]\nfail_open = true\n", "fail-closed", "redaction.fail_open"),
        ("fail_closed = false\n", "fail-closed", "fail_closed"),
        ("[redaction]\nscene_shift_guard = \"off\"\n", "fail-closed", "redaction.scene_shift_guard"),
        ("[consent]\nrequired = false\n", "consent-gate", "consent.required"),
        ("[consent]\nbypass = true\n", "consent-gate", "consent.bypass"),
        ("auto_share = true\n", "consent-gate", "auto_share"),
        ("[audit]\nenabled = false\n", "audit-log", "audit.enabled"),
        ("audit_log = false\n", "audit-log", "audit_log"),
        ("[consent]\nmax_live_hours = 48\n", "hard-caps", "consent.max_live_hours"),
        ("[consent]\nmax_request_window_hours = 25\n", "hard-caps", "consent.max_request_window_hours"),
        ("[retention]\nhours = 1000\n", "hard-caps", "retention.hours"),
        ("[redaction]\nscene_shift_threshold = 0.000001\n", "fail-closed", "redaction.scene_shift_threshold"),
        ("[redaction]\nscene_shift_frames = 50\n", "fail-closed", "redaction.scene_shift_frames"),
        ("[redaction]\nwarmup_frames = 1\n", "fail-closed", "redaction.warmup_frames"),
        ("[redaction]\nabsorb_seconds = 10\n", "public-passers-by", "redaction.absorb_seconds"),
        ("[redaction]\nface_score = 0.95\n", "public-passers-by", "redaction.face_score"),
        ("[redaction]\nbox_padding = 0.0\n", "public-passers-by", "redaction.box_padding"),
        ("[redaction]\ntrack_hold_seconds = 0.5\n", "public-passers-by", "redaction.track_hold_seconds"),
    ],
)
def test_weakening_is_refused_naming_the_rule_and_key(text: str, rule: str, key: str) -> None:
    message = _refusal(text)
    assert f"privacy floor rule '{rule}'" in message
    assert key in message
    assert message.startswith("bad.toml")
    assert "\n" not in message


def test_section_violations_carry_a_line_number() -> None:
    message = _refusal("[camera]\nfps = 10\n[consent]\nmax_live_hours = 100\n")
    assert message.startswith("bad.toml:4: consent:")


def test_caps_at_the_hard_limit_are_allowed() -> None:
    profile = parse_toml("ok.toml", BASE + "[consent]\nmax_live_hours = 24\nmax_request_window_hours = 24\n", Profile)
    assert profile.consent.max_live_hours == policy.MAX_LIVE_GRANT_HOURS


def test_unrelated_unknown_keys_get_the_ordinary_error() -> None:
    message = _refusal("log_level = \"debug\"\n[camera]\nwidht = 640\n")
    assert "privacy floor" not in message
    assert "camera.widht" in message and "log_level" in message


def test_own_zone_setting_is_not_mistaken_for_weakening() -> None:
    profile = parse_toml("ok.toml", BASE + "[redaction]\nown_zone_people_visible = false\n", Profile)
    assert profile.redaction.own_zone_people_visible is False


def test_several_violations_are_all_named() -> None:
    message = _refusal("[consent]\nmax_live_hours = 48\nrequired = false\n")
    assert "'hard-caps'" in message and "'consent-gate'" in message


def test_a_profile_whose_segments_could_outgrow_the_center_is_refused() -> None:
    """The center accepts sealed segments of at most 64 MiB: 20 Mbit/s for 60 s (150 MB) could never arrive."""
    base = 'name = "big"\n[camera]\nbitrate_kbps = 20000\n[segment]\nseconds = {}\n'
    with pytest.raises(ConfigError, match="64 MiB"):
        parse_toml("big.toml", base.format(60), Profile)
    assert parse_toml("ok.toml", base.format(10), Profile).segment.seconds == 10
    assert policy.segment_bytes_bound(20000, 10) <= policy.MAX_SEGMENT_BYTES
