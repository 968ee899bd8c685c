"""Shared fixtures: a real Mosquitto broker on a free loopback port, one per test.

The machine-wide broker on 1883 is never used: tests must be able to stop and restart their own broker.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from edge_agent.devbroker import MOSQUITTO, MosquittoBroker
from tests.pgcluster import PgCluster, pg_bin

MosquittoFactory = Callable[..., MosquittoBroker]


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoFactory]:
    """Start brokers on demand: ``mosquitto_factory(extra_config=["max_packet_size 65536"])``.

    ``extra_config`` lines are appended to the config (limits, TLS listeners, ACL files...). Pass
    ``start=False`` to get a configured broker that is not running yet. Every broker is killed at teardown.
    """
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    brokers: list[MosquittoBroker] = []

    def make(extra_config: Sequence[str] = (), *, port: int | None = None, start: bool = True) -> MosquittoBroker:
        broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"), extra_config, port=port)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> MosquittoBroker:
    """One running broker with the default test config."""
    return mosquitto_factory()


FAKE_PICAMERA2 = Path(__file__).resolve().parent / "fakes" / "picamera2"


def _load(name: str, path: Path, package: bool) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if package else None
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The fake picamera2 package (the one piece of hardware not here) in sys.modules for one test."""
    package = _load("picamera2", FAKE_PICAMERA2 / "__init__.py", package=True)
    monkeypatch.setitem(sys.modules, "picamera2", package)
    outputs = _load("picamera2.outputs", FAKE_PICAMERA2 / "outputs.py", False)
    monkeypatch.setitem(sys.modules, "picamera2.outputs", outputs)
    encoders = _load("picamera2.encoders", FAKE_PICAMERA2 / "encoders.py", False)
    monkeypatch.setitem(sys.modules, "picamera2.encoders", encoders)
    return package


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """One private PostgreSQL cluster for the session (``tests/pgcluster.py``); tests take a database each."""
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PgCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(pg_cluster: object) -> str:
    """The URL of a fresh, empty database in the session's PostgreSQL cluster."""
    url: str = pg_cluster.new_database()  # type: ignore[attr-defined]
    return url
