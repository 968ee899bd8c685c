"""Evidence (investigators): search stored segments by case, device and time; play them; attach live footage to a
case; export a case for court. Every search, every segment played and every export is in the access log."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, send_file, url_for

from edge_agent.center.console.auth import ctx, requires, staff
from edge_agent.center.console.wall import serve_segment
from edge_agent.center.export import export_case, log_export
from edge_agent.center.files import DIR_MODE
from edge_agent.center.index import PAGE, SearchQuery, SegmentRow
from edge_agent.center.requests import list_requests
from edge_agent.core.files import make_dirs
from edge_agent.errors import CenterError, EdgeAgentError
from edge_agent.web import guard as web

CASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/:-]{0,127}$")
PLAY_MAX = 2000  # segments one playback page lists (about an hour of 2 s live segments)


def parse_utc(text: str) -> float:
    """A time as the console shows them: ISO 8601 in UTC unless it names a zone (``2026-11-30 18:00``,
    ``2026-11-30T18:00:00+01:00``), or epoch seconds. CenterError otherwise."""
    cleaned = text.strip()
    try:
        return float(cleaned)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise CenterError(f"cannot read the time {cleaned[:40]!r}: use 2026-11-30 18:00 (UTC)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _time_arg(name: str) -> float | None:
    text = request.args.get(name, "").strip()
    return parse_utc(text) if text else None


def _query() -> SearchQuery:
    """The search in the request's arguments. EdgeAgentError for a time or case that does not parse."""
    case_id = request.args.get("case", "").strip()
    if case_id and not CASE_RE.fullmatch(case_id):
        raise CenterError("a case id is 1-128 letters, digits, spaces and . _ / : -")
    try:
        page = max(0, int(request.args.get("page", "0")))
    except ValueError:
        page = 0
    return SearchQuery(case_id=case_id, device_id=request.args.get("device", "").strip()[:64],
                       start=_time_arg("from"), end=_time_arg("to"), limit=PAGE, offset=page * PAGE)


def _describe(query: SearchQuery) -> str:
    parts = [f"case {query.case_id}" if query.case_id else "", f"device {query.device_id}" if query.device_id else "",
             f"from {query.start:.0f}" if query.start is not None else "",
             f"to {query.end:.0f}" if query.end is not None else ""]
    return ", ".join(p for p in parts if p) or "everything"


@requires("investigator")
def evidence() -> Any:
    c = ctx().center
    searched = any(request.args.get(k) for k in ("case", "device", "from", "to"))
    try:
        query = _query()
    except EdgeAgentError as exc:
        flash(str(exc), "error")
        return render_template("evidence.html", query=SearchQuery(), result=None, requests=[], windows=[],
                               cases=c.index.case_ids(), devices=_device_ids()), 400
    result = None
    if searched:
        c.access.append(staff().name, "search", device_id=query.device_id, start=query.start, end=query.end,
                        case_id=query.case_id, detail=_describe(query))
        result = c.index.search(query)
    statuses = {s.request.id: s for s in list_requests(c.paths)} if query.case_id else {}
    requests = [(r, statuses.get(r.id)) for r in c.index.requests(case_id=query.case_id)] if query.case_id else []
    windows = c.index.case_windows(query.case_id) if query.case_id else []
    return render_template("evidence.html", query=query, result=result, requests=requests, windows=windows,
                           cases=c.index.case_ids(), devices=_device_ids(), page=query.offset // PAGE)


def _device_ids() -> list[str]:
    return sorted(ctx().center.index.device_summaries())


@requires("investigator")
def play() -> Any:
    """The player page for one device's footage in a window (and the case it is watched for)."""
    try:
        query = _query()
    except EdgeAgentError as exc:
        return web.refuse(400, str(exc))
    if not query.device_id:
        return web.refuse(400, "say which device")
    return render_template("play.html", query=query)


@requires("investigator")
def api_segments() -> Any:
    """The segments of one device in a window, for the player (their facts only: no footage)."""
    try:
        query = _query()
    except EdgeAgentError as exc:
        return web.refuse(400, str(exc))
    result = ctx().center.index.search(SearchQuery(query.case_id, query.device_id, query.start, query.end,
                                                   limit=PLAY_MAX))
    return jsonify(total=result.total, segments=[
        {"seq": r.seq, "start": r.start, "end": r.end, "state": r.state, "consent_id": r.consent_id}
        for r in result.rows])


@requires("investigator")
def evidence_media(device_id: str, seq: int) -> Any:
    row = ctx().center.index.segment(device_id, seq)
    if row is None:
        return web.refuse(404, "no such segment")
    case_id = request.args.get("case", "")[:128]
    case_id = case_id if CASE_RE.fullmatch(case_id) else ""
    # The access log names the case a look was taken for: only a case the segment belongs to.
    if case_id and not _in_case(row, case_id):
        return web.refuse(403, f"{device_id} #{seq} is not footage of case {case_id}")
    return serve_segment(row, "view_recorded", case_id)


def _in_case(row: SegmentRow, case_id: str) -> bool:
    found = ctx().center.index.search(SearchQuery(case_id, row.device_id, row.start, row.end, limit=100))
    return any(r.seq == row.seq for r in found.rows)


@requires("investigator")
def add_window(case_id: str) -> Any:
    c = ctx().center
    back = redirect(url_for("evidence", case=case_id), code=303)
    try:
        if not CASE_RE.fullmatch(case_id):
            raise CenterError("a case id is 1-128 letters, digits, spaces and . _ / : -")
        device_id = request.form.get("device", "").strip()
        start, end = parse_utc(request.form.get("from", "")), parse_utc(request.form.get("to", ""))
        if device_id not in c.index.device_summaries() or not start < end:
            raise CenterError("say which device, and a window that ends after it starts")
        note = request.form.get("note", "").strip()[:500]
        window = c.index.add_case_window(case_id, device_id=device_id, start=start, end=end, added_by=staff().name,
                                         note=note)
        c.access.append(staff().name, "case_window", device_id=device_id, start=start, end=end, case_id=case_id,
                        detail=f"{window.id}: {note}"[:500])
    except EdgeAgentError as exc:
        flash(str(exc), "error")
        return back
    flash(f"Footage of {device_id} added to case {case_id}.", "ok")
    return back


@requires("investigator")
def export(case_id: str) -> Any:
    c = ctx().center
    if not CASE_RE.fullmatch(case_id):
        return web.refuse(400, "not a case id")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", case_id)
    # Absolute: Flask reads a relative path from its own package folder. Private like the rest of the folder.
    out = (c.paths.root / "exports").resolve() / f"{safe}-{stamp}.zip"
    try:
        make_dirs(out.parent, DIR_MODE)
        log_export(c, case_id, out.name, exported_by=staff().name)
        result = export_case(c, case_id, out, exported_by=staff().name)
    except EdgeAgentError as exc:
        flash(f"Export refused: {exc}", "error")
        return redirect(url_for("evidence", case=case_id), code=303)
    digest = _sha256(result.path)
    c.access.append(staff().name, "export", case_id=case_id, segments=0,
                    detail=f"{out.name} written: {result.size} bytes, sha256 {digest}")
    return send_file(result.path, mimetype="application/zip", as_attachment=True, download_name=out.name)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
