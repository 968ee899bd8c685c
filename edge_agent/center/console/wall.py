"""The live wall (operators): every device sharing live now, its consent and time left, its redacted stream.

The page asks ``/api/live`` every second which devices are live: a device is on the wall while it is enrolled,
online, and its newest consent record is a live grant in force now. A revocation (a new record) or the device
going offline takes it off at the next answer, and from then on its live segments are refused too.

Each tile's player asks ``/api/live/<device>/segments?after=SEQ`` for segments newer than the last it has, and
fetches each as fragmented MP4 from ``/live/<device>/<seq>.mp4``; every segment served is written to the access
log first (``view_live``: who, which device, which window).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, jsonify, render_template, request

from edge_agent.center.console.auth import ctx, requires, staff
from edge_agent.center.devices import consent_state
from edge_agent.center.index import SegmentRow
from edge_agent.center.keys import DeviceRegistry
from edge_agent.center.media import fragment
from edge_agent.center.presence import PresenceBook
from edge_agent.consent.state import LIVE_PREFIX
from edge_agent.errors import CenterError, EdgeAgentError
from edge_agent.web import guard as web

# Only this recent a segment is "live": older footage is evidence, for investigators.
LIVE_WINDOW_S = 120.0


def live_devices(now: float) -> list[dict[str, Any]]:
    c = ctx().center
    presence = PresenceBook(c.paths.status)
    out = []
    for device_id in DeviceRegistry(c.paths.devices).device_ids():
        seen = presence.get(device_id)
        state, until = consent_state(c.consent.current(device_id), now)
        if state != "live" or seen is None or not seen.online:
            continue
        out.append({"device_id": device_id, "consent": state, "live_until": until, "online_since": seen.since})
    return out


def _is_live(device_id: str, now: float) -> bool:
    return any(d["device_id"] == device_id for d in live_devices(now))


@requires("operator")
def wall() -> str:
    return render_template("wall.html")


@requires("operator")
def api_live() -> Any:
    now = time.time()
    return jsonify(now=now, devices=live_devices(now))


@requires("operator")
def api_live_segments(device_id: str) -> Any:
    now = time.time()
    if not _is_live(device_id, now):
        return jsonify(live=False, segments=[])
    try:
        after = int(request.args.get("after", "-1"))
    except ValueError:
        return web.refuse(400, "after must be a sequence number")
    rows = [r for r in ctx().center.index.recent(device_id, after, now - LIVE_WINDOW_S, limit=10)
            if r.consent_id.startswith(LIVE_PREFIX)]
    if after < 0:
        rows = rows[-1:]  # a tile starts at the live edge
    return jsonify(live=True, segments=[{"seq": r.seq, "start": r.start, "end": r.end} for r in rows])


@requires("operator")
def live_media(device_id: str, seq: int) -> Any:
    now = time.time()
    row = ctx().center.index.segment(device_id, seq)
    if row is None or not row.consent_id.startswith(LIVE_PREFIX) or row.end < now - LIVE_WINDOW_S:
        return web.refuse(404, "no such live segment")
    if not _is_live(device_id, now):
        return web.refuse(410, "the device no longer shares live")
    return serve_segment(row, "view_live", "")


def serve_segment(row: SegmentRow, action: str, case_id: str) -> Any:
    """Log the look, then serve the segment as fragmented MP4 (a look that cannot be logged is refused)."""
    c = ctx().center
    try:
        data = (c.paths.store / row.device_id / row.video).read_bytes()
        c.access.append(staff().name, action, device_id=row.device_id, start=row.start, end=row.end,
                        case_id=case_id, segments=1, detail=f"seq {row.seq}")
        body = fragment(data)
    except FileNotFoundError:
        return web.refuse(404, "the segment's video is missing from the store (edge-center verify)")
    except EdgeAgentError as exc:
        status = 503 if isinstance(exc, CenterError) and "database" in str(exc) else 500
        return web.refuse(status, str(exc)[:300])
    response = Response(body, mimetype="video/mp4")
    response.headers["X-Segment-Start"] = f"{row.start:.3f}"
    return response
