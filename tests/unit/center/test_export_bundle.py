"""Export for court: a case bundle that a third party checks offline with Python and ``cryptography`` alone.

The verifier runs as its own file, copied out of the bundle, in an isolated interpreter from an empty folder: it
cannot reach the center's keys or edge-agent's code. Every kind of tampering it is meant to catch is tried.
"""

from __future__ import annotations

import ast
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import pytest

from edge_agent.center import bundle_verifier
from edge_agent.center.devices import evidence_keys
from edge_agent.center.export import export_case
from edge_agent.center.keys import load_keys
from edge_agent.config.identity import load_identity
from edge_agent.errors import CenterError
from edge_agent.seal import disclose_content_key
from tests.unit.center.case_helpers import ASKED, CASE, LIVE, CaseWorld, make_world, seal_chain


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> CaseWorld:
    world = make_world(tmp_path_factory.mktemp("case"))
    with world.open() as center:
        center.index.add_case_window(CASE, device_id=LIVE, start=world.t0 + 0.7, end=world.t0 + 1.6,
                                     added_by="inv-one")
    return world


@pytest.fixture(scope="module")
def bundle(world: CaseWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out") / "case-7.zip"
    with world.open() as center:
        result = export_case(center, CASE, out, exported_by="inv-one")
    assert (result.segments, result.devices) == (6, (LIVE, ASKED))
    return out


def _offline(bundle: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """The bundle's own verify_bundle.py, run from an empty folder in isolated mode (-I: no cwd, no PYTHONPATH)."""
    empty = tmp / "elsewhere"
    empty.mkdir(exist_ok=True)
    script = empty / "verify_bundle.py"
    with zipfile.ZipFile(bundle) as archive:
        script.write_bytes(archive.read("verify_bundle.py"))
    return subprocess.run([sys.executable, "-I", str(script), str(bundle)], cwd=empty, capture_output=True,
                          text=True, check=False)


def test_bundle_holds_the_evidence_the_documents_and_a_derived_copy(bundle: Path, world: CaseWorld) -> None:
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        readme = archive.read("README.txt").decode()
    assert {f"devices/{LIVE}.pub.json", f"devices/{ASKED}.pub.json", "center.pub.json", "verify_bundle.py",
            "evidence.jsonl", "manifest.sig", f"derived/{LIVE}.mp4", f"derived/{ASKED}.mp4"} <= names
    assert f"documents/consent/{LIVE}/{world.consent_id}.json" in names
    asked = f"{ASKED}/{world.request_id}.json"
    assert {f"documents/requests/{asked}", f"documents/answers/{asked}"} <= names
    assert len([n for n in names if n.startswith("sealed/")]) == len([n for n in names if n.startswith("video/")]) == 6
    assert set(manifest["files"]) == names - {"manifest.json", "manifest.sig"}
    assert manifest["requests"] == [world.request_id] and len(manifest["windows"]) == 1
    assert "DERIVED COPIES" in readme
    # The derived copy plays: the three segments of door-b, 5 frames each, in one file marked as derived.
    with zipfile.ZipFile(bundle) as archive:
        (bundle.parent / "b.mp4").write_bytes(archive.read(f"derived/{ASKED}.mp4"))
    with av.open(str(bundle.parent / "b.mp4")) as container:
        assert "DERIVED COPY" in container.metadata.get("comment", "")
        assert sum(1 for _ in container.decode(video=0)) == 15


def test_the_verifier_needs_nothing_of_edge_agent() -> None:
    tree = ast.parse(Path(bundle_verifier.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_an_intact_bundle_verifies_offline(bundle: Path, tmp_path: Path) -> None:
    proc = _offline(bundle, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "BUNDLE VERIFIED"
    assert sum(1 for line in lines if line.startswith("ok   ")) == 6
    assert any(f"{ASKED} #2" in line and "approved by the device" in line for line in lines)
    assert any(f"{LIVE} #1" in line and "live consent" in line for line in lines)


def _tampered(bundle: Path, tmp: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of the bundle with members replaced (None: removed) or added."""
    out = tmp / "tampered.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename in change:
                data = change.pop(info.filename)
                if data is not None:
                    target.writestr(info.filename, data)
            else:
                target.writestr(info, source.read(info.filename))
        for name, data in change.items():
            if data is not None:
                target.writestr(name, data)
    return out


def _member(bundle: Path, prefix: str) -> tuple[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        name = sorted(n for n in archive.namelist() if n.startswith(prefix))[0]
        return name, archive.read(name)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_tampering_is_caught(bundle: Path, tmp_path: Path) -> None:
    video_name, video = _member(bundle, f"video/{ASKED}/")
    sealed_name, sealed = _member(bundle, f"sealed/{LIVE}/")
    answer_name, answer = _member(bundle, f"documents/answers/{ASKED}/")
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    cases: dict[str, dict[str, bytes | None]] = {
        "video": {video_name: _flip(video, 1000)},
        "sealed": {sealed_name: _flip(sealed, len(sealed) - 200)},
        "answer": {answer_name: answer.replace(b'"approved"', b'"denied"')},
        "extra file": {"video/extra.ts": b"not evidence"},
        "missing document": {answer_name: None},
    }
    for what, change in cases.items():
        proc = _offline(_tampered(bundle, tmp_path, dict(change)), tmp_path)
        assert proc.returncode == 1, f"{what}: {proc.stdout}"
        assert "BUNDLE FAILED" in proc.stdout and "FAIL" in proc.stdout, what
    # A manifest rewritten to match a swapped video no longer carries the center's signature, and a wrong
    # content key no longer matches the device's signed commitment.
    manifest["segments"][0]["content_key"] = "00" * 32
    proc = _offline(_tampered(bundle, tmp_path, {"manifest.json": json.dumps(manifest).encode()}), tmp_path)
    assert proc.returncode == 1
    assert "not signed by the key in center.pub.json" in proc.stdout
    assert "does not match the signed key commitment" in proc.stdout


def test_an_unreadable_bundle_is_one_line_and_status_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really")
    proc = subprocess.run([sys.executable, "-I", bundle_verifier.__file__, str(junk)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot read" in proc.stderr


def test_exporting_a_case_without_footage_or_with_altered_evidence_is_refused(world: CaseWorld,
                                                                                tmp_path: Path) -> None:
    with world.open() as center:
        with pytest.raises(CenterError, match="no stored segment"):
            export_case(center, "CASE-NONE", tmp_path / "none.zip", exported_by="inv-one")
        row = center.index.case_segments(CASE)[0]
        video = world.paths.store / row.device_id / row.video
        original = video.read_bytes()
        video.write_bytes(_flip(original, 500))
        try:
            with pytest.raises(CenterError, match="no longer matches its record"):
                export_case(center, CASE, tmp_path / "altered.zip", exported_by="inv-one")
        finally:
            video.write_bytes(original)
    assert not list(tmp_path.glob("*.zip")) and not list(tmp_path.glob(".*.part"))


def test_a_segment_from_another_chain_fails_even_with_a_re_signed_manifest(bundle: Path, world: CaseWorld,
                                                                           tmp_path: Path) -> None:
    """Segment n+1 must link to segment n when both are in the bundle: a genuine, device-signed segment of the same
    number from another chain (a cloned data folder) swapped in, with the manifest re-signed by the center's key,
    is caught by the chain, not only noted."""
    keys = load_keys(world.paths)
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    mine = sorted((s for s in manifest["segments"] if s["device_id"] == LIVE), key=lambda s: s["seq"])
    assert len(mine) >= 3
    target = mine[1]
    fork = {seq: blob for blob, _, seq in seal_chain(world.devices[LIVE], LIVE, world.recipient, world.consent_id,
                                                     world.t0, target["seq"] + 1)}
    forged = fork[target["seq"]]
    content_key = disclose_content_key(forged, private_key=keys.x25519, device_key=evidence_keys(world.paths))
    device_key = load_identity(world.devices[LIVE]).signing_key.public_key()
    _, video, header_hash = bundle_verifier.open_envelope(forged, device_key, content_key)
    target.update(content_key=content_key.hex(), header_hash=header_hash)
    for name, data in ((target["sealed"], forged), (target["video"], video)):
        manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    raw = json.dumps(manifest).encode()
    proc = _offline(_tampered(bundle, tmp_path, {
        target["sealed"]: forged, target["video"]: video, "manifest.json": raw,
        "manifest.sig": keys.ed25519.sign(bundle_verifier.MANIFEST_CONTEXT + raw)}), tmp_path)
    assert proc.returncode == 1, proc.stdout
    assert f"FAIL {LIVE} #{target['seq']}: does not follow #{mine[0]['seq']}" in proc.stdout
    assert f"FAIL {LIVE} #{mine[2]['seq']}: does not follow #{target['seq']}" in proc.stdout
