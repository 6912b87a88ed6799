"""Set-aside scenario (:mod:`geo.setaside`), its map (:mod:`ui.drawing`) and its page.

A hand-built case near the equator with known answers::

    A = box(0, 0, 0.1, 0.1)       exploitation
    B = box(0.05, 0, 0.15, 0.1)   exploration (overlaps A on x 0.05-0.1)
    Z = box(0.2, 0, 0.3, 0.1)     asm_zone (an existing ZEA)

    s1 (0.02, 0.02)  in A         100 workers  mercury
    s2 (0.07, 0.02)  in A and B    50 workers  armed actors
    s3 (0.02, 0.08)  in A           ? workers
    s4 (0.12, 0.05)  in B          30 workers
    s5 (0.25, 0.05)  in Z          20 workers
    s6 (0.50, 0.50)  free land     10 workers

    P = box(0.01, 0.01, 0.09, 0.03), ceded by A: covers s1 and s2, lies inside A.

Ceded by A alone: the set-aside is P, A keeps A - P. s1 is then only in the set-aside
(exploitation -> asm_zone); s2 is in B and the set-aside, and exploration comes first
(exploitation -> exploration, title A -> B); the rest stay. 150 workers change tenure.
Ceded by every title it covers: A and B both cede, and s2 goes to the set-aside as well.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import time
import zipfile
from pathlib import Path

import folium.elements
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
import streamlit_folium
from app_runner import open_app
from shapely import LineString, Point, box
from shapely.affinity import translate
from streamlit.testing.v1 import AppTest

from geo.errors import GeometryError, NotFoundError
from geo.export import summary
from geo.i18n import language
from geo.overlap import compute_overlaps
from geo.pipeline import Analysis, load_bundled
from geo.setaside import (
    SetAside,
    ceding_titles,
    export_scenario,
    read_area,
    scenario_note,
    set_aside,
)
from geo.stats import concession_stats, totals
from geo.store import open_workspace
from ui import drawing, state

GEOD = pyproj.Geod(ellps="WGS84")
NA = pd.NA
ROOT = Path(__file__).resolve().parents[1]

A, B, Z = box(0, 0, 0.1, 0.1), box(0.05, 0, 0.15, 0.1), box(0.2, 0, 0.3, 0.1)
P = box(0.01, 0.01, 0.09, 0.03)


def geod_ha(geom) -> float:
    """Geodesic area (ha) by pyproj.Geod, independent of geo.measure."""
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


@pytest.fixture
def concessions() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"conc_id": ["A", "B", "Z"], "name": ["a", "b", "z"], "holder": ["H1", "H2", None],
         "lic_type": ["exploitation", "exploration", "asm_zone"],
         "status": ["active", "active", "active"],
         "expiry": pd.to_datetime(["2030-01-01", None, None]),
         "province": ["P1", "P1", "P2"]},
        geometry=[A, B, Z], crs=4326,
    )


@pytest.fixture
def sites() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "site_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
            "name": ["one", "two", "three", "four", "five", "six"],
            "workers": pd.array([100, 50, NA, 30, 20, 10], dtype="Int64"),
            "mercury": pd.array([True, False, NA, False, False, False], dtype="boolean"),
            "armed": pd.array([False, True, NA, False, False, False], dtype="boolean"),
            "child_lab": pd.array([False, False, NA, False, False, False], dtype="boolean"),
        },
        geometry=[Point(0.02, 0.02), Point(0.07, 0.02), Point(0.02, 0.08), Point(0.12, 0.05),
                  Point(0.25, 0.05), Point(0.5, 0.5)],
        crs=4326,
    )


@pytest.fixture
def from_a(concessions, sites) -> SetAside:
    return set_aside(concessions, sites, P, conc_id="A")


# --- the scenario, worked out by hand ------------------------------------------------------


def test_sites_changing_tenure(from_a: SetAside) -> None:
    changes = from_a.changes
    assert changes["site_id"].tolist() == ["s1", "s2"]  # most workers first
    assert changes["tenure_before"].tolist() == ["exploitation", "exploitation"]
    assert changes["tenure_after"].tolist() == ["asm_zone", "exploration"]
    assert changes["conc_before"].tolist() == ["A", "A"]
    assert changes["conc_after"].tolist() == ["SET-ASIDE-1", "B"]
    assert changes["workers"].tolist() == [100, 50]
    assert changes["mercury"].tolist() == [True, False]
    assert changes["armed"].tolist() == [False, True]
    assert from_a.workers_changed == 150
    assert from_a.sites["changed"].tolist() == [True, True, False, False, False, False]


def test_ceded_hectares_are_geodesic(from_a: SetAside) -> None:
    assert from_a.zone_id == "SET-ASIDE-1"
    assert from_a.ceded_from == ("A",)
    assert from_a.removed == ()
    assert shapely.equals(from_a.zone, P)
    assert from_a.ceded_ha == pytest.approx(geod_ha(P), rel=1e-6)
    # 0.08 x 0.02 degrees at the equator: about 8.9 km x 2.2 km.
    assert from_a.ceded_ha == pytest.approx(1969.5, rel=2e-3)
    assert from_a.drawn.area_ha == pytest.approx(geod_ha(P), rel=1e-6)


def test_titles_before_and_after(from_a: SetAside) -> None:
    titles = from_a.titles.set_index("conc_id")
    assert titles.index.tolist() == ["A", "SET-ASIDE-1"]
    a = titles.loc["A"]
    assert a["area_before_ha"] == pytest.approx(geod_ha(A), rel=1e-6)
    assert a["ceded_ha"] == pytest.approx(geod_ha(P), rel=1e-6)
    assert a["area_after_ha"] == pytest.approx(geod_ha(A) - geod_ha(P), rel=1e-6)
    assert (a["sites_before"], a["sites_after"]) == (3, 1)
    assert (a["workers_before"], a["workers_after"]) == (150, 0)  # s3's workers are unknown
    zone = titles.loc["SET-ASIDE-1"]
    assert zone["lic_type"] == "asm_zone"
    assert zone["area_before_ha"] == 0.0
    assert zone["area_after_ha"] == pytest.approx(geod_ha(P), rel=1e-6)
    assert (zone["sites_before"], zone["sites_after"]) == (0, 2)  # s1 and s2 lie inside
    assert (zone["workers_before"], zone["workers_after"]) == (0, 150)


def test_workers_per_tenure(from_a: SetAside) -> None:
    tenure = from_a.tenure.set_index("tenure")
    expected = {
        # tenure: (sites before, sites after, workers before, workers after)
        "exploitation": (3, 1, 150, 0),
        "exploration": (1, 2, 30, 80),
        "asm_zone": (1, 2, 20, 120),
        "small_scale": (0, 0, 0, 0),
        "other_title": (0, 0, 0, 0),
        "unlicensed": (1, 1, 10, 10),
    }
    for tenure_class, numbers in expected.items():
        row = tenure.loc[tenure_class]
        assert (row["sites_before"], row["sites_after"], row["workers_before"],
                row["workers_after"]) == numbers


def test_modified_layer_is_valid_and_inputs_unchanged(concessions, sites) -> None:
    kept_conc, kept_sites = concessions.copy(), sites.copy()
    scenario = set_aside(concessions, sites, P, conc_id="A")
    modified = scenario.concessions
    assert modified.geometry.is_valid.all()
    assert modified["conc_id"].tolist() == ["A", "B", "Z", "SET-ASIDE-1"]
    assert shapely.equals(modified.geometry.iloc[0], A.difference(P))
    pd.testing.assert_frame_equal(concessions, kept_conc)
    pd.testing.assert_frame_equal(sites, kept_sites)


def test_recomputation_matches_the_engine_on_a_layer_built_here(
    concessions, sites, from_a: SetAside
) -> None:
    """The engine run on a modified layer built independently with shapely gives the same
    tenure, titles and statistics as the scenario."""
    built = concessions.copy()
    built.loc[built["conc_id"] == "A", "geometry"] = shapely.difference(A, P)
    zone = gpd.GeoDataFrame({"conc_id": ["SET-ASIDE-1"], "lic_type": ["asm_zone"]},
                            geometry=[shapely.intersection(A, P)], crs=4326)
    built = pd.concat([built, zone], ignore_index=True)
    independent = compute_overlaps(gpd.GeoDataFrame(built, crs=4326), sites)
    assert from_a.after.sites["tenure"].astype(str).tolist() == \
        independent.sites["tenure"].astype(str).tolist()
    assert from_a.after.sites["conc_id"].fillna("").tolist() == \
        independent.sites["conc_id"].fillna("").tolist()
    ours = concession_stats(from_a.after).set_index("conc_id")
    theirs = concession_stats(independent).set_index("conc_id")
    for column in ("area_ha", "sites_in", "sites_r1", "workers_in", "mercury_in", "armed_in"):
        np.testing.assert_allclose(ours[column].to_numpy(dtype=float),
                                   theirs.loc[ours.index, column].to_numpy(dtype=float))
    assert totals(from_a.after)["tenure"] == totals(independent)["tenure"]


def test_cede_from_every_title_it_covers(concessions, sites) -> None:
    scenario = set_aside(concessions, sites, P)
    assert scenario.ceded_from == ("A", "B")
    assert scenario.changes["site_id"].tolist() == ["s1", "s2"]
    assert scenario.changes["tenure_after"].tolist() == ["asm_zone", "asm_zone"]
    titles = scenario.titles.set_index("conc_id")
    assert titles.loc["B", "ceded_ha"] == pytest.approx(
        geod_ha(box(0.05, 0.01, 0.09, 0.03)), rel=1e-6)
    assert titles.loc["SET-ASIDE-1", "area_after_ha"] == pytest.approx(geod_ha(P), rel=1e-6)


def test_existing_artisanal_zones_do_not_cede(concessions) -> None:
    over_b_and_z = box(0.12, 0.02, 0.25, 0.04)
    positions = ceding_titles(concessions, over_b_and_z)
    assert concessions["conc_id"].to_numpy()[positions].tolist() == ["B"]


def test_area_outside_the_title_is_left_out(concessions, sites) -> None:
    wider = box(-0.05, 0.01, 0.05, 0.03)  # half over land free of titles
    scenario = set_aside(concessions, sites, wider, conc_id="A")
    assert shapely.equals(scenario.zone, box(0, 0.01, 0.05, 0.03))
    assert scenario.drawn.area_ha == pytest.approx(2 * scenario.ceded_ha, rel=1e-3)


def test_title_ceded_whole_leaves_the_layer(concessions, sites) -> None:
    scenario = set_aside(concessions, sites, box(0.04, -0.01, 0.16, 0.11), conc_id="B")
    assert scenario.removed == ("B",)
    assert "B" not in scenario.concessions["conc_id"].tolist()
    s4 = scenario.changes.set_index("site_id").loc["s4"]
    assert (s4["tenure_before"], s4["tenure_after"]) == ("exploration", "asm_zone")
    assert scenario.titles.set_index("conc_id").loc["B", "area_after_ha"] == 0.0


def test_next_free_identifier(concessions, sites) -> None:
    taken = concessions.copy()
    taken.loc[taken["conc_id"] == "Z", "conc_id"] = "SET-ASIDE-1"
    assert set_aside(taken, sites, P, conc_id="A").zone_id == "SET-ASIDE-2"


def test_before_is_reused(concessions, sites) -> None:
    before = compute_overlaps(concessions, sites, rings_km=(2.0,))
    scenario = set_aside(concessions, sites, P, conc_id="A", before=before)
    assert scenario.before is before
    assert scenario.after.rings_km == (2.0,)


# --- the polygon, given in every way ----------------------------------------------------------


GEOJSON_P = json.loads(shapely.to_geojson(P))


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(P, id="shapely"),
        pytest.param(json.dumps(GEOJSON_P), id="text"),
        pytest.param(GEOJSON_P, id="geometry"),
        pytest.param({"type": "Feature", "properties": {}, "geometry": GEOJSON_P}, id="feature"),
        pytest.param({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {}, "geometry": GEOJSON_P}]}, id="collection"),
        pytest.param([{"type": "Feature", "properties": {}, "geometry": GEOJSON_P}],
                     id="st_folium-all_drawings"),
    ],
)
def test_polygon_inputs(given) -> None:
    drawn = read_area(given)
    assert shapely.equals(drawn.geometry, P)
    assert not drawn.repaired


def test_self_intersecting_polygon_is_repaired(concessions, sites) -> None:
    bowtie = shapely.Polygon([(0.01, 0.01), (0.09, 0.03), (0.09, 0.01), (0.01, 0.03)])
    assert not bowtie.is_valid
    scenario = set_aside(concessions, sites, bowtie, conc_id="A")
    assert scenario.drawn.repaired
    assert "Self-intersection" in (scenario.drawn.problem or "")
    assert scenario.drawn.geometry.is_valid
    # Two triangles, each a quarter of P's bounding box.
    assert scenario.ceded_ha == pytest.approx(geod_ha(P) / 2, rel=1e-3)
    assert scenario.concessions.geometry.is_valid.all()
    assert "was repaired" in scenario_note(scenario, _info(scenario))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(Point(0.02, 0.02), "must be a polygon, got a Point", id="point"),
        pytest.param(json.dumps({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
                     "must be a polygon, got a LineString", id="line"),
        pytest.param([{"type": "Feature", "geometry": json.loads(shapely.to_geojson(
            LineString([(0, 0), (1, 1)])))}, {"type": "Feature", "geometry": GEOJSON_P}],
            "must be a polygon, got a LineString", id="line-among-drawings"),
        pytest.param("{not json", "is not GeoJSON", id="not-json"),
        pytest.param('{"type": "Polygon"}', "cannot be read", id="no-coordinates"),
        pytest.param(42, "must be a GeoJSON polygon", id="number"),
        pytest.param([], "No polygon was given", id="nothing-drawn"),
        pytest.param(box(200, 0, 201, 1), "not longitude/latitude", id="not-lonlat"),
        pytest.param(shapely.Polygon([(0, 0), (0.1, 0.1), (0.2, 0.2)]), "has no area",
                     id="no-area"),
        pytest.param(box(0, 0, 10, 10), "more than the 250,000 ha", id="absurdly-large"),
    ],
)
def test_bad_polygons_say_why_in_one_sentence(given, message) -> None:
    with pytest.raises(GeometryError, match=re.escape(message)) as info:
        read_area(given)
    text = str(info.value)
    assert text.endswith(".")
    assert "Traceback" not in text


def test_polygon_outside_every_concession(concessions, sites) -> None:
    with pytest.raises(GeometryError, match="outside every concession"):
        set_aside(concessions, sites, box(1, 1, 1.1, 1.1))


def test_polygon_outside_the_chosen_title(concessions, sites) -> None:
    with pytest.raises(GeometryError, match="does not overlap title A"):
        set_aside(concessions, sites, box(0.11, 0.01, 0.14, 0.03), conc_id="A")


def test_polygon_touching_the_title_only(concessions, sites) -> None:
    with pytest.raises(GeometryError, match="does not overlap title A"):
        set_aside(concessions, sites, box(-0.05, 0.01, 0.0, 0.03), conc_id="A")


def test_polygon_over_artisanal_zones_only(concessions, sites) -> None:
    with pytest.raises(GeometryError, match="only artisanal zones"):
        set_aside(concessions, sites, box(0.22, 0.02, 0.28, 0.04))


def test_unknown_title(concessions, sites) -> None:
    with pytest.raises(NotFoundError, match="Title X is not in the concessions layer"):
        set_aside(concessions, sites, P, conc_id="X")


# --- export -------------------------------------------------------------------------------


def _info(scenario: SetAside) -> dict[str, object]:
    before = scenario.before
    return summary(Analysis(before, concession_stats(before), totals(before)),
                   sources={"concessions": "hand-built", "sites": "hand-built"})


def test_geopackage_export_reads_back(from_a: SetAside, tmp_path: Path) -> None:
    path = tmp_path / "scenario.gpkg"
    path.write_bytes(export_scenario(from_a, "gpkg", _info(from_a)))
    layers = dict(pyogrio.list_layers(path))
    assert set(layers) == {"set_aside", "concessions", "sites", "changes", "titles", "tenure",
                           "method"}
    zone = gpd.read_file(path, layer="set_aside")
    assert zone["conc_id"].tolist() == ["SET-ASIDE-1"]
    assert zone["ceded_from"].tolist() == ["A"]
    assert geod_ha(zone.geometry.iloc[0]) == pytest.approx(from_a.ceded_ha, rel=1e-6)
    assert zone["ceded_ha"].iloc[0] == pytest.approx(geod_ha(P), rel=1e-6)
    conc = gpd.read_file(path, layer="concessions")
    assert conc["conc_id"].tolist() == ["A", "B", "Z", "SET-ASIDE-1"]
    assert conc.set_index("conc_id").loc["A", "sites_in"] == 1
    site_layer = gpd.read_file(path, layer="sites")
    assert site_layer.set_index("site_id").loc["s2", "tenure_after"] == "exploration"
    assert site_layer["changed"].astype(bool).sum() == 2
    changes = pyogrio.read_dataframe(path, layer="changes")
    assert changes["site_id"].tolist() == ["s1", "s2"]
    note = "\n".join(pyogrio.read_dataframe(path, layer="method")["line"])
    assert "Set-aside scenario" in note
    assert "Area method" in note


def test_csv_export(from_a: SetAside) -> None:
    with zipfile.ZipFile(io.BytesIO(export_scenario(from_a, "csv", _info(from_a)))) as archive:
        assert sorted(archive.namelist()) == ["METHOD.txt", "changes.csv", "tenure.csv",
                                              "titles.csv"]
        changes = pd.read_csv(archive.open("changes.csv"))
        method = archive.read("METHOD.txt").decode()
    assert changes["site_id"].tolist() == ["s1", "s2"]
    assert changes["conc_after"].tolist() == ["SET-ASIDE-1", "B"]
    assert "ceded from A to a new artisanal mining zone SET-ASIDE-1" in method


# --- the bundled DR Congo data ---------------------------------------------------------------

#: A part of Mongbwalu Gold Mines' exploitation permit 12028 (Ituri) holding artisanal sites.
DRC_TITLE = "12028"
DRC_AREA = {"type": "Polygon", "coordinates": [[[30.1096, 1.3142], [30.1496, 1.3142],
                                                [30.1496, 1.3542], [30.1096, 1.3542],
                                                [30.1096, 1.3142]]]}


@pytest.fixture(scope="module")
def drc() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, SetAside]:
    concessions = load_bundled("concessions").data
    sites = load_bundled("sites").data
    return concessions, sites, set_aside(concessions, sites, DRC_AREA, conc_id=DRC_TITLE)


def test_bundled_data_against_the_engine_on_a_modified_layer(drc) -> None:
    concessions, sites, scenario = drc
    area = shapely.geometry.shape(DRC_AREA)
    built = concessions.copy()
    title = built["conc_id"] == DRC_TITLE
    built.loc[title, "geometry"] = shapely.difference(built.loc[title, "geometry"], area)
    zone = gpd.GeoDataFrame(
        {"conc_id": ["SET-ASIDE-1"], "lic_type": ["asm_zone"]},
        geometry=[shapely.intersection(concessions.geometry[title].iloc[0], area)], crs=4326,
    )
    independent = compute_overlaps(gpd.GeoDataFrame(pd.concat([built, zone]), crs=4326),
                                   sites)
    before = compute_overlaps(concessions, sites)
    moved = (before.sites["tenure"].astype(str) != independent.sites["tenure"].astype(str)) | (
        before.sites["conc_id"].fillna("") != independent.sites["conc_id"].fillna(""))
    assert sorted(scenario.changes["site_id"]) == sorted(before.sites.loc[moved, "site_id"])
    assert len(scenario.changes) > 10
    assert scenario.ceded_ha == pytest.approx(geod_ha(zone.geometry.iloc[0]), rel=1e-6)
    title_row = scenario.titles.set_index("conc_id").loc[DRC_TITLE]
    theirs = concession_stats(independent).set_index("conc_id").loc[DRC_TITLE]
    assert title_row["sites_after"] == theirs["sites_in"]
    assert title_row["workers_after"] == theirs["workers_in"]
    assert title_row["area_after_ha"] == pytest.approx(theirs["area_ha"], rel=1e-9)
    assert scenario.concessions.geometry.is_valid.all()


# --- the map -------------------------------------------------------------------------------

#: A script or stylesheet loaded from the network, or a leaflet.draw file by URL.
CDN = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|<link[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|cdnjs|leaflet\.draw(?:-src)?\.(?:js|css)",
    re.IGNORECASE,
)


@pytest.fixture
def drc_map(drc) -> object:
    _concessions, _sites, scenario = drc
    before = scenario.before
    return drawing.setaside_map(before.concessions, before.sites, before.zones,
                                conc_id=DRC_TITLE, area=DRC_AREA, changed=scenario.changes)


def _links(m) -> list[tuple[str, str]]:
    def walk(element):
        yield element
        for child in element._children.values():
            yield from walk(child)

    return [link for e in walk(m) if isinstance(e, folium.elements.JSCSSMixin)
            for link in (*e.default_js, *e.default_css)]


def test_draw_map_holds_no_cdn_url(drc_map) -> None:
    page = drc_map.get_root().render()
    assert "L.Control.Draw" in page
    assert not CDN.search(page)
    links = dict(_links(drc_map))
    assert {"leaflet_draw_js", "leaflet_draw_css"} <= set(links)
    assert all(url.startswith("data:") for url in links.values())
    css = base64.b64decode(links["leaflet_draw_css"].split(",", 1)[1]).decode()
    assert "leaflet-draw-toolbar" in css
    assert "url('images/" not in css
    assert 'url("images/' not in css
    assert "data:image/png;base64," in css
    assert "data:image/svg+xml;base64," in css
    script = base64.b64decode(links["leaflet_draw_js"].split(",", 1)[1]).decode()
    assert 'L.drawVersion="1.0.4"' in script


def test_draw_map_sends_the_neighbourhood_only(drc_map) -> None:
    page = drc_map.get_root().render()
    titles = page.count('"kind": "concession"')
    assert 1 <= titles < 100  # of 2,973


def test_streamlit_folium_reads_the_drawn_shapes(drc_map) -> None:
    """streamlit-folium reports ``all_drawings`` from a global ``drawnItems``; it renames the
    Draw plugin's layer to it only when the plugin is a child of the map."""
    script = streamlit_folium._get_map_string(drc_map)
    assert re.search(r"var drawnItems\s*=\s*new L\.featureGroup\(\)", script)
    assert "drawnItems.clearLayers()" in script  # a new shape replaces the previous one
    assert "L.geoJSON(" in script  # the current area is in the toolbar's layer


def test_toolbar_texts_are_translated() -> None:
    with language("fr"):
        texts = drawing.draw_texts()
    assert texts["draw"]["toolbar"]["buttons"]["polygon"]
    assert set(texts) == {"draw", "edit"}


def test_reading_the_map_back() -> None:
    feature = {"type": "Feature", "properties": {},
               "geometry": drawing.area_geojson(P)}
    assert drawing.drawings(None) is None
    assert drawing.drawings({"all_drawings": None}) is None
    assert drawing.drawings({"all_drawings": []}) == []
    assert drawing.drawings({"all_drawings": [feature]}) == [feature]
    assert drawing.same_area(feature["geometry"], drawing.area_geojson(P))
    assert drawing.same_area(None, None)
    assert not drawing.same_area(feature["geometry"], None)
    shifted = drawing.area_geojson(translate(P, 0.001))
    assert not drawing.same_area(feature["geometry"], shifted)


# --- the page ------------------------------------------------------------------------------




def _metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_page_with_a_pasted_polygon(lang: str, drc, private_workspace: Path) -> None:
    _concessions, _sites, scenario = drc
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/setaside.py").run()
        assert not at.exception, at.exception
        assert at.selectbox(key=state.SETASIDE_CONCESSION).value == DRC_TITLE  # most sites
        assert not at.metric
        at.text_area(key=state.SETASIDE_PASTE).input(json.dumps(DRC_AREA))
        at.button(key=state.SETASIDE_APPLY).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    values = list(_metrics(at).values())
    assert str(len(scenario.changes)) in values  # sites changing tenure
    changes = at.dataframe[0].value
    assert sorted(changes["site_id"]) == sorted(scenario.changes["site_id"])
    titles = at.dataframe[1].value
    assert titles["conc_id"].tolist() == [DRC_TITLE, "SET-ASIDE-1"]
    keys = {button.key for button in at.get("download_button")}
    assert {f"{state.SETASIDE_DOWNLOAD_PREFIX}gpkg", f"{state.SETASIDE_DOWNLOAD_PREFIX}csv"} \
        <= keys
    # Nothing stored changed: the workspace still holds its first versions only.
    store = open_workspace(private_workspace)
    assert len(store.history("concessions")) == 1


def test_page_refuses_a_bad_polygon_in_one_sentence() -> None:
    at = open_app()
    at.switch_page("pages/setaside.py").run()
    at.text_area(key=state.SETASIDE_PASTE).input('{"type": "Point", "coordinates": [30, 1]}')
    at.button(key=state.SETASIDE_APPLY).click().run()
    assert not at.exception
    assert len(at.error) == 1
    assert "must be a polygon, got a Point" in at.error[0].value
    assert not at.metric


def test_page_with_a_drawn_area_and_every_title() -> None:
    """The map's drawing lands in the session as the area (as st_folium returns it)."""
    at = open_app()
    at.switch_page("pages/setaside.py").run()
    at.session_state[state.SETASIDE_AREA] = DRC_AREA
    at.toggle(key=state.SETASIDE_EVERY).set_value(True).run()
    assert not at.exception, at.exception
    assert "Area ceded" in _metrics(at)
    at.button(key=state.SETASIDE_CLEAR).click().run()
    assert not at.exception
    assert not at.metric


def test_page_says_when_the_area_misses_the_title() -> None:
    at = open_app()
    at.switch_page("pages/setaside.py").run()
    at.session_state[state.SETASIDE_AREA] = json.loads(shapely.to_geojson(
        box(28.0, -3.0, 28.01, -2.99)))
    at.run()
    assert not at.exception
    assert at.warning
    assert "does not overlap title 12028" in at.warning[0].value


# --- the real browser ------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage"]


def _frame_with(page, *selectors: str) -> object:
    """The first frame holding every one of ``selectors`` (the map is drawn in an iframe,
    made anew when the map changes)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if all(frame.locator(selector).count() for selector in selectors):
                    return frame
            except Exception:  # a frame that goes away while it is looked at
                continue
        page.wait_for_timeout(500)
    raise AssertionError(f"no frame shows {selectors}")


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_draw_toolbar_renders_and_a_drawn_polygon_computes(app_url: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{app_url}/setaside")
            frame = _frame_with(page, ".leaflet-draw-draw-polygon",
                                "path.leaflet-interactive")
            button = frame.locator(".leaflet-draw-draw-polygon")
            sprite = button.evaluate("a => getComputedStyle(a).backgroundImage")
            assert "data:image/svg+xml" in sprite  # the toolbar's icons, inlined
            assert frame.locator(".leaflet-draw-draw-rectangle").count() == 1
            assert frame.locator(".leaflet-draw-edit-remove").count() == 1
            # Draw a polygon in the middle of the title (the view is fitted to it).
            box_ = frame.locator(".leaflet-container").first.bounding_box()
            x, y = box_["x"] + box_["width"] / 2, box_["y"] + box_["height"] / 2
            button.click()
            corners = [(x - 60, y - 40), (x + 60, y - 40), (x + 60, y + 40), (x - 60, y + 40)]
            for corner in [*corners, corners[0]]:
                page.mouse.click(*corner)
                page.wait_for_timeout(250)
            page.get_by_text("Area ceded", exact=True).wait_for(timeout=60_000)
            # The map is drawn again with the area in it and the sites changing tenure ringed.
            _frame_with(page, ".leaflet-draw-draw-polygon",
                        f"path[stroke='{drawing.CHANGED_COLOUR}']")
            page.wait_for_timeout(1000)
            assert not errors, errors
            artifacts = ROOT / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "setaside.png"), full_page=True)
        finally:
            browser.close()
