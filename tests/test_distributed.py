"""The Dask engine (geo.distributed) against the single-machine engine, on one local cluster
of two worker processes started for the module.

The seeded sets are built to straddle partition edges: titles that touch along shared edges
and corners (so Hilbert partitions of a few titles cut between neighbours), point sites on
those edges and corners, site polygons across several titles, invalid bow-ties on both
layers, duplicate identifiers, empty geometry, sites beyond the outer ring of every title
and one site far from all the others.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from distributed import Client, LocalCluster
from pyproj import Geod
from streamlit.testing.v1 import AppTest

import geo.distributed
from geo.distributed import (
    analyse_on_cluster,
    overlap_on_cluster,
    search_box,
    union_area_ha,
    write_partitioned,
)
from geo.export import summary, write_outputs
from geo.format import count
from geo.i18n import language
from geo.measure import area_ha
from geo.pipeline import analyse, load_bundled, load_layer
from geo.validate import core_bounds
from ui import state

ROOT = Path(__file__).resolve().parents[1]
CAMI = ROOT / "data" / "drc" / "cami_titles_2016.geojson"
IPIS = ROOT / "data" / "drc" / "ipis_asm_sites.geojson"
LIC_CODES = ("PE", "PR", "ZEA", "PEPM", "AR")


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit="2GiB")
    with Client(cluster) as connected:
        yield connected
    cluster.close()


def straddling_layers(seed: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Titles on a grid sharing edges, with sites on the edges, corners and beyond."""
    rng = np.random.default_rng(seed)
    step = 0.02  # about 2.2 km
    cols, rows = 14, 10
    x0, y0 = 24.0 + rng.uniform(0, 0.01), -3.0
    ix, iy = np.meshgrid(np.arange(cols), np.arange(rows))
    ix, iy = ix.ravel(), iy.ravel()
    boxes = shapely.box(x0 + ix * step, y0 + iy * step, x0 + (ix + 1) * step,
                        y0 + (iy + 1) * step)
    keep = rng.random(len(boxes)) > 0.12  # gaps: land free of titles
    boxes = boxes[keep]
    n = len(boxes)
    # A few titles overlapping their neighbours, and bow-ties (invalid).
    grow = rng.random(n) < 0.08
    boxes[grow] = shapely.buffer(boxes[grow], step * 0.3, join_style="mitre")
    bowtie = rng.choice(n, 3, replace=False)
    for k in bowtie:
        minx, miny, maxx, maxy = shapely.bounds(boxes[k])
        boxes[k] = shapely.Polygon([(minx, miny), (maxx, maxy), (maxx, miny), (minx, maxy)])
    ids = np.array([f"T{k:03d}" for k in range(n)], dtype=object)
    ids[5] = ids[4]  # a duplicate identifier
    geoms = list(boxes)
    geoms[7] = None  # empty geometry: left out and reported
    concessions = gpd.GeoDataFrame({
        "licence_id": ids,
        "holder": rng.choice(["Alpha", "Beta", "Gamma"], n),
        "type": rng.choice(LIC_CODES, n),
    }, geometry=geoms, crs=4326)

    # Sites: points on shared edges and corners, inside, in the rings and beyond them.
    corner = np.column_stack([x0 + rng.integers(1, cols, 40) * step,
                              y0 + rng.integers(1, rows, 40) * step])
    edge = np.column_stack([x0 + rng.integers(1, cols, 60) * step,
                            y0 + (rng.integers(0, rows, 60) + rng.uniform(0.1, 0.9, 60)) * step])
    scattered = np.column_stack([rng.uniform(x0 - 0.1, x0 + cols * step + 0.1, 120),
                                 rng.uniform(y0 - 0.1, y0 + rows * step + 0.1, 120)])
    beyond = np.column_stack([rng.uniform(x0 - 0.6, x0 - 0.2, 6), rng.uniform(y0, y0 + 0.2, 6)])
    isolated = np.array([[x0 + 9.0, y0 + 4.0]])  # about 1,000 km away: reported far_outside
    points = shapely.points(np.vstack([corner, edge, scattered, beyond, isolated]))
    centres = np.column_stack([rng.uniform(x0, x0 + cols * step, 50),
                               rng.uniform(y0, y0 + rows * step, 50)])
    radius = rng.uniform(0.002, 0.03, 50)  # some polygons span several titles
    polygons = shapely.buffer(shapely.points(centres), radius, quad_segs=4)
    for k in range(4):  # bow-ties
        cx, cy = centres[k]
        polygons[k] = shapely.Polygon([(cx - 0.004, cy - 0.004), (cx + 0.004, cy + 0.004),
                                       (cx + 0.004, cy - 0.004), (cx - 0.004, cy + 0.004)])
    site_geoms = list(np.concatenate([points, polygons]))
    site_geoms[3] = None
    order = rng.permutation(len(site_geoms))
    site_ids = np.array([f"S{k:03d}" for k in range(len(site_geoms))], dtype=object)
    site_ids[11] = site_ids[10]
    sites = gpd.GeoDataFrame({
        "site_id": site_ids[order],
        "workers": rng.integers(0, 500, len(order)),
        "mercury": rng.random(len(order)) < 0.4,
        "presence": rng.random(len(order)) < 0.2,
        "visit_date": pd.to_datetime("2015-01-01") + pd.to_timedelta(
            rng.integers(0, 2000, len(order)), unit="D"),
    }, geometry=[site_geoms[k] for k in order], crs=4326)
    return concessions, sites


def single_machine(conc: Path, sites: Path, out: Path, radius_m: float | None) -> Path:
    concessions = load_layer(conc, "concessions")
    layer = load_layer(sites, "sites", reference_bounds=core_bounds(concessions.data))
    analysis = analyse(concessions, layer, radius_m=radius_m)
    info = summary(analysis, sources={"concessions": concessions.source, "sites": layer.source},
                   reports={"concessions": concessions.report, "sites": layer.report})
    write_outputs(analysis, out, info)
    return out


def assert_same_outputs(one: Path, cluster: Path) -> None:
    """Same tables (text for text, 1e-9 relative for areas), totals, reports and zones."""
    for name, key in (("concessions.csv", "conc_id"), ("sites.csv", "site_id")):
        left = pd.read_csv(one / name, dtype=str, keep_default_na=False)
        right = pd.read_csv(cluster / name, dtype=str, keep_default_na=False)
        assert list(left.columns) == list(right.columns)
        assert left[key].tolist() == right[key].tolist()  # same rows, same order
        for column in left.columns:
            if column in ("area_ha", "overlap_ha", "overlap_pct", "dist_km", "lon", "lat"):
                a = pd.to_numeric(left[column]).to_numpy(dtype=float)
                b = pd.to_numeric(right[column]).to_numpy(dtype=float)
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=0, err_msg=column)
            else:
                assert left[column].tolist() == right[column].tolist(), column
    info_one = json.loads((one / "summary.json").read_text())
    info_cluster = json.loads((cluster / "summary.json").read_text())
    assert list(info_one["totals"]) == list(info_cluster["totals"])
    for key, value in info_one["totals"].items():
        if isinstance(value, float):
            assert info_cluster["totals"][key] == pytest.approx(value, rel=1e-9, abs=0), key
        else:
            assert info_cluster["totals"][key] == value, key
    assert info_cluster["validation"] == info_one["validation"]
    assert info_cluster["engine"]["name"] == "dask"
    zones_one = gpd.read_file(one / "zones.gpkg", layer="zones")
    zones_cluster = gpd.read_file(cluster / "zones.gpkg", layer="zones")
    assert zones_cluster["conc_id"].tolist() == zones_one["conc_id"].tolist()
    np.testing.assert_allclose(zones_cluster["area_ha"], zones_one["area_ha"], rtol=1e-9)
    np.testing.assert_allclose(area_ha(zones_cluster.geometry.values),
                               area_ha(zones_one.geometry.values), rtol=1e-9)


@pytest.fixture(scope="module")
def straddling_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straddling")
    concessions, sites = straddling_layers(8)
    concessions.to_file(folder / "concessions.gpkg", driver="GPKG")
    sites.to_file(folder / "sites.gpkg", driver="GPKG", geometry_type="Unknown")
    return folder


def test_straddling_set_equals_single_machine(client, straddling_files, tmp_path):
    """With footprint circles around the points (without: the command line test below)."""
    conc, sites = straddling_files / "concessions.gpkg", straddling_files / "sites.gpkg"
    one = single_machine(conc, sites, tmp_path / "one", 400.0)
    result, _paths = overlap_on_cluster(client, conc, sites, tmp_path / "cluster",
                                        radius_m=400.0, partition_rows=12)
    assert result.partitions["concessions"] >= 10  # the titles are cut into many partitions
    assert_same_outputs(one, tmp_path / "cluster")


def test_the_set_straddles_what_it_should(straddling_files):
    """The fixture holds what the comparison is about, and the merge had work to do."""
    concessions = load_layer(straddling_files / "concessions.gpkg", "concessions")
    sites = load_layer(straddling_files / "sites.gpkg", "sites",
                       reference_bounds=core_bounds(concessions.data))
    assert concessions.report.counts()["invalid_geometry"] == 3
    assert concessions.report.counts()["duplicate_id"] == 1
    assert sites.report.counts()["invalid_geometry"] == 4
    assert sites.report.counts()["far_outside"] >= 1
    overlaps = analyse(concessions, sites).overlaps
    table = overlaps.sites
    assert (table["n_conc"] >= 2).sum() > 10  # sites in several titles
    assert (table["dist_km"] > 10).sum() >= 6  # beyond every outer ring
    points = sites.data.geometry[sites.data.geom_type == "Point"].to_numpy()
    edges = shapely.union_all(shapely.boundary(concessions.data.geometry.to_numpy()))
    assert shapely.intersects(points, edges).sum() > 20  # points on shared edges and corners


def test_layers_given_as_frames(client, straddling_files):
    """Validated GeoDataFrames (the dashboard's stored layers) go in as they are."""
    concessions = load_layer(straddling_files / "concessions.gpkg", "concessions")
    sites = load_layer(straddling_files / "sites.gpkg", "sites",
                       reference_bounds=core_bounds(concessions.data))
    result = analyse_on_cluster(client, concessions.data, sites.data, partition_rows=30)
    expected = analyse(concessions, sites).totals
    assert result.totals["tenure"] == expected.pop("tenure")
    assert {k: v for k, v in result.totals.items() if k != "tenure"} == pytest.approx(
        expected, rel=1e-9)


def test_drc_data_equals_single_machine(client, tmp_path):
    one = single_machine(CAMI, IPIS, tmp_path / "one", 300.0)
    overlap_on_cluster(client, CAMI, IPIS, tmp_path / "cluster", radius_m=300.0,
                       partition_rows=500)
    assert_same_outputs(one, tmp_path / "cluster")


def test_geoparquet_dataset_of_parts(client, straddling_files, tmp_path):
    """A folder of GeoParquet parts gives what the single file gives."""
    concessions = gpd.read_file(straddling_files / "concessions.gpkg")
    sites = gpd.read_file(straddling_files / "sites.gpkg")
    concessions.to_parquet(tmp_path / "concessions.parquet", index=False)
    sites.to_parquet(tmp_path / "sites.parquet", index=False)
    write_partitioned(concessions, tmp_path / "conc_parts", partition_rows=25)
    write_partitioned(sites, tmp_path / "site_parts", partition_rows=40)
    assert len(list((tmp_path / "site_parts").glob("*.parquet"))) >= 7
    one = single_machine(tmp_path / "concessions.parquet", tmp_path / "sites.parquet",
                         tmp_path / "one", None)
    overlap_on_cluster(client, tmp_path / "conc_parts", tmp_path / "site_parts",
                       tmp_path / "cluster", partition_rows=12)
    assert_same_outputs(one, tmp_path / "cluster")


def test_many_zones_are_also_written_as_geoparquet_parts(client, monkeypatch, tmp_path):
    """Past the zone count of a large run, ``zones/`` holds the zones of zones.gpkg."""
    monkeypatch.setattr(geo.distributed, "LARGE_ZONE_COUNT", 100)
    _result, paths = overlap_on_cluster(client, CAMI, IPIS, tmp_path, radius_m=300.0,
                                        partition_rows=1000)
    assert tmp_path / "zones" in paths
    parts = sorted((tmp_path / "zones").glob("part.*.parquet"))
    assert len(parts) >= 2
    from_parts = pd.concat([gpd.read_parquet(p) for p in parts], ignore_index=True)
    gpkg = gpd.read_file(tmp_path / "zones.gpkg", layer="zones")
    assert from_parts["conc_id"].tolist() == gpkg["conc_id"].tolist()
    np.testing.assert_allclose(from_parts["area_ha"], gpkg["area_ha"], rtol=1e-12)


def test_union_area_across_partitions(client):
    """Overlapping squares cut into partitions that split their groups: the union area is
    that of one shapely union, each shared piece counted once."""
    squares = shapely.box(np.arange(6) * 0.01, 0, np.arange(6) * 0.01 + 0.015, 0.015)
    alone = shapely.box(1, 1, 1.01, 1.01)
    pieces = [np.array([squares[0], squares[3]], dtype=object),
              np.array([squares[1], alone], dtype=object),
              np.array([squares[2], squares[4], squares[5]], dtype=object)]
    futures = client.scatter(pieces)
    expected = float(area_ha([shapely.union_all(np.r_[squares, [alone]])])[0])
    assert union_area_ha(client, futures) == pytest.approx(expected, rel=1e-12)


def test_search_box_is_never_too_small():
    """Every point within the distance of a box lies in its search box (geodesics on WGS84
    from the box's corners, in eight directions, at the equator and at 60 degrees)."""
    geod = Geod(ellps="WGS84")
    for bounds in ((10.0, -0.5, 10.5, 0.5), (10.0, 59.5, 10.5, 60.5)):
        box = search_box(bounds, 50.0)
        minx, miny, maxx, maxy = bounds
        corners = np.array([(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)])
        for azimuth in range(0, 360, 45):
            lon, lat, _ = geod.fwd(corners[:, 0], corners[:, 1], np.full(4, azimuth),
                                   np.full(4, 50_000.0))
            assert (lon >= box[0]).all()
            assert (lon <= box[2]).all()
            assert (lat >= box[1]).all()
            assert (lat <= box[3]).all()
    assert search_box((10, 0, 11, 1), 110.5)[1] == pytest.approx(-1.0)


def _geo(*args: object, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "geo", *map(str, args)], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, check=False,
        env={**os.environ, "GEO_LANG": "en", **(env or {})},
    )


def test_command_line_on_an_existing_cluster(client, straddling_files, tmp_path):
    """``--engine dask --scheduler ADDRESS``: the same files as the single-machine command."""
    conc, sites = straddling_files / "concessions.gpkg", straddling_files / "sites.gpkg"
    local = _geo("overlap", conc, sites, "-o", tmp_path / "one")
    assert local.returncode == 0, local.stderr
    done = _geo("overlap", conc, sites, "-o", tmp_path / "cluster", "--engine", "dask",
                "--scheduler", client.scheduler.address, "--partition-rows", "12")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert {Path(line).name for line in done.stdout.split()} >= {
        "zones.gpkg", "concessions.csv", "sites.csv", "summary.json"}
    assert_same_outputs(tmp_path / "one", tmp_path / "cluster")


def test_unreachable_scheduler_is_one_clear_line(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _geo("overlap", CAMI, IPIS, "-o", tmp_path / "out", "--engine", "dask",
                env={"DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}",
                     "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0] == (f"error: Cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "
                        "within 1 s; check the address (like tcp://host:8786) and that the "
                        "scheduler is running.")
    assert not (tmp_path / "out").exists()


def _overview(lang: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    if lang is not None:
        at.query_params[state.LANGUAGE_QUERY] = lang
    at.switch_page("pages/overview.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_overview_runs_a_large_workspace_on_the_cluster(client, monkeypatch, lang):
    """Past the in-process limit the Overview offers a cluster run, shows its progress while
    the page stays usable, then the same headline numbers as one machine."""
    monkeypatch.setenv("GEO_IN_PROCESS_LIMIT", "1000")  # the DRC workspace: 5,961 features
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", client.scheduler.address)
    monkeypatch.setenv("GEO_CLUSTER_RUNS", str(Path(os.environ["GEO_WORKSPACE"]).parent))
    at = _overview(lang)
    assert not at.metric  # nothing computed in the server's process
    assert len(at.info) == 1
    assert count_text(5961, lang) in at.info[0].value
    at.button(key=state.CLUSTER_START).click().run()
    assert not at.exception, at.exception
    deadline = time.monotonic() + 240
    while not at.get("download_button") and time.monotonic() < deadline:
        assert not at.error, at.error[0].value
        time.sleep(2)
        at.run()  # the page answers at once while the run goes on
        assert not at.exception, at.exception
    assert at.get("download_button"), "the cluster run did not finish in time"
    expected = analyse(load_bundled("concessions"), load_bundled("sites")).totals
    values = [metric.value for metric in at.metric]
    assert values[0] == count_text(expected["concessions"], lang)
    assert values[1] == count_text(expected["sites"], lang)
    assert values[2] == count_text(expected["sites_in"], lang)


def count_text(value: object, lang: str) -> str:
    with language(lang):
        return count(float(value))  # type: ignore[arg-type]
