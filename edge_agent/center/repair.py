"""Delivery that is complete end to end: the center asks each device again for what never arrived.

MQTT delivers hop by hop: a device's PUBACK says the broker has a segment, not that the center does. A broker
killed and restarted empty, or a subscriber killed between receiving and storing, loses what was in between. So the
center keeps, per device, what it expects of the device's chain (every sequence number up to the highest it holds
or the device says it shared, in its status or signed log head) and what became of each one that is missing:

    repair/<device>.json    {"gaps": {seq: {"since", "attempts", "last"}}, "withheld": {seq: reason},
                             "lost": {seq: reason}, "repaired": [seq, ...], "asked": {request id: [seq, ...]},
                             "next_at": time}
    repairs.jsonl           every resend request sent and every answer received (rotated like rejected.jsonl)

A gap older than ``GRACE_S`` is asked for with a signed resend request (:mod:`edge_agent.consent.resend`), at most
``MAX_SEQS`` numbers at a time, one request per device every ``INTERVAL_S`` at most, only while the device is
online, each number at most ``MAX_ATTEMPTS`` times with a doubling back-off. The device answers: resent (the same
sealed bytes arrive on its segments topic and are stored, counted as *repaired*), withheld (consent revoked since),
lost (with its reason). A number asked ``MAX_ATTEMPTS`` times that never arrives is lost too, with that reason.
Every worker of a shared subscription may run the repair: a lock per device and ``next_at`` keep it to one request.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.center.consent_check import ConsentBook, Learned
from edge_agent.center.files import DIR_MODE, append_bounded, write_private
from edge_agent.center.keys import CenterKeys, CenterPaths, DeviceRegistry
from edge_agent.center.presence import PresenceBook
from edge_agent.consent.resend import MAX_SEQS, make_resend, parse_resend_answer
from edge_agent.core.files import make_dirs
from edge_agent.errors import ConsentError, OpenError
from edge_agent.seal.signed import verify_document
from edge_agent.transport.topics import Topics

log = logging.getLogger(__name__)

GRACE_S = 10.0  # a missing number may still be on its way (another worker, a batch in hand) this long
INTERVAL_S = 10.0  # at most one resend request per device this often
BACKOFF_S = 20.0  # before asking for the same number again; doubles with each attempt, up to BACKOFF_MAX_S
BACKOFF_MAX_S = 600.0
MAX_ATTEMPTS = 6
KEEP_ASKED = 32  # resend requests remembered per device (to match their answers)
LOOKAHEAD = 64  # how far past the highest stored number the scan looks for later ones
# How many numbers past the settled prefix one tick looks at. A device's own claim (a status or log head saying it
# shared up to 2**53, or a segment it sealed with such a number) would otherwise make the tick walk and remember
# every number below it, on the thread that ingests every device's segments. Numbers past the window wait until
# the ones before them are stored, withheld or lost.
WINDOW = 4096
GAVE_UP = f"not received after {MAX_ATTEMPTS} resend requests"
# Lost and withheld numbers remembered per device, one by one (with their reasons) in a state read every tick.
# Past this the repair of that device notes no new gaps (the counts go on, arithmetic): a device that claims a
# far-off number and answers "lost" to everything would otherwise grow its state by ~500,000 numbers a day.
MAX_SETTLED = 50_000


@dataclass(frozen=True, slots=True)
class ChainCounts:
    """What the center holds of one device's chain."""

    expected: int  # sequence numbers 0 .. the highest known
    stored: int
    repaired: int  # stored after the center asked for them again
    withheld: int  # the device withholds them: consent was revoked since they were shared
    lost: int  # the device no longer has them, or never answered
    missing: int  # still being asked for

    def line(self, device_id: str) -> str:
        return (f"{device_id}: expected {self.expected}, stored {self.stored}, repaired {self.repaired}, "
                f"withheld {self.withheld}, lost {self.lost}, missing {self.missing}")


def stored_seqs(store: Path, device_id: str) -> set[int]:
    folder = store / device_id
    if not folder.is_dir():
        return set()
    return {int(name[:-5]) for name in os.listdir(folder) if name.endswith(".json") and name[:-5].isdigit()}


class Repair:
    def __init__(
        self,
        paths: CenterPaths,
        keys: CenterKeys | None,
        registry: DeviceRegistry,
        topic_prefix: str,
        *,
        publish: Callable[..., object] | None = None,
        book: ConsentBook | None = None,
    ) -> None:
        self.paths = paths
        self.keys = keys
        self.registry = registry
        self.prefix = topic_prefix
        self.publish = publish
        self.presence = PresenceBook(paths.status)
        self.book = book

    # -- state -------------------------------------------------------------------------------------------------

    @contextmanager
    def _state(self, device_id: str) -> Iterator[dict[str, Any]]:
        """The device's repair state, locked against other workers, written back when the block changed it."""
        make_dirs(self.paths.repair, DIR_MODE)
        fd = os.open(self.paths.repair / f"{device_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = read_state(self.paths, device_id)
            before = json.dumps(state, sort_keys=True)
            yield state
            after = json.dumps(state, sort_keys=True)
            if after != before:
                write_private(self.paths.repair / f"{device_id}.json", after.encode())
        finally:
            os.close(fd)

    def _log(self, line: dict[str, Any]) -> None:
        append_bounded(self.paths.root / "repairs.jsonl", json.dumps(line, sort_keys=True))

    # -- asking ------------------------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> int:
        """Look at every enrolled device's chain; returns the resend requests sent."""
        now = time.time() if now is None else now
        return sum(self.tick_device(device_id, now) for device_id in self.registry.device_ids())

    def highest_known(self, device_id: str, highest_stored: int) -> int:
        """The highest sequence number the device is known to have shared (-1: none)."""
        seen = self.presence.get(device_id)
        head = self.book.latest_head(device_id) if self.book is not None else None
        return max(-1, highest_stored, seen.shared_seq if seen else -1, head.shared_seq if head else -1)

    def tick_device(self, device_id: str, now: float) -> int:
        with self._state(device_id) as state:
            top, stored = self._scan(device_id, state)
            full = len(state["lost"]) + len(state["withheld"]) >= MAX_SETTLED
            if full and not state.get("full"):
                log.warning("%s: %d segments settled as lost or withheld; no new gaps are noted for it (edge-center "
                            "verify still counts them missing)", device_id, MAX_SETTLED)
            state["full"] = full
            gaps = _update_gaps(state, stored, top, now, note_new=not full)
            _give_up(state, now)
            due = [int(seq) for seq, gap in sorted(gaps.items(), key=lambda kv: int(kv[0])) if _due(gap, now)]
            seen = self.presence.get(device_id)
            if not due or self.publish is None or self.keys is None or seen is None or not seen.online \
                    or now < state["next_at"]:
                return 0
            ask = due[:MAX_SEQS]
            request, signed = make_resend(self.keys.ed25519, device_id=device_id,
                                          center_id=self.keys.identity.center_id, seqs=ask, now=now)
            self.publish(Topics(self.prefix, device_id).requests, signed, qos=1, content_type="application/json",
                         expiry=int(request.expires_at - request.issued_at))
            for seq in ask:
                gap = gaps[str(seq)]
                gap["attempts"] += 1
                gap["last"] = now
            asked: dict[str, list[int]] = state["asked"]
            asked[request.id] = list(ask)
            for old in list(asked)[:-KEEP_ASKED]:
                del asked[old]
            state["next_at"] = now + INTERVAL_S
        self._log({"time": round(now, 3), "device_id": device_id, "event": "resend requested",
                   "request_id": request.id, "seqs": ask})
        log.info("asked %s to resend %d segment(s): %s", device_id, len(ask), _span(ask))
        return 1

    def _scan(self, device_id: str, state: dict[str, Any]) -> tuple[int, set[int]]:
        """The highest number known, and which numbers above the settled prefix are stored: one ``stat`` per
        number past the prefix and ``LOOKAHEAD`` past the highest (no listing of a store that grows with every
        segment)."""
        folder = self.paths.store / device_id
        highest = max(int(state["highest"]), int(state["complete_to"]))
        while True:  # up past holes: a hole is exactly what the repair is for
            ahead = [s for s in range(highest + 1, highest + 1 + LOOKAHEAD) if (folder / f"{s:010d}.json").exists()]
            if not ahead:
                break
            highest = ahead[-1]
        state["highest"] = highest
        start = int(state["complete_to"]) + 1
        top = min(self.highest_known(device_id, highest), start - 1 + WINDOW)
        # Gaps past the window (noted before numbers below them were asked for again, see device_spoke) are
        # looked at too, so that one stored since is not asked for again.
        beyond = {int(seq) for seq in state["gaps"] if int(seq) > top}
        stored = {seq for seq in (*range(start, top + 1), *beyond) if (folder / f"{seq:010d}.json").exists()}
        return top, stored

    def device_spoke(self, device_id: str, now: float | None = None) -> int:
        """The device just published its status live: it is reachable now. Numbers the center gave up on
        itself (never answered) are asked for again: a broker that crashed publishes no last will, so the
        center may have asked a device that was not there. What the device said it lost or withholds stays
        settled. Returns how many numbers are asked for again (at most ``WINDOW``, the lowest first)."""
        now = time.time() if now is None else now
        with self._state(device_id) as state:
            lost: dict[str, str] = state["lost"]
            reopened = sorted(int(seq) for seq, reason in lost.items() if reason == GAVE_UP)[:WINDOW]
            for seq in reopened:
                del lost[str(seq)]
                state["gaps"][str(seq)] = {"since": now, "attempts": 0, "last": 0.0}
            if reopened:
                state["complete_to"] = min(int(state["complete_to"]), reopened[0] - 1)
        if reopened:
            log.info("%s is reachable again: asking again for %d segment(s) it never answered for: %s",
                     device_id, len(reopened), _span(reopened))
        return len(reopened)

    # -- answers -----------------------------------------------------------------------------------------------

    def learn(self, device_id: str, payload: bytes) -> Learned:
        """A resend answer from ``device_id``: verified, checked, and what it says recorded."""
        key = self.registry(device_id)
        if key is None:
            return Learned("refused", "resend answer from a device that is not enrolled")
        try:
            answer = parse_resend_answer(verify_document(payload, key))
        except OpenError:
            return Learned("refused", "resend answer: bad signature")
        except ConsentError as exc:
            return Learned("refused", str(exc)[:300])
        if answer.device_id != device_id:
            return Learned("refused", "resend answer names another device")
        with self._state(device_id) as state:
            asked = state["asked"].get(answer.request_id)
            if asked is None:
                return Learned("refused", f"resend answer to {answer.request_id}, which this center never sent")
            answered = {*answer.resent, *answer.deferred, *(s for s, _ in answer.withheld),
                        *(s for s, _ in answer.lost)}
            if not answered <= set(asked):
                return Learned("refused", "resend answer speaks of segments that were not asked for")
            _settle(state, answer.withheld, answer.lost, answer.deferred)
        self._log({"time": round(time.time(), 3), "device_id": device_id, "event": "resend answered",
                   "request_id": answer.request_id, "resent": list(answer.resent),
                   "withheld": [s for s, _ in answer.withheld], "lost": [s for s, _ in answer.lost],
                   "deferred": list(answer.deferred)})
        return Learned("new")



def chain_counts(paths: CenterPaths, device_id: str) -> ChainCounts:
    """Expected, stored, repaired, withheld, lost and missing segments of one device (for ``verify``)."""
    stored = stored_seqs(paths.store, device_id)
    repair = Repair(paths, None, DeviceRegistry(paths.devices), "rtcc/v1",
                    book=ConsentBook(paths.root, DeviceRegistry(paths.devices)))
    return counts_of(read_state(paths, device_id), stored, repair.highest_known(device_id, max(stored, default=-1)))


@dataclass(frozen=True, slots=True)
class Settled:
    repaired: int
    withheld: int
    lost: int


def settled_counts(state: dict[str, Any], top: int) -> Settled:
    """Repaired, withheld and lost numbers up to ``top`` from the repair state alone (no listing of the store):
    for a view that already knows how many segments are stored. Repaired counts what the repair has seen arrive
    (it looks every 2 s while a subscriber runs)."""
    def upto(keys: Any) -> set[int]:
        return {int(k) for k in keys if int(k) <= top}

    withheld = upto(state["withheld"])
    return Settled(len(upto(state["repaired"])), len(withheld), len(upto(state["lost"]) - withheld))


def read_state(paths: CenterPaths, device_id: str) -> dict[str, Any]:
    try:
        state = json.loads((paths.repair / f"{device_id}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        state = {}
    if not isinstance(state, dict):
        state = {}
    for key, empty in (("gaps", {}), ("withheld", {}), ("lost", {}), ("repaired", []), ("asked", {}),
                       ("next_at", 0.0), ("complete_to", -1), ("highest", -1)):
        state.setdefault(key, empty)
    return state


def counts_of(state: dict[str, Any], stored: set[int], top: int) -> ChainCounts:
    # Counted, never enumerated: ``top`` is whatever the device claims, and may be far past what it really shared.
    def upto(seqs: set[int]) -> set[int]:
        return {s for s in seqs if 0 <= s <= top}

    have = upto(stored)
    withheld = upto({int(s) for s in state["withheld"]}) - have
    lost = upto({int(s) for s in state["lost"]}) - have - withheld
    # Asked for and stored since, whether or not a tick has moved them from the gaps yet.
    asked = {int(key) for key, gap in state["gaps"].items() if gap["attempts"]}
    repaired = (set(state["repaired"]) | asked) & have
    expected = top + 1
    return ChainCounts(expected, len(have), len(repaired), len(withheld), len(lost),
                       expected - len(have) - len(withheld) - len(lost))


def _update_gaps(
    state: dict[str, Any], stored: set[int], top: int, now: float, *, note_new: bool = True,
) -> dict[str, dict[str, float]]:
    """Bring the gaps in line with what is stored now (``stored``: the numbers above the settled prefix): new gaps
    noted (unless ``note_new`` is false), filled ones counted as repaired, and the settled prefix moved up past
    whatever is complete."""
    gaps: dict[str, dict[str, float]] = state["gaps"]
    settled = {int(s) for s in (*state["withheld"], *state["lost"])}
    for key in list(gaps):
        if int(key) in stored:
            if gaps[key]["attempts"]:
                state["repaired"].append(int(key))
            del gaps[key]
    start = int(state["complete_to"]) + 1
    for seq in range(start, top + 1 if note_new else start):
        if seq not in stored and seq not in settled and str(seq) not in gaps:
            gaps[str(seq)] = {"since": now, "attempts": 0, "last": 0.0}
    complete = int(state["complete_to"])
    while complete + 1 <= top and (complete + 1 in stored or complete + 1 in settled):
        complete += 1
    state["complete_to"] = complete
    return gaps


def _backoff(attempts: float) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_S * 2 ** max(0.0, attempts - 1))


def _due(gap: dict[str, float], now: float) -> bool:
    if now - gap["since"] < GRACE_S or gap["attempts"] >= MAX_ATTEMPTS:
        return False
    return gap["attempts"] == 0 or now - gap["last"] >= _backoff(gap["attempts"])


def _give_up(state: dict[str, Any], now: float) -> None:
    gaps = state["gaps"]
    for key in list(gaps):
        gap = gaps[key]
        if gap["attempts"] >= MAX_ATTEMPTS and now - gap["last"] >= _backoff(gap["attempts"]):
            state["lost"][key] = GAVE_UP
            del gaps[key]


def _settle(state: dict[str, Any], withheld: tuple[tuple[int, str], ...], lost: tuple[tuple[int, str], ...],
            deferred: tuple[int, ...]) -> None:
    gaps = state["gaps"]
    for seq, reason in withheld:
        state["withheld"][str(seq)] = reason
        gaps.pop(str(seq), None)
    for seq, reason in lost:
        state["lost"][str(seq)] = reason
        gaps.pop(str(seq), None)
    for seq in deferred:  # the device was busy: this attempt does not count
        gap = gaps.get(str(seq))
        if gap is not None and gap["attempts"] > 0:
            gap["attempts"] -= 1


def _span(seqs: list[int]) -> str:
    return ", ".join(str(s) for s in seqs[:8]) + (" ..." if len(seqs) > 8 else "")
