"""The engine on real data, checked against plain shapely and pyproj computations.

* The bundled eastern DR Congo workspace (CAMI titles 2016, IPIS site visits), end to end
  through :func:`geo.pipeline.analyse`.
* The 685 real Ghana ASGM detection polygons (Amazon Mining Watch, 2024; three of them
  invalid as published) as sites against a synthetic grid of concessions.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely import box

from geo.overlap import compute_overlaps
from geo.pipeline import analyse, load_bundled, load_layer
from geo.schema import LIC_TYPES, TENURE_CLASSES
from geo.stats import concession_stats, totals

GEOD = pyproj.Geod(ellps="WGS84")
GHANA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ghana" / (
    "amw_asgm_detections_2024.geojson"
)


def geod_ha(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


# --- DR Congo ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drc():
    concessions, sites = load_bundled("concessions"), load_bundled("sites")
    return concessions, sites, analyse(concessions, sites)


@pytest.fixture(scope="module")
def plain_shapely_inside(drc):
    """Per concession, which sites its interior contains and which sit on its boundary,
    one concession at a time with plain shapely predicates."""
    concessions, sites, _ = drc
    points = np.asarray(sites.data.geometry.values, dtype=object)
    x, y = shapely.get_x(points), shapely.get_y(points)
    contains, touches = [], []
    for geom in concessions.data.geometry:
        minx, miny, maxx, maxy = geom.bounds
        near = np.flatnonzero((x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy))
        contains.append(set(near[[geom.contains(points[i]) for i in near]]))
        touches.append(set(near[[geom.touches(points[i]) for i in near]]))
    return contains, touches


def test_bundled_layers(drc):
    concessions, sites, analysis = drc
    assert len(concessions.data) == 2973
    assert len(sites.data) == 2988
    assert analysis.totals["concessions"] == 2973
    assert analysis.totals["sites"] == 2988
    assert sites.data.geometry.geom_type.eq("Point").all()


def test_sites_in_per_concession_equals_plain_shapely(drc, plain_shapely_inside):
    concessions, _, analysis = drc
    contains, touches = plain_shapely_inside
    counts = np.array([len(c) for c in contains])
    engine = analysis.concession_table["sites_in"].to_numpy()
    # Boundary points (in no interior) are given to one title by the documented rule:
    # first by tenure order, then the smallest conc_id.
    in_any_interior = set().union(*contains)
    rank = {lic: k for k, lic in enumerate(LIC_TYPES)}
    lic = concessions.data["lic_type"].to_numpy()
    ids = concessions.data["conc_id"].to_numpy()
    on_boundary: dict[int, list[int]] = {}
    for conc, found in enumerate(touches):
        for site in found - in_any_interior:
            on_boundary.setdefault(site, []).append(conc)
    expected = counts.copy()
    for candidates in on_boundary.values():
        winner = min(candidates, key=lambda c: (rank[lic[c]], ids[c]))
        expected[winner] += 1
    assert len(on_boundary) == 1  # one IPIS site lies exactly on the edge of two titles
    assert (counts != engine).sum() == 1
    np.testing.assert_array_equal(engine, expected)


def test_sites_inside_any_title(drc, plain_shapely_inside):
    _, _, analysis = drc
    contains, touches = plain_shapely_inside
    strictly_inside = set().union(*contains)
    with_boundary = strictly_inside | set().union(*touches)
    assert len(strictly_inside) == 1952
    assert len(with_boundary) == 1953
    assert analysis.totals["sites_in"] == len(with_boundary)
    n_conc = analysis.overlaps.sites["n_conc"].to_numpy()
    assert set(np.flatnonzero(n_conc > 0)) == with_boundary


def test_tenure_counts_match_plain_shapely(drc, plain_shapely_inside):
    concessions, _, analysis = drc
    contains, touches = plain_shapely_inside
    lic = concessions.data["lic_type"].to_numpy()
    tenure_of_lic = {t: (t if t != "other" else "other_title") for t in LIC_TYPES}
    best: dict[int, int] = {}
    for conc, found in enumerate(contains):
        for site in found | touches[conc]:
            rank = LIC_TYPES.index(lic[conc])
            best[site] = min(best.get(site, len(LIC_TYPES)), rank)
    expected = dict.fromkeys(TENURE_CLASSES, 0)
    for rank in best.values():
        expected[tenure_of_lic[LIC_TYPES[rank]]] += 1
    expected["unlicensed"] = len(analysis.overlaps.sites) - len(best)
    assert analysis.totals["tenure"] == expected
    assert expected["asm_zone"] == 64
    assert expected["unlicensed"] == 2988 - 1953


def test_concession_areas_match_geod(drc):
    concessions, _, analysis = drc
    engine = analysis.concession_table["area_ha"].to_numpy()
    reference = np.array([geod_ha(g) for g in concessions.data.geometry])
    assert np.max(np.abs(engine - reference) / reference) < 1e-4


def test_no_site_area_without_footprints(drc):
    _, _, analysis = drc
    assert analysis.totals["overlap_ha"] == 0.0
    assert analysis.overlaps.zones.empty


def test_outside_distances_are_geodesic_to_nearest_title(drc):
    concessions, sites, analysis = drc
    table = analysis.overlaps.sites
    outside = table[table["n_conc"] == 0].head(25)
    geoms = concessions.data.set_index("conc_id").geometry
    for _, row in outside.iterrows():
        point = sites.data.geometry.iloc[int(row.name)]
        nearest = geoms.loc[row["near_id"]]
        coords = shapely.get_coordinates(shapely.segmentize(nearest.boundary, 1e-4))
        n = len(coords)
        _, _, metres = GEOD.inv(np.full(n, point.x), np.full(n, point.y), coords[:, 0],
                                coords[:, 1])
        assert row["dist_km"] == pytest.approx(metres.min() / 1000, rel=5e-3, abs=2e-3)
        # ... and no title is nearer by planar degrees by more than the projection's error
        planar = shapely.distance(np.asarray(geoms.values, dtype=object), point)
        assert shapely.distance(nearest, point) <= planar.min() * 1.05 + 1e-9


def test_footprint_radius_gives_overlap(drc):
    concessions, sites, _ = drc
    analysis = analyse(concessions, sites, radius_m=200.0)
    circle_ha = np.pi * 200.0**2 / 1e4
    assert 0 < analysis.totals["site_ha"] <= 2988 * circle_ha * 1.001
    assert 0 < analysis.totals["overlap_ha"] <= analysis.totals["site_ha"] * (1 + 1e-5)
    overlap = analysis.concession_table["overlap_ha"]
    assert (overlap <= analysis.concession_table["area_ha"] * (1 + 1e-5)).all()
    assert (overlap[analysis.concession_table["sites_in"] > 0] > 0).all()


# --- Ghana polygons against a synthetic concession grid ---------------------------------


@pytest.fixture(scope="module")
def ghana():
    if not GHANA.exists():
        pytest.skip(f"shared data not found at {GHANA}")
    raw = gpd.read_file(GHANA)
    sites = load_layer(GHANA, "sites")
    minx, miny, maxx, maxy = raw.total_bounds
    # A 4 x 3 grid of titles over the detections, cut at arbitrary lines so that many
    # detections straddle two titles; one title overlaps its neighbours.
    xs = np.linspace(minx - 0.013, maxx + 0.017, 5)
    ys = np.linspace(miny - 0.021, maxy + 0.011, 4)
    geoms = [box(x0, y0, x1, y1) for x0, x1 in itertools.pairwise(xs)
             for y0, y1 in itertools.pairwise(ys)]
    geoms.append(box(xs[1] - 0.2, ys[1] - 0.15, xs[1] + 0.25, ys[1] + 0.3))
    conc = gpd.GeoDataFrame(
        {"conc_id": [f"G{i:02d}" for i in range(len(geoms))], "holder": "H",
         "lic_type": "exploitation"},
        geometry=geoms, crs=4326,
    )
    return raw, sites, conc, compute_overlaps(conc, sites.data)


def test_ghana_layer_repaired_not_dropped(ghana):
    raw, sites, _, _ = ghana
    assert len(raw) == 685
    assert (~raw.geometry.is_valid).sum() == 3
    assert sites.report.n_repaired == 3
    assert sites.report.n_kept == 685
    assert sites.data.geometry.is_valid.all()


def test_ghana_overlap_per_concession_matches_geod(ghana):
    raw, _, conc, result = ghana
    repaired = shapely.make_valid(np.asarray(raw.geometry.values, dtype=object))
    table = concession_stats(result).set_index("conc_id")
    checked = 0
    for conc_id, geom in zip(conc["conc_id"], conc.geometry, strict=True):
        touching = repaired[shapely.intersects(repaired, geom)]
        if len(touching) == 0:
            assert table.loc[conc_id, "overlap_ha"] == 0.0
            continue
        expected = geod_ha(geom.intersection(shapely.union_all(touching)))
        assert table.loc[conc_id, "overlap_ha"] == pytest.approx(expected, rel=1e-4)
        checked += 1
    assert checked >= 6


def test_ghana_totals_are_unions(ghana):
    raw, _, conc, result = ghana
    summary = totals(result)
    repaired = shapely.make_valid(np.asarray(raw.geometry.values, dtype=object))
    all_sites = shapely.union_all(repaired)
    expected = geod_ha(shapely.union_all(conc.geometry.values).intersection(all_sites))
    assert summary["overlap_ha"] == pytest.approx(expected, rel=1e-4)
    assert summary["site_ha"] == pytest.approx(geod_ha(all_sites), rel=1e-4)
    # the overlapping title makes the per-concession sum larger than the union
    assert summary["overlap_ha"] < result.zones["area_ha"].sum()
