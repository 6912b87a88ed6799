"""Shared fixtures: a private workspace for every test, a real PostgreSQL + PostGIS server
for the workspace tests, and the dashboard served for the browser tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_runner import served_app
from pg_server import private_postgres

from geo.pipeline import open_seeded_workspace


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """A database URL on a PostGIS server: ``TEST_DATABASE_URL`` if set, else a private
    server started for the test session (skipped, with the reason, when none can start)."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield os.environ["TEST_DATABASE_URL"]
        return
    try:
        with private_postgres() as url:
            yield url
    except RuntimeError as err:
        pytest.skip(str(err))


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
