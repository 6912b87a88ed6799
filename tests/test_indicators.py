"""Company and province indicators (:mod:`geo.indicators`) on a hand-built case, and the
Companies and provinces page.

Five titles near the equator (0.01 degree of longitude there is about 1.11 km)::

    A = box(0, 0, 0.1, 0.1)          H1   (no province)
    B = box(0.05, 0, 0.15, 0.1)      H1   (no province)   overlaps A on 0.05 x 0.1
    C = box(1, 1, 1.1, 1.1)          H2   (no province)
    D = box(1.2, 1, 1.3, 1.1)        H2   province "Own"
    E = box(5, 5, 5.1, 5.1)          H3   (no province)   no site within 10 km

    site                       where                                 workers flags    prov first seen
    s1 (0.07, 0.05)            in A and B                            20      mercury  P1   2020
    s2 (0.02, 0.05)            in A; 3.3 km from B                   10      child    P1   2015
    s3 (0.16, 0.05)            1.1 km from B, 6.7 km from A          5       armed    P2   2019
    s4 (0.30, 0.05)            16.7 km from B: beyond the 10 km ring 100     all      P2   2016
    s5 (1.05, 1.05)            in C                                  ?       armed    P3   none
    s6 (1.15, 1.05)            5.6 km from C and from D              8       -        P4   2018
    s7 box(.06,.06,.08,.08)    polygon in A and B                    7       -        P1   2021

Expected, by hand:
* H1: licensed area = union of A and B = box(0, 0, 0.15, 0.1); overlap = s7 once (it is the
  overlap zone of A and of B); inside s1, s2, s7 (s1 and s7 once though in two titles):
  3 sites, 37 workers; near s3 only (s2 is near B but inside A): 1 site, 5 workers;
  mercury 1 (s1), child 1 (s2), armed 0, flagged inside 2, flagged near 1 (s3).
  Latest first-seen year is 2021, so with 3 recent years the recent period starts in 2019:
  recent s1, s3, s7 (3), earlier s2 (1), 75 %.
* H2: area C + D (apart); inside s5 (workers unknown: 0, armed); near s6 (8 workers) once,
  though near both C and D; trend: s6 earlier, s5 undated.
* H3: E alone, nothing inside or near.
* Provinces: A and B take P1 (their sites: P1 x3 vs P2 x1); C ties P3 (s5) and P4 (s6) and
  takes P3, the first alphabetically; D keeps its own "Own"; E has no site: (unknown).
"""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import pyproj
import pytest
import shapely
from app_runner import open_app
from shapely import Point, box

from geo.errors import SchemaError
from geo.export import method_note, tables_bytes
from geo.i18n import language
from geo.indicators import (
    UNKNOWN,
    concession_provinces,
    indicator_note,
    indicators,
    trend_start_year,
)
from geo.overlap import compute_overlaps
from geo.pipeline import analyse, load_bundled
from geo.schema import indicator_columns
from geo.stats import group_stats
from ui import state

GEOD = pyproj.Geod(ellps="WGS84")
NA = pd.NA
A, B = box(0, 0, 0.1, 0.1), box(0.05, 0, 0.15, 0.1)
C, D, E = box(1, 1, 1.1, 1.1), box(1.2, 1, 1.3, 1.1), box(5, 5, 5.1, 5.1)
S7 = box(0.06, 0.06, 0.08, 0.08)


def geod_ha(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


@pytest.fixture(scope="module")
def overlaps():
    conc = gpd.GeoDataFrame(
        {"conc_id": ["A", "B", "C", "D", "E"], "holder": ["H1", "H1", "H2", "H2", "H3"],
         "lic_type": ["exploitation", "exploration", "exploitation", "exploration", "other"],
         "province": [None, None, "", "Own", None]},
        geometry=[A, B, C, D, E], crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"s{i}" for i in range(1, 8)],
            "workers": pd.array([20, 10, 5, 100, NA, 8, 7], dtype="Int64"),
            "mercury": pd.array([True, False, False, True, NA, False, False], dtype="boolean"),
            "armed": pd.array([False, False, True, True, True, NA, False], dtype="boolean"),
            "child_lab": pd.array([False, True, NA, True, NA, False, False], dtype="boolean"),
            "province": ["P1", "P1", "P2", "P2", "P3", "P4", "P1"],
            "first_seen": pd.to_datetime(["2020-03-01", "2015-06-01", "2019-01-15",
                                          "2016-01-01", None, "2018-07-01", "2021-02-01"]),
        },
        geometry=[Point(0.07, 0.05), Point(0.02, 0.05), Point(0.16, 0.05), Point(0.3, 0.05),
                  Point(1.05, 1.05), Point(1.15, 1.05), S7],
        crs=4326,
    )
    return compute_overlaps(conc, sites)


def _row(table: pd.DataFrame, column: str, value: str) -> pd.Series:
    rows = table[table[column] == value]
    assert len(rows) == 1, table
    return rows.iloc[0]


def test_holder_indicators_by_hand(overlaps):
    table = indicators(overlaps, "holder", recent_years=3)
    assert list(table.columns) == indicator_columns("holder")
    assert table["holder"].tolist() == ["H1", "H2", "H3"]
    assert table["rank"].tolist() == [1, 2, 3]
    h1 = _row(table, "holder", "H1")
    assert h1["concessions"] == 2
    assert h1["area_ha"] == pytest.approx(geod_ha(shapely.union(A, B)), rel=1e-6)
    assert h1["area_ha"] == pytest.approx(geod_ha(box(0, 0, 0.15, 0.1)), rel=1e-6)
    assert h1["overlap_ha"] == pytest.approx(geod_ha(S7), rel=1e-6)
    assert h1["overlap_pct"] == pytest.approx(100 * geod_ha(S7) / geod_ha(box(0, 0, 0.15, 0.1)),
                                              abs=1e-4)
    expected = {"sites_in": 3, "workers_in": 37, "sites_near": 1, "workers_near": 5,
                "mercury_in": 1, "armed_in": 0, "child_in": 1, "flagged_in": 2,
                "flagged_near": 1, "sites_recent": 3, "sites_earlier": 1}
    assert {k: int(h1[k]) for k in expected} == expected
    assert h1["recent_pct"] == pytest.approx(75.0)


def test_second_holder_and_empty_holder(overlaps):
    table = indicators(overlaps, "holder", recent_years=3)
    h2 = _row(table, "holder", "H2")
    assert h2["area_ha"] == pytest.approx(geod_ha(C) + geod_ha(D), rel=1e-6)
    assert h2["overlap_ha"] == 0.0
    expected = {"concessions": 2, "sites_in": 1, "workers_in": 0, "sites_near": 1,
                "workers_near": 8, "mercury_in": 0, "armed_in": 1, "child_in": 0,
                "flagged_in": 1, "flagged_near": 0, "sites_recent": 0, "sites_earlier": 1}
    assert {k: int(h2[k]) for k in expected} == expected
    h3 = _row(table, "holder", "H3")
    assert h3["area_ha"] == pytest.approx(geod_ha(E), rel=1e-6)
    assert h3[["sites_in", "sites_near", "sites_recent", "recent_pct"]].sum() == 0


def test_site_in_two_titles_of_one_holder_counts_once(overlaps):
    table = indicators(overlaps, "holder")
    per_title = overlaps.pairs[overlaps.pairs["inside"]].groupby("conc").size()
    assert per_title[0] + per_title[1] == 5  # s1 and s7 are counted by A and by B
    assert _row(table, "holder", "H1")["sites_in"] == 3


def test_provinces_of_concessions(overlaps):
    assert concession_provinces(overlaps).tolist() == ["P1", "P1", "P3", "Own", UNKNOWN]


def test_province_indicators(overlaps):
    table = indicators(overlaps, "province", recent_years=3)
    assert list(table.columns) == indicator_columns("province")
    assert table["province"].tolist() == ["P1", "P3", UNKNOWN, "Own"]
    p1 = _row(table, "province", "P1")
    assert p1["area_ha"] == pytest.approx(geod_ha(box(0, 0, 0.15, 0.1)), rel=1e-6)
    assert (p1["sites_in"], p1["workers_in"], p1["sites_near"]) == (3, 37, 1)
    p3 = _row(table, "province", "P3")
    assert (p3["concessions"], p3["sites_in"], p3["sites_near"], p3["workers_near"]) == (
        1, 1, 1, 8)
    own = _row(table, "province", "Own")
    assert (own["sites_in"], own["sites_near"], own["workers_near"]) == (0, 1, 8)
    assert own["area_ha"] == pytest.approx(geod_ha(D), rel=1e-6)


def test_recent_period_moves_the_trend(overlaps):
    assert trend_start_year(overlaps, 3) == 2019
    assert trend_start_year(overlaps, 1) == 2021
    h1 = _row(indicators(overlaps, "holder", recent_years=1), "holder", "H1")
    assert (h1["sites_recent"], h1["sites_earlier"]) == (1, 3)  # s7 only, in 2021
    h1 = _row(indicators(overlaps, "holder", recent_years=10), "holder", "H1")
    assert (h1["sites_recent"], h1["sites_earlier"]) == (4, 0)


@pytest.mark.parametrize("years", [0, -1, 2.5])
def test_bad_recent_period_is_refused(overlaps, years):
    with pytest.raises(SchemaError, match="whole number of years"):
        indicators(overlaps, "holder", recent_years=years)


def test_unknown_grouping_is_refused(overlaps):
    with pytest.raises(SchemaError, match="'holder' or 'province'"):
        indicators(overlaps, "lic_type")  # type: ignore[arg-type]


def test_ranking_by_overlap_then_sites_inside(overlaps):
    table = indicators(overlaps, "province")
    keys = list(zip(-table["overlap_ha"], -table["sites_in"], table["province"], strict=True))
    assert keys == sorted(keys)


def test_holders_agree_with_group_stats_on_bundled_data():
    overlaps = analyse(load_bundled("concessions"), load_bundled("sites")).overlaps
    table = indicators(overlaps, "holder").set_index("holder")
    expected = group_stats(overlaps, "holder")
    columns = ["concessions", "area_ha", "overlap_ha", "sites_in", "workers_in", "mercury_in",
               "armed_in", "child_in"]
    pd.testing.assert_frame_equal(table.loc[expected.index, columns], expected[columns],
                                  check_dtype=False)
    provinces = indicators(overlaps, "province")
    assert provinces["concessions"].sum() == len(overlaps.concessions)


def test_downloads_carry_the_method_note_and_neutralise_formulas(overlaps):
    table = indicators(overlaps, "holder")
    table.loc[0, "holder"] = "=HYPERLINK(\"x\")"
    info = {"created": "2026-01-01T00:00:00Z", "crs": "EPSG:4326", "area_method": "geodesic",
            "rings_km": [1, 5, 10], "radius_m": None, "repaired": 0, "dropped": 0,
            "sources": {}}
    notes = indicator_note("province", start_year=2019, rings_km=(1.0, 5.0, 10.0))
    note = method_note(info) + "\n".join(notes)
    archive = zipfile.ZipFile(io.BytesIO(tables_bytes({"holders": table}, "csv", note)))
    assert sorted(archive.namelist()) == ["METHOD.txt", "holders.csv"]
    method = archive.read("METHOD.txt").decode()
    for part in ("Method note", "2019", "10 km", "Province of a title"):
        assert part in method
    csv = pd.read_csv(archive.open("holders.csv"))
    assert csv.loc[0, "holder"].startswith("'=")
    sheets = pd.read_excel(io.BytesIO(tables_bytes({"holders": table}, "xlsx", note)),
                           sheet_name=None)
    assert sorted(sheets) == ["holders", "method"]
    assert sheets["holders"]["sites_in"].tolist() == table["sites_in"].tolist()


# --- the page ----------------------------------------------------------------------------






@pytest.mark.parametrize("lang", ["en", "fr"])
def test_indicators_page_ranks_holders(lang):
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/indicators.py").run()
    assert not at.exception, at.exception
    overlaps = analyse(load_bundled("concessions"), load_bundled("sites")).overlaps
    expected = indicators(overlaps, "holder")
    shown = at.dataframe[0].value
    assert shown["holder"].tolist()[:5] == expected["holder"].tolist()[:5]
    assert shown["sites_in"].tolist()[:5] == expected["sites_in"].tolist()[:5]


def test_indicators_page_per_province_and_search():
    at = open_app()
    at.switch_page("pages/indicators.py").run()
    at.segmented_control(key=state.INDICATORS_BY).set_value("Per province").run()
    assert not at.exception, at.exception
    shown = at.dataframe[0].value
    assert "province" in shown.columns
    assert "Sud-Kivu" in shown["province"].tolist()
    assert any("CAMI" in caption.value for caption in at.caption)
    at.text_input(key=state.INDICATORS_SEARCH).set_value("kivu").run()
    assert sorted(at.dataframe[0].value["province"]) == ["Nord-Kivu", "Sud-Kivu"]
    at.slider(key=state.INDICATORS_RECENT_YEARS).set_value(1).run()
    assert not at.exception, at.exception
