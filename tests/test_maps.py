"""Folium map builders (ui.maps, ui.offline), rendered without Streamlit.

Each map is rendered as folium renders it for a page or a download
(``m.get_root().render()``) and the HTML is checked: named layers, legend, labelled
popups and tooltips, escaped attribute values, no script or stylesheet from a CDN, the
``conc_id`` click property, and the size of the map of the bundled DRC data.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

import branca.element
import folium
import folium.elements
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box, points
from streamlit_folium import _get_map_string

from geo.pipeline import analyse, load_bundled
from geo.schema import LIC_TYPE_LABELS, SITE_RESULT_COLUMNS, TENURE_LABELS
from ui import maps, offline
from ui.offline import OfflineAssetError, OfflineMap, offline_map

EVIL = "<img src=x onerror=alert(1)>"
EVIL_ESCAPED = html.escape(EVIL)  # &lt;img src=x onerror=alert(1)&gt;

#: A script or stylesheet loaded from the network.
CDN_ASSET = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|<link[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|@import\s+(?:url\()?[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)


# --- fixtures: small layers built by hand ------------------------------------------------------


@pytest.fixture
def concessions() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "conc_id": ["PE 1", "PR 2", "ZEA 3"],
            "name": ["PE 1", "PR 2", "ZEA 3"],
            "holder": [EVIL, "Holder & Sons", None],
            "lic_type": ["exploitation", "exploration", "asm_zone"],
            "status": ["Active", "Active", None],
            "expiry": pd.to_datetime(["2030-01-31", None, None]),
            "area_ha": [12_345.6, 1_230.0, 5.25],
            "overlap_ha": [123.4, 0.0, 0.0],
            "overlap_pct": [1.0, 0.0, 0.0],
            "sites_in": [2, 0, 0],
            "sites_r1": [0, 1, 0],
            "workers_in": [1500, 0, 0],
            "mercury_in": [1, 0, 0],
            "armed_in": [0, 0, 0],
            "child_in": [0, 0, 0],
        },
        geometry=[box(28.0, -3.0, 28.1, -2.9), box(28.2, -3.0, 28.3, -2.9),
                  box(28.0, -3.2, 28.05, -3.15)],
        crs=4326,
    )


@pytest.fixture
def sites() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "site_id": ["s1", "s2", "s3"],
            "tenure": ["exploitation", "exploitation", "unlicensed"],
            "conc_id": ["PE 1", "PE 1", None],
            "dist_km": [0.0, 0.0, 4.25],
            "near_id": ["PE 1", "PE 1", "PR 2"],
            "n_conc": [1, 1, 0],
            "name": ["Mine 1", "Pit & Co", EVIL],
            "workers": pd.array([800, 700, None], dtype="Int64"),
            "mercury": pd.array([True, None, False], dtype="boolean"),
            "armed": pd.array([False, None, True], dtype="boolean"),
            "child_lab": pd.array([None, None, None], dtype="boolean"),
            "gold": pd.array([True, True, True], dtype="boolean"),
            "seen": pd.to_datetime(["2019-05-01", "2020-01-01", None]),
            "province": ["Sud-Kivu"] * 3,
            "country": ["Dem. Rep. Congo"] * 3,
            "is_polygon": [False, True, False],
            "area_ha": [0.0, 25.0, 0.0],
            "lon": [28.05, 28.095, 28.5],
            "lat": [-2.95, -2.95, -2.95],
            "first_seen": pd.to_datetime(["2015-03-01", "2020-01-01", None]),
            "qualification": ["green", None, None],
            "itsci": pd.array([True, None, None], dtype="boolean"),
        }
    )
    return frame[list(SITE_RESULT_COLUMNS)]


@pytest.fixture
def footprints() -> gpd.GeoSeries:
    return gpd.GeoSeries([None, box(28.09, -2.96, 28.11, -2.94), None], crs=4326)


@pytest.fixture
def zones(concessions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"conc_id": ["PE 1"], "area_ha": [123.4], "holder": [EVIL],
         "lic_type": ["exploitation"]},
        geometry=[box(28.09, -2.96, 28.1, -2.94)], crs=4326,
    )


@pytest.fixture
def rings() -> gpd.GeoDataFrame:
    outer = box(27.99, -3.01, 28.11, -2.89)
    return gpd.GeoDataFrame(
        {"conc_id": ["PE 1"], "ring_km": [1.0]},
        geometry=[outer.difference(box(28.0, -3.0, 28.1, -2.9))], crs=4326,
    )


@pytest.fixture
def full_map(concessions, sites, zones, footprints, rings) -> OfflineMap:
    return maps.overlap_map(concessions, sites, zones, footprints=footprints, rings=rings,
                            selected="PE 1")


# --- helpers -----------------------------------------------------------------------------------


def render(m: folium.Map) -> str:
    return m.get_root().render()


def as_text(page: str) -> str:
    """The page with JSON string escapes undone: the text JavaScript hands to innerHTML."""
    for escape, char in (("\\u003c", "<"), ("\\u003e", ">"), ("\\u0026", "&"),
                         ("\\u0027", "'"), ("\\u003C", "<"), ("\\u003E", ">")):
        page = page.replace(escape, char)
    return page


def walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    yield element
    for child in element._children.values():
        yield from walk(child)


def geojson_layers(m: folium.Map) -> list[folium.GeoJson]:
    return [e for e in walk(m) if isinstance(e, folium.GeoJson)]


def features_of_kind(m: folium.Map, kind: str) -> list[dict]:
    return [
        feature
        for layer in geojson_layers(m)
        for feature in layer.data.get("features", [])
        if feature.get("properties", {}).get("kind") == kind
    ]


def layer_control(m: folium.Map) -> folium.LayerControl:
    (control,) = [e for e in m._children.values() if isinstance(e, folium.LayerControl)]
    return control


# --- layers and legend -------------------------------------------------------------------------


def test_named_layers_in_the_layer_control(full_map: OfflineMap) -> None:
    page = render(full_map)
    overlays = list(layer_control(full_map).overlays)
    assert overlays == ["Countries", "Concessions", "Overlap zones", "Proximity rings",
                        "Artisanal sites"]
    for name in overlays:
        assert f'"{name}" :' in page
    assert page.count("L.control.layers(") == 1


def test_rings_layer_only_when_given(concessions, sites, zones) -> None:
    m = maps.overlap_map(concessions, sites, zones)
    render(m)
    assert "Proximity rings" not in layer_control(m).overlays
    assert {"Countries", "Concessions", "Overlap zones", "Artisanal sites"} <= set(
        layer_control(m).overlays
    )


def test_legend_lists_licence_types_zones_and_sites(full_map: OfflineMap) -> None:
    page = as_text(render(full_map))
    for label in LIC_TYPE_LABELS.values():
        assert html.escape(label) in page
    assert "Overlap zone" in page
    assert "Artisanal sites" in page
    assert html.escape(TENURE_LABELS["unlicensed"]) in page
    assert "Selected title" in page
    assert "Proximity ring" in page


def test_concessions_coloured_by_licence_type(full_map: OfflineMap) -> None:
    page = render(full_map)
    for lic in ("exploitation", "exploration", "asm_zone"):
        assert f'"fillColor": "{maps.LIC_COLOURS[lic]}"' in page
    assert len(set(maps.LIC_COLOURS.values())) == 5


# --- popups and tooltips -----------------------------------------------------------------------


def test_concession_popup_and_tooltip_fields_are_labelled(full_map: OfflineMap) -> None:
    page = as_text(render(full_map))
    (layer,) = [g for g in geojson_layers(full_map) if g.layer_name == "Concessions"]
    popup = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonPopup))
    tooltip = next(c for c in layer._children.values()
                   if isinstance(c, folium.GeoJsonTooltip))
    assert popup.aliases == [
        "Title", "Holder", "Licence type", "Status", "Expiry", "Area (ha)",
        "Overlap (ha, %)", "Sites inside", "Workers inside",
    ]
    assert tooltip.aliases == ["Title", "Holder", "Licence type"]
    assert '"Overlap (ha, %)"' in page
    # Only the chosen attributes are sent, formatted and labelled.
    feature = features_of_kind(full_map, "concession")[0]
    assert set(feature["properties"]) == {"kind", *maps.CONCESSION_FIELDS}
    assert feature["properties"]["lic_type"] == html.escape(LIC_TYPE_LABELS["exploitation"])
    assert feature["properties"]["area_ha"] == "12,346"
    assert feature["properties"]["overlap"] == "123 (1.0%)"
    assert feature["properties"]["expiry"] == "Jan 31, 2030"  # the language's medium date


def test_site_popup_fields_are_labelled(full_map: OfflineMap) -> None:
    page = as_text(render(full_map))
    for label in ("Site", "Name", "Tenure", "Concession", "Distance (km)", "Workers",
                  "Mercury", "Armed actors", "Child labour", "Last seen"):
        assert f'"{label}"' in page
    polygon = features_of_kind(full_map, "site")[0]
    assert polygon["properties"]["tenure"] == html.escape(TENURE_LABELS["exploitation"])
    assert polygon["properties"]["mercury"] == "Unknown"
    assert polygon["properties"]["seen"] == "Jan 1, 2020"


def test_attribute_values_are_html_escaped(full_map: OfflineMap) -> None:
    page = render(full_map)
    text = as_text(page)
    # Nowhere, not even once JavaScript has decoded its strings, is the value HTML.
    assert "<img" not in page
    assert "<img" not in text
    assert EVIL_ESCAPED in text
    # Holder in the concession and zone layers, site name in the clustered markers.
    (concession,) = [f for f in features_of_kind(full_map, "concession")
                     if f["properties"]["conc_id"] == "PE 1"]
    assert concession["properties"]["holder"] == EVIL_ESCAPED
    assert features_of_kind(full_map, "zone")[0]["properties"]["holder"] == EVIL_ESCAPED
    (cluster,) = [e for e in walk(full_map) if isinstance(e, folium.plugins.FastMarkerCluster)]
    names = [row[3][1] for row in cluster.data]
    assert EVIL_ESCAPED in names
    assert "Holder &amp; Sons" in text
    assert "Pit &amp; Co" in text


def test_missing_values_show_a_dash(full_map: OfflineMap) -> None:
    (concession,) = [f for f in features_of_kind(full_map, "concession")
                     if f["properties"]["conc_id"] == "ZEA 3"]
    assert concession["properties"]["holder"] == maps.MISSING
    assert concession["properties"]["expiry"] == maps.MISSING


# --- offline -----------------------------------------------------------------------------------


def test_no_script_or_stylesheet_from_the_network(full_map: OfflineMap) -> None:
    page = render(full_map)
    assert not CDN_ASSET.search(page)
    assert 'src="data:text/javascript;base64,' in page
    assert 'href="data:text/css;base64,' in page
    # streamlit-folium loads exactly these links into its iframe.
    links = [url for e in walk(full_map) if isinstance(e, folium.elements.JSCSSMixin)
             for _name, url in (*e.default_js, *e.default_css)]
    assert links
    assert all(url.startswith("data:") for url in links)
    names = {name for e in walk(full_map) if isinstance(e, folium.elements.JSCSSMixin)
             for name, _url in (*e.default_js, *e.default_css)}
    assert {"leaflet", "leaflet_css", "markerclusterjs", "markerclustercss",
            "markerclusterdefaultcss"} <= names
    assert not names & {"jquery", "bootstrap", "awesome_markers", "bootstrap_css"}


def test_folium_defaults_are_left_alone(full_map: OfflineMap) -> None:
    render(full_map)
    assert folium.Map.default_js[0][1].startswith("https://")


def test_rendering_twice_keeps_one_copy_of_each_asset(full_map: OfflineMap) -> None:
    render(full_map)
    page = render(full_map)
    assert page.count('<script src="data:text/javascript') == 3  # leaflet, icon, cluster


def test_offline_map_has_the_countries_background() -> None:
    m = offline_map(location=(-3.0, 28.0), zoom_start=6)
    page = render(m)
    assert not CDN_ASSET.search(page)
    (countries,) = geojson_layers(m)
    assert countries.layer_name == "Countries"
    assert countries.options["interactive"] is False
    assert len(countries.data["features"]) > 150
    assert '"maxZoom": 18' in page


def test_tiles_are_optional() -> None:
    page = render(offline_map(location=(-3.0, 28.0), zoom_start=6, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in page
    assert not CDN_ASSET.search(page)


@pytest.mark.parametrize(
    "element",
    [
        pytest.param(lambda: folium.Marker((-3.0, 28.0), icon=folium.Icon()), id="icon"),
        pytest.param(lambda: folium.Marker((-3.0, 28.0), popup="text"), id="jquery-popup"),
        pytest.param(folium.plugins.Fullscreen, id="cdn-plugin"),
    ],
)
def test_elements_that_need_a_cdn_are_refused(element) -> None:
    m = offline_map(location=(-3.0, 28.0), zoom_start=6)
    element().add_to(m)
    with pytest.raises(OfflineAssetError):
        render(m)


def test_plain_markers_work_offline() -> None:
    m = offline_map(location=(-3.0, 28.0), zoom_start=6)
    folium.Marker((-3.0, 28.0), tooltip="here").add_to(m)
    page = render(m)
    assert not CDN_ASSET.search(page)


# --- clicks and view ---------------------------------------------------------------------------


def test_concession_features_carry_conc_id(full_map: OfflineMap) -> None:
    page = render(full_map)
    features = features_of_kind(full_map, "concession")
    assert sorted(f["properties"]["conc_id"] for f in features) == ["PE 1", "PR 2", "ZEA 3"]
    assert '"conc_id": "PE 1"' in page
    assert features_of_kind(full_map, "zone")[0]["properties"]["conc_id"] == "PE 1"
    # A site polygon reports the title it sits in.
    assert features_of_kind(full_map, "site")[0]["properties"]["conc_id"] == "PE 1"


def test_clicked_conc_id_reads_st_folium_return() -> None:
    returned = {"last_active_drawing": {"type": "Feature",
                                        "properties": {"kind": "concession",
                                                       "conc_id": "A &amp; B"}}}
    assert maps.clicked_conc_id(returned) == "A & B"
    assert maps.clicked_conc_id({"last_active_drawing": None}) is None
    assert maps.clicked_conc_id(None) is None
    site = {"last_active_drawing": {"properties": {"kind": "site", "conc_id": None}}}
    assert maps.clicked_conc_id(site) is None


def fit_bounds(m: folium.Map) -> list[list[float]]:
    (fit,) = [e for e in walk(m) if isinstance(e, folium.map.FitBounds)]
    return fit.bounds


def test_view_fits_concessions_without_far_outliers(sites, zones) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(27, 29, 100), rng.uniform(-4, -2, 100)
    geoms = [box(a, b, a + 0.05, b + 0.05) for a, b in zip(x, y, strict=True)]
    geoms.append(box(100.0, 50.0, 100.1, 50.1))  # a title far away (bad coordinates)
    conc = gpd.GeoDataFrame({"conc_id": [f"C{i}" for i in range(101)],
                             "lic_type": ["exploration"] * 101}, geometry=geoms, crs=4326)
    (south, west), (north, east) = fit_bounds(maps.overlap_map(conc, sites, zones))
    assert 26.5 < west < 28
    assert 28 < east < 29.5
    assert -4.5 < south < -3
    assert -3 < north < -1.5


def test_single_concession_is_fitted_whole(concessions, sites, zones) -> None:
    one = concessions.iloc[[0]]
    assert fit_bounds(maps.overlap_map(one, sites, zones)) == [[-3.0, 28.0], [-2.9, 28.1]]


def test_zoom_to_selected(concessions, sites, zones) -> None:
    m = maps.overlap_map(concessions, sites, zones, selected="PR 2", zoom_to_selected=True)
    assert fit_bounds(m) == [[-3.0, 28.2], [-2.9, 28.3]]
    page = render(m)
    assert "Selected title" in page


def test_geometry_is_simplified_and_rounded(sites, zones) -> None:
    wiggly = box(28.0, -3.0, 28.1, -2.9).segmentize(0.00001)  # ~20,000 vertices
    conc = gpd.GeoDataFrame({"conc_id": ["W"], "lic_type": ["exploitation"]},
                            geometry=[wiggly.buffer(0.000001)], crs=4326)
    m = maps.overlap_map(conc, sites, zones)
    (feature,) = features_of_kind(m, "concession")
    ring = feature["geometry"]["coordinates"][0]
    assert len(ring) < 50
    assert all(round(value, 5) == value for point in ring for value in point)


def test_empty_zones_keep_the_layer(concessions, sites) -> None:
    empty = gpd.GeoDataFrame({"conc_id": [], "area_ha": [], "holder": [], "lic_type": []},
                             geometry=[], crs=4326)
    m = maps.overlap_map(concessions, sites, empty)
    render(m)
    assert "Overlap zones" in layer_control(m).overlays
    assert features_of_kind(m, "zone") == []


# --- the other builders ------------------------------------------------------------------------


def test_small_map_renders(concessions, sites) -> None:
    m = maps.small_map(concessions.drop(columns=["overlap_ha", "sites_in"]), sites)
    page = render(m)
    text = as_text(page)
    assert not CDN_ASSET.search(page)
    assert "<img" not in text
    assert EVIL_ESCAPED in text
    assert "bindPopup" not in page
    assert "bindTooltip" in page
    for label in LIC_TYPE_LABELS.values():
        assert html.escape(label) in text
    assert {f["properties"]["conc_id"] for f in features_of_kind(m, "concession")} == {
        "PE 1", "PR 2", "ZEA 3"
    }


def test_preview_map_takes_normalised_layers(concessions) -> None:
    raw_sites = gpd.GeoDataFrame(
        {"site_id": ["p1", "g1"], "name": [EVIL, "Polygon site"],
         "workers": pd.array([10, None], dtype="Int64")},
        geometry=[points(28.05, -2.95), box(28.2, -2.95, 28.21, -2.94)], crs=4326,
    )
    m = maps.preview_map(concessions[["conc_id", "holder", "lic_type", "geometry"]], raw_sites)
    page = render(m)
    text = as_text(page)
    assert not CDN_ASSET.search(page)
    assert "<img" not in text
    assert EVIL_ESCAPED in text
    (polygon,) = features_of_kind(m, "site")
    assert polygon["properties"]["name"] == "Polygon site"
    (cluster,) = [e for e in walk(m) if isinstance(e, folium.plugins.FastMarkerCluster)]
    assert len(cluster.data) == 2


# --- the bundled DRC data ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def drc_page() -> str:
    analysis = analyse(load_bundled("concessions"), load_bundled("sites"))
    overlaps = analysis.overlaps
    table = analysis.concession_table.set_index("conc_id")
    concessions = overlaps.concessions.join(
        table.drop(columns=[c for c in table.columns if c in overlaps.concessions]),
        on="conc_id",
    )
    m = maps.overlap_map(concessions, overlaps.sites, overlaps.zones,
                         footprints=overlaps.footprints)
    return render(m)


def test_bundled_drc_map_is_offline_and_small(drc_page: str) -> None:
    assert len(drc_page) < 5_000_000
    assert not CDN_ASSET.search(drc_page)
    for name in ("Countries", "Concessions", "Overlap zones", "Artisanal sites"):
        assert f'"{name}" :' in drc_page



def test_the_countries_layer_renders_as_folium_geojson(monkeypatch) -> None:
    """The outlines rendered once per process give the page, the script streamlit-folium
    sends and the bounds that folium's own GeoJson layer gives."""
    def names_removed(text: str) -> str:
        return re.sub(r"_[0-9a-f]{32}", "_X", text)

    def plain_geojson(*, filled: bool = True) -> folium.GeoJson:
        style = {"color": offline.BORDER_COLOUR, "weight": 0.8, "opacity": 1.0,
                 "fillColor": offline.LAND_COLOUR, "fillOpacity": 1.0 if filled else 0.0,
                 "fill": filled}
        return folium.GeoJson(json.loads(offline._countries_json()), name="Countries",
                              overlay=True, control=True, style_function=lambda _f: style,
                              interactive=False, pane=offline.COUNTRIES_PANE,
                              smooth_factor=1.0)

    for tiles in (None, "OpenStreetMap"):
        ours = [offline_map(location=(-3.0, 28.0), zoom_start=6, tiles=tiles) for _ in "ab"]
        with monkeypatch.context() as patched:
            patched.setattr(offline, "countries_layer", plain_geojson)
            theirs = [offline_map(location=(-3.0, 28.0), zoom_start=6, tiles=tiles)
                      for _ in "ab"]
        assert any(isinstance(e, offline.CountriesLayer) for e in walk(ours[0]))
        assert names_removed(render(ours[0])) == names_removed(render(theirs[0]))
        for m in (ours[1], theirs[1]):
            render(m)  # as st_folium does first
        assert names_removed(_get_map_string(ours[1])) == names_removed(
            _get_map_string(theirs[1]))
        assert ours[0].get_bounds() == theirs[0].get_bounds()
