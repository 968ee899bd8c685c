"""Fixtures of the seal tests: real X25519 and Ed25519 keys, generated once per session."""

from __future__ import annotations

import pytest
from seal_helpers import Keys, SealFn, make_sealer


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys.generate()


@pytest.fixture
def seal(keys: Keys) -> SealFn:
    return make_sealer(keys)
