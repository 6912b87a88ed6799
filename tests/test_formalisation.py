"""The formalisation view: categories, distances, counts by province, the cadastre list and
its downloads on small exact layers; the bundled data against plain counts; the page."""

from __future__ import annotations

import io
import math
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from app_runner import open_app
from shapely import Point, box
from streamlit.testing.v1 import AppTest

from geo.errors import SchemaError
from geo.export import csv_bytes, tables_bytes
from geo.formalisation import (
    ZEA_2020,
    formalisation,
    formalisation_note,
    load_zea_2020,
    workbook_tables,
)
from geo.i18n import language
from geo.overlap import compute_overlaps
from geo.pipeline import analyse, load_bundled
from geo.schema import (
    FORMALISATION_CATEGORY_COLUMNS,
    FORMALISATION_PROVINCE_COLUMNS,
    FORMALISATION_SITE_COLUMNS,
)
from ui import state

GEOD = pyproj.Geod(ellps="WGS84")


def geodesic_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2] / 1000.0


@pytest.fixture
def concessions() -> gpd.GeoDataFrame:
    """An artisanal zone at the origin, exploitation permits 11 km and 100 km east of it,
    one overlapping it, and an exploration permit north of it."""
    return gpd.GeoDataFrame(
        {
            "conc_id": ["ZEA-1", "PE-1", "PE-2", "PE-3", "PR-1"],
            "holder": ["State", "Mine Co", "Far Co", "Pit Co", "Explorer"],
            "lic_type": ["asm_zone", "exploitation", "exploitation", "exploitation",
                         "exploration"],
        },
        geometry=[box(0, 0, 0.1, 0.1), box(0.2, 0, 0.4, 0.1), box(1.0, 0, 1.2, 0.1),
                  box(0.05, 0.05, 0.15, 0.15), box(0, 0.3, 0.1, 0.4)],
        crs=4326,
    )


@pytest.fixture
def sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": ["free", "free2", "zone", "both", "near", "far", "expl"],
            "name": ["=HYPERLINK(\"x\")", "Free 2", "Zone", "Both", "Near", "Far", "Expl"],
            "province": ["P1", "P2", "P1", "P1", "P2", "P2", "P1"],
            "workers": pd.array([100, None, 40, 10, 200, 50, 70], dtype="Int64"),
            "mercury": pd.array([True, False, False, None, False, True, True],
                                dtype="boolean"),
            "armed": pd.array([False, False, True, False, False, False, True],
                              dtype="boolean"),
            "child_lab": pd.array([False, None, False, False, True, False, False],
                                  dtype="boolean"),
        },
        geometry=[
            Point(0.5, 0.5),  # free land
            Point(0.6, 0.6),  # free land
            Point(0.02, 0.02),  # inside the zone only
            box(0.065, 0.065, 0.075, 0.075),  # a polygon in the zone and in PE-3
            Point(0.25, 0.05),  # in PE-1, 16.7 km from the zone
            Point(1.1, 0.05),  # in PE-2, 111 km from the zone
            Point(0.05, 0.35),  # in the exploration permit
        ],
        crs=4326,
    )


@pytest.fixture
def overlaps(concessions, sites):
    return compute_overlaps(concessions, sites)


def test_distances_are_geodesic(overlaps) -> None:
    listed = formalisation(overlaps, distance_km=200).sites.set_index("site_id")
    # The zone's east edge is the meridian 0.1 E; the nearest point of a site on the
    # parallel 0.05 N is on that parallel.
    assert listed.loc["near", "zone_km"] == pytest.approx(
        geodesic_km(0.25, 0.05, 0.1, 0.05), rel=1e-4)
    assert listed.loc["near", "zone_km"] == pytest.approx(16.70, abs=0.01)
    assert listed.loc["far", "zone_km"] == pytest.approx(
        geodesic_km(1.1, 0.05, 0.1, 0.05), rel=1e-4)
    # A free-land site north-east of the zone is nearest to its corner.
    assert listed.loc["free", "zone_km"] == pytest.approx(
        geodesic_km(0.5, 0.5, 0.1, 0.1), rel=1e-4)
    assert listed.loc["zone", "zone_km"] == 0.0
    assert listed.loc["both", "zone_km"] == 0.0


@pytest.mark.parametrize(
    ("distance_km", "near"),
    [(10.0, []), (16.6, []), (16.8, ["near"]), (20.0, ["near"]), (112.0, ["far", "near"])],
)
def test_near_zone_follows_the_distance(overlaps, distance_km: float, near: list[str]) -> None:
    listed = formalisation(overlaps, distance_km=distance_km).sites
    assert sorted(listed.loc[listed["category"] == "near_zone", "site_id"]) == near


def test_categories_first_match_wins(overlaps) -> None:
    listed = formalisation(overlaps, distance_km=20).sites
    assert listed.columns.tolist() == list(FORMALISATION_SITE_COLUMNS)
    # By category, then province, then most workers.
    assert listed["site_id"].tolist() == ["free", "free2", "zone", "both", "near"]
    assert listed["category"].tolist() == [
        "free_land", "free_land", "in_zone", "in_zone", "near_zone"]
    row = listed.set_index("site_id")
    # Inside the zone and an exploitation permit: in the zone, the permit still named.
    assert row.loc["both", "tenure"] == "exploitation"
    assert (row.loc["both", "conc_id"], row.loc["both", "holder"]) == ("PE-3", "Pit Co")
    assert row.loc["both", "zone_id"] == "ZEA-1"
    assert (row.loc["near", "conc_id"], row.loc["near", "holder"]) == ("PE-1", "Mine Co")
    assert row.loc["zone", "conc_id"] == "ZEA-1"
    assert pd.isna(row.loc["free", "conc_id"])
    assert pd.isna(row.loc["free", "holder"])
    assert "expl" not in row.index
    assert "far" not in row.index
    assert pd.isna(row.loc["free2", "workers"])
    assert row.loc["near", "lon"] == pytest.approx(0.25)


def test_counts_per_category_and_province(overlaps) -> None:
    result = formalisation(overlaps, distance_km=20)
    categories = result.categories
    assert categories.columns.tolist() == list(FORMALISATION_CATEGORY_COLUMNS)
    # free: free (100 workers, mercury) + free2 (unknown workers: 0);
    # in_zone: zone (40, armed) + both (10); near_zone: near (200, child labour).
    assert categories.set_index("category").to_dict("index") == {
        "free_land": {"sites": 2, "workers": 100, "mercury": 1, "armed": 0, "child_lab": 0,
                      "flagged": 1},
        "in_zone": {"sites": 2, "workers": 50, "mercury": 0, "armed": 1, "child_lab": 0,
                    "flagged": 1},
        "near_zone": {"sites": 1, "workers": 200, "mercury": 0, "armed": 0, "child_lab": 1,
                      "flagged": 1},
    }
    provinces = result.provinces
    assert provinces.columns.tolist() == list(FORMALISATION_PROVINCE_COLUMNS)
    assert provinces["province"].tolist() == ["P1", "P2"]
    p1, p2 = (provinces.iloc[i].to_dict() for i in range(2))
    assert (p1["free_land_sites"], p1["free_land_workers"], p1["free_land_flagged"]) == (1, 100, 1)
    assert (p1["in_zone_sites"], p1["in_zone_workers"], p1["in_zone_flagged"]) == (2, 50, 1)
    assert (p1["near_zone_sites"], p1["sites"], p1["workers"], p1["flagged"]) == (0, 3, 150, 2)
    assert (p2["free_land_sites"], p2["free_land_workers"], p2["in_zone_sites"]) == (1, 0, 0)
    assert (p2["near_zone_sites"], p2["near_zone_workers"], p2["near_zone_flagged"]) == (1, 200, 1)
    assert (p2["sites"], p2["workers"], p2["flagged"]) == (2, 200, 1)


def test_another_zone_layer(overlaps) -> None:
    """A zone drawn around a free-land site: that site is in a zone; the workspace's zone
    no longer counts."""
    zones = gpd.GeoDataFrame({"conc_id": ["ZEA-9"], "holder": [None], "lic_type": ["asm_zone"]},
                             geometry=[box(0.45, 0.45, 0.55, 0.55)], crs=4326)
    listed = formalisation(overlaps, distance_km=20, zones=zones).sites.set_index("site_id")
    assert listed["category"].to_dict() == {"free2": "free_land", "free": "in_zone"}
    assert listed.loc["free2", "zone_km"] == pytest.approx(
        geodesic_km(0.6, 0.6, 0.55, 0.55), rel=1e-4)


def test_no_zones_leaves_free_land_only(concessions, sites) -> None:
    no_zone = concessions[concessions["lic_type"] != "asm_zone"]
    result = formalisation(compute_overlaps(no_zone, sites), distance_km=50)
    assert result.zones.empty
    assert set(result.sites["category"]) == {"free_land"}
    # The site that was inside the zone is now on free land too.
    assert sorted(result.sites["site_id"]) == ["free", "free2", "zone"]
    assert result.sites["zone_id"].isna().all()
    assert result.sites["zone_km"].isna().all()


def test_nothing_listed_keeps_the_columns(concessions, sites) -> None:
    only = sites[sites["site_id"] == "expl"]
    result = formalisation(compute_overlaps(concessions, only), distance_km=5)
    assert result.sites.empty
    assert result.provinces.empty
    assert result.provinces.columns.tolist() == list(FORMALISATION_PROVINCE_COLUMNS)
    assert result.categories["sites"].tolist() == [0, 0, 0]


@pytest.mark.parametrize("distance", [0, -1, math.nan, math.inf, "five"])
def test_bad_distance_is_refused(overlaps, distance) -> None:
    with pytest.raises(SchemaError, match="positive number of km"):
        formalisation(overlaps, distance_km=distance)


def test_downloads_neutralise_formulas_and_carry_the_method(overlaps) -> None:
    result = formalisation(overlaps, distance_km=20)
    text = csv_bytes(result.sites).decode("utf-8")
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text
    frame = pd.read_csv(io.StringIO(text))
    assert frame["site_id"].tolist() == ["free", "free2", "zone", "both", "near"]
    note = formalisation_note(20.0, "workspace")
    assert "at most 20 km" in note
    sheets = pd.read_excel(io.BytesIO(tables_bytes(workbook_tables(result), "xlsx", note)), sheet_name=None)
    assert list(sheets) == ["sites", "categories", "provinces", "method"]
    assert sheets["sites"]["name"].iloc[0].startswith("'=")
    assert sheets["provinces"]["sites"].tolist() == [3, 2]
    assert any("at most 20 km" in line for line in sheets["method"]["method"])


# --- the bundled data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return analyse(load_bundled("concessions"), load_bundled("sites"))


def _site_points(analysis) -> np.ndarray:
    sites = analysis.overlaps.sites
    return shapely.points(sites["lon"].to_numpy(), sites["lat"].to_numpy())


def test_bundled_free_land_and_zones_against_plain_counts(bundled) -> None:
    result = formalisation(bundled.overlaps, distance_km=5)
    counts = result.categories.set_index("category")["sites"]
    assert counts["free_land"] == bundled.totals["tenure"]["unlicensed"] == 1035
    # Sites in any artisanal-zone polygon, by a plain loop over the zones.
    conc = bundled.overlaps.concessions
    points = _site_points(bundled)
    in_any = np.zeros(len(points), dtype=bool)
    for zone in conc.loc[conc["lic_type"] == "asm_zone", "geometry"]:
        in_any |= np.array([zone.covers(p) for p in points])
    assert counts["in_zone"] == in_any.sum() == 64


def test_bundled_near_zone_distances_against_geod(bundled) -> None:
    result = formalisation(bundled.overlaps, distance_km=5)
    near = result.sites[result.sites["category"] == "near_zone"]
    assert len(near) == 105
    assert (near["tenure"] == "exploitation").all()
    assert (near["zone_km"] <= 5).all()
    zones = bundled.overlaps.concessions.set_index("conc_id").geometry
    for row in near.sample(25, random_state=1).itertuples():
        site = Point(row.lon, row.lat)
        nearest = shapely.ops.nearest_points(zones[row.zone_id], site)[0]
        # The nearest point in degrees is not the geodesic one, but close: an upper bound.
        upper = geodesic_km(row.lon, row.lat, nearest.x, nearest.y)
        assert row.zone_km == pytest.approx(upper, rel=0.01, abs=0.01)
        assert row.zone_km <= upper + 1e-3
    wider = formalisation(bundled.overlaps, distance_km=10).sites
    assert set(near["site_id"]) < set(wider.loc[wider["category"] == "near_zone", "site_id"])


def test_bundled_zea_2020_layer(bundled) -> None:
    zea = load_zea_2020()
    assert ZEA_2020.is_file()
    assert len(zea.data) == 461
    assert set(zea.data["lic_type"]) == {"asm_zone"}
    result = formalisation(bundled.overlaps, distance_km=5, zones=zea.data)
    points = _site_points(bundled)
    in_any = np.zeros(len(points), dtype=bool)
    for zone in zea.data.geometry:
        in_any |= np.array([zone.covers(p) for p in points])
    counts = result.categories.set_index("category")["sites"]
    assert counts["in_zone"] == in_any.sum()
    unlicensed = (bundled.overlaps.sites["tenure"] == "unlicensed").to_numpy()
    assert counts["free_land"] == (unlicensed & ~in_any).sum()


# --- the page ----------------------------------------------------------------------------




def _numbers(at: AppTest) -> list[int]:
    return [int(re.sub(r"\D", "", metric.value)) for metric in at.metric]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_page_shows_the_categories(lang: str) -> None:
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/formalisation.py").run()
        assert not at.exception, at.exception
        assert _numbers(at) == [1035, 64, 105]
        at.number_input(key=state.FORMALISATION_DISTANCE).set_value(20.0).run()
        assert not at.exception, at.exception
        assert _numbers(at)[:2] == [1035, 64]
        assert _numbers(at)[2] > 105
        at.radio(key=state.FORMALISATION_ZONES).set_value("zea_2020").run()
        assert not at.exception, at.exception
        assert _numbers(at)[:2] == [1014, 79]
        at.segmented_control(key=state.FORMALISATION_MEASURE).set_value("Workers").run()
        at.text_input(key=state.FORMALISATION_SEARCH).set_value("codmine01348").run()
    assert not at.exception, at.exception
    listed = at.dataframe[-1].value
    assert listed["site_id"].tolist() == ["codmine01348"]
    keys = {button.key for button in at.download_button}
    assert {f"{state.FORMALISATION_DOWNLOAD_PREFIX}csv",
            f"{state.FORMALISATION_DOWNLOAD_PREFIX}xlsx"} <= keys


def test_page_warns_when_titles_are_filtered_out() -> None:
    at = open_app()
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["exploitation"]).run()
    at.switch_page("pages/formalisation.py").run()
    assert not at.exception, at.exception
    assert "count here as on land free of titles" in at.warning[0].value
    assert "no artisanal zones" in at.info[0].value
    assert _numbers(at)[1:] == [0, 0]
