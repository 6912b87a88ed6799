"""The real app in Debian's Chromium: the map draws, a file uploads, an export downloads."""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000},  # type: ignore[attr-defined]
                                  accept_downloads=True)
    page = context.new_page()
    yield page
    context.close()


def _map_frame(page: object) -> object:
    """The iframe holding the Leaflet map, once concession shapes are drawn in it."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        for frame in page.frames:  # type: ignore[attr-defined]
            try:
                if frame.locator("path.leaflet-interactive").count() > 100:
                    return frame
            except sync_api.Error:
                continue
        page.wait_for_timeout(500)  # type: ignore[attr-defined]
    raise AssertionError("the map did not draw concession shapes")


def test_map_draws_concessions_offline(page: object, app_url: str) -> None:
    # The first visit after the server starts opens a page's own address: it must still get
    # the router's sidebar and filters.
    page.goto(f"{app_url}/map")  # type: ignore[attr-defined]
    page.get_by_text("Filters", exact=True).wait_for(timeout=60_000)  # type: ignore[attr-defined]
    frame = _map_frame(page)
    assert frame.locator(".leaflet-control-layers").count() == 1  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"))  # type: ignore[attr-defined]


def test_upload_then_export(page: object, app_url: str, tmp_path: Path) -> None:
    features = [
        {"type": "Feature", "properties": {"site_id": f"B{i}", "name": f"Browser site {i}"},
         "geometry": {"type": "Point", "coordinates": [28.0 + i * 0.02, -3.0]}}
        for i in range(4)
    ]
    upload = tmp_path / "browser_sites.geojson"
    upload.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    page.goto(f"{app_url}/upload")  # type: ignore[attr-defined]
    page.locator("input[type=file]").set_input_files(str(upload))  # type: ignore[attr-defined]
    page.get_by_text("What the import found").wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Use this file as the sites layer").click()  # type: ignore[attr-defined]
    page.get_by_text("browser_sites.geojson is stored as version").wait_for(timeout=60_000)  # type: ignore[attr-defined]

    page.get_by_role("link", name="Export").click()  # type: ignore[attr-defined]
    button = page.get_by_role("button", name="CSV tables (zip)")  # type: ignore[attr-defined]
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as download_info:  # type: ignore[attr-defined]
        button.click()
    saved = tmp_path / "export.zip"
    download_info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert "METHOD.txt" in archive.namelist()
        sites = archive.read("sites.csv").decode().splitlines()
    assert len(sites) == 1 + 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "export.png"))  # type: ignore[attr-defined]
