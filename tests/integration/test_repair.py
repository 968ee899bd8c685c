"""Complete end to end, not only hop by hop: with default options, the subscriber SIGKILLed and the broker SIGKILLed
with the center's queue in it and restarted empty, every segment the device shared is stored once, with no gap:
the center asks the device again for what the broker lost, and the device sends the same sealed bytes."""

from __future__ import annotations

from tests.integration.repair_helpers import BROKER_CONFIG, run_once


def test_broker_and_subscriber_killed_lose_nothing(tmp_path, mosquitto_factory):
    broker = mosquitto_factory(BROKER_CONFIG)
    run = run_once(tmp_path, broker)
    print(f"FIGURE repair: {run.shared} shared, {run.stored} stored, {run.repaired} repaired after the broker lost "
          f"them, {run.duplicates} duplicates, {run.gaps} gaps; complete {run.seconds_to_complete:.1f} s after the "
          f"center restarted")
    assert run.shared >= 8
    assert run.stored == run.shared and run.gaps == 0 and run.duplicates == 0
    assert run.repaired > 0  # the broker really lost some: they came back through the repair
    assert run.lost == run.withheld == 0 and run.verified


def test_revocation_during_a_repair_withholds_and_nothing_is_lost(tmp_path, mosquitto_factory):
    """Consent revoked after the broker lost segments and before the center asked for them: the device withholds
    them (never sent again), and the center records them as withheld, not lost."""
    broker = mosquitto_factory(BROKER_CONFIG)
    run = run_once(tmp_path, broker, meanwhile="revoke")
    print(f"FIGURE repair with revocation: {run.shared} shared, {run.stored} stored, {run.withheld} withheld, "
          f"{run.lost} lost, {run.duplicates} duplicates")
    assert run.withheld > 0 and run.lost == 0 and run.duplicates == 0
    assert run.stored + run.withheld == run.shared
    assert run.repaired == 0  # nothing revoked came back


def test_device_restart_during_a_repair(tmp_path, mosquitto_factory):
    """The agent SIGKILLed and started again while the center repairs: what it shared is on its disk (the
    archive, the outbox), so the repair completes."""
    broker = mosquitto_factory(BROKER_CONFIG)
    run = run_once(tmp_path, broker, meanwhile="restart-device")
    print(f"FIGURE repair with a device restart: {run.shared} shared, {run.stored} stored, {run.repaired} "
          f"repaired, {run.gaps} gaps; complete {run.seconds_to_complete:.1f} s after the center restarted")
    # A kill between a segment's audit entry and its outbox rename can leave one the device never spooled: the
    # device says so, and the center counts it lost with that reason, never as a silent gap.
    assert run.stored + run.lost == run.shared and run.lost <= 1 and run.duplicates == 0 and run.verified
    assert run.withheld == 0
