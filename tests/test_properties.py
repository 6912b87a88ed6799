"""Invariants of the overlap engine, as property tests on random small boxes near the equator.

* an overlap zone is never larger than its concession nor than the union of the sites,
  never negative, and equals the Geod area of shapely's own ``concession & union(sites)``;
* the result does not depend on the order of the sites;
* union-based totals are never above the sum of the per-concession overlaps.
"""

from __future__ import annotations

import geopandas as gpd
import pyproj
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from geo.overlap import compute_overlaps
from geo.stats import concession_stats, totals

GEOD = pyproj.Geod(ellps="WGS84")
SETTINGS = settings(deadline=None, max_examples=50, derandomize=True)
#: Relative slack between two geodesic area methods (the engine's contract is 1e-5).
REL = 2e-5
#: Absolute slack (ha) for slivers whose area is all rounding.
ABS = 1e-6


def geod_ha(geom) -> float:
    if geom is None or geom.is_empty:
        return 0.0
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


#: Coordinates on a 1e-4 degree grid (about 11 m): shared and touching edges are common,
#: and no subnormal floats (which make GEOS itself divide by zero).
STEP = 1e-4


def grid(low: float, high: float):
    return st.integers(round(low / STEP), round(high / STEP)).map(lambda k: k * STEP)


@st.composite
def small_box(draw, near=None, min_size=0.002, max_size=0.15):
    if near is None:
        x, y = draw(grid(-1.0, 1.0)), draw(grid(-1.0, 1.0))
    else:
        minx, miny, maxx, maxy = near
        x = draw(grid(minx - 0.05, maxx + 0.02))
        y = draw(grid(miny - 0.05, maxy + 0.02))
    w = draw(grid(min_size, max_size))
    h = draw(grid(min_size, max_size))
    return box(x, y, x + w, y + h)


@st.composite
def concession_and_sites(draw):
    conc = draw(small_box(min_size=0.01, max_size=0.2))
    n = draw(st.integers(1, 6))
    site_boxes = [draw(small_box(near=conc.bounds, max_size=0.08)) for _ in range(n)]
    return conc, site_boxes


@st.composite
def many_concessions_and_sites(draw):
    first = draw(small_box(min_size=0.02, max_size=0.15))
    minx, miny, maxx, maxy = first.bounds
    region = (minx - 0.05, miny - 0.05, maxx + 0.05, maxy + 0.05)
    others = [draw(small_box(near=region, min_size=0.02, max_size=0.15))
              for _ in range(draw(st.integers(1, 3)))]
    site_boxes = [draw(small_box(near=region, max_size=0.08))
                  for _ in range(draw(st.integers(1, 8)))]
    return [first, *others], site_boxes


def layers(conc_geoms, site_geoms):
    conc = gpd.GeoDataFrame(
        {"conc_id": [f"C{i}" for i in range(len(conc_geoms))], "holder": "H",
         "lic_type": "exploitation"},
        geometry=list(conc_geoms), crs=4326,
    )
    sites = gpd.GeoDataFrame({"site_id": [f"s{i}" for i in range(len(site_geoms))]},
                             geometry=list(site_geoms), crs=4326)
    return conc, sites


def overlap_of(result, conc_id="C0") -> float:
    zones = result.zones.set_index("conc_id")["area_ha"]
    return float(zones.get(conc_id, 0.0))


@SETTINGS
@given(concession_and_sites())
def test_overlap_bounded_by_both_inputs_and_equal_to_geod(case):
    conc, site_boxes = case
    result = compute_overlaps(*layers([conc], site_boxes))
    overlap = overlap_of(result)
    assert overlap >= 0.0
    assert overlap <= geod_ha(conc) * (1 + REL) + ABS
    assert overlap <= geod_ha(shapely.union_all(site_boxes)) * (1 + REL) + ABS
    # Against the engine's own concession area the slack is not zero either: the zone's
    # extra vertices (where site edges cross the title's) split lon/lat-straight edges into
    # geodesics, which moves the area by ~1e-7 relative.
    assert overlap <= float(result.concessions["area_ha"].iloc[0]) * (1 + REL) + ABS
    expected = geod_ha(shapely.intersection(conc, shapely.union_all(site_boxes)))
    assert abs(overlap - expected) <= REL * expected + ABS


@SETTINGS
@given(concession_and_sites(), st.randoms(use_true_random=False))
def test_site_order_does_not_matter(case, rnd):
    conc, site_boxes = case
    shuffled = list(site_boxes)
    rnd.shuffle(shuffled)
    first = compute_overlaps(*layers([conc], site_boxes))
    second = compute_overlaps(*layers([conc], shuffled))
    a, b = overlap_of(first), overlap_of(second)
    assert abs(a - b) <= 1e-9 * max(a, b) + 1e-9
    assert concession_stats(first)["sites_in"].tolist() == \
        concession_stats(second)["sites_in"].tolist()
    site_a, site_b = totals(first)["site_ha"], totals(second)["site_ha"]
    assert abs(site_a - site_b) <= 1e-7 * max(site_a, site_b) + ABS


@SETTINGS
@given(many_concessions_and_sites())
def test_union_totals_never_above_sums(case):
    conc_geoms, site_boxes = case
    result = compute_overlaps(*layers(conc_geoms, site_boxes))
    table = concession_stats(result)
    summary = totals(result)
    assert (table["overlap_ha"] >= 0).all()
    assert summary["overlap_ha"] <= table["overlap_ha"].sum() * (1 + REL) + ABS
    assert summary["concession_ha"] <= table["area_ha"].sum() * (1 + REL) + ABS
    assert summary["overlap_ha"] <= summary["concession_ha"] * (1 + REL) + ABS
    assert summary["overlap_ha"] <= summary["site_ha"] * (1 + REL) + ABS
    # and the union total is itself the Geod area of shapely's union of the zones
    expected = geod_ha(shapely.intersection(shapely.union_all(conc_geoms),
                                            shapely.union_all(site_boxes)))
    assert abs(summary["overlap_ha"] - expected) <= REL * expected + ABS
    assert (table["overlap_pct"] <= 100.0 + 1e-6).all()
