"""The audit log: any altered, deleted, reordered or cut-off entry makes ``audit verify`` fail and name it."""

from __future__ import annotations

import json
import os

import pytest

from edge_agent.cli import main
from edge_agent.config.identity import init_identity, load_identity
from edge_agent.consent.loghead import loghead_document
from edge_agent.core.audit import AuditLog
from edge_agent.core.paths import DevicePaths
from edge_agent.errors import ConsentError
from edge_agent.seal.signed import sign_document


@pytest.fixture
def log_dir(tmp_path):
    init_identity(DevicePaths(tmp_path), "audit-device")  # the audit commands act only on a device's folder
    log = AuditLog(DevicePaths(tmp_path).audit)
    for i in range(5):
        log.append("segment_shared", segment=i, consent_id="c-00000000000000aa", header_hash=f"{i:064x}")
    return tmp_path


def _lines(tmp_path):
    return DevicePaths(tmp_path).audit.read_text().splitlines()


def _write(tmp_path, lines):
    DevicePaths(tmp_path).audit.write_text("\n".join(lines) + "\n")


def _verify(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path), "audit", "verify"])
    return code, capsys.readouterr()


def test_intact_log_verifies(log_dir, capsys):
    code, out = _verify(log_dir, capsys)
    assert code == 0
    assert "5 entries" in out.out


def test_altered_entry_is_named(log_dir, capsys):
    lines = _lines(log_dir)
    entry = json.loads(lines[2])
    entry["consent_id"] = "c-00000000000000bb"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":"))
    _write(log_dir, lines)
    code, out = _verify(log_dir, capsys)
    assert code == 1
    assert "entry 2" in out.err and "hash" in out.err


def test_deleted_entry_is_named(log_dir, capsys):
    lines = _lines(log_dir)
    del lines[1]
    _write(log_dir, lines)
    code, out = _verify(log_dir, capsys)
    assert code == 1
    assert "entry 1" in out.err


def test_reordered_entries_are_named(log_dir, capsys):
    lines = _lines(log_dir)
    lines[2], lines[3] = lines[3], lines[2]
    _write(log_dir, lines)
    code, out = _verify(log_dir, capsys)
    assert code == 1
    assert "entry 2" in out.err


def test_truncation_is_caught_against_the_signed_head(log_dir, capsys):
    paths = DevicePaths(log_dir)
    identity = load_identity(paths)
    head = AuditLog(paths.audit).head()
    signed = sign_document(loghead_document(head, identity.device_id, 0.0), identity.signing_key)
    (log_dir / "loghead.json").write_bytes(signed)
    _write(log_dir, _lines(log_dir)[:-1])
    code, out = _verify(log_dir, capsys)
    assert code == 1
    assert "entry 4" in out.err and "signed head says 5" in out.err


def test_appends_after_a_head_still_verify(log_dir, capsys):
    paths = DevicePaths(log_dir)
    head = AuditLog(paths.audit).head()
    (log_dir / "loghead.json").write_text(json.dumps({"doc": {"count": head.count, "last_hash": head.last_hash}}))
    AuditLog(paths.audit).append("consent_change", consent_id="c-00000000000000cc", mode="off")
    code, _ = _verify(log_dir, capsys)
    assert code == 0


def test_reserved_field_names_are_refused(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    for field in ("seq", "time", "prev", "hash"):  # "kind" is append's own argument already
        with pytest.raises(ValueError, match="reserved"):
            log.append("segment_shared", **{field: 1})
    assert not (tmp_path / "audit.log").exists() or log.verify().count == 0


def test_long_log_appends_link_from_its_tail(tmp_path):
    log = AuditLog(tmp_path / "audit.log")
    for i in range(300):
        log.append("event", n=i, note="x" * 50)  # entries of ~200 bytes: the tail read crosses chunk borders
    result = log.verify()
    assert result.ok and result.count == 300


def test_a_short_write_leaves_no_half_entry(tmp_path, monkeypatch):
    log = AuditLog(tmp_path / "audit.log")
    log.append("first")
    before = (tmp_path / "audit.log").read_bytes()
    real_write = os.write

    def half_write(fd, data):  # a full card: only part of the entry fits
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr("edge_agent.core.audit.os.write", half_write)
    with pytest.raises(ConsentError, match="cannot write the audit log"):
        log.append("second")
    assert log.note("third") is False  # the agent-side helper logs and carries on
    monkeypatch.undo()
    assert (tmp_path / "audit.log").read_bytes() == before
    log.append("fourth")
    assert log.verify().ok and log.verify().count == 2
