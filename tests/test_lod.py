"""Level of detail of the maps (ui.lod, ui.maps): what a map sends for a view.

A large synthetic layer (20,000 concessions, 20,000 sites) must give a first map under
3 MB, with the concessions as an image and the sites as a grid of counts; zoomed in, every
concession that meets the view is sent as a vector feature; the bundled DR Congo data is
sent whole. Sizes are asserted, never times.
"""

from __future__ import annotations

import base64
import io
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from PIL import Image
from shapely import box

from geo.filters import Filters
from geo.pipeline import analyse, load_bundled
from geo.schema import SITE_RESULT_COLUMNS
from geo.subset import filtered, kept_rows, prepare
from ui import lod, maps
from ui.data import concessions_with_stats

#: A script or stylesheet loaded from the network.
CDN_ASSET = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//"
                       r"|<link[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//", re.IGNORECASE)


def render(m) -> str:
    return m.get_root().render()


def conc_ids_sent(m) -> set[str]:
    """``conc_id`` of every concession feature in the map."""
    found: set[str] = set()
    stack = [m]
    while stack:
        element = stack.pop()
        stack.extend(element._children.values())
        data = getattr(element, "data", None)
        if isinstance(data, dict):
            for feature in data.get("features", []):
                if feature.get("properties", {}).get("kind") == "concession":
                    found.add(feature["properties"]["conc_id"])
    return found


# --- a large synthetic layer -------------------------------------------------------------------


@pytest.fixture(scope="module")
def large() -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame, gpd.GeoSeries]:
    """20,100 concessions on a 0.01-degree grid (a 1.5 x 1.34 degree region), 20,000 sites,
    a tenth of them polygons, and an overlap zone per 50 titles."""
    rng = np.random.default_rng(6)
    columns, rows = 150, 134
    x = 27.0 + (np.arange(columns * rows) % columns) * 0.01
    y = -3.0 + (np.arange(columns * rows) // columns) * 0.01
    n = columns * rows
    lic = np.array(["exploitation", "exploration", "asm_zone", "small_scale", "other"])
    concessions = gpd.GeoDataFrame({
        "conc_id": [f"T {i}" for i in range(n)],
        "holder": [f"Holder {i % 300}" for i in range(n)],
        "lic_type": lic[np.arange(n) % 5],
        "status": "Active",
        "expiry": pd.Timestamp("2030-01-01"),
        "area_ha": 80.0, "overlap_ha": 0.0, "overlap_pct": 0.0, "sites_in": 1,
        "workers_in": 10,
    }, geometry=shapely.box(x, y, x + 0.008, y + 0.008), crs=4326)
    n_sites = 20_000
    lon = 27.0 + rng.random(n_sites) * 1.5
    lat = -3.0 + rng.random(n_sites) * 1.34
    sites = pd.DataFrame({column: pd.Series([None] * n_sites, dtype=object)
                          for column in SITE_RESULT_COLUMNS})
    sites["site_id"] = [f"S{i}" for i in range(n_sites)]
    sites["name"] = [f"Site {i}" for i in range(n_sites)]
    sites["tenure"] = "unlicensed"
    sites["n_conc"] = 0
    sites["workers"] = pd.array(rng.integers(1, 500, n_sites), dtype="Int64")
    sites["lon"], sites["lat"] = lon, lat
    polygon = np.arange(n_sites) % 10 == 0
    sites["is_polygon"] = polygon
    footprints = gpd.GeoSeries(
        np.where(polygon, shapely.box(lon, lat, lon + 0.002, lat + 0.002), None), crs=4326)
    zone_rows = np.arange(0, n, 50)
    zones = gpd.GeoDataFrame({
        "conc_id": concessions["conc_id"].to_numpy()[zone_rows], "holder": "Holder",
        "lic_type": "exploitation", "area_ha": 1.0,
    }, geometry=shapely.box(x[zone_rows], y[zone_rows], x[zone_rows] + 0.002,
                            y[zone_rows] + 0.002), crs=4326)
    return concessions, sites, zones, footprints


def test_first_map_of_a_large_layer_is_light(large) -> None:
    concessions, sites, zones, footprints = large
    layers = maps.overlap_layers(concessions, sites, zones, footprints=footprints)
    assert layers.plan.polygons == "image"
    assert layers.plan.sites == "grid"
    page = render(layers.assembled())
    assert len(page.encode("utf-8")) < lod.MAX_PAYLOAD_BYTES
    assert "data:image/png;base64," in page
    assert not CDN_ASSET.search(page)
    assert conc_ids_sent(layers.map) == set()


def test_zoomed_in_every_concession_meeting_the_view_is_sent(large) -> None:
    concessions, sites, zones, footprints = large
    view = lod.View(south=-2.5, west=27.5, north=-2.45, east=27.56, zoom=14)
    layers = maps.overlap_layers(concessions, sites, zones, footprints=footprints, view=view)
    assert layers.plan.polygons == "vector"
    assert layers.plan.sites == "markers"
    m = layers.assembled()
    page = render(m)
    assert len(page.encode("utf-8")) < lod.MAX_PAYLOAD_BYTES
    sent = conc_ids_sent(m)
    # An independent check: every title whose geometry meets the view, one by one.
    seen = box(view.west, view.south, view.east, view.north)
    meeting = {cid for cid, geom in zip(concessions["conc_id"], concessions.geometry,
                                        strict=True) if geom.intersects(seen)}
    assert meeting
    assert meeting <= sent
    # ... and not the whole layer: the window is the view and a margin.
    assert len(sent) < len(concessions) / 10


def test_the_image_of_a_large_layer_covers_its_extent(large) -> None:
    concessions, sites, zones, footprints = large
    index = maps.map_index(concessions, sites, zones, footprints)
    plan = lod.plan(index, lod.View.fitting(index.fit))
    west, south, east, north = plan.window
    extent = index.extent
    assert extent is not None
    assert west <= extent[0]
    assert south <= extent[1]
    assert east >= extent[2]
    assert north >= extent[3]


def test_small_pans_keep_the_window(large) -> None:
    concessions, sites, zones, footprints = large
    index = maps.map_index(concessions, sites, zones, footprints)
    view = lod.View(south=-2.5, west=27.5, north=-2.4, east=27.65, zoom=12)
    pixel = view.pixel
    nudged = lod.View(view.south, view.west + 5 * pixel, view.north, view.east + 5 * pixel,
                      view.zoom)
    assert lod.window(view, index.extent) == lod.window(nudged, index.extent)
    assert lod.plan(index, view).window == lod.plan(index, nudged).window


def test_a_click_on_the_image_finds_the_title(large) -> None:
    concessions, sites, zones, footprints = large
    index = maps.map_index(concessions, sites, zones, footprints)
    assert index.concession_at(-3.0 + 0.004, 27.0 + 0.004) == "T 0"
    assert index.concession_at(-3.0 + 0.009, 27.0 + 0.004) is None  # between two titles


def test_the_smallest_title_under_a_click_wins() -> None:
    concessions = gpd.GeoDataFrame(
        {"conc_id": ["big", "small"], "lic_type": ["exploration", "exploitation"],
         "area_ha": [10_000.0, 100.0]},
        geometry=[box(0, 0, 1, 1), box(0.4, 0.4, 0.5, 0.5)], crs=4326)
    sites = pd.DataFrame({"lon": [0.1], "lat": [0.1]})
    index = maps.map_index(concessions, sites, concessions.iloc[:0])
    assert index.concession_at(0.45, 0.45) == "small"
    assert index.concession_at(0.2, 0.2) == "big"


# --- the bundled DR Congo data -----------------------------------------------------------------


@pytest.fixture(scope="module")
def drc_layers():
    analysis = analyse(load_bundled("concessions"), load_bundled("sites"))
    overlaps = analysis.overlaps
    return concessions_with_stats(analysis), overlaps.sites, overlaps.zones, overlaps.footprints


def test_bundled_data_is_sent_whole_whatever_the_view(drc_layers) -> None:
    concessions, sites, zones, footprints = drc_layers
    index = maps.map_index(concessions, sites, zones, footprints)
    first = maps.overlap_layers(concessions, sites, zones, footprints=footprints, index=index)
    assert first.plan.polygons == "all"
    assert first.plan.sites == "all"
    assert len(conc_ids_sent(first.assembled())) == len(concessions)
    zoomed = lod.View(south=-3.0, west=28.0, north=-2.9, east=28.1, zoom=13)
    assert lod.plan(index, zoomed) is first.plan
    assert len(render(first.map).encode("utf-8")) < lod.MAX_PAYLOAD_BYTES


# --- views, images and the site grid -----------------------------------------------------------


def test_view_from_st_folium() -> None:
    returned = {"zoom": 7, "bounds": {"_southWest": {"lat": -4.0, "lng": 26.0},
                                      "_northEast": {"lat": -1.0, "lng": 30.0}}}
    assert lod.View.from_returned(returned) == lod.View(-4.0, 26.0, -1.0, 30.0, 7)
    assert lod.View.from_returned(None) is None
    assert lod.View.from_returned({"bounds": {"_southWest": {"lat": None, "lng": None},
                                              "_northEast": {"lat": None, "lng": None}},
                                   "zoom": 6}) is None
    wrapped = {"zoom": 3, "bounds": {"_southWest": {"lat": -40.0, "lng": 170.0},
                                     "_northEast": {"lat": 40.0, "lng": -170.0}}}
    view = lod.View.from_returned(wrapped)
    assert view is not None
    assert (view.west, view.east) == (-180.0, 180.0)


def test_fitting_zoom_is_leaflets() -> None:
    # 10 degrees wide in 800 px: 256 * 2**z * 10 / 360 <= 800 -> z = floor(log2(112.5)) = 6.
    view = lod.View.fitting([[-1.0, 20.0], [1.0, 30.0]], size=(800, 620))
    assert view.zoom == 6
    centre = (view.west + view.east) / 2
    assert centre == pytest.approx(25.0)
    assert (view.east - view.west) == pytest.approx(800 * 360 / (256 * 2 ** 6))


def test_image_rows_follow_web_mercator() -> None:
    # A box from 60 to 61 degrees north in a window from the equator to 70 degrees north.
    codes, names = np.array([0]), np.array(["x"])
    paths = lod._compound_paths(np.array([box(10, 60, 11, 61)], dtype=object), codes)
    styles = {"x": lod.Style("#ff0000", 1.0, "#ff0000", 1.0, 0.0)}
    window = (0.0, 0.0, 20.0, 70.0)
    png = lod.raster_png([(str(names[c]), xy, kinds) for c, xy, kinds in paths], styles,
                         window, zoom=5)
    assert png is not None
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    height, width = image.shape[:2]
    top, bottom = lod.mercator(70.0), lod.mercator(0.0)
    row = int((top - lod.mercator(60.5)) / (top - bottom) * height)
    column = int(10.5 / 20.0 * width)
    assert tuple(image[row, column]) == (255, 0, 0, 255)
    # Where a linear latitude scale would put 60.5 N, there is nothing.
    linear = int((70.0 - 60.5) / 70.0 * height)
    assert image[linear, column, 3] == 0
    assert image[row, 2, 3] == 0  # west of the box


def test_holes_stay_empty_and_overlaps_fill_once() -> None:
    ring = box(0, 0, 10, 10).difference(box(4, 4, 6, 6))
    geoms = np.array([ring, box(8, 0, 12, 2)], dtype=object)
    paths = lod._compound_paths(geoms, np.array([0, 0]))
    styles = {"0": lod.Style("#0000ff", 0.5, "#0000ff", 0.5, 0.0)}
    png = lod.raster_png([(str(c), xy, kinds) for c, xy, kinds in paths], styles,
                         (0.0, 0.0, 12.0, 10.0), zoom=6)
    assert png is not None
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    height, width = image.shape[:2]

    def pixel(lon: float, lat: float) -> np.ndarray:
        y = (lod.mercator(10.0) - lod.mercator(lat)) / (lod.mercator(10.0) - lod.mercator(0.0))
        return image[int(y * (height - 1)), int(lon / 12.0 * (width - 1))]

    assert pixel(5.0, 5.0)[3] == 0  # the hole
    assert pixel(2.0, 5.0)[3] == pytest.approx(pixel(9.0, 1.0)[3], abs=2)  # overlap once


def test_site_grid_counts_every_site_in_the_window() -> None:
    rng = np.random.default_rng(1)
    lon = 28.0 + rng.random(5000) * 2
    lat = -3.0 + rng.random(5000) * 2
    inside = rng.random(5000) < 0.3
    window = (28.5, -2.5, 29.5, -1.5)
    cells = lod.site_grid(lon, lat, inside, window, zoom=9)
    in_window = (lon >= 28.5) & (lon <= 29.5) & (lat >= -2.5) & (lat <= -1.5)
    assert cells["sites"].sum() == in_window.sum()
    assert cells["inside"].sum() == (inside & in_window).sum()
    assert ((cells["lat"] >= cells["south"]) & (cells["lat"] <= cells["north"])).all()
    assert ((cells["lon"] >= cells["west"]) & (cells["lon"] <= cells["east"])).all()


def test_precision_follows_the_zoom() -> None:
    coarse, coarse_decimals = lod.precision(6, maps.SIMPLIFY_DEG, maps.DECIMALS)
    fine, fine_decimals = lod.precision(15, maps.SIMPLIFY_DEG, maps.DECIMALS)
    assert coarse > fine == maps.SIMPLIFY_DEG
    assert coarse_decimals < fine_decimals == maps.DECIMALS


def test_images_are_png_data_uris() -> None:
    uri = lod.png_uri(b"\x89PNG")
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == b"\x89PNG"


def test_clicked_point_reads_st_folium() -> None:
    assert maps.clicked_point({"last_clicked": {"lat": -2.5, "lng": 28.0}}) == (-2.5, 28.0)
    assert maps.clicked_point({}) is None


def test_the_index_of_a_filtered_analysis_is_derived_exactly() -> None:
    basis = prepare(load_bundled("concessions"), load_bundled("sites"), radius_m=500.0)
    whole = basis.analysis.overlaps
    whole_index = maps.map_index(concessions_with_stats(basis.analysis), whole.sites,
                                 whole.zones, whole.footprints)
    provinces = tuple(sorted(whole.sites["province"].dropna().unique())[:3])
    filters = Filters(lic_types=("exploitation", "exploration"), provinces=provinces)
    analysis = filtered(basis, filters)
    overlaps = analysis.overlaps
    fresh = maps.map_index(concessions_with_stats(analysis), overlaps.sites, overlaps.zones,
                           overlaps.footprints)
    conc_keep, site_keep = kept_rows(basis, filters)
    derived = maps.derived_index(whole_index, conc_keep, site_keep, overlaps.concessions,
                                 overlaps.sites, overlaps.zones)
    for layer in ("concessions", "zones", "site_polygons"):
        assert list(shapely.to_wkb(derived.geoms[layer])) == list(
            shapely.to_wkb(fresh.geoms[layer]))
        np.testing.assert_array_equal(derived.bounds[layer], fresh.bounds[layer])
        codes, names = derived.groups[layer]
        fresh_codes, fresh_names = fresh.groups[layer]
        assert list(names[codes]) == list(fresh_names[fresh_codes])
    for name in ("lon", "lat", "site_ok", "site_inside", "conc_ids", "conc_area"):
        np.testing.assert_array_equal(getattr(derived, name), getattr(fresh, name))
    assert derived.extent == fresh.extent
    assert derived.fit == fresh.fit


def test_images_are_lossless_pngs() -> None:
    rng = np.random.default_rng(6)
    rgba = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    png = lod.png_bytes(rgba)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")),
                                  rgba)


def test_site_grid_cells_counted_as_numpy_would() -> None:
    rng = np.random.default_rng(6)
    for key in (rng.integers(0, 300, 5000), rng.integers(0, 10**9, 50), np.zeros(0, int)):
        cells, which = lod._cells_of(key)
        expected_cells, expected_which = np.unique(key, return_inverse=True)
        np.testing.assert_array_equal(cells, expected_cells)
        np.testing.assert_array_equal(which, expected_which)


def test_a_derived_index_draws_the_images_a_fresh_one_draws() -> None:
    basis = prepare(load_bundled("concessions"), load_bundled("sites"), radius_m=500.0)
    whole = basis.analysis.overlaps
    whole_index = maps.map_index(concessions_with_stats(basis.analysis), whole.sites,
                                 whole.zones, whole.footprints)
    styles = {code: lod.Style(colour, 0.35, colour, 0.9, 0.6)
              for code, colour in maps.LIC_COLOURS.items()}
    styles["0"] = lod.Style("#ff0000", 0.7, "#ff0000", 1.0, 0.6)
    window, zoom = whole_index.extent, 7
    for layer in ("concessions", "zones"):  # their rings, lent to the derived index
        whole_index.image(layer, window, zoom, styles)
    for filters, lent in ((Filters(lic_types=("exploitation", "asm_zone")), True),
                          (Filters(lic_types=("exploitation",), years=(2010, 2016)), False)):
        analysis = filtered(basis, filters)
        overlaps = analysis.overlaps
        fresh = maps.map_index(concessions_with_stats(analysis), overlaps.sites,
                               overlaps.zones, overlaps.footprints)
        derived = maps.derived_index(whole_index, *kept_rows(basis, filters),
                                     overlaps.concessions, overlaps.sites, overlaps.zones)
        assert "concessions" in derived._rings  # lent, not measured again
        assert ("zones" in derived._rings) is lent  # only when no site is filtered out
        np.testing.assert_array_equal(derived.zone_title, fresh.zone_title)
        for layer in ("concessions", "zones"):
            lod._IMAGES.clear()
            ours = derived.image(layer, window, zoom, styles)
            lod._IMAGES.clear()
            theirs = fresh.image(layer, window, zoom, styles)
            assert ours is not None
            assert ours == theirs, layer
        assert derived.fingerprint("concessions") != whole_index.fingerprint("concessions")
