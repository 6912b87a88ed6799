"""Filtered analyses derived from the whole one (geo.subset) equal the engine's.

Each filtered analysis is compared, table by table, with :func:`geo.pipeline.analyse` run
with the same filters on the same layers: small layers built by hand (a point on the shared
edge of two titles, a polygon across it, a site far from every title kept) with the
expected numbers worked out here, and the bundled DR Congo data under several filter
combinations, with and without a footprint radius (overlap zones only exist with one there).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from shapely import Point, box

import geo.nearest
import geo.subset
from geo.errors import GeometryError
from geo.filters import FilterIndex, Filters, filter_concessions, filter_sites
from geo.pipeline import Analysis, Layer, analyse, load_bundled
from geo.schema import LIC_TYPES
from geo.stats import union_ha
from geo.subset import ConcessionCache, UnionCache, filtered, kept_rows, prepare
from geo.validate import validate_layer

GEOD = Geod(ellps="WGS84")


# --- helpers -----------------------------------------------------------------------------------


def layer(kind: str, frame: gpd.GeoDataFrame) -> Layer:
    data, report = validate_layer(frame, kind)  # type: ignore[arg-type]
    return Layer(kind, data, report, "test")  # type: ignore[arg-type]


def assert_same(derived: Analysis, engine: Analysis) -> None:
    """Every table equal; union areas equal up to the order of floating-point sums."""
    pd.testing.assert_frame_equal(derived.concession_table, engine.concession_table)
    pd.testing.assert_frame_equal(derived.overlaps.concessions, engine.overlaps.concessions)
    pd.testing.assert_frame_equal(derived.overlaps.sites, engine.overlaps.sites)
    ours, theirs = derived.overlaps.zones, engine.overlaps.zones
    assert len(ours) == len(theirs)
    if len(theirs):
        pd.testing.assert_frame_equal(pd.DataFrame(ours.drop(columns="geometry")),
                                      pd.DataFrame(theirs.drop(columns="geometry")))
        assert ours.geometry.geom_equals_exact(theirs.geometry, 0.0).all()
    key = ["site", "conc", "inside", "ring"]
    pd.testing.assert_frame_equal(
        derived.overlaps.pairs.sort_values(key).reset_index(drop=True),
        engine.overlaps.pairs.sort_values(key).reset_index(drop=True))
    ours_fp = np.asarray(derived.overlaps.footprints.values, dtype=object)
    theirs_fp = np.asarray(engine.overlaps.footprints.values, dtype=object)
    assert list(shapely.is_geometry(ours_fp)) == list(shapely.is_geometry(theirs_fp))
    assert derived.overlaps.rings_km == engine.overlaps.rings_km
    for name, value in engine.totals.items():
        if isinstance(value, float):
            assert derived.totals[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        else:
            assert derived.totals[name] == value, name


# --- layers built by hand ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hand_layers() -> tuple[Layer, Layer]:
    concessions = gpd.GeoDataFrame(
        {"conc_id": ["A", "B", "C"], "holder": ["H1", "H2", "H3"],
         "lic_type": ["exploitation", "exploration", "asm_zone"],
         "status": ["Active", "Active", "Expired"]},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(5, 0, 6, 1)], crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["edge", "in_a", "far", "across"], "name": ["e", "a", "f", "x"],
         "workers": [10, 20, 30, 40], "province": ["P1", "P1", "P2", "P2"]},
        geometry=[Point(1, 0.5), Point(0.5, 0.5), Point(3, 0.5),
                  box(0.9, 0.2, 1.1, 0.3)],
        crs=4326,
    )
    return layer("concessions", concessions), layer("sites", sites)


def test_boundary_point_changes_title_when_the_first_is_filtered_out(hand_layers) -> None:
    concessions, sites = hand_layers
    basis = prepare(concessions, sites)
    whole = basis.analysis.overlaps.sites.set_index("site_id")
    # On the shared edge of A (exploitation) and B (exploration): A, first by tenure order.
    assert whole.loc["edge", "tenure"] == "exploitation"
    assert whole.loc["edge", "conc_id"] == "A"
    assert whole.loc["across", "n_conc"] == 2  # a polygon across the edge is in both
    result = filtered(basis, Filters(lic_types=("exploration", "asm_zone")))
    table = result.overlaps.sites.set_index("site_id")
    assert table.loc["edge", "tenure"] == "exploration"
    assert table.loc["edge", "conc_id"] == "B"
    assert table.loc["across", "conc_id"] == "B"
    assert table.loc["across", "n_conc"] == 1
    assert table.loc["in_a", "tenure"] == "unlicensed"
    assert_same(result, analyse(concessions, sites,
                                filters=Filters(lic_types=("exploration", "asm_zone"))))


def test_nearest_title_kept_is_searched_again(hand_layers) -> None:
    concessions, sites = hand_layers
    basis = prepare(concessions, sites)
    result = filtered(basis, Filters(lic_types=("exploration", "asm_zone")))
    table = result.overlaps.sites.set_index("site_id")
    # A is gone: the site inside it is 0.5 degree from B's western edge.
    assert table.loc["in_a", "near_id"] == "B"
    _az, _back, metres = GEOD.inv(0.5, 0.5, 1.0, 0.5)
    assert table.loc["in_a", "dist_km"] == pytest.approx(metres / 1000, abs=0.05)
    # 1 degree from B's eastern edge, 2 from C: B, beyond every ring (searched again).
    assert table.loc["far", "near_id"] == "B"
    _az, _back, metres = GEOD.inv(3.0, 0.5, 2.0, 0.5)
    assert table.loc["far", "dist_km"] == pytest.approx(metres / 1000, abs=0.05)


@pytest.mark.parametrize("filters", [
    Filters(provinces=("P1",)),
    Filters(holders=("H2", "H3")),
    Filters(statuses=("Active",), provinces=("P2",)),
    Filters(lic_types=("asm_zone",)),
], ids=["sites", "holders", "both", "far_title_only"])
def test_hand_layers_equal_the_engine(hand_layers, filters: Filters) -> None:
    concessions, sites = hand_layers
    for radius in (None, 2000.0):
        basis = prepare(concessions, sites, radius_m=radius)
        assert_same(filtered(basis, filters),
                    analyse(concessions, sites, filters=filters, radius_m=radius))


def test_no_filter_is_the_whole_analysis(hand_layers) -> None:
    concessions, sites = hand_layers
    basis = prepare(concessions, sites)
    assert filtered(basis, Filters()) is basis.analysis
    assert filtered(basis, None) is basis.analysis
    assert_same(basis.analysis, analyse(concessions, sites))


def test_filters_that_leave_nothing_raise_the_engines_message(hand_layers) -> None:
    concessions, sites = hand_layers
    basis = prepare(concessions, sites)
    for filters in (Filters(holders=("nobody",)), Filters(provinces=("nowhere",))):
        with pytest.raises(GeometryError) as ours:
            filtered(basis, filters)
        with pytest.raises(GeometryError) as theirs:
            analyse(concessions, sites, filters=filters)
        assert str(ours.value) == str(theirs.value)


def test_a_kept_concession_cache_gives_the_same_analysis(hand_layers) -> None:
    concessions, sites = hand_layers
    known = ConcessionCache.of(concessions)
    first = prepare(concessions, sites, known=known)
    again = prepare(concessions, sites, known=known)
    assert_same(again.analysis, first.analysis)
    assert_same(again.analysis, analyse(concessions, sites))


# --- union areas -------------------------------------------------------------------------------


def test_union_cache_measures_any_subset_like_a_fresh_union() -> None:
    # Chains of overlapping boxes, a nested one, one alone, one touching another's edge.
    geoms = np.array([box(0, 0, 0.2, 0.2), box(0.1, 0.1, 0.3, 0.3), box(0.25, 0.25, 0.4, 0.4),
                      box(0.05, 0.05, 0.08, 0.08), box(1, 1, 1.1, 1.1), box(1.1, 1, 1.2, 1.1),
                      None], dtype=object)
    present = shapely.is_geometry(geoms)
    area = np.zeros(len(geoms))
    for i in np.flatnonzero(present):
        area[i] = abs(GEOD.geometry_area_perimeter(geoms[i])[0]) / 1e4
    cache = UnionCache.of(geoms, area)
    rng = np.random.default_rng(6)
    for _ in range(30):
        keep = rng.random(len(geoms)) < 0.6
        chosen = geoms[keep & present]
        fresh = union_ha(np.asarray(chosen, dtype=object)) if len(chosen) else 0.0
        assert cache.union_ha(keep) == pytest.approx(fresh, rel=1e-9, abs=1e-9)
        if len(chosen):
            merged = shapely.union_all(chosen)
            independent = abs(GEOD.geometry_area_perimeter(merged)[0]) / 1e4
            assert cache.union_ha(keep) == pytest.approx(independent, rel=1e-6)


def test_union_cache_with_a_member_replaced_by_a_part_of_it() -> None:
    geoms = np.array([box(0, 0, 0.2, 0.2), box(0.1, 0.1, 0.3, 0.3), box(1, 1, 1.1, 1.1)],
                     dtype=object)
    area = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) / 1e4 for g in geoms])
    cache = UnionCache.of(geoms, area)
    part = box(0.1, 0.1, 0.15, 0.3)  # inside member 1, overlapping member 0
    keep = np.array([True, False, True])
    expected = union_ha(np.array([geoms[0], geoms[2], part], dtype=object))
    assert cache.union_ha(keep, np.array([part], dtype=object), np.array([1])) == (
        pytest.approx(expected, rel=1e-9))


def test_union_cache_takes_the_known_area_of_a_part_alone_in_its_group() -> None:
    geoms = np.array([box(0, 0, 0.2, 0.2), box(1, 1, 1.1, 1.1)], dtype=object)
    area = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) / 1e4 for g in geoms])
    cache = UnionCache.of(geoms, area)
    part = box(1, 1, 1.05, 1.1)
    keep = np.array([True, False])
    given = cache.union_ha(keep, np.array([part], dtype=object), np.array([1]),
                           np.array([123.0]))
    assert given == pytest.approx(area[0] + 123.0, rel=1e-12)  # no need to measure it again
    measured = cache.union_ha(keep, np.array([part], dtype=object), np.array([1]))
    assert measured == pytest.approx(union_ha(np.array([geoms[0], part], dtype=object)),
                                     rel=1e-9)


# --- many titles: the nearest kept title ---------------------------------------------------------


@pytest.fixture(scope="module")
def grid_layers() -> tuple[Layer, Layer]:
    """A cadastral grid of 144 titles of about 2 km (rows of them touching, the others 1 km
    apart), three of them registered again, and 250 sites around it, up to about 60 km away: points, small polygons,
    points on shared edges and corners, points as far from two titles."""
    rng = np.random.default_rng(6)
    titles, columns = [], []
    for row in range(12):
        for col in range(12):
            west = 28.0 + col * (0.02 if row % 3 else 0.03)
            south = -3.0 + row * 0.03
            titles.append(box(west, south, west + 0.02, south + 0.02))
            columns.append((row, col))
    # Titles registered twice (the same land): equidistant from every site.
    for position in (65, 11, 11):
        titles.append(titles[position])
        columns.append((len(columns), 0))
    n = len(titles)
    concessions = gpd.GeoDataFrame(
        {"conc_id": [f"T{i:03d}" for i in range(n)],
         "holder": [f"H{(r * 7 + c * 3) % 5}" if i < 144 else "H9"
                    for i, (r, c) in enumerate(columns)],
         "lic_type": [LIC_TYPES[(r + c) % len(LIC_TYPES)] for r, c in columns],
         "status": ["Active" if (r * c) % 3 else "Expired" for r, c in columns]},
        geometry=titles, crs=4326)
    lon = rng.uniform(27.5, 28.9, 200)
    lat = rng.uniform(-3.5, -2.2, 200)
    points = [Point(x, y) for x, y in zip(lon[:160], lat[:160], strict=True)]
    polygons = [box(x, y, x + 0.004, y + 0.003) for x, y in zip(lon[160:], lat[160:],
                                                                   strict=True)]
    # On the shared edges and corners of touching titles (row 0), and as far from two or
    # three titles (above a shared corner, between rows).
    edges = [Point(28.02 + 0.02 * k, -2.999 + 0.002 * k) for k in range(10)]
    corners = [Point(28.02 + 0.02 * k, -2.98) for k in range(10)]
    between = [Point(28.02 + 0.02 * k, -2.975) for k in range(10)]
    # 11 km due south of the corners shared along the bottom row: beyond the rings, as far
    # from the two titles of each corner.
    south = [Point(28.02 + 0.02 * k, -3.1) for k in range(10)]
    geoms = points + polygons + edges + corners + between + south
    sites = gpd.GeoDataFrame(
        {"site_id": [f"S{i:03d}" for i in range(len(geoms))],
         "workers": rng.integers(0, 200, len(geoms)),
         "province": ["P1" if i % 3 else "P2" for i in range(len(geoms))]},
        geometry=geoms, crs=4326)
    return layer("concessions", concessions), layer("sites", sites)


def _grid_filters(seed: int) -> list[Filters]:
    rng = np.random.default_rng(seed)
    holders = tuple(f"H{i}" for i in range(5))
    return [
        Filters(holders=("H0",)),
        Filters(holders=("H9",)),
        Filters(holders=("H9", "H2")),
        Filters(holders=tuple(rng.choice(holders, 2, replace=False))),
        Filters(lic_types=("exploitation",)),
        Filters(lic_types=("asm_zone", "other"), provinces=("P1",)),
        Filters(statuses=("Expired",)),
        Filters(holders=("H3",), statuses=("Active",)),
    ]


@pytest.mark.parametrize("rings", [(1.0, 5.0, 10.0), (0.5, 2.0)], ids=["default", "narrow"])
def test_the_nearest_kept_title_is_the_engines(grid_layers, rings) -> None:
    concessions, sites = grid_layers
    basis = prepare(concessions, sites, rings_km=rings)
    assert basis.neighbours is not None
    for filters in _grid_filters(1):
        assert_same(filtered(basis, filters),
                    analyse(concessions, sites, filters=filters, rings_km=rings))


def test_sites_beyond_the_lists_reach_are_searched(grid_layers, monkeypatch) -> None:
    concessions, sites = grid_layers
    calls = {"beyond": 0, "engine": 0}
    beyond, engine = geo.nearest._beyond, geo.subset._ring_pairs

    def counted_beyond(*args, **kwargs):
        calls["beyond"] += 1
        return beyond(*args, **kwargs)

    def counted_engine(*args, **kwargs):
        calls["engine"] += 1
        return engine(*args, **kwargs)

    monkeypatch.setattr(geo.nearest, "REACH_M", 3_000.0)  # lists of the titles within 3 km
    monkeypatch.setattr(geo.nearest, "_FARTHEST_M", 12_000.0)  # searched up to 12 km
    monkeypatch.setattr(geo.nearest, "_beyond", counted_beyond)
    monkeypatch.setattr(geo.subset, "_ring_pairs", counted_engine)
    rings = (0.5, 2.0)
    basis = prepare(concessions, sites, rings_km=rings)
    for filters in _grid_filters(2):
        assert_same(filtered(basis, filters),
                    analyse(concessions, sites, filters=filters, rings_km=rings))
    assert calls["beyond"] > 0
    assert calls["engine"] > 0


def test_wide_rings_search_without_lists(grid_layers) -> None:
    concessions, sites = grid_layers
    rings = (5.0, 30.0)
    basis = prepare(concessions, sites, rings_km=rings)
    assert basis.neighbours is None  # the outer ring's box is wider than the lists reach
    for filters in _grid_filters(3)[:3]:
        assert_same(filtered(basis, filters),
                    analyse(concessions, sites, filters=filters, rings_km=rings))


def test_equidistant_titles_the_first_in_the_layer() -> None:
    concessions = gpd.GeoDataFrame(
        {"conc_id": ["B", "A", "C"], "holder": ["H1", "H2", "H3"],
         "lic_type": ["exploration", "exploration", "other"], "status": ["x", "x", "y"]},
        # A and B touch along x = 28.1; a site due north of the corner they share is as
        # far from both.
        geometry=[box(28.0, -3.1, 28.1, -3.0), box(28.1, -3.1, 28.2, -3.0),
                  box(28.12, -3.01, 28.13, -3.0)], crs=4326)
    sites = gpd.GeoDataFrame({"site_id": ["N", "In"], "province": ["P", "P"]},
                             geometry=[Point(28.1, -2.8), Point(28.125, -3.005)], crs=4326)
    concessions, sites = layer("concessions", concessions), layer("sites", sites)
    basis = prepare(concessions, sites)
    for filters in (Filters(statuses=("x",)), Filters(holders=("H1", "H2"))):
        derived = filtered(basis, filters)
        assert_same(derived, analyse(concessions, sites, filters=filters))
        assert derived.overlaps.sites.set_index("site_id").loc["In", "near_id"] in {"A", "B"}


# --- which rows a filter keeps ------------------------------------------------------------------


def test_filter_index_keeps_the_rows_the_filters_keep(drc) -> None:
    concessions, sites = drc
    conc, site = concessions.data.reset_index(drop=True), sites.data.reset_index(drop=True)
    index = FilterIndex.of(conc, site)
    provinces = tuple(sorted(site["province"].dropna().unique())[:2])
    cases = [*_drc_filters(concessions, sites), Filters(gold_only=True),
             Filters(years=(2015, 2015), gold_only=True), Filters(holders=("nobody",)),
             Filters(provinces=(*provinces, "nowhere"), years=(1990, 2030))]
    for filters in cases:
        conc_keep, site_keep = index.masks(filters)
        assert list(np.flatnonzero(conc_keep)) == list(filter_concessions(conc, filters).index)
        assert list(np.flatnonzero(site_keep)) == list(filter_sites(site, filters).index)


def test_filters_that_keep_everything_are_the_whole_analysis(drc) -> None:
    concessions, sites = drc
    basis = prepare(concessions, sites)
    everything = Filters(lic_types=tuple(LIC_TYPES))
    assert kept_rows(basis, everything)[0].all()
    assert filtered(basis, everything) is basis.analysis


# --- the bundled DR Congo data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def drc() -> tuple[Layer, Layer]:
    return load_bundled("concessions"), load_bundled("sites")


def _drc_filters(concessions: Layer, sites: Layer) -> list[Filters]:
    provinces = tuple(sorted(sites.data["province"].dropna().unique())[:2])
    holders = tuple(concessions.data["holder"].value_counts().index[:3])
    return [
        Filters(provinces=provinces),
        Filters(years=(2012, 2016)),
        Filters(lic_types=("exploitation",)),
        Filters(holders=holders),
        Filters(lic_types=("asm_zone", "small_scale"), provinces=provinces),
        Filters(statuses=tuple(concessions.data["status"].dropna().unique()[:1]),
                years=(2015, 2020)),
    ]


@pytest.mark.parametrize("radius", [None, 500.0], ids=["points", "footprints"])
def test_bundled_data_filtered_equals_the_engine(drc, radius: float | None) -> None:
    concessions, sites = drc
    basis = prepare(concessions, sites, radius_m=radius)
    if radius is not None:
        assert len(basis.analysis.overlaps.zones) > 0
    for filters in _drc_filters(concessions, sites):
        assert_same(filtered(basis, filters),
                    analyse(concessions, sites, filters=filters, radius_m=radius))
