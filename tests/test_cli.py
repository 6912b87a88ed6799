"""The command line, run as users and pipelines run it: ``python -m geo`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely import box

ROOT = Path(__file__).resolve().parents[1]
CAMI = ROOT / "data" / "drc" / "cami_titles_2016.geojson"
IPIS = ROOT / "data" / "drc" / "ipis_asm_sites.geojson"


def run_geo(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    # English whatever the machine's locale: these tests read the English messages.
    return subprocess.run(
        [sys.executable, "-m", "geo", *map(str, args)],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "GEO_LANG": "en"},
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    out = tmp_path_factory.mktemp("overlap")
    proc = run_geo("overlap", CAMI, IPIS, "-o", out, "--radius-m", "300")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return out


def test_overlap_writes_the_four_files(outdir):
    names = {p.name for p in outdir.iterdir()}
    assert names >= {"zones.gpkg", "concessions.csv", "sites.csv", "summary.json"}


def test_zones_gpkg(outdir):
    layers = pyogrio.list_layers(outdir / "zones.gpkg")
    assert "zones" in layers[:, 0]
    zones = gpd.read_file(outdir / "zones.gpkg", layer="zones")
    assert {"conc_id", "area_ha"} <= set(zones.columns)
    assert zones.crs.to_epsg() == 4326
    assert len(zones) > 0
    assert (zones["area_ha"] > 0).all()
    assert zones["conc_id"].is_unique
    assert zones.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()


def test_concessions_csv(outdir):
    table = pd.read_csv(outdir / "concessions.csv", dtype={"conc_id": str})
    assert table.columns.tolist()[:13] == [
        "conc_id", "holder", "lic_type", "area_ha", "overlap_ha", "overlap_pct", "sites_in",
        "sites_r1", "sites_r2", "sites_r3", "workers_in", "mercury_in", "armed_in",
    ]
    assert len(table) == 2973
    assert table["conc_id"].is_unique
    assert table["sites_in"].sum() >= 1953
    zones = gpd.read_file(outdir / "zones.gpkg", layer="zones")
    overlap = table.set_index("conc_id")["overlap_ha"]
    joined = zones.set_index("conc_id")["area_ha"]
    assert overlap.loc[joined.index].to_numpy() == pytest.approx(joined.to_numpy(), rel=1e-9)
    assert (table["overlap_ha"] <= table["area_ha"] * (1 + 1e-5)).all()


def test_sites_csv(outdir):
    table = pd.read_csv(outdir / "sites.csv", dtype={"conc_id": str})
    assert table.columns.tolist()[:4] == ["site_id", "tenure", "conc_id", "dist_km"]
    assert len(table) == 2988
    inside = table["conc_id"].notna()
    assert inside.sum() == 1953
    assert (table.loc[inside, "dist_km"] == 0).all()
    assert (table.loc[~inside, "dist_km"] > 0).all()
    assert (table.loc[~inside, "tenure"] == "unlicensed").all()
    assert (table["tenure"] == "asm_zone").sum() == 64


def test_summary_json(outdir):
    info = json.loads((outdir / "summary.json").read_text())
    assert {"totals", "area_method", "crs", "versions"} <= set(info)
    assert info["crs"] == "EPSG:4326"
    assert "geodesic" in info["area_method"].lower()
    assert {"geopandas", "shapely", "pyproj", "pyogrio"} <= set(info["versions"])
    totals = info["totals"]
    assert totals["sites"] == 2988
    assert totals["sites_in"] == 1953
    assert totals["concessions"] == 2973
    zones = gpd.read_file(outdir / "zones.gpkg", layer="zones")
    assert 0 < totals["overlap_ha"] <= zones["area_ha"].sum() * (1 + 1e-9)
    assert info["radius_m"] == 300.0
    assert info["dropped"] == 0
    assert info["validation"]["concessions"]["problems"] == {"far_outside": 1,
                                                             "duplicate_id": 1}


def test_custom_rings(tmp_path):
    proc = run_geo("overlap", CAMI, IPIS, "-o", tmp_path, "--rings", "2,4")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "concessions.csv")
    ring_columns = [c for c in table.columns if c.startswith("sites_r")]
    assert ring_columns == ["sites_r1", "sites_r2"]
    assert json.loads((tmp_path / "summary.json").read_text())["rings_km"] == [2.0, 4.0]
    # Without a footprint radius the point sites give no zones, and the layer still exists.
    zones = gpd.read_file(tmp_path / "zones.gpkg", layer="zones")
    assert len(zones) == 0
    assert {"conc_id", "area_ha"} <= set(zones.columns)


def test_missing_file(tmp_path):
    proc = run_geo("overlap", tmp_path / "nope.geojson", IPIS, "-o", tmp_path / "out")
    line = assert_one_line_error(proc)
    assert "nope.geojson" in line
    assert not (tmp_path / "out").exists()


def test_garbage_file(tmp_path):
    garbage = tmp_path / "titles.geojson"
    garbage.write_bytes(b"\x00\x01not a layer at all\xff")
    line = assert_one_line_error(run_geo("overlap", garbage, IPIS, "-o", tmp_path / "out"))
    assert "format" in line


@pytest.mark.parametrize("rings", ["5,1", "0,2", "-1"])
def test_bad_rings_values(tmp_path, rings):
    proc = run_geo("overlap", CAMI, IPIS, "-o", tmp_path, f"--rings={rings}")
    line = assert_one_line_error(proc)
    assert "rings" in line


def test_rings_not_numbers(tmp_path):
    proc = run_geo("overlap", CAMI, IPIS, "-o", tmp_path, "--rings", "a,b")
    assert_one_line_error(proc)


def test_bad_radius(tmp_path):
    line = assert_one_line_error(run_geo("overlap", CAMI, IPIS, "-o", tmp_path,
                                         "--radius-m=-5"))
    assert "radius" in line


@pytest.fixture
def shapefile_without_crs(tmp_path):
    folder = tmp_path / "noprj"
    folder.mkdir()
    layer = gpd.GeoDataFrame({"conc_id": ["a"]}, geometry=[box(28, -2, 28.1, -1.9)])
    with pytest.warns(UserWarning, match="crs"):
        layer.to_file(folder / "titles.shp")
    assert not (folder / "titles.prj").exists()
    return folder / "titles.shp"


def test_shapefile_without_crs(tmp_path, shapefile_without_crs):
    line = assert_one_line_error(run_geo("overlap", shapefile_without_crs, IPIS, "-o", tmp_path))
    assert "coordinate reference system" in line


def test_shapefile_without_crs_given_one(tmp_path, shapefile_without_crs):
    proc = run_geo("overlap", shapefile_without_crs, IPIS, "-o", tmp_path / "out",
                   "--concessions-crs", "EPSG:4326")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "out" / "concessions.csv")
    assert table["conc_id"].tolist() == ["a"]


def test_validate_cami():
    proc = run_geo("validate", CAMI)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert "2973 concessions read, 2973 usable, 0 repaired, 0 left out" in out
    assert "duplicate_id" in out
    assert "2791" in out
    assert "far_outside" in out
    assert "13214" in out


def test_validate_json():
    proc = run_geo("validate", CAMI, "--json")
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["kind"] == "concessions"
    assert body["features_read"] == 2973
    assert {(i["rule"], i["id"]) for i in body["issues"]} == {("duplicate_id", "2791"),
                                                              ("far_outside", "13214")}


def test_validate_unusable_file(tmp_path):
    garbage = tmp_path / "x.gpkg"
    garbage.write_text("SQLite format 3 but not really")
    assert_one_line_error(run_geo("validate", garbage))


def test_importing_geo_does_not_import_streamlit():
    code = (
        "import sys, geo, geo.cli, geo.export, geo.io, geo.measure, geo.overlap, "
        "geo.pipeline, geo.schema, geo.stats, geo.validate; "
        "assert 'streamlit' not in sys.modules, 'streamlit imported'; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_radius_not_a_number(tmp_path):
    assert_one_line_error(run_geo("overlap", CAMI, IPIS, "-o", tmp_path, "--radius-m", "wide"))
