"""Markup in attribute values stays text in a real browser: tooltips and popups of the map
open in Debian's Chromium and never run it."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

from geo.schema import SITE_RESULT_COLUMNS
from ui import maps

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage"]
EVIL = '<img src=x onerror="window.__xss=1">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


def _map_html(tmp_path: Path) -> tuple[Path, str]:
    concessions = gpd.GeoDataFrame(
        {"conc_id": ["PE 1"], "name": ["PE 1"], "holder": [EVIL], "lic_type": ["exploitation"],
         "status": ["Active"], "expiry": pd.to_datetime(["2030-01-31"]), "area_ha": [12.5],
         "overlap_ha": [0.0], "overlap_pct": [0.0], "sites_in": [1], "sites_r1": [0],
         "workers_in": [10], "mercury_in": [0], "armed_in": [0], "child_in": [0]},
        geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326,
    )
    site = dict.fromkeys(SITE_RESULT_COLUMNS) | {
        "site_id": "s1", "tenure": "exploitation", "conc_id": "PE 1", "dist_km": 0.0,
        "near_id": "PE 1", "n_conc": 1, "name": EVIL, "province": "Sud-Kivu",
        "country": "Dem. Rep. Congo", "is_polygon": False, "area_ha": 0.0,
        "lon": 28.02, "lat": -2.98,
    }
    sites = pd.DataFrame([site])[list(SITE_RESULT_COLUMNS)]
    zones = gpd.GeoDataFrame({"conc_id": [], "area_ha": [], "holder": [], "lic_type": []},
                             geometry=[], crs=4326)
    m = maps.overlap_map(concessions, sites, zones, tiles=None)
    path = tmp_path / "map.html"
    m.save(str(path))
    return path, m.get_name()


def test_markup_in_tooltips_and_popups_is_not_run(tmp_path: Path) -> None:
    path, name = _map_html(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(path.as_uri())
            page.wait_for_function(f"typeof {name} !== 'undefined'")

            def point(lat: float, lon: float) -> tuple[float, float]:
                box_ = page.locator(f"#{name}").bounding_box()
                assert box_ is not None
                xy = page.evaluate(f"{name}.latLngToContainerPoint([{lat}, {lon}])")
                return box_["x"] + xy["x"], box_["y"] + xy["y"]

            page.mouse.move(*point(-2.92, 28.08))  # the concession, away from the site
            page.locator(".leaflet-tooltip").first.wait_for(timeout=10_000)
            assert EVIL in page.locator(".leaflet-tooltip").first.inner_text()
            page.mouse.click(*point(-2.98, 28.02))  # the site's circle marker
            page.wait_for_function(
                "[...document.querySelectorAll('.leaflet-popup-content')]"
                ".some(e => e.innerText.includes('s1'))", timeout=10_000)
            site_popup = page.locator(".leaflet-popup-content").first.inner_text()
            assert EVIL in site_popup
            page.wait_for_timeout(600)  # the popup may pan the map; let it settle
            page.mouse.click(*point(-2.92, 28.08))  # the concession
            page.wait_for_function(
                "[...document.querySelectorAll('.leaflet-popup-content')]"
                ".some(e => e.innerText.includes('PE 1') && !e.innerText.includes('s1'))",
                timeout=10_000)
            assert EVIL in page.locator(".leaflet-popup-content").first.inner_text()
            page.wait_for_timeout(300)  # an onerror handler would have run by now
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator("img[src='x']").count() == 0
        finally:
            browser.close()
