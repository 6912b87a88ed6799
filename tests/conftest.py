"""Shared fixtures: a private workspace for every test, a real PostgreSQL + PostGIS server
for the workspace tests, and the dashboard served for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from app_runner import served_app

from geo.pipeline import open_seeded_workspace


def _pg_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as the postgres user when we are root."""
    if os.geteuid() == 0 and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A database URL on a PostGIS server: ``TEST_DATABASE_URL`` if set, else a private
    server started for the test session (skipped, with the reason, when none can start)."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    binaries = _pg_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian: postgresql, "
                    "postgresql-15-postgis-3); ./run test installs them when run as root")
    folder = Path(tempfile.mkdtemp(prefix="geo-pg-"))
    os.chmod(folder, 0o777)
    data = folder / "data"
    port = _free_port()
    try:
        subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-U",
                                     "postgres", "--auth=trust", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l",
                                     str(folder / "log"), "-o",
                                     f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
                                     "start"]),
                       check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as err:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server for the tests: {err}")
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        _wait_for(url)
        yield url
    finally:
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast",
                                     "stop"]), capture_output=True, timeout=60, check=False)
        shutil.rmtree(folder, ignore_errors=True)


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


@pytest.fixture(scope="session")
def seeded_workspace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace GeoPackage holding the bundled DR Congo layers, made once per session."""
    path = tmp_path_factory.mktemp("template") / "workspace.gpkg"
    open_seeded_workspace(path)
    return path


@pytest.fixture(scope="module")
def app_url(
    tmp_path_factory: pytest.TempPathFactory, seeded_workspace_file: Path
) -> Iterator[str]:
    """The dashboard served by a real Streamlit server on a copy of the seeded workspace,
    one per test module."""
    workspace = tmp_path_factory.mktemp("app") / "workspace.gpkg"
    shutil.copyfile(seeded_workspace_file, workspace)
    with served_app(workspace) as url:
        yield url


@pytest.fixture(autouse=True)
def private_workspace(
    seeded_workspace_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own copy of the seeded workspace: the app and the command line
    find it through ``GEO_WORKSPACE``, and no test writes to the project's workspace."""
    path = tmp_path / "workspace.gpkg"
    shutil.copyfile(seeded_workspace_file, path)
    monkeypatch.setenv("GEO_WORKSPACE", str(path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return path
