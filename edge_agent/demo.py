"""``make demo``: the whole path on one machine, through the real command lines.

A private Mosquitto on a free loopback port; a crime center with its keys; a device enrolled with it; a live
grant; the agent on the synthetic scene (or ``$SOURCE``) for ``$DURATION`` seconds with the center subscribed.
A neighbour asks the center to mask their house; the center's subscriber sends the device a signed masking
request while it runs. Ends by printing where the decrypted, redacted video is, how many segments arrived, and how
to answer the neighbour and open the public page (docs/neighbours.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.devbroker import MOSQUITTO, MosquittoBroker

ROOT = Path("demo-data")


def _cli(*args: str) -> str:
    """Run an edge-agent / edge-center command; stop the demo with its one-line error if it fails."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: `{' '.join(args)}` failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout.strip()


def main() -> int:
    if MOSQUITTO is None:
        sys.exit("demo: mosquitto is not installed (apt-get install mosquitto)")
    source = os.environ.get("SOURCE", "synthetic")
    duration = float(os.environ.get("DURATION", "30"))
    shutil.rmtree(ROOT, ignore_errors=True)
    device, center = ROOT / "device", ROOT / "center"
    broker = MosquittoBroker(ROOT / "broker")
    broker.start()
    print(f"demo: private broker at {broker.url}")
    try:
        center_pub = _cli("edge_agent.center", "--dir", str(center), "keys", "init")
        device_pub = _cli("edge_agent", "--data-dir", str(device), "keys", "init", "--device-id", "demo-doorbell")
        print("demo: " + _cli("edge_agent.center", "--dir", str(center), "devices", "add", device_pub,
                               "--area", "Demo district", "--near", "52.52,13.40"))
        asked = _cli("edge_agent.center", "--dir", str(center), "neighbours", "ask", "--address",
                     "12 Demo Street, the house opposite", "--description", "the front garden", "--area",
                     "Demo district")
        print("demo: a neighbour asked to be masked: " + asked.splitlines()[0])
        print("demo: " + _cli("edge_agent", "--data-dir", str(device), "enroll", "--center-key", center_pub,
                               "--broker", broker.url))
        print("demo: " + _cli("edge_agent", "--data-dir", str(device), "consent", "live", "--for", "10m"))
        subscriber = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.center", "--dir", str(center), "subscribe", "--broker", broker.url,
             "--duration", str(duration + 25)],
            stdout=subprocess.PIPE, text=True,
        )
        time.sleep(1.0)
        print(f"demo: running the agent on {source!r} for {duration:g} s ...")
        agent = subprocess.run(
            [sys.executable, "-m", "edge_agent", "--data-dir", str(device), "run", "--source", source,
             "--duration", str(duration)],
            check=False,
        )
        # The subscriber stops on its own; wait for the last segments to land, then stop it.
        deadline = time.monotonic() + 20
        evidence = center / "evidence.jsonl"
        while time.monotonic() < deadline and subscriber.poll() is None:
            time.sleep(0.5)
            if agent.returncode == 0 and _count(evidence) and _settled(evidence):
                break
        subscriber.terminate()
        out, _ = subscriber.communicate(timeout=15)
    finally:
        broker.stop()
    count = _count(evidence)
    store = (center / "store" / "demo-doorbell").resolve()
    videos = sorted(store.glob("*.ts")) if store.exists() else []
    print(out.strip())
    print(f"demo: {count} segment(s) arrived, verified and decrypted at the center")
    waiting = _cli("edge_agent", "--data-dir", str(device), "requests", "list")
    masking = [line for line in waiting.splitlines() if line.startswith("m-")]
    print(f"demo: {len(masking)} neighbour's masking request(s) reached the device:")
    for line in masking:
        print(f"demo:   {line}")
    print(f"demo: answer it: edge-agent --data-dir {device} requests mask ID --zone NAME --points 'x,y x,y x,y' "
          "(then run the agent again: it sends the answer with a still); public page: "
          f"edge-center --dir {center} public serve")
    if videos:
        print(f"demo: playable, redacted video: {store}/ (e.g. ffplay {videos[0]})")
        print(f"demo: evidence log: {evidence.resolve()}")
    return 0 if count > 0 and agent.returncode == 0 else 1


def _count(path: Path) -> int:
    try:
        return sum(1 for line in path.read_text().splitlines() if json.loads(line))
    except FileNotFoundError:
        return 0


def _settled(path: Path) -> bool:
    """True once the evidence file has not changed for three seconds."""
    return time.time() - path.stat().st_mtime > 3.0


if __name__ == "__main__":
    raise SystemExit(main())
