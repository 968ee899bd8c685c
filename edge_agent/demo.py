"""``make demo``: the whole path on one machine, through the real command lines.

A private Mosquitto on a free loopback port; a crime center with its keys and a staff login for its console; a
device enrolled with it; a live grant; the agent on the synthetic scene (or ``$SOURCE``) for ``$DURATION`` seconds
with the center subscribed and the console serving (its address and the login are printed first: open the live
wall while the agent runs). A neighbour asks the center to mask their house; the center's subscriber sends the
device a signed masking request while it runs, and the demo answers it as the homeowner would (a neighbour zone
drawn with ``requests mask``), so the running agent sends its signed answer with a redacted still. The footage is
then attached to case DEMO-1. Ends by printing where the decrypted, redacted video is, how many segments arrived,
what the center holds of the neighbour's request, and the public page with the neighbour's private link
(docs/neighbours.md); from a terminal, the console and the public page stay up until Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge_agent.devbroker import MOSQUITTO, MosquittoBroker, free_port

ROOT = Path("demo-data")
CASE = "DEMO-1"
STAFF = "demo-officer"
# The house opposite in the synthetic scene (top right), as the homeowner would draw it.
NEIGHBOUR_ZONE = "0.70,0.05 0.95,0.05 0.95,0.50 0.70,0.50"


def _cli(*args: str) -> str:
    """Run an edge-agent / edge-center command; stop the demo with its one-line error if it fails."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"demo: `{' '.join(args)}` failed: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout.strip()


def _center(center: Path, *args: str) -> str:
    return _cli("edge_agent.center", "--dir", str(center), *args)


def _prepare(device: Path, center: Path, broker: MosquittoBroker) -> tuple[str, str]:
    """Keys, enrolment, a live grant and a staff account; returns the staff password and the neighbour's private
    link's token."""
    center_pub = _center(center, "keys", "init")
    device_pub = _cli("edge_agent", "--data-dir", str(device), "keys", "init", "--device-id", "demo-doorbell")
    print("demo: " + _center(center, "devices", "add", device_pub, "--area", "Demo district", "--near",
                             "52.52,13.40"))
    asked = _center(center, "neighbours", "ask", "--address", "12 Demo Street, the house opposite",
                    "--description", "the front garden", "--area", "Demo district")
    print("demo: a neighbour asked to be masked: " + asked.splitlines()[0])
    token = asked.rsplit("/opt-out/", 1)[1].split()[0]
    print("demo: " + _cli("edge_agent", "--data-dir", str(device), "enroll", "--center-key", center_pub,
                           "--broker", broker.url))
    _center(center, "broker", "set", broker.url)  # so that the console can send requests
    print("demo: " + _cli("edge_agent", "--data-dir", str(device), "consent", "live", "--for", "30m"))
    added = _center(center, "staff", "add", STAFF, "--role", "operator", "--role", "investigator", "--role",
                    "auditor", "--generate")
    return added.split("password: ", 1)[1].strip(), token


def _serve(center: Path, what: str) -> tuple[subprocess.Popen[str], str]:
    """``edge-center console`` or ``edge-center public serve`` on a free loopback port."""
    port = free_port()
    command = ["console"] if what == "console" else ["public", "serve"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.center", "--dir", str(center), *command, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
    )
    return proc, f"http://127.0.0.1:{port}/"


def _answer_neighbour(device: Path, agent: subprocess.Popen[bytes]) -> None:
    """As the homeowner would, while the agent runs (it sends the answer): once the neighbour's request has
    reached the device, draw a neighbour zone over the house opposite and answer "masked"."""
    while agent.poll() is None:
        listing = _cli("edge_agent", "--data-dir", str(device), "requests", "list")
        pending = [line.split()[0] for line in listing.splitlines() if line.startswith("m-") and " pending " in line]
        if pending:
            args = ["requests", "mask", pending[0], "--zone", "house-opposite", "--points", NEIGHBOUR_ZONE]
            print(f"demo: the homeowner answers the neighbour: edge-agent {' '.join(args[:-1])} '{NEIGHBOUR_ZONE}'")
            print("demo: " + _cli("edge_agent", "--data-dir", str(device), *args).splitlines()[-1])
            return
        time.sleep(2)


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
    running: list[subprocess.Popen[str]] = []
    try:
        password, token = _prepare(device, center, broker)
        subscriber = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.center", "--dir", str(center), "subscribe", "--broker", broker.url],
            stdout=subprocess.PIPE, text=True,
        )
        running.append(subscriber)
        console, url = _serve(center, "console")
        public, public_url = _serve(center, "public")
        running += [console, public]
        print(f"demo: the center's console is at {url}  sign in as {STAFF} with password {password}  (demo only)")
        print(f"demo: running the agent on {source!r} for {duration:g} s: open the live wall now ...", flush=True)
        agent = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "--data-dir", str(device), "run", "--source", source,
             "--duration", str(duration)],
        )
        _answer_neighbour(device, agent)
        agent.wait()
        evidence = center / "evidence.jsonl"
        _settle(evidence, subscriber)
        _attach_case(center, evidence)
        count = _count(evidence)
        _report(center, device, evidence, count)
        _report_neighbour(center, public_url, token)
        if count and sys.stdin.isatty():
            print(f"demo: the console stays up at {url} (the footage is in case {CASE}) and the public page at "
                  f"{public_url}; Ctrl-C stops the demo")
            _wait_for_interrupt()
        subscriber.terminate()
        out, _ = subscriber.communicate(timeout=15)
        print(out.strip())
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        broker.stop()
    return 0 if count > 0 and agent.returncode == 0 else 1


def _settle(evidence: Path, subscriber: subprocess.Popen[str]) -> None:
    """Wait (up to 20 s) for the last segments to land."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and subscriber.poll() is None:
        time.sleep(0.5)
        if _count(evidence) and _settled(evidence):
            return


def _attach_case(center: Path, evidence: Path) -> None:
    lines = [json.loads(line) for line in evidence.read_text().splitlines() if line] if evidence.exists() else []
    if not lines:
        return
    start, end = min(r["start"] for r in lines), max(r["end"] for r in lines)
    print("demo: " + _center(center, "case", "add", CASE, "--device", "demo-doorbell", "--start", _iso(start),
                             "--end", _iso(end + 1), "--note", "the demo's footage"))


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


def _report(center: Path, device: Path, evidence: Path, count: int) -> None:
    store = (center / "store" / "demo-doorbell").resolve()
    videos = sorted(store.glob("*.ts")) if store.exists() else []
    print(f"demo: {count} segment(s) arrived, verified and decrypted at the center")
    waiting = _cli("edge_agent", "--data-dir", str(device), "requests", "list")
    masking = [line for line in waiting.splitlines() if line.startswith("m-")]
    print(f"demo: {len(masking)} neighbour's masking request(s) reached the device:")
    for line in masking:
        print(f"demo:   {line}")
    if videos:
        print(f"demo: playable, redacted video: {store}/ (e.g. ffplay {videos[0]})")
        print(f"demo: evidence log: {evidence.resolve()}")


def _report_neighbour(center: Path, public_url: str, token: str) -> None:
    """What the center holds of the neighbour's request (the subscriber stores the device's answer), and where the
    neighbour sees it."""
    deadline = time.monotonic() + 10
    listing = _center(center, "neighbours", "list")
    while " masked by " not in listing and time.monotonic() < deadline:
        time.sleep(1)
        listing = _center(center, "neighbours", "list")
    for line in listing.splitlines():
        print(f"demo: center: {line.strip()}")
    if " masked by " not in listing:
        print("demo: the answer was not sent while the agent ran (run it again: it sends the answer with a still)")
    print(f"demo: the public page: {public_url}  the neighbour's private link (the camera's still, the house "
          f"black): {public_url}opt-out/{token}")


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print()


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
