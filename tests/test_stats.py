"""Coexistence statistics (:mod:`geo.stats`) on a hand-built case with known answers.

Three titles near the equator: A and B (same holder) overlap on 0.05 x 0.1 degrees, C is
far away. Six sites, one of them a polygon inside A and B at once::

    A = box(0, 0, 0.1, 0.1)      H1  exploitation
    B = box(0.05, 0, 0.15, 0.1)  H1  exploration
    C = box(1, 1, 1.1, 1.1)      H2  asm_zone

    s1 (0.02, 0.05)  in A            10 workers  mercury  child         P1  2019
    s2 (0.07, 0.05)  in A and B      20 workers  mercury  armed         P1  2019
    s3 (0.12, 0.05)  in B             5 workers  2.2 km from A          P2  2020
    s4 (0.20, 0.05)  outside        100 workers  all flags, 5.6 km from B P2  2020
    s5 (1.05, 1.05)  in C             ? workers  armed                  P3  no date
    s6 box(0.06, 0.06, 0.08, 0.08) in A and B   7 workers              P1  2021
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely import Point, box

from geo.measure import area_ha
from geo.overlap import compute_overlaps
from geo.stats import (
    concession_stats,
    group_stats,
    overlap_groups,
    region_stats,
    totals,
    union_ha,
    year_stats,
)

GEOD = pyproj.Geod(ellps="WGS84")
NA = pd.NA


def geod_ha(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


A, B, C = box(0, 0, 0.1, 0.1), box(0.05, 0, 0.15, 0.1), box(1, 1, 1.1, 1.1)
S6 = box(0.06, 0.06, 0.08, 0.08)


@pytest.fixture(scope="module")
def overlaps():
    conc = gpd.GeoDataFrame(
        {"conc_id": ["A", "B", "C"], "holder": ["H1", "H1", "H2"],
         "lic_type": ["exploitation", "exploration", "asm_zone"], "name": ["a", "b", "c"],
         "status": ["active", "active", "expired"],
         "expiry": pd.to_datetime(["2030-01-01", None, "2010-01-01"])},
        geometry=[A, B, C], crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
            "workers": pd.array([10, 20, 5, 100, NA, 7], dtype="Int64"),
            "mercury": pd.array([True, True, False, True, NA, False], dtype="boolean"),
            "armed": pd.array([False, True, NA, True, True, False], dtype="boolean"),
            "child_lab": pd.array([True, False, NA, True, NA, False], dtype="boolean"),
            "seen": pd.to_datetime(["2019-05-01", "2019-08-01", "2020-01-01", "2020-03-01",
                                    None, "2021-02-01"]),
            "province": ["P1", "P1", "P2", "P2", "P3", "P1"],
        },
        geometry=[Point(0.02, 0.05), Point(0.07, 0.05), Point(0.12, 0.05), Point(0.2, 0.05),
                  Point(1.05, 1.05), S6],
        crs=4326,
    )
    return compute_overlaps(conc, sites)


def test_concession_stats_columns(overlaps):
    table = concession_stats(overlaps)
    assert table.columns.tolist() == [
        "conc_id", "holder", "lic_type", "area_ha", "overlap_ha", "overlap_pct", "sites_in",
        "sites_r1", "sites_r2", "sites_r3", "workers_in", "mercury_in", "armed_in", "child_in",
        "name", "status", "expiry",
    ]
    assert table["conc_id"].tolist() == ["A", "B", "C"]


def test_concession_stats_counts(overlaps):
    table = concession_stats(overlaps).set_index("conc_id")
    counts = table[["sites_in", "sites_r1", "sites_r2", "sites_r3", "workers_in",
                    "mercury_in", "armed_in", "child_in"]]
    assert counts.loc["A"].tolist() == [3, 0, 1, 0, 37, 2, 1, 1]  # s1 s2 s6; s3 in ring 2
    assert counts.loc["B"].tolist() == [3, 0, 1, 1, 32, 1, 1, 0]  # s2 s3 s6; s1 r2, s4 r3
    assert counts.loc["C"].tolist() == [1, 0, 0, 0, 0, 0, 1, 0]  # s5, workers unknown


def test_concession_stats_areas(overlaps):
    table = concession_stats(overlaps).set_index("conc_id")
    for conc_id, geom in (("A", A), ("B", B), ("C", C)):
        assert table.loc[conc_id, "area_ha"] == pytest.approx(geod_ha(geom), rel=1e-5)
    assert table.loc["A", "overlap_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)
    assert table.loc["B", "overlap_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)
    assert table.loc["C", "overlap_ha"] == 0.0
    assert table.loc["A", "overlap_pct"] == pytest.approx(100 * geod_ha(S6) / geod_ha(A),
                                                          abs=1e-3)
    assert table.loc["C", "overlap_pct"] == 0.0


def test_ring_distances_behind_the_counts():
    # The ring counts above rest on these geodesic distances.
    def km(x0, x1):
        return GEOD.inv(x0, 0.05, x1, 0.05)[2] / 1000

    assert 1 < km(0.12, 0.1) <= 5  # s3 -> A
    assert 1 < km(0.02, 0.05) <= 5  # s1 -> B
    assert 5 < km(0.2, 0.15) <= 10  # s4 -> B
    assert km(0.2, 0.1) > 10  # s4 -> A


def test_group_stats_by_holder_union_based(overlaps):
    table = group_stats(overlaps, "holder")
    assert table.index.name == "holder"
    assert table.columns.tolist() == [
        "concessions", "area_ha", "overlap_ha", "overlap_pct", "sites_in", "workers_in",
        "mercury_in", "armed_in", "child_in",
    ]
    assert table.index.tolist() == ["H1", "H2"]  # by overlap, largest first
    h1, h2 = table.loc["H1"], table.loc["H2"]
    union = geod_ha(shapely.union(A, B))
    assert union < geod_ha(A) + geod_ha(B) - 1000  # the shared strip is 6,000 ha
    assert h1["area_ha"] == pytest.approx(union, rel=1e-5)
    assert h1["overlap_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)  # not twice
    assert h1["overlap_pct"] == pytest.approx(100 * geod_ha(S6) / union, abs=1e-3)
    assert h1[["concessions", "sites_in", "workers_in", "mercury_in", "armed_in",
               "child_in"]].tolist() == [2, 4, 42, 2, 1, 1]  # s2 and s6 counted once
    assert h2["area_ha"] == pytest.approx(geod_ha(C), rel=1e-5)
    assert h2[["concessions", "overlap_ha", "sites_in", "workers_in", "armed_in"]].tolist() == [
        1, 0.0, 1, 0, 1,
    ]


def test_group_stats_by_licence_type(overlaps):
    table = group_stats(overlaps, "lic_type")
    assert set(table.index) == {"exploitation", "exploration", "asm_zone"}
    assert table.loc["exploitation", "sites_in"] == 3
    assert table.loc["exploration", "sites_in"] == 3
    assert table.loc["exploitation", "area_ha"] == pytest.approx(geod_ha(A), rel=1e-5)
    assert table.loc["asm_zone", "workers_in"] == 0


def test_group_stats_unknown_holder_grouped():
    conc = gpd.GeoDataFrame({"conc_id": ["A", "B"], "holder": [None, None],
                             "lic_type": ["other", "other"]}, geometry=[A, C], crs=4326)
    sites = gpd.GeoDataFrame({"site_id": ["s"]}, geometry=[Point(0.05, 0.05)], crs=4326)
    table = group_stats(compute_overlaps(conc, sites), "holder")
    assert table.index.tolist() == ["(unknown)"]
    assert table.loc["(unknown)", "area_ha"] == pytest.approx(geod_ha(A) + geod_ha(C), rel=1e-5)
    assert table.loc["(unknown)", "sites_in"] == 1


def test_region_stats(overlaps):
    table = region_stats(overlaps, "province")
    assert table.columns.tolist() == [
        "sites", "sites_in", "share_in_pct", "workers", "workers_in", "mercury_in", "armed_in",
        "child_in", "overlap_ha",
    ]
    assert table.index.tolist() == ["P1", "P2", "P3"]  # by number of sites
    p1, p2, p3 = (table.loc[p] for p in ("P1", "P2", "P3"))
    assert p1[["sites", "sites_in", "workers", "workers_in", "mercury_in", "armed_in",
               "child_in"]].tolist() == [3, 3, 37, 37, 2, 1, 1]
    assert p1["share_in_pct"] == 100.0
    assert p1["overlap_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)
    # s4's red flags are outside every title: not counted
    assert p2[["sites", "sites_in", "workers", "workers_in", "mercury_in", "armed_in",
               "child_in"]].tolist() == [2, 1, 105, 5, 0, 0, 0]
    assert p2["share_in_pct"] == 50.0
    assert p2["overlap_ha"] == 0.0
    assert p3[["sites", "sites_in", "workers", "armed_in"]].tolist() == [1, 1, 0, 1]


def test_year_stats(overlaps):
    table = year_stats(overlaps)
    assert table.columns.tolist() == ["year", "sites_in", "sites_out", "workers_in",
                                      "workers_out"]
    assert table.values.tolist() == [
        [2019, 2, 0, 30, 0],
        [2020, 1, 1, 5, 100],
        [2021, 1, 0, 7, 0],
    ]  # s5 has no date


def test_totals(overlaps):
    result = totals(overlaps)
    assert result["concessions"] == 3
    assert result["sites"] == 6
    assert result["sites_in"] == 5
    assert result["sites_in_pct"] == pytest.approx(83.33, abs=0.01)
    assert result["tenure"] == {"exploitation": 3, "exploration": 1, "asm_zone": 1,
                                "small_scale": 0, "other_title": 0, "unlicensed": 1}
    assert result["workers_in"] == 42
    assert result["workers_in_exploitation"] == 37
    assert (result["mercury_in"], result["armed_in"], result["child_in"]) == (2, 2, 1)
    expected_conc = geod_ha(shapely.union_all([A, B, C]))
    assert result["concession_ha"] == pytest.approx(expected_conc, rel=1e-5)
    assert result["concession_ha"] < sum(geod_ha(g) for g in (A, B, C))
    assert result["overlap_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)
    assert result["site_ha"] == pytest.approx(geod_ha(S6), rel=1e-5)


def test_totals_overlap_is_union_not_sum(overlaps):
    zones_sum = overlaps.zones["area_ha"].sum()
    assert zones_sum == pytest.approx(2 * geod_ha(S6), rel=1e-5)  # S6 lies in A and in B
    assert totals(overlaps)["overlap_ha"] <= zones_sum / 2 * (1 + 1e-9)


def test_overlapping_site_polygons_in_totals_counted_once():
    conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
                            geometry=[A], crs=4326)
    s1, s2 = box(0.01, 0.01, 0.05, 0.05), box(0.03, 0.03, 0.07, 0.07)
    sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"]}, geometry=[s1, s2], crs=4326)
    result = totals(compute_overlaps(conc, sites))
    assert result["site_ha"] == pytest.approx(geod_ha(shapely.union(s1, s2)), rel=1e-5)
    assert result["overlap_ha"] == pytest.approx(geod_ha(shapely.union(s1, s2)), rel=1e-5)


def test_no_site_inside_keeps_schemas():
    conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
                            geometry=[A], crs=4326)
    sites = gpd.GeoDataFrame({"site_id": ["far"]}, geometry=[Point(3, 3)], crs=4326)
    result = compute_overlaps(conc, sites)
    table = concession_stats(result)
    assert table[["sites_in", "sites_r1", "sites_r2", "sites_r3", "workers_in"]].values.tolist() \
        == [[0, 0, 0, 0, 0]]
    assert table["overlap_ha"].tolist() == [0.0]
    holders = group_stats(result, "holder")
    assert holders.loc["H", "overlap_ha"] == 0.0
    assert holders.loc["H", "sites_in"] == 0
    assert year_stats(result).columns.tolist() == ["year", "sites_in", "sites_out",
                                                   "workers_in", "workers_out"]
    assert year_stats(result).empty
    assert totals(result)["sites_in"] == 0
    assert totals(result)["overlap_ha"] == 0.0
    regions = region_stats(result, "province")
    assert regions.loc["(unknown)", "sites"] == 1
    assert regions.loc["(unknown)", "overlap_ha"] == 0.0


def test_union_area_by_groups_equals_the_area_of_one_union():
    """Merging only overlapping groups measures the same as one union of everything."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(20, 22, 400), rng.uniform(-5, -3, 400)
    size = rng.uniform(0.005, 0.08, 400)
    boxes = shapely.box(x, y, x + size, y + size)
    boxes = np.concatenate([boxes, [shapely.box(30, 0, 31, 1), shapely.box(31, 0, 32, 1)]])
    expected = area_ha([shapely.union_all(boxes)])[0]
    assert union_ha(boxes) == pytest.approx(expected, rel=1e-9)
    groups = overlap_groups(boxes)
    assert groups[-1] != groups[-2]  # touching edges do not join groups
