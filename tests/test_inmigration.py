"""The in-migration view: yearly counts per concession and ring, growth, the sites new since
the previous upload, the IPIS visits join, and the page in English and French.

The fixture, at the equator (0.001 degree of longitude is about 0.111 km), rings 1 and 5 km:

* concession A = box(0, 0, 0.1, 0.1), holder H1; concession B = box(1, 0, 1.1, 0.1), H2;
* s1, s2 and s8 inside A; s3 0.56 km east of A (ring 1); s4 3.3 km east of A (ring 2);
  s5 and s6 inside B; s7 far from both; s8 has no date at all;
* visits: s1 in 2015 (20 workers), twice in 2017 (30 then 35) and once more in 2017 without a
  count, 2019 (50); s3 in 2016 (no count), 2020 (10); s6 in 2019 (60), 2020 (no count); and
  one visit of a site that is not in the layer. The other sites have no visits: they fall
  back to one visit at their ``seen`` date with the layer's workers.

First years: s1 2015, s2 2018, s3 2016 (its visit is earlier than its first_seen of 2017),
s4 2019, s5 2014, s6 2019, s7 2017. Years run from 2014 to 2020.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from app_runner import open_app
from shapely import Point, box
from streamlit.testing.v1 import AppTest

from geo.errors import LayerReadError, SchemaError
from geo.export import method_note, tables_bytes
from geo.format import count
from geo.i18n import _, language
from geo.inmigration import (
    BUNDLED_VISITS,
    changed_sites,
    default_window,
    definitions,
    growth_table,
    load_visits,
    normalise_visits,
    site_years,
    upload_changes,
    visit_coverage,
    year_table,
    year_totals,
)
from geo.measure import GEOD
from geo.overlap import compute_overlaps
from geo.pipeline import load_bundled
from geo.schema import (
    CHANGED_SITE_COLUMNS,
    GROWTH_COLUMNS,
    SITE_YEAR_COLUMNS,
    YEAR_RING_COLUMNS,
    YEAR_RING_TOTAL_COLUMNS,
    normalise_sites,
)
from geo.store import open_workspace
from ui import state

YEARS = list(range(2014, 2021))
RINGS = (1.0, 5.0)
PAGE = "pages/inmigration.py"
SINGLE_VERSION = ("The sites layer has a single version, so nothing is new yet. After the next "
                  "upload of sites, this list shows the sites it added or moved and where they "
                  "fall.")


def _concessions() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"conc_id": ["A", "B"], "name": ["Alpha", "Beta"], "holder": ["H1", "H2"],
         "lic_type": ["exploitation", "exploration"]},
        geometry=[box(0, 0, 0.1, 0.1), box(1, 0, 1.1, 0.1)], crs=4326,
    )


def _sites() -> gpd.GeoDataFrame:
    rows = [  # site_id, lon, lat, first_seen, seen, workers
        ("s1", 0.05, 0.05, "2015-06-01", "2019-09-01", 50),
        ("s2", 0.02, 0.02, "2018-03-01", "2018-03-01", 40),
        ("s3", 0.105, 0.05, "2017-01-01", "2020-05-01", 10),
        ("s4", 0.13, 0.05, "2019-02-01", "2019-02-01", 100),
        ("s5", 1.05, 0.05, "2014-07-01", "2014-07-01", 5),
        ("s6", 1.06, 0.06, "2019-04-01", "2020-04-01", 60),
        ("s7", 3.0, 3.0, "2017-01-01", "2017-01-01", 7),
        ("s8", 0.07, 0.07, None, None, 8),
    ]
    frame = pd.DataFrame(rows, columns=["site_id", "lon", "lat", "first_seen", "seen",
                                        "workers"])
    return gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]).assign(
            first_seen=pd.to_datetime(frame["first_seen"]), seen=pd.to_datetime(frame["seen"]),
            name=frame["site_id"].str.upper()),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326,
    )


def _visits() -> pd.DataFrame:
    raw = pd.DataFrame([
        ("s1", "2015-06-01", 20), ("s1", "2017-02-01", 30), ("s1", "2017-11-01", 35),
        ("s1", "2017-12-01", None), ("s1", "2019-09-01", 50),
        ("s3", "2016-08-01", None), ("s3", "2020-05-01", 10),
        ("s6", "2019-04-01", 60), ("s6", "2020-04-01", None),
        ("zz", "2016-01-01", 99),
    ], columns=["pcode", "visit_date", "workers_numb"])
    return normalise_visits(raw)


@pytest.fixture(scope="module")
def overlaps():
    return compute_overlaps(_concessions(), _sites(), rings_km=RINGS)


# --- yearly counts -----------------------------------------------------------------------

#: Worked out by hand from the fixture, years 2014..2020.
EXPECTED = {
    ("A", 0): {
        "sites_known": [0, 1, 1, 1, 2, 2, 2], "sites_new": [0, 1, 0, 0, 1, 0, 0],
        "sites_visited": [0, 1, 0, 1, 1, 1, 0], "workers_visited": [0, 20, 0, 35, 40, 50, 0],
        "workers_known": [0, 20, 20, 35, 75, 90, 90],
    },
    ("A", 1): {
        "sites_known": [0, 0, 1, 1, 1, 1, 1], "sites_new": [0, 0, 1, 0, 0, 0, 0],
        "sites_visited": [0, 0, 1, 0, 0, 0, 1], "workers_visited": [0, 0, 0, 0, 0, 0, 10],
        "workers_known": [0, 0, 10, 10, 10, 10, 10],
    },
    ("A", 2): {
        "sites_known": [0, 0, 0, 0, 0, 1, 1], "sites_new": [0, 0, 0, 0, 0, 1, 0],
        "sites_visited": [0, 0, 0, 0, 0, 1, 0], "workers_visited": [0, 0, 0, 0, 0, 100, 0],
        "workers_known": [0, 0, 0, 0, 0, 100, 100],
    },
    ("B", 0): {
        "sites_known": [1, 1, 1, 1, 1, 2, 2], "sites_new": [1, 0, 0, 0, 0, 1, 0],
        "sites_visited": [1, 0, 0, 0, 0, 1, 1], "workers_visited": [5, 0, 0, 0, 0, 60, 0],
        "workers_known": [5, 5, 5, 5, 5, 65, 65],
    },
}


def test_year_table_counts_every_concession_ring_and_year(overlaps) -> None:
    table = year_table(overlaps, _visits())
    assert list(table.columns) == list(YEAR_RING_COLUMNS)
    assert sorted(set(zip(table["conc_id"], table["ring"], strict=True))) == sorted(EXPECTED)
    for (conc_id, ring), measures in EXPECTED.items():
        cell = table[(table["conc_id"] == conc_id) & (table["ring"] == ring)]
        assert cell["year"].tolist() == YEARS
        for measure, expected in measures.items():
            assert cell[measure].tolist() == expected, (conc_id, ring, measure)


def test_year_totals_count_each_site_once_at_its_nearest_ring(overlaps) -> None:
    totals = year_totals(overlaps, _visits())
    assert list(totals.columns) == list(YEAR_RING_TOTAL_COLUMNS)
    assert sorted(totals["ring"].unique()) == [0, 1, 2]
    for measure in EXPECTED["A", 0]:
        inside = totals[totals["ring"] == 0][measure].tolist()
        both = np.add(EXPECTED["A", 0][measure], EXPECTED["B", 0][measure]).tolist()
        assert inside == both, measure
        assert totals[totals["ring"] == 1][measure].tolist() == EXPECTED["A", 1][measure]


def test_sites_without_visits_fall_back_to_their_dates(overlaps) -> None:
    table = year_table(overlaps)
    inside_a = table[(table["conc_id"] == "A") & (table["ring"] == 0)]
    # s1 counted once, at its seen date (2019, 50 workers), backfilled to 2015; s2 from 2018.
    assert inside_a["workers_known"].tolist() == [0, 50, 50, 50, 90, 90, 90]
    assert inside_a["sites_visited"].tolist() == [0, 0, 0, 0, 1, 1, 0]
    assert inside_a["sites_known"].tolist() == EXPECTED["A", 0]["sites_known"]


def test_site_years_and_coverage() -> None:
    years = site_years(_sites(), _visits())
    assert list(years.columns) == list(SITE_YEAR_COLUMNS)
    s1 = years[years["site_id"] == "s1"].set_index("year")
    assert s1.index.tolist() == list(range(2015, 2021))
    assert s1.loc[2017, ["visited", "workers_visited", "workers_known"]].tolist() == [True, 35, 35]
    assert s1.loc[2018, ["visited", "workers_visited", "workers_known"]].tolist() == [False, 0, 35]
    assert "s8" not in set(years["site_id"])
    assert years[years["site_id"] == "s3"]["year"].min() == 2016  # the earlier visit wins
    assert visit_coverage(_sites(), _visits()) == {
        "sites": 8, "with_visits": 3, "repeated": 3, "visits": 9, "undated": 1,
    }


# --- growth ------------------------------------------------------------------------------


def test_default_window_is_the_last_three_years_with_data(overlaps) -> None:
    assert default_window(overlaps, _visits()) == (2018, 2020)


def _growth_rows(table: pd.DataFrame) -> list[list[object]]:
    columns = ["conc_id", "sites_before", "new_in", "new_r1", "new_sites", "growth_pct",
               "workers_before", "workers_added", "workers_pct"]
    return table[columns].astype(object).where(table[columns].notna(), None).values.tolist()


def test_growth_over_the_default_window(overlaps) -> None:
    table = growth_table(overlaps, _visits())
    assert list(table.columns) == list(GROWTH_COLUMNS)
    assert table["rank"].tolist() == [1, 2]
    # Before 2018: A has s1 inside and s3 in ring 1 (35 + 10 workers), B has s5 (5 workers).
    # New in 2018-2020: s2 inside A, s6 inside B (s4 is in ring 2: not counted).
    # Workers at the end: A 90 + 10, B 65.
    assert _growth_rows(table) == [
        ["B", 1, 1, 0, 1, 100.0, 5, 60, 1200.0],
        ["A", 2, 1, 0, 1, 50.0, 45, 55, 122.2],
    ]
    assert table["holder"].tolist() == ["H2", "H1"]
    assert table["lic_type"].tolist() == ["exploration", "exploitation"]


def test_growth_over_chosen_windows(overlaps) -> None:
    late = growth_table(overlaps, _visits(), window=(2019, 2020))
    assert _growth_rows(late) == [
        ["B", 1, 1, 0, 1, 100.0, 5, 60, 1200.0],
        ["A", 3, 0, 0, 0, 0.0, 85, 15, 17.6],
    ]
    early = growth_table(overlaps, _visits(), window=(2014, 2016))
    # Nothing known before 2014: growth is empty, A ranks first with two new sites.
    assert _growth_rows(early) == [
        ["A", 0, 1, 1, 2, None, 0, 30, None],
        ["B", 0, 1, 0, 1, None, 0, 5, None],
    ]


def test_growth_window_errors(overlaps) -> None:
    with pytest.raises(SchemaError, match="comes after its last year"):
        growth_table(overlaps, window=(2020, 2018))
    with pytest.raises(SchemaError, match="two years"):
        growth_table(overlaps, window=("x", 2018))  # type: ignore[arg-type]


# --- visits files ------------------------------------------------------------------------


def test_load_visits_maps_and_cleans_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "visits.csv"
    path.write_text("Code,Visit_Date,Workers,other\n007,2016-05-02,12,x\n007,2015,-3,y\n"
                    ",2016-01-01,4,z\nA1,not a date,5,w\n", encoding="utf-8")
    visits = load_visits(path)
    # Identifiers are normalised as the site layer's are (normalise_sites): 007 is "7".
    assert visits["site_id"].tolist() == ["7", "7"]
    assert normalise_sites(gpd.GeoDataFrame({"code": ["007"]}, geometry=[Point(0, 0)],
                                            crs=4326))["site_id"].tolist() == ["7"]
    assert visits["date"].dt.strftime("%Y-%m-%d").tolist() == ["2015-01-01", "2016-05-02"]
    assert visits["workers"].tolist() == [pd.NA, 12]


def test_load_visits_errors(tmp_path: Path) -> None:
    no_date = tmp_path / "no_date.csv"
    no_date.write_text("pcode,workers\na,3\n", encoding="utf-8")
    with pytest.raises(SchemaError, match="no date column"):
        load_visits(no_date)
    with pytest.raises(LayerReadError, match=r"missing\.csv"):
        load_visits(tmp_path / "missing.csv")


def test_bundled_ipis_visits_join_the_bundled_sites() -> None:
    raw = pd.read_csv(BUNDLED_VISITS, dtype={"pcode": str}, low_memory=False)
    visits = load_visits()
    sites = load_bundled("sites").data
    coverage = visit_coverage(sites, visits)
    per_site = raw.groupby("pcode").size()
    assert len(visits) == len(raw) == 5071
    assert coverage["with_visits"] == len(set(raw["pcode"]) & set(sites["site_id"])) == 2988
    assert coverage["repeated"] == int((per_site > 1).sum()) == 993
    assert coverage["visits"] == 5071

    # Per year, independently: sites visited, and the workers of each site's last counted
    # visit of the year (visits of the same day in file order).
    raw["date"] = pd.to_datetime(raw["visit_date"])
    raw["year"] = raw["date"].dt.year
    ordered = raw.sort_values(["pcode", "date"], kind="stable")
    counted = ordered.dropna(subset=["workers_numb"]).groupby(["pcode", "year"]).last()
    expected_workers = counted["workers_numb"].groupby(level="year").sum().astype(int)
    expected_visited = raw.groupby("year")["pcode"].nunique()
    years = site_years(sites, visits).groupby("year")
    assert years["visited"].sum().loc[expected_visited.index].tolist() == (
        expected_visited.tolist())
    assert years["workers_visited"].sum().loc[expected_workers.index].tolist() == (
        expected_workers.tolist())
    # Every site is known from the year of its first visit on.
    first = raw.groupby("pcode")["year"].min().value_counts().sort_index()
    assert years["new"].sum().loc[first.index].tolist() == first.tolist()


# --- new since the previous upload -------------------------------------------------------


def _site_layer(rows: list[tuple[str, float, float, int, bool]]) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(rows, columns=["site_id", "lon", "lat", "workers", "armed"])
    return normalise_sites(gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]).assign(seen="2020-01-01"),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs=4326,
    ))


def test_upload_changes_list_the_added_and_moved_sites(tmp_path: Path) -> None:
    store = open_workspace(tmp_path / "ws.gpkg")
    first = _site_layer([("s1", 0.05, 0.05, 10, False), ("s2", 0.02, 0.02, 20, False),
                         ("s3", 0.105, 0.05, 30, False), ("s4", 0.13, 0.05, 40, False)])
    store.add("sites", first, file="v1.geojson", sha256="v1")
    single = upload_changes(store, compute_overlaps(_concessions(), store.read("sites"),
                                                    rings_km=RINGS))
    assert single.previous is None
    assert single.sites.empty
    assert list(single.sites.columns) == list(CHANGED_SITE_COLUMNS)

    # Two more sites (n1 inside A with armed actors, n2 0.89 km east of A), s2 moved,
    # s4 removed.
    second = _site_layer([("s1", 0.05, 0.05, 10, False), ("s2", 0.03, 0.03, 20, False),
                          ("s3", 0.105, 0.05, 30, False), ("n1", 0.06, 0.04, 30, True),
                          ("n2", 0.108, 0.02, 200, False)])
    added = store.add("sites", second, file="v2.geojson", sha256="v2")
    current = store.read("sites")
    changes = upload_changes(store, compute_overlaps(_concessions(), current, rings_km=RINGS))
    assert (changes.previous, changes.current) == (added.version - 1, added.version)
    assert (changes.removed, changes.hidden) == (1, 0)
    table = changes.sites
    assert list(table.columns) == list(CHANGED_SITE_COLUMNS)
    # Inside first, the red-flagged site before the other; then ring 1.
    assert table["site_id"].tolist() == ["n1", "s2", "n2"]
    assert table["change"].tolist() == ["added", "moved", "added"]
    assert table["ring"].tolist() == [0, 0, 1]
    assert table["near_id"].tolist() == ["A", "A", "A"]
    assert table["holder"].tolist() == ["H1", "H1", "H1"]
    assert table["tenure"].tolist() == ["exploitation", "exploitation", "unlicensed"]
    assert table["red_flags"].tolist() == [1, 0, 0]
    assert table["workers"].tolist() == [30, 20, 200]
    assert table["dist_km"].iloc[2] == pytest.approx(0.008 * 111.3195, rel=1e-3)
    moved_m = GEOD.inv(0.02, 0.02, 0.03, 0.03)[2]
    assert table["moved_km"].iloc[1] == pytest.approx(moved_m / 1000, abs=1e-4)
    assert table["moved_km"].iloc[[0, 2]].isna().all()

    # Sites the analysis leaves out (filters) are counted, not listed.
    filtered = current[current["site_id"] != "n2"]
    hidden = upload_changes(store, compute_overlaps(_concessions(), filtered, rings_km=RINGS))
    assert hidden.sites["site_id"].tolist() == ["n1", "s2"]
    assert hidden.hidden == 1


def test_changed_sites_without_changes_keeps_its_columns(overlaps) -> None:
    empty = changed_sites(overlaps, pd.DataFrame({"id": [], "change": []}))
    assert empty.empty
    assert list(empty.columns) == list(CHANGED_SITE_COLUMNS)


# --- downloads ---------------------------------------------------------------------------


def test_table_downloads_carry_the_method_note(overlaps) -> None:
    table = growth_table(overlaps, _visits())
    info = {"created": "2026-01-01", "crs": "EPSG:4326", "area_method": "geodesic",
            "rings_km": list(RINGS), "radius_m": None, "repaired": 0, "dropped": 0,
            "sources": {"sites": "fixture"}}
    note = method_note(info) + definitions()
    with zipfile.ZipFile(io.BytesIO(tables_bytes({"growth": table}, "csv", note))) as archive:
        assert sorted(archive.namelist()) == ["METHOD.txt", "growth.csv"]
        csv = pd.read_csv(archive.open("growth.csv"))
        assert csv["conc_id"].tolist() == ["B", "A"]
        assert "Sites known in a year" in archive.read("METHOD.txt").decode()
    sheets = pd.read_excel(io.BytesIO(tables_bytes({"growth": table}, "xlsx", note)),
                           sheet_name=None)
    assert list(sheets) == ["growth", "method"]
    assert sheets["growth"]["new_sites"].tolist() == [1, 1]
    with pytest.raises(SchemaError, match="csv"):
        tables_bytes({"growth": table}, "pdf", note)  # type: ignore[arg-type]


# --- the page ----------------------------------------------------------------------------


def _page(lang: str) -> AppTest:
    at = open_app(lang)
    with language(lang):
        at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[str]:
    return [element.value for element in (*at.caption, *at.info, *at.markdown)]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_page_renders_with_a_single_version(lang: str) -> None:
    at = _page(lang)
    with language(lang):
        assert at.title[0].value == _("In-migration")
        single, sites = _(SINGLE_VERSION), count(2988)
    assert single in [info.value for info in at.info]
    assert any(sites in text and count(993) in text for text in _texts(at))
    assert at.selectbox(key=state.INMIGRATION_CONCESSION).value == ""
    assert at.select_slider(key=state.INMIGRATION_WINDOW).value == (2018, 2020)
    growth = next(frame.value for frame in at.dataframe if "new_sites" in frame.value)
    assert growth["rank"].iloc[0] == 1
    assert growth["new_sites"].is_monotonic_decreasing


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_page_lists_the_sites_of_a_second_version(lang: str, private_workspace: Path) -> None:
    store = open_workspace(private_workspace)
    sites = store.read("sites")
    extra = sites.iloc[:2].copy()
    extra["site_id"] = ["NEW-1", "NEW-2"]
    moved = sites.copy()
    moved.loc[2, "geometry"] = Point(moved.geometry.iloc[2].x + 0.01, moved.geometry.iloc[2].y)
    store.add("sites", pd.concat([moved, extra], ignore_index=True), file="visit_2021.geojson",
              sha256="second-version")
    at = _page(lang)
    with language(lang):
        single = _(SINGLE_VERSION)
    assert single not in [info.value for info in at.info]
    listed = next(frame.value for frame in at.dataframe if "moved_km" in frame.value)
    assert sorted(listed["site_id"]) == sorted(["NEW-1", "NEW-2", sites["site_id"].iloc[2]])
    assert listed["moved_km"].notna().sum() == 1
    # The growth window and the concession can be changed and the page still runs.
    fastest = next(frame.value for frame in at.dataframe if "new_sites" in frame.value)
    with language(lang):
        at.select_slider(key=state.INMIGRATION_WINDOW).set_value((2015, 2020)).run()
        at.selectbox(key=state.INMIGRATION_CONCESSION).set_value(
            str(fastest["conc_id"].iloc[0])).run()
    assert not at.exception, at.exception
