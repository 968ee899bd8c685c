"""The scale-out path: two subscribe workers of one shared subscription (one store folder, as on a shared file
system) index into one real PostgreSQL, which a console then searches. Real Mosquitto, the agent live."""

from __future__ import annotations

import time
from pathlib import Path

from edge_agent.center.db import use_database
from edge_agent.center.index import SearchQuery
from edge_agent.center.services import Center
from edge_agent.config.loader import load_profile
from edge_agent.device.homeowner import grant_live
from tests.integration.spine_helpers import CenterThread, make_setup, run_device, wait_for


def test_two_workers_share_one_postgresql_index(tmp_path: Path, mosquitto: object, postgres_url: str) -> None:
    setup = make_setup(tmp_path, mosquitto.url)  # type: ignore[attr-defined]
    assert use_database(setup.center, postgres_url).startswith("PostgreSQL")
    profile, _ = load_profile(str(setup.profile))
    grant_live(setup.device, profile, until=time.time() + 600)
    with CenterThread(setup, share="g", client_id="worker-a") as a, \
            CenterThread(setup, share="g", client_id="worker-b") as b:
        summary = run_device(setup, duration=8.0)
        records = lambda: sorted((setup.center.store / "test-device").glob("*.json"))  # noqa: E731
        assert wait_for(lambda: len(records()) >= summary.delivered, timeout=20)
    assert summary.delivered >= 4
    assert a.counts["stored"] > 0 and b.counts["stored"] > 0  # both workers took a share
    assert a.counts["stored"] + b.counts["stored"] == len(records())
    with Center.open(setup.center) as center:
        assert center.db.dialect == "postgresql"
        found = center.index.search(SearchQuery(device_id="test-device"))
        assert found.total == len(records())
        assert [r.seq for r in found.rows] == sorted(int(p.stem) for p in records())
