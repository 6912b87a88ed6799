"""Threads of the engine (:mod:`geo.parallel`): the same results on one thread or several,
errors and the caller's language carried over, and the two-file load of the command line."""

from __future__ import annotations

import json
import threading

import geopandas as gpd
import pandas as pd
import pytest
from shapely import LineString, box

from geo.errors import CRSError, GeometryError, SchemaError
from geo.export import summary, write_outputs
from geo.i18n import _, language
from geo.overlap import compute_overlaps
from geo.parallel import map_in_threads, side_by_side, thread_count
from geo.pipeline import BUNDLED, analyse, load_bundled, load_layer, load_pair
from geo.validate import core_bounds


def test_map_in_threads_keeps_order_and_uses_threads(monkeypatch):
    monkeypatch.setenv("GEO_THREADS", "3")
    names: set[str] = set()
    barrier = threading.Barrier(3, timeout=10)

    def square(x: int) -> int:
        names.add(threading.current_thread().name)
        barrier.wait()  # three calls at once, or this times out
        return x * x

    assert map_in_threads(square, [1, 2, 3]) == [1, 4, 9]
    assert len(names) == 3


def test_one_thread_runs_in_the_caller(monkeypatch):
    monkeypatch.setenv("GEO_THREADS", "1")
    caller = threading.current_thread().name
    assert map_in_threads(lambda _x: threading.current_thread().name, [1, 2]) == [caller] * 2
    assert side_by_side(lambda: 1, lambda: threading.current_thread().name) == (1, caller)


def test_errors_reach_the_caller(monkeypatch):
    monkeypatch.setenv("GEO_THREADS", "2")

    def fail(x: int) -> int:
        if x == 2:
            raise SchemaError("two")
        return x

    with pytest.raises(SchemaError, match="two"):
        map_in_threads(fail, [1, 2, 3])
    with pytest.raises(SchemaError, match="two"):
        side_by_side(lambda: 1, lambda: fail(2))


def test_threads_speak_the_callers_language(monkeypatch):
    monkeypatch.setenv("GEO_THREADS", "2")
    message = "No usable sites are left in the file."
    with language("fr"):
        translated = _(message)
        in_threads = map_in_threads(lambda _x: _(message), [1, 2])
        beside = side_by_side(lambda: _(message), lambda: _(message))
    assert translated != message
    assert in_threads == [translated] * 2
    assert beside == (translated, translated)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_thread_count_is_refused(monkeypatch, value):
    monkeypatch.setenv("GEO_THREADS", value)
    with pytest.raises(SchemaError, match="GEO_THREADS"):
        thread_count()


def test_engine_gives_the_same_tables_on_one_thread_and_two(monkeypatch):
    conc, sites = load_bundled("concessions").data, load_bundled("sites").data
    results = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("GEO_THREADS", threads)
        results[threads] = compute_overlaps(conc, sites, radius_m=300.0)
    one, two = results["1"], results["2"]
    pd.testing.assert_frame_equal(one.sites, two.sites)
    pd.testing.assert_frame_equal(one.pairs, two.pairs)
    pd.testing.assert_frame_equal(one.concessions.drop(columns="geometry"),
                                  two.concessions.drop(columns="geometry"))
    assert one.zones.geometry.geom_equals_exact(two.zones.geometry, tolerance=0).all()


def test_load_pair_is_load_layer_twice():
    conc, sites = load_pair(BUNDLED["concessions"], BUNDLED["sites"])
    alone = load_layer(BUNDLED["sites"], "sites")
    assert (conc.kind, sites.kind) == ("concessions", "sites")
    assert sites.fingerprint == alone.fingerprint
    pd.testing.assert_frame_equal(pd.DataFrame(sites.data.drop(columns="geometry")),
                                  pd.DataFrame(alone.data.drop(columns="geometry")))
    assert sites.report.n_kept == alone.report.n_kept


@pytest.fixture
def swapped_pair(tmp_path):
    """A concession file in eastern DR Congo and a site file with x and y swapped."""
    conc_path = tmp_path / "conc.geojson"
    titles = [box(28.0 + 0.1 * i, -3.0 + 0.1 * i, 28.1 + 0.1 * i, -2.9 + 0.1 * i)
              for i in range(5)]
    gpd.GeoDataFrame({"id": list("ABCDE")}, geometry=titles, crs=4326).to_file(conc_path)
    lon = [28.0 + 0.025 * i for i in range(20)]
    lat = [-3.0 + 0.025 * i for i in range(20)]
    swapped = gpd.GeoDataFrame(  # latitude written as x, longitude as y
        {"site_id": [f"s{i}" for i in range(20)]}, geometry=gpd.points_from_xy(lat, lon),
        crs=4326,
    )
    site_path = tmp_path / "sites.geojson"
    swapped.to_file(site_path)
    return conc_path, site_path


def test_load_pair_refuses_swapped_sites(swapped_pair):
    with pytest.raises(CRSError, match="swapped"):
        load_pair(*swapped_pair)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_load_pair_refuses_swapped_sites_as_load_layer_does(monkeypatch, swapped_pair,
                                                            threads):
    monkeypatch.setenv("GEO_THREADS", threads)
    conc_path, site_path = swapped_pair
    bounds = core_bounds(load_layer(conc_path, "concessions").data)
    with pytest.raises(CRSError) as alone:
        load_layer(site_path, "sites", reference_bounds=bounds)
    with pytest.raises(CRSError) as paired:
        load_pair(conc_path, site_path)
    assert str(paired.value) == str(alone.value)
    assert "latitude and longitude look swapped" in str(paired.value)


@pytest.mark.parametrize("threads", ["1", "2"])
def test_load_pair_gives_the_concessions_reason_first(monkeypatch, swapped_pair, tmp_path,
                                                      threads):
    monkeypatch.setenv("GEO_THREADS", threads)
    empty = tmp_path / "empty.geojson"
    gpd.GeoDataFrame({"id": ["A"]}, geometry=[LineString([(28, -3), (28.1, -2.9)])],
                     crs=4326).to_file(empty)
    with pytest.raises(GeometryError, match="No usable concessions"):
        load_pair(empty, swapped_pair[1])


def test_outputs_are_the_same_on_one_thread_and_two(monkeypatch, tmp_path):
    conc, sites = load_bundled("concessions"), load_bundled("sites")
    written = {}
    for threads in ("1", "2"):
        monkeypatch.setenv("GEO_THREADS", threads)
        analysis = analyse(conc, sites, radius_m=300.0)  # site footprints: zones to write
        info = summary(analysis, sources={"sites": sites.source})
        written[threads] = write_outputs(analysis, tmp_path / threads, info)
    one, two = written["1"], written["2"]
    assert [p.name for p in one] == [p.name for p in two] == [
        "zones.gpkg", "concessions.csv", "sites.csv", "summary.json"]
    for a, b in zip(one[1:], two[1:], strict=True):
        text_a, text_b = a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8")
        if a.name == "summary.json":  # made at a different second, maybe
            text_a, text_b = ({**json.loads(t), "created": None} for t in (text_a, text_b))
        assert text_a == text_b, a.name
    zones_a, zones_b = gpd.read_file(one[0]), gpd.read_file(two[0])
    pd.testing.assert_frame_equal(pd.DataFrame(zones_a.drop(columns="geometry")),
                                  pd.DataFrame(zones_b.drop(columns="geometry")))
    assert len(zones_a) > 0
    assert zones_a.geometry.geom_equals_exact(zones_b.geometry, tolerance=0).all()
