"""The live wall's latency: from the capture of a frame to that frame on screen in the console, in Chromium.

    .venv/bin/python bench/console_live.py --broker mqtt://127.0.0.1:PORT [--seconds 60] [--width 1280 --height 720]

The agent runs as its own process (paced synthetic scene, the default profile at the given size, a live grant,
2 s live segments); the center's subscriber and console run in this process; Debian's Chromium (Playwright,
headless) signs in and opens the wall. The player places each frame on the video's timeline at its capture time
(UTC seconds), so ten times a second, after a warm-up of 15 s, the bench reads the browser's clock minus the
video's current time: how long ago the frame on screen was captured. A sample is kept only if the video presented
new frames since the last one (``requestVideoFrameCallback`` counts them) and is not paused: a stalled picture is
not a frame on screen. Target: p95 within the segment length + 3 s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import emit, median, percentile
from fixtures import make_site
from playwright.sync_api import sync_playwright

from edge_agent.center.console import ConsoleContext, ConsoleServer
from edge_agent.center.services import Center
from edge_agent.center.subscriber import SubscribeOptions, run_subscriber

WARMUP_S = 15.0
PASSWORD = "bench password 1"


def sample(url: str, seconds: float, device: str) -> list[float]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    out: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--headless", "--no-sandbox", "--disable-gpu",
                                           "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(base_url=url.rstrip("/"), viewport={"width": 1280, "height": 800})
        page.goto("/login")
        page.fill("#name", "bench")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_selector(f'#wall figure.tile[data-device="{device}"]', timeout=60_000)
        # The frame on screen now: how long ago it was captured (its media time is its capture time), and how many
        # frames the video has presented (a stalled video would repeat a stale figure: those samples are dropped).
        read = (f"(v => v ? [Date.now() / 1000 - v.currentTime, Number(v.dataset.frames || 0), v.paused] : null)"
                f"(document.querySelector('#live-{device}'))")
        began, last_frames = time.monotonic(), -1
        while time.monotonic() - began < seconds:
            value = page.evaluate(read)
            if value and time.monotonic() - began >= WARMUP_S and value[1] > last_frames and not value[2]:
                out.append(float(value[0]))
            if value:
                last_frames = value[1]
            time.sleep(0.1)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edge-bench-wall-") as tmp:
        site = make_site(Path(tmp), args.broker, args.width, args.height)
        center = Center.open(site.center)
        center.staff.add("bench", ["operator"], PASSWORD)
        stop = threading.Event()
        subscriber = threading.Thread(target=run_subscriber, daemon=True,
                                      args=(site.center, SubscribeOptions(broker=args.broker), stop))
        subscriber.start()
        console = ConsoleServer(ConsoleContext(center, frozenset({"127.0.0.1"})), "127.0.0.1:0").start()
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--data-dir", str(site.device.root), "run", "--profile",
             str(site.profile), "--source", "synthetic", "--duration", str(args.seconds + 30)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            behind = sample(console.url, args.seconds, "bench-device")
        finally:
            agent.terminate()
            agent.communicate(timeout=30)
            stop.set()
            subscriber.join(timeout=15)
            console.stop()
            center.close()
    if not behind:
        raise SystemExit("no frame was shown on the wall")
    size = f"{args.width}x{args.height}"
    emit(metric="live wall latency, median", size=size, value=median(behind), unit="s", runs=len(behind),
         segment_seconds=2.0)
    emit(metric="live wall latency, p95", size=size, value=percentile(behind, 95), unit="s", runs=len(behind),
         segment_seconds=2.0)


if __name__ == "__main__":
    main()
