"""The agent's resident memory on each encoder path (``camera.encoder``), at 1280x720 and 15 fps.

    .venv/bin/python bench/encoder_memory.py --broker mqtt://127.0.0.1:PORT [--seconds 40] [--repeats 2]

Both paths read the Pi camera through the picamera2 fake of ``tests/fakes`` (there is no Pi camera here), so they
see the same pictures: ``x264`` copies each frame out of the camera and encodes it in the agent with x264;
``hardware`` redacts in the camera buffer and muxes what the camera's H.264 encoder hands over. On a Pi that
encoder is the V4L2 hardware block, outside the process; the fake stands in for it with x264 *inside* the agent,
so the hardware figure here is an upper bound of what a Pi would show. The runs of the two paths alternate.
Prints one JSON object per path: the median VmRSS after a 10 s warm-up over the runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median, rss_mib
from fixtures import make_site

FAKES = Path(__file__).resolve().parent.parent / "tests" / "fakes"
WARMUP_S = 10.0


def run_once(root: Path, broker: str, encoder: str, seconds: float) -> list[float]:
    site = make_site(root, broker, 1280, 720)
    text = site.profile.read_text(encoding="utf-8")
    text = text.replace('source = "synthetic"', 'source = "picamera2"').replace('encoder = "x264"',
                                                                                f'encoder = "{encoder}"')
    if 'source = "picamera2"' not in text or f'encoder = "{encoder}"' not in text:
        raise SystemExit("the bench profile no longer has the camera lines this script rewrites")
    site.profile.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(FAKES), "MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "4194304"}
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "--data-dir", str(site.device.root), "run", "--profile",
         str(site.profile), "--duration", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )
    samples: list[float] = []
    started = time.monotonic()
    while agent.poll() is None:
        value = rss_mib(agent.pid)
        if value is not None and time.monotonic() - started >= WARMUP_S:
            samples.append(value)
        time.sleep(0.5)
    _, err = agent.communicate()
    if agent.returncode != 0:
        raise SystemExit(f"agent ({encoder}) failed: {err.strip()[-2000:]}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"x264": [], "hardware": []}
    for run in range(args.repeats):
        order = ("x264", "hardware") if run % 2 == 0 else ("hardware", "x264")
        for encoder in order:
            with tempfile.TemporaryDirectory(prefix=f"edge-bench-{encoder}-") as tmp:
                samples[encoder] += run_once(Path(tmp), args.broker, encoder, args.seconds)
    for encoder, values in samples.items():
        emit(metric=f"agent resident memory, {encoder} encoder", size="1280x720", value=median(values), unit="MiB",
             runs=args.repeats, peak=max(values), fake_camera=True)


if __name__ == "__main__":
    main()
