"""A throwaway PostgreSQL 15 cluster for tests: initdb in a temp dir, pg_ctl on a free loopback port.

Uses the binaries installed on the machine (``/usr/lib/postgresql/15/bin``); no running service needed.
As root, the server runs as the ``postgres`` system user (initdb refuses root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chain.devchain import free_port

PG_BIN_CANDIDATES = [Path(os.environ.get("CLOUDMARKET_PG_BIN", "/usr/lib/postgresql/15/bin"))]


def pg_bin() -> Path | None:
    for cand in PG_BIN_CANDIDATES:
        if (cand / "initdb").exists():
            return cand
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@dataclass
class PgCluster:
    root: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def run(self, *args: str) -> None:
        subprocess.run(
            self._as_owner(list(args)), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def createdb(self, name: str) -> str:
        self.run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(
            self._as_owner(
                [str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"]
            ),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    binary = pg_bin()
    if binary is None:
        raise RuntimeError("PostgreSQL binaries not found (set CLOUDMARKET_PG_BIN)")
    root = Path(tempfile.mkdtemp(prefix="cm-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PgCluster(root=root, port=free_port(), bin=binary)
    data = root / "data"
    cluster.run(
        str(binary / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
    )
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={cluster.port} -c unix_socket_directories={root} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    cluster.run(str(binary / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start")
    return cluster
