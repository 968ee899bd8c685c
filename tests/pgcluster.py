"""A private PostgreSQL cluster for tests: Debian's initdb and pg_ctl, a fresh data folder, a free loopback port
and its own socket folder. Never the machine's server on 5432.

PostgreSQL refuses to run as root; as root the cluster runs as ``nobody`` (through ``setpriv``), in a folder that
user owns under the system's temporary folder (pytest's own folders are 0700 root).
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from edge_agent.devbroker import free_port


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


class PgCluster:
    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="edge-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.user = "nobody" if self.as_root else os.environ.get("USER") or "postgres"
        self.sock.mkdir()
        if self.as_root:
            shutil.chown(self.root, "nobody", "nogroup")
            shutil.chown(self.sock, "nobody", "nogroup")
            self.root.chmod(0o755)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if self.as_root else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, check=False, cwd=self.root,
                              env={**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(self.root)})

    def start(self) -> PgCluster:
        init = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                         "--encoding=UTF8", "--no-sync")
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-800:]}")
        options = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                            str(self.root / "server.log"), "-w", "-t", "30", "start")
        if started.returncode:
            log_file = self.root / "server.log"
            log = log_file.read_text(errors="replace")[-1500:] if log_file.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()[-500:]} {log}")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database in the cluster; returns its URL."""
        import psycopg  # noqa: PLC0415 - only tests that take a database need the driver

        name = "t_" + secrets.token_hex(6)
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        deadline = time.monotonic() + 10
        while (self.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(self.root, ignore_errors=True)
