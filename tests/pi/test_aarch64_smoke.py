"""The agent on the Raspberry Pi's architecture: Debian's arm64 CPython 3.11 and the aarch64 wheels, run under
``qemu-aarch64-static`` (no root file system, no binfmt), next to an x86 broker and center.

``make pi-smoke`` prepares the emulation root (``.ci/pi-root``: ``apt-get download`` of ``python3.11:arm64`` and
its libraries, unpacked with ``dpkg-deb -x``; the wheels of ``make pi-wheels`` unpacked beside them) and runs this
file with ``EDGE_AGENT_PI_ROOT`` set; without it the tests are skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.center.keys import CenterPaths, add_device, init_keys
from edge_agent.cli import main
from edge_agent.config.identity import enroll, init_identity
from edge_agent.core.paths import DevicePaths
from tests.integration.reliability_helpers import evidence_seqs, wait_until
from tests.integration.spine_helpers import SMALL_PROFILE, CenterThread, Setup

PI_ROOT = os.environ.get("EDGE_AGENT_PI_ROOT")
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not PI_ROOT, reason="no aarch64 emulation root (make pi-smoke prepares one)")



def _aarch64(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    root = Path(str(PI_ROOT))
    env = {**os.environ, "PYTHONPATH": f"{root / 'site'}:{REPO}", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = ["qemu-aarch64-static", "-L", str(root / "root"), str(root / "root/usr/bin/python3.11"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def test_interpreter_is_aarch64() -> None:
    proc = _aarch64("-c", "import platform, sys; print(platform.machine(), sys.version_info[:2])", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "aarch64" and "(3, 11)" in proc.stdout


def test_agent_on_aarch64_seals_segments_an_x86_center_verifies(tmp_path: Path, mosquitto) -> None:
    center = CenterPaths(tmp_path / "center")
    center_pub = init_keys(center, "x86-center")
    device = DevicePaths(tmp_path / "device")
    add_device(center, init_identity(device, "pi-smoke"))
    enroll(device, center_pub, mosquitto.url, None, None)
    assert main(["--data-dir", str(device.root), "consent", "live", "--for", "10m"]) == 0
    profile = tmp_path / "pi.toml"
    profile.write_text(SMALL_PROFILE)
    setup = Setup(device, center, profile, mosquitto.url)
    with CenterThread(setup) as running:
        proc = _aarch64("-m", "edge_agent", "--data-dir", str(device.root), "run", "--profile", str(profile),
                        "--duration", "40", timeout=240)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "shared=" in proc.stdout
        assert wait_until(lambda: len(evidence_seqs(center.root)) >= 3, 30), proc.stdout
    assert running.counts["rejected"] == 0
    stored = evidence_seqs(center.root)
    assert stored == list(range(len(stored)))  # the chain from the aarch64 device, complete and in order
    verify = subprocess.run([sys.executable, "-m", "edge_agent.center", "--dir", str(center.root), "verify"],
                            capture_output=True, text=True, check=False, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_offline_redaction_masks_match_x86(tmp_path: Path) -> None:
    """The same redactor on the same frames, without a time budget, gives the same masks on both machines."""
    clip = tmp_path / "frames"
    clip.mkdir()
    rng = np.random.default_rng(7)
    background = rng.integers(60, 120, (180, 320, 3), dtype=np.uint8)
    for i in range(12):
        image = background.copy()
        cv2.rectangle(image, (20 + i * 12, 60), (50 + i * 12, 150), (210, 190, 170), -1)  # a walker
        cv2.imwrite(str(clip / f"{i:03d}.png"), image)
    masks = {}
    for arch in ("x86", "aarch64"):
        out, mask_dir = tmp_path / f"out-{arch}", tmp_path / f"masks-{arch}"
        args = ["-m", "edge_agent", "redact", str(clip), "-o", str(out), "--mask-out", str(mask_dir), "--fps", "10"]
        proc = (_aarch64(*args, timeout=240) if arch == "aarch64"
                else subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, check=False))
        assert proc.returncode == 0, proc.stderr[-2000:]
        masks[arch] = {p.name: cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in sorted(mask_dir.glob("*.png"))}
    assert masks["x86"].keys() == masks["aarch64"].keys() and len(masks["x86"]) == 12
    same = sum(np.array_equal(masks["x86"][name], masks["aarch64"][name]) for name in masks["x86"])
    assert same == 12, f"{same} of 12 masks identical"
