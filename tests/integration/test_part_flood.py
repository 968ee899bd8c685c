"""A compromised device floods the center with junk message parts: every one is refused, and the center's resident
memory stays below its steady level plus one maximum segment (64 MiB); genuine segments are stored before and
after. The center is its own process, with the service's allocator settings (tests/integration/flood.py)."""

from __future__ import annotations

from edge_agent.transport.parts import MAX_PAYLOAD
from tests.integration.flood import BROKER_CONFIG, Flood


def test_part_flood_memory_stays_bounded(tmp_path, mosquitto_factory):
    broker = mosquitto_factory(BROKER_CONFIG)
    result = Flood(tmp_path, broker).run(sets=2)
    budget = MAX_PAYLOAD / (1 << 20)
    print(f"FIGURE part flood: {result.flood_parts} junk part messages refused ({result.flood_bytes / 1e6:.0f} MB "
          f"sent); center RSS steady {result.steady_mib:.1f} MiB (peak {result.steady_peak_mib:.1f}), peak during "
          f"the flood {result.flood_peak_mib:.1f} MiB (+{result.flood_peak_mib - result.steady_peak_mib:.1f} MiB, "
          f"budget +{budget:.0f} MiB); genuine segments stored {result.stored_before} before, "
          f"{result.stored_after} after")
    assert result.flood_peak_mib < result.steady_peak_mib + budget
    assert result.stored_after == result.stored_before + 5
    assert result.rejected == result.flood_parts
