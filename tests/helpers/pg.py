"""A throwaway PostgreSQL server for the tests: initdb into a temp folder, pg_ctl on a
free port (as the `postgres` user when running as root, since PostgreSQL refuses
root), stoppable and restartable. Fails with what to install when it is missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.helpers.ports import free_port

PG_BIN = Path(os.environ.get("TRICHAT_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresServer:
    def __init__(self, root: Path) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(
                f"PostgreSQL server binaries not found in {PG_BIN}: "
                "apt-get install postgresql (or set TRICHAT_PG_BIN)"
            )
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(PG_BIN / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def _processes(self) -> list[int]:
        """The postmaster and every backend it forked."""
        pids = [int((self.data / "postmaster.pid").read_text().split()[0])]
        found = subprocess.run(
            ["pgrep", "-P", str(pids[0])], capture_output=True, text=True, check=False
        )
        return pids + [int(p) for p in found.stdout.split()]

    def pause(self) -> None:
        """SIGSTOP on every process: a stalled PostgreSQL. Its sockets stay open,
        connecting still succeeds (the kernel's backlog) and nothing answers."""
        for pid in self._processes():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._processes():
            os.kill(pid, signal.SIGCONT)

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [
                str(PG_BIN.parent / "bin" / "psql") if (PG_BIN / "psql").exists() else "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-qc",
                sql,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
