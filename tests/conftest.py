"""Shared fixtures: a real Mosquitto broker on a free loopback port, one per test.

The machine-wide broker on 1883 is never used: tests must be able to stop and restart their own broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from edge_agent.devbroker import MOSQUITTO, MosquittoBroker

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
