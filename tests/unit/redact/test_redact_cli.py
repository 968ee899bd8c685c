"""``edge-agent redact``: folders and videos in, PNGs and exact masks out; outside the mask, pixels equal input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from edge_agent.cli import main
from tests.unit.redact.redact_helpers import scene, with_person

pytestmark = pytest.mark.skipif(importlib.util.find_spec("retinaface") is None, reason="face model not installed")


def frames(n: int) -> list[np.ndarray]:
    background = scene()
    return [with_person(background, 20 + 6 * i, 80) for i in range(n)]


def check_pair(original: np.ndarray, out_png: Path, mask_png: Path) -> np.ndarray:
    out = cv2.imread(str(out_png), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(mask_png), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and mask.ndim == 2
    assert set(np.unique(mask)) <= {0, 255}
    keep = mask == 0
    assert np.array_equal(out[keep], original[keep])
    return mask


def test_folder_of_images(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    images = frames(24)
    for i, image in enumerate(images):
        cv2.imwrite(str(src / f"cam_{i:03d}.png"), image)
    (src / "notes.txt").write_text("not an image")
    rc = main(["redact", str(src), "-o", str(tmp_path / "out"), "--mask-out", str(tmp_path / "mask")])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"cam_{i:03d}.png" for i in range(24)]
    first = check_pair(images[0], tmp_path / "out" / "cam_000.png", tmp_path / "mask" / "cam_000.png")
    assert (first == 255).all()  # warm-up: everything masked
    last = check_pair(images[-1], tmp_path / "out" / "cam_023.png", tmp_path / "mask" / "cam_023.png")
    x = 20 + 6 * 23
    assert (last[80:130, x : x + 20] == 255).all()  # the walking person
    assert (last[:, :10] == 0).all()  # far from anyone: untouched


def test_video_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"
    images = frames(20)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "bgr0"
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    rc = main(["redact", str(path), "-o", str(tmp_path / "out"), "--mask-out", str(tmp_path / "mask")])
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [f"{i:06d}.png" for i in range(20)]
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    for i in (0, 10, 19):
        check_pair(decoded[i], tmp_path / "out" / f"{i:06d}.png", tmp_path / "mask" / f"{i:06d}.png")


def test_zones_file_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    zones = tmp_path / "zones.toml"
    zones.write_text('[[zones]]\nname = "house"\nkind = "neighbour"\ncoordinates = [[0, 0], [0.5, 0], [0.5, 1]]\n')
    src = tmp_path / "in"
    src.mkdir()
    cv2.imwrite(str(src / "a.jpg"), scene())
    assert main(["redact", str(src), "-o", str(tmp_path / "out"), "--zones", str(zones)]) == 0
    assert main(["redact", str(tmp_path / "missing"), "-o", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("edge-agent: error:") and "missing" in err[-1]
    bad = tmp_path / "bad.toml"
    bad.write_text('[[zones]]\nname = "x"\nkind = "garden"\ncoordinates = [[0, 0], [1, 0], [1, 1]]\n')
    assert main(["redact", str(src), "-o", str(tmp_path / "out3"), "--zones", str(bad)]) == 2
    assert "kind" in capsys.readouterr().err


def test_time_budget_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i, image in enumerate(frames(24)):
        cv2.imwrite(str(src / f"{i:02d}.png"), image)
    # Offline, a slow machine does not change the output: no frame is masked whole for time.
    assert main(["redact", str(src), "-o", str(tmp_path / "out"), "--mask-out", str(tmp_path / "m1")]) == 0
    assert "over_budget" not in capsys.readouterr().out
    assert not (cv2.imread(str(tmp_path / "m1" / "23.png"), cv2.IMREAD_UNCHANGED) == 255).all()
    # With the live agent's rule and a budget no frame can meet, every frame is masked whole.
    argv = [
        "redact",
        str(src),
        "-o",
        str(tmp_path / "out2"),
        "--mask-out",
        str(tmp_path / "m2"),
        "--budget-ms",
        "0.001",
    ]
    assert main(argv) == 0
    assert "over_budget" in capsys.readouterr().out
    for i in range(24):
        assert (cv2.imread(str(tmp_path / "m2" / f"{i:02d}.png"), cv2.IMREAD_UNCHANGED) == 255).all()
