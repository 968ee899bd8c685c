"""The benchmarks' Mosquitto: quiet (no per-message log lines) and with no cap on queued messages."""

from __future__ import annotations

import os

from edge_agent.devbroker import MosquittoBroker


class BenchBroker(MosquittoBroker):
    def _write_config(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            "persistence false",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            # Mosquitto drops QoS 1 messages silently beyond 1000 per subscriber by default; a backlog of a few
            # thousand segments must be kept, not dropped, or the center's figures would count losses as speed.
            "max_queued_messages 0",
            "max_queued_bytes 0",
        ]
        if os.geteuid() == 0:
            lines.append("user root")
        lines.extend(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")
