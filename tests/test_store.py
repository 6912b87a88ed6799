"""The workspace store, on both backends: versions, rollback, safety under kills and races."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely import Point

from geo.errors import GeoError
from geo.pipeline import load_bundled, load_layer, open_seeded_workspace
from geo.store import GeoPackageWorkspace, PostGISWorkspace, StoreError, Workspace

ROOT = Path(__file__).resolve().parents[1]


def _sites(ids: list[str], *, x0: float = 28.0) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": ids,
            "name": [f"Site {i}" for i in ids],
            "workers": pd.array([10 * k for k in range(len(ids))], dtype="Int64"),
            "mercury": pd.array([True, False, None][: len(ids)] + [None] * (len(ids) - 3)
                                if len(ids) >= 3 else [True] * len(ids), dtype="boolean"),
            "armed": pd.array([None] * len(ids), dtype="boolean"),
            "child_lab": pd.array([False] * len(ids), dtype="boolean"),
            "seen": pd.to_datetime(["2019-05-01"] * len(ids)).astype("datetime64[ms]"),
            "gold": pd.array([True] * len(ids), dtype="boolean"),
            "province": ["Sud-Kivu"] * len(ids),
            "source_note": [f"<b>{i}</b>" for i in ids],
        },
        geometry=[Point(x0 + 0.01 * k, -3.0) for k in range(len(ids))],
        crs=4326,
    )


@pytest.fixture(params=["gpkg", "postgis"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Workspace:
    if request.param == "gpkg":
        return GeoPackageWorkspace(tmp_path / "store.gpkg")
    url = request.getfixturevalue("postgis_url")
    return PostGISWorkspace(url, schema=f"t_{uuid.uuid4().hex[:12]}")


def _spec(workspace: Workspace) -> list[str]:
    """How a child process opens the same workspace."""
    if isinstance(workspace, GeoPackageWorkspace):
        return ["gpkg", str(workspace.path)]
    assert isinstance(workspace, PostGISWorkspace)
    return ["postgis", workspace._url, workspace._schema]


# --- round trip and versions ---------------------------------------------------------------


def test_round_trip_of_the_bundled_layers(workspace: Workspace) -> None:
    for kind in ("concessions", "sites"):
        layer = load_bundled(kind)
        result = workspace.add(kind, layer.data, file=layer.source, sha256=layer.sha256)
        assert not result.duplicate
        assert result.features == len(layer.data)
        back = workspace.read(kind)
        original = layer.data.reset_index(drop=True)
        assert list(back.columns) == list(original.columns)
        assert back.geometry.geom_equals_exact(original.geometry, 1e-12).all()
        for column in ("conc_id", "holder", "lic_type", "expiry") if kind == "concessions" \
                else ("site_id", "workers", "mercury", "armed", "child_lab", "seen", "gold"):
            text = column in ("conc_id", "holder", "lic_type", "site_id")
            pd.testing.assert_series_equal(back[column], original[column], check_names=False,
                                           check_dtype=not text)


def test_replace_append_history_and_diff(workspace: Workspace) -> None:
    first = workspace.add("sites", _sites(["a", "b", "c"]), file="one.geojson", sha256="s1")
    moved = _sites(["c", "d"], x0=29.0)  # c moves, d is new
    second = workspace.add("sites", moved, file="two.geojson", sha256="s2", mode="append")
    assert (first.version, second.version) == (1, 2)
    assert second.features == 4
    current = workspace.read("sites")
    assert sorted(current["site_id"]) == ["a", "b", "c", "d"]
    c_point = current.set_index("site_id").geometry["c"]
    assert c_point.x == pytest.approx(29.0)
    changes = workspace.diff("sites", 1, 2)
    assert changes.to_dict("records") == [{"id": "c", "change": "moved"},
                                          {"id": "d", "change": "added"}]
    third = workspace.add("sites", _sites(["x"]), file="three.geojson", sha256="s3")
    assert third.features == 1
    removed = workspace.diff("sites", 2, 3)
    assert set(removed.loc[removed["change"] == "removed", "id"]) == {"a", "b", "c", "d"}
    history = workspace.history()
    assert list(history["version"]) == [3, 2, 1]
    assert list(history["mode"]) == ["replace", "append", "replace"]
    assert list(history["features"]) == [1, 4, 3]
    assert history.loc[history["version"] == 2, "based_on"].item() == 1


def test_source_attributes_survive(workspace: Workspace) -> None:
    workspace.add("sites", _sites(["a", "b"]), file="f", sha256="s")
    back = workspace.read("sites")
    assert list(back["source_note"]) == ["<b>a</b>", "<b>b</b>"]


def test_rollback_adds_a_version_equal_to_the_old_one(workspace: Workspace) -> None:
    workspace.add("sites", _sites(["a", "b"]), file="f1", sha256="s1")
    workspace.add("sites", _sites(["z"]), file="f2", sha256="s2")
    version = workspace.rollback("sites", 1)
    assert version == 3
    assert sorted(workspace.read("sites")["site_id"]) == ["a", "b"]
    assert workspace.diff("sites", 1, 3).empty
    with pytest.raises(StoreError, match="no version 7 of the sites"):
        workspace.rollback("sites", 7)


def test_the_same_file_twice_is_recognised(workspace: Workspace) -> None:
    workspace.add("sites", _sites(["a"]), file="f", sha256="same")
    again = workspace.add("sites", _sites(["a", "b"]), file="f again", sha256="same")
    assert again.duplicate
    assert again.version == 1
    assert len(workspace.history()) == 1
    assert workspace.find_upload("sites", "same") == 1


def test_a_failing_upload_writes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    workspace.add("sites", _sites(["a"]), file="f", sha256="s1")
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(GeoError):
        load_layer(broken, "sites")
    bad = _sites(["b"])
    bad["geometry"] = [shapely.from_wkt("POINT EMPTY")]  # stored data must stay as it was
    bad = bad.set_geometry("geometry")
    original = workspace._insert_features
    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")
    workspace._insert_features = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="disk full"):
        workspace.add("sites", bad, file="bad", sha256="s2")
    workspace._insert_features = original  # type: ignore[method-assign]
    assert list(workspace.history()["version"]) == [1]
    assert list(workspace.read("sites")["site_id"]) == ["a"]


def test_reading_an_unknown_layer_or_version(workspace: Workspace) -> None:
    with pytest.raises(StoreError, match="no sites yet"):
        workspace.read("sites")
    workspace.add("sites", _sites(["a"]), file="f", sha256="s")
    with pytest.raises(StoreError, match="no version 1 of the concessions"):
        workspace.read("concessions", 1)


def test_versions_key_changes_with_each_upload(workspace: Workspace) -> None:
    before = workspace.versions_key()
    workspace.add("sites", _sites(["a"]), file="f", sha256="s")
    assert workspace.versions_key() != before


# --- safety: kills and races ---------------------------------------------------------------

CHILD = """
import sys, geopandas as gpd, numpy as np
from shapely import box
sys.path.insert(0, {root!r})
from geo.store import GeoPackageWorkspace, PostGISWorkspace
spec, n, tag, mode = {spec!r}, {n}, {tag!r}, {mode!r}
ws = GeoPackageWorkspace(spec[1]) if spec[0] == "gpkg" else PostGISWorkspace(spec[1], schema=spec[2])
x = np.arange(n) * 0.001
layer = gpd.GeoDataFrame({{"site_id": [f"{{tag}}-{{i}}" for i in range(n)]}},
                         geometry=[box(28 + a, -3, 28.0005 + a, -2.9995) for a in x], crs=4326)
print(ws.add("sites", layer, file=tag, sha256=tag, mode=mode).version, flush=True)
"""


def _child(workspace: Workspace, n: int, tag: str, mode: str = "replace") -> subprocess.Popen:
    code = CHILD.format(root=str(ROOT), spec=_spec(workspace), n=n, tag=tag, mode=mode)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


#: The first bytes of a SQLite rollback journal that can still roll a write back.
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


def _hot_journal(path: Path) -> bool:
    """True when ``path`` is a rollback journal SQLite would still have to play back.

    A process killed just after creating the journal leaves a file without a header: SQLite
    ignores it (it cannot roll anything back) and removes it at the next write.
    """
    if not path.exists():
        return False
    with path.open("rb") as journal:
        return journal.read(len(JOURNAL_MAGIC)) == JOURNAL_MAGIC


def test_a_process_killed_mid_write_leaves_the_previous_state(workspace: Workspace) -> None:
    workspace.add("sites", _sites(["keep-1", "keep-2"]), file="base", sha256="base")
    rng = random.Random(7)
    for attempt in range(6):
        before = workspace.read("sites")
        child = _child(workspace, 20_000, f"big-{attempt}")
        time.sleep(rng.uniform(0.8, 3.0))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        if isinstance(workspace, GeoPackageWorkspace):
            with sqlite3.connect(workspace.path) as connection:
                assert connection.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            assert not _hot_journal(Path(f"{workspace.path}-journal"))
        after = workspace.read("sites")
        ids = set(after["site_id"])
        assert ids == set(before["site_id"]) or ids == {f"big-{attempt}-{i}" for i in range(20_000)}
        history = workspace.history("sites")
        for version, features in zip(history["version"], history["features"], strict=True):
            assert len(workspace.read("sites", int(version))) == features


def test_simultaneous_appends_all_land_in_order(workspace: Workspace) -> None:
    workspace.add("sites", _sites(["base"]), file="base", sha256="base")
    children = [_child(workspace, 200, f"team-{k}", mode="append") for k in range(4)]
    for child in children:
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    current = workspace.read("sites")
    expected = {"base"} | {f"team-{k}-{i}" for k in range(4) for i in range(200)}
    assert set(current["site_id"]) == expected
    history = workspace.history("sites").sort_values("version")
    assert list(history["features"]) == [1, 201, 401, 601, 801]
    assert list(history["based_on"].iloc[1:].astype(int)) == list(history["version"].iloc[:-1])


# --- GeoPackage specifics and the command line ---------------------------------------------


def test_the_geopackage_opens_in_gdal_with_current_layers(tmp_path: Path) -> None:
    store = GeoPackageWorkspace(tmp_path / "w.gpkg")
    store.add("sites", _sites(["a", "b"]), file="f1", sha256="1")
    store.add("sites", _sites(["c"]), file="f2", sha256="2")
    current = gpd.read_file(tmp_path / "w.gpkg", layer="sites")
    assert list(current["site_id"]) == ["c"]
    assert current.crs.to_epsg() == 4326
    history = gpd.read_file(tmp_path / "w.gpkg", layer="uploads")
    assert len(history) == 2


def test_a_file_that_is_not_a_workspace_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.gpkg"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a workspace GeoPackage"):
        GeoPackageWorkspace(path)


def test_seeded_workspace_starts_with_the_bundled_data(tmp_path: Path) -> None:
    store = open_seeded_workspace(tmp_path / "seeded.gpkg")
    assert len(store.read("concessions")) == 2973
    assert len(store.read("sites")) == 2988
    open_seeded_workspace(tmp_path / "seeded.gpkg")  # a second open adds nothing
    assert len(store.history()) == 2


def _geo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command line in English, whatever the machine's locale."""
    environment = {**(env or os.environ), "GEO_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=environment, check=False)


def test_store_command_line(tmp_path: Path) -> None:
    path = str(tmp_path / "cli.gpkg")
    survey = tmp_path / "survey.geojson"
    survey.write_text(_sites(["s1", "s2"]).assign(seen="2019-05-01").to_json())
    added = _geo("store", "add", "sites", str(survey), "--workspace", path)
    assert added.returncode == 0, added.stderr
    again = _geo("store", "add", "sites", str(survey), "--workspace", path)
    assert "already added" in again.stdout
    history = json.loads(_geo("store", "history", "--json", "--workspace", path).stdout)
    assert [h["version"] for h in history] == [3, 2, 1]
    assert set(history[0]) >= {"version", "layer", "time", "file", "sha256", "features"}
    assert history[0]["features"] == 2988 + 2  # appended to the bundled sites
    rolled = _geo("store", "rollback", "sites", "2", "--workspace", path)
    assert rolled.returncode == 0, rolled.stderr
    out = tmp_path / "out"
    computed = _geo("overlap", "--workspace", path, "-o", str(out))
    assert computed.returncode == 0, computed.stderr
    assert len(pd.read_csv(out / "sites.csv")) == 2988
    bad = _geo("store", "rollback", "sites", "99", "--workspace", path)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1
    assert "no version 99" in bad.stderr


def test_postgis_unreachable_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = _geo("store", "history", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Cannot open the PostGIS workspace")
    assert result.stderr.count("\n") == 1
