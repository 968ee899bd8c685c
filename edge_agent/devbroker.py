"""A private Mosquitto on a free loopback port, for the demo, the benchmarks and the tests.

Never the machine-wide broker on 1883: whoever starts this one must be able to stop and restart it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
_START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """A Mosquitto process with its own config, persistence folder and log, on a fixed loopback port."""

    host = "127.0.0.1"

    def __init__(self, folder: Path, extra_config: Sequence[str] = (), *, port: int | None = None) -> None:
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port if port is not None else free_port()
        self.extra_config = list(extra_config)
        self.config_path = folder / "mosquitto.conf"
        self.log_path = folder / "mosquitto.log"
        self.persistence = folder / "persistence"
        self.persistence.mkdir(exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.persistence}/",
            f"log_dest file {self.log_path}",
            "log_type all",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # As root Mosquitto drops to the `mosquitto` user, which cannot read pytest's 0700 temp folders.
            lines.append("user root")
        lines.extend(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def listen_ports(self) -> list[int]:
        """Every port the config listens on: start() waits until all of them accept connections."""
        return [self.port]

    def start(self) -> None:
        """Start (or start again) on the same port with the same persistence."""
        if self.running:
            return
        if MOSQUITTO is None:
            raise RuntimeError("mosquitto is not installed")
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                raise RuntimeError(f"mosquitto exited at start: {err.strip()} {self.log_text()[-2000:]}")
            if all(_port_open(self.host, port) for port in self.listen_ports()):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.url} within {_START_TIMEOUT}s")

    def stop(self) -> None:
        """Stop the broker with SIGTERM, so that it saves its persistence file, and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL): no persistence save, sockets reset."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
