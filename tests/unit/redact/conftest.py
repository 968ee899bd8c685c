"""Fixtures for the redaction tests; the helpers they use live in ``redact_helpers``."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.redact.redact_helpers import scene


@pytest.fixture
def background() -> np.ndarray:
    return scene()
