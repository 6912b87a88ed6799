"""A private PostgreSQL + PostGIS server in a temporary folder, for the workspace tests and
the benchmark (Debian's server binaries; run as the postgres user when we are root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg


@contextmanager
def private_postgres(settings: Sequence[str] = ()) -> Iterator[str]:
    """A server started for the ``with`` block and removed after it; yields its URL.

    ``settings`` are extra server options (``-c name=value``).

    Raises
    ------
    RuntimeError
        No server binaries are installed (Debian: postgresql, postgresql-15-postgis-3), or
        the server did not start.
    """
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries are not installed (Debian: postgresql, "
                           "postgresql-15-postgis-3); ./run test installs them when run as root")
    binaries = found[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="geo-pg-"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    port = _free_port()
    options = " ".join([f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
                        *(f"-c {setting}" for setting in settings)])
    try:
        _as_postgres(binaries / "initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
                     "--no-sync")
        _as_postgres(binaries / "pg_ctl", "-D", str(data), "-w", "-l", str(folder / "log"),
                     "-o", options, "start")
    except (subprocess.SubprocessError, OSError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"could not start a PostgreSQL server: {err}") from err
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait_for(url)
        yield url
    finally:
        _as_postgres(binaries / "pg_ctl", "-D", str(data), "-m", "fast", "stop", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def _as_postgres(program: Path, *args: str, check: bool = True) -> None:
    """Run a server program; PostgreSQL refuses to run as root, so as postgres when root."""
    command = [str(program), *args]
    if os.geteuid() == 0 and shutil.which("runuser"):
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=check, capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
