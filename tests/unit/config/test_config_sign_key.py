"""Signing a profile with the public half of an installer key is refused, naming the private key to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import profiles
from edge_agent.errors import ConfigError

PROFILES = Path(__file__).resolve().parents[3] / "firmware_profiles"


def test_signing_with_the_public_key_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "installer.key"
    public = profiles.keygen(key)
    profile = tmp_path / "p.toml"
    profile.write_bytes((PROFILES / "dev-linux.toml").read_bytes())
    with pytest.raises(ConfigError, match="public half") as info:
        profiles.sign(profile, public)
    assert str(key) in str(info.value) and "chmod" not in str(info.value)
    assert not profile.with_name("p.toml.sig").exists()
    assert profiles.sign(profile, key).exists()  # the private key signs
