"""The dashboard at national scale: map payload, reruns, an upload, a screenshot.

Called by ``bench/run.py --map`` (see bench/README.md); each function returns plain numbers
and ``run.py`` writes them to bench/RESULTS.md. Measured here:

* :func:`map_numbers`: the Map page's first map (``ui.maps.overlap_layers`` as pages/map.py
  calls it, with the view the page starts from): bytes and build seconds, cold (the map
  index of a new analysis included) and for views zoomed in; the first map saved as HTML.
* :func:`drawn_seconds`: time to the first drawn map in headless Chromium, for a saved map.
* :func:`rerun_numbers`: with the workspace loaded, the rerun of the Overview, Map and
  Statistics pages when a filter changes (Streamlit's AppTest: the page script and the
  app's caches, as a server runs them; not the browser). Each page meets each filter for
  the first time (the caches of filtered analyses are emptied between pages).
* :func:`upload_numbers`: a 10,000-site upload on the Upload page, from the click on the
  confirm button to the page showing the updated statistics (AppTest).
* :func:`app_screenshot`: the Map page of the real app on the workspace, in Chromium: a
  screenshot and the seconds until its map is drawn.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from PIL import Image
from playwright.sync_api import sync_playwright
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' way of serving the app
from app_runner import served_app  # noqa: E402

from geo.filters import Filters  # noqa: E402
from geo.pipeline import Layer, load_layer  # noqa: E402
from geo.subset import filtered, prepare  # noqa: E402
from geo.validate import core_bounds  # noqa: E402
from ui import data, lod, maps, state  # noqa: E402
from ui.data import concessions_with_stats  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage"]
#: What "drawn" means: the concession images or vector paths are in the page, and the
#: images have loaded.
DRAWN_JS = """() => {
    const images = [...document.querySelectorAll('img.leaflet-image-layer')];
    const paths = document.querySelectorAll('path.leaflet-interactive').length;
    return (images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0))
        || paths > 0;
}"""
#: Views zoomed in (south, west, north, east, zoom), as offsets from the data's centre in
#: degrees: the Map page after a few clicks on "+".
ZOOMED = ((-1.5, -2.0, 1.5, 2.0, 7), (-0.35, -0.5, 0.35, 0.5, 9), (-0.08, -0.12, 0.08, 0.12, 11))


def load(conc: Path, sites: Path) -> tuple[Layer, Layer]:
    """The two layers, read, normalised and validated as the workspace holds them."""
    concessions = load_layer(conc, "concessions")
    return concessions, load_layer(sites, "sites",
                                   reference_bounds=core_bounds(concessions.data))


def map_numbers(concessions: Layer, sites: Layer, out: Path) -> dict[str, Any]:
    """First map and zoomed views of the Map page; the first map saved as ``out``."""
    started = time.perf_counter()
    basis = prepare(concessions, sites)
    analyse_s = time.perf_counter() - started
    analysis = basis.analysis
    overlaps = analysis.overlaps
    started = time.perf_counter()
    with_stats = concessions_with_stats(analysis)
    index = maps.map_index(with_stats, overlaps.sites, overlaps.zones, overlaps.footprints)
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    layers = maps.overlap_layers(with_stats, overlaps.sites, overlaps.zones,
                                 footprints=overlaps.footprints, index=index)
    layers_s = time.perf_counter() - started
    started = time.perf_counter()
    html = layers.assembled().get_root().render()
    render_s = time.perf_counter() - started
    out.write_text(html, encoding="utf-8")
    first = {
        "analyse_s": analyse_s, "index_s": index_s, "layers_s": layers_s,
        "render_s": render_s, "build_s": index_s + layers_s + render_s,
        "bytes": len(html.encode("utf-8")), "polygons": layers.plan.polygons,
        "sites": layers.plan.sites, "zoom": layers.plan.zoom,
    }
    zoomed = []
    south, west, north, east = index.extent or (-5.0, 20.0, 5.0, 30.0)
    centre_x, centre_y = (south + north) / 2, (west + east) / 2
    for d_south, d_west, d_north, d_east, zoom in ZOOMED:
        view = lod.View(centre_y + d_south, centre_x + d_west, centre_y + d_north,
                        centre_x + d_east, zoom)
        started = time.perf_counter()
        layers = maps.overlap_layers(with_stats, overlaps.sites, overlaps.zones,
                                     footprints=overlaps.footprints, index=index, view=view)
        page = layers.assembled().get_root().render()
        zoomed.append({"zoom": zoom, "build_s": time.perf_counter() - started,
                       "bytes": len(page.encode("utf-8")), "polygons": layers.plan.polygons,
                       "sites": layers.plan.sites,
                       "titles_sent": len(layers.plan.rows.get("concessions", ()))})
    return {"first": first, "zoomed": zoomed, "basis": basis}


def drawn_seconds(html: Path, repeats: int = 3) -> float:
    """Median seconds from opening the saved map in headless Chromium to the map drawn."""
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            started = time.perf_counter()
            page.goto(html.resolve().as_uri())
            page.wait_for_function(DRAWN_JS, timeout=120_000)
            times.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return statistics.median(times)


def filter_changes(concessions: Layer, sites: Layer) -> list[tuple[str, Filters]]:
    """The filter changes timed: on sites (province, years), on concessions (licence type,
    holder, status), and back to an earlier filter."""
    province = str(sites.data["province"].dropna().value_counts().index[0])
    holder = str(concessions.data["holder"].dropna().value_counts().index[0])
    status = str(concessions.data["status"].dropna().value_counts().index[0])
    years = _year_span(sites)
    return [
        ("province (sites)", Filters(provinces=(province,))),
        ("years seen (sites)", Filters(years=years)),
        ("licence type (concessions)", Filters(lic_types=("exploitation",))),
        ("holder (concessions)", Filters(holders=(holder,))),
        ("status (concessions)", Filters(statuses=(status,))),
        ("back to the province filter (cached)", Filters(provinces=(province,))),
    ]


def _year_span(sites: Layer) -> tuple[int, int]:
    years = pd.to_datetime(sites.data["seen"], errors="coerce").dt.year.dropna()
    low, high = int(years.min()), int(years.max())
    return (low + (high - low) // 3, high - (high - low) // 3)


def filter_numbers(basis: Any, changes: list[tuple[str, Filters]]) -> list[dict[str, Any]]:
    """Seconds of :func:`geo.subset.filtered` for each new filter, from the whole analysis
    (the dashboard keeps each result: a filter seen before costs nothing)."""
    rows = []
    seen = []
    for label, filters in changes:
        if filters in seen:
            continue
        seen.append(filters)
        started = time.perf_counter()
        filtered(basis, filters)
        rows.append({"filter": label, "filtered_s": time.perf_counter() - started})
    return rows


def workspace_file(conc: Path, sites: Path, folder: Path) -> Path:
    """A workspace GeoPackage holding the two layers (made once, then reused)."""
    path = folder / "workspace.gpkg"
    if not path.exists():
        for kind, source in (("concessions", conc), ("sites", sites)):
            subprocess.run([sys.executable, "-m", "geo", "store", "add", kind, str(source),
                            "--replace", "--workspace", str(path)], check=True, cwd=ROOT,
                           capture_output=True)
    return path


def rerun_numbers(workspace: Path, changes: list[tuple[str, Filters]],
                  pages: tuple[str, ...] = ("pages/overview.py", "pages/map.py",
                                            "pages/statistics.py"),
                  repeats: int = 3) -> dict[str, Any]:
    """Rerun seconds of each page when the sidebar's filters change (AppTest): the median
    of ``repeats`` passes over ``changes``, each pass meeting every filter for the first
    time (but the changes back to a filter seen in the same pass)."""
    results: dict[str, Any] = {}
    with _environment(GEO_WORKSPACE=str(workspace)):
        for page in pages:
            _forget_filtered()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
            started = time.perf_counter()
            at.run()
            first = time.perf_counter() - started
            at.switch_page(page).run()
            _check(at)
            plain = _timed(at.run, repeats=repeats)
            passes = [_filter_pass(at, changes) for _ in range(repeats)]
            rows = [{"filter": "none (plain rerun)", "rerun_s": plain}] + [
                {"filter": label, "rerun_s": statistics.median(run[position] for run in passes)}
                for position, (label, _filters) in enumerate(changes)]
            results[page] = {"first_run_s": first, "rows": rows}
    return results


def _filter_pass(at: Any, changes: list[tuple[str, Filters]]) -> list[float]:
    """Seconds of the rerun after each filter change, from no filter, the caches of
    filtered analyses emptied first."""
    _forget_filtered()
    seconds = []
    for _label, filters in changes:
        _clear_filters(at)
        at.run()
        started = time.perf_counter()
        _set_filters(at, filters)
        at.run()
        seconds.append(time.perf_counter() - started)
        _check(at)
    return seconds


def upload_numbers(workspace: Path, sites: Path, count: int = 10_000) -> dict[str, Any]:
    """A ``count``-site upload on the Upload page: from the click on the confirm button to
    the page showing the stored version and the updated statistics (AppTest), on a copy of
    the workspace with its analysis computed before."""
    copy = workspace.with_name("workspace-upload.gpkg")
    shutil.copyfile(workspace, copy)
    frame = gpd.read_parquet(sites)
    step = max(len(frame) // count, 1)
    upload = frame.iloc[::step].head(count)
    path = workspace.with_name(f"sites_{count}.gpkg")
    path.unlink(missing_ok=True)
    upload.to_file(path, driver="GPKG", layer="sites")
    data = path.read_bytes()
    with _environment(GEO_WORKSPACE=str(copy)):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        at.run()  # the workspace's analysis, as when the dashboard has been open
        at.switch_page("pages/upload.py").run()
        at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
            (path.name, data, "application/geopackage+sqlite3")).run()
        _check(at)
        started = time.perf_counter()
        at.button(key=state.UPLOAD_CONFIRM).click().run()
        seconds = time.perf_counter() - started
        _check(at)
        notice = at.success[0].value if at.success else ""
    copy.unlink(missing_ok=True)
    return {"sites": len(upload), "file_mb": len(data) / 1e6, "confirm_to_statistics_s": seconds,
            "notice": notice}


def app_screenshot(workspace: Path, png: Path) -> float:
    """The Map page of the app on ``workspace`` in Chromium: saves a screenshot as ``png``
    (a small palette PNG) and returns the seconds from opening the page (server warm) to
    its map drawn."""
    with served_app(workspace, timeout_s=120) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        _open_map(page, url, timeout=1800)  # the first visit computes the analysis
        page.close()
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        started = time.perf_counter()
        _open_map(page, url, timeout=300)
        seconds = time.perf_counter() - started
        page.wait_for_timeout(1500)
        shot = page.screenshot()
        browser.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(colors=128)
    image.save(png, optimize=True)
    return seconds


# --- helpers -----------------------------------------------------------------------------------


def _forget_filtered() -> None:
    """Empty the caches of filtered analyses and of their maps (not the whole analysis):
    each page meets every filter for the first time, as the first page to show it does."""
    for cached in (data._analysis, data._filtered_map_index, data.map_concessions,
                   data._small_map_html):
        cached.clear()
    with lod._IMAGES_LOCK:
        lod._IMAGES.clear()


def _timed(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _check(at: Any) -> None:
    if at.exception:
        raise RuntimeError(f"the page failed: {at.exception}")


def _clear_filters(at: Any) -> None:
    for key in (state.FILTER_PROVINCES, state.FILTER_LIC_TYPES, state.FILTER_HOLDERS,
                state.FILTER_STATUSES):
        at.multiselect(key=key).set_value([])
    slider = [s for s in at.slider if s.key == state.FILTER_YEARS]
    if slider:
        slider[0].set_value((slider[0].min, slider[0].max))


def _set_filters(at: Any, filters: Filters) -> None:
    for key, values in ((state.FILTER_PROVINCES, filters.provinces),
                        (state.FILTER_LIC_TYPES, filters.lic_types),
                        (state.FILTER_HOLDERS, filters.holders),
                        (state.FILTER_STATUSES, filters.statuses)):
        if values:
            at.multiselect(key=key).set_value(list(values))
    if filters.years is not None:
        at.slider(key=state.FILTER_YEARS).set_value(filters.years)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _open_map(page: Any, url: str, *, timeout: float) -> None:
    """Open the Map page and wait until its map is drawn."""
    page.goto(f"{url}/map")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if frame.evaluate(DRAWN_JS):
                    return
            except Exception:  # frames come and go while the page loads
                continue
        page.wait_for_timeout(100)
    raise RuntimeError("the Map page did not draw its map")


#: Short names of the pages in the tables.
PAGE_NAMES = {"pages/overview.py": "Overview", "pages/map.py": "Map",
              "pages/statistics.py": "Statistics"}


def summary_rows(numbers: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, measured, limit, met) of issue 6's dashboard targets; a rerun's measure is
    the slowest of the pages."""
    first = numbers["map"]["first"]
    rows = [
        ("first map payload (Map page)", f"{first['bytes'] / 1e6:.2f} MB", "<= 3 MB",
         first["bytes"] <= lod.MAX_PAYLOAD_BYTES),
        ("first map build (index + layers + HTML)", f"{first['build_s']:.2f} s", "<= 1 s",
         first["build_s"] <= 1.0),
    ]
    for label, seconds in _slowest_reruns(numbers).items():
        rows.append((f"page rerun, filter change: {label}", f"{seconds:.2f} s", "<= 0.3 s",
                     seconds <= 0.3))
    upload = numbers.get("upload")
    if upload:
        rows.append((f"{upload['sites']:,}-site upload, confirm to updated statistics",
                     f"{upload['confirm_to_statistics_s']:.2f} s", "<= 5 s",
                     upload["confirm_to_statistics_s"] <= 5.0))
    return rows


def _slowest_reruns(numbers: dict[str, Any]) -> dict[str, float]:
    slowest: dict[str, float] = {}
    for result in numbers.get("reruns", {}).values():
        for row in result["rows"]:
            slowest[row["filter"]] = max(slowest.get(row["filter"], 0.0), row["rerun_s"])
    return slowest


def as_markdown(numbers: dict[str, Any]) -> list[str]:
    """The dashboard's part of a RESULTS.md section."""
    out = [("Dashboard (bench/dashboard.py; page reruns are medians of 3 passes, the other "
            "numbers one run, on this machine shared with other work):"), "",
           "| target | measured | limit | met |", "|---|---|---|---|"]
    out += [f"| {target} | {measured} | {limit} | {'yes' if met else 'no'} |"
            for target, measured, limit, met in summary_rows(numbers)]
    reruns = numbers.get("reruns", {})
    if reruns:
        pages = list(reruns)
        out += ["", "Page reruns (seconds, AppTest) after each filter change, from no filter:",
                "", "| filter change | " + " | ".join(PAGE_NAMES.get(p, p) for p in pages)
                + " |", "|---|" + "---|" * len(pages)]
        labels = [row["filter"] for row in reruns[pages[0]]["rows"]]
        for position, label in enumerate(labels):
            cells = [f"{reruns[p]['rows'][position]['rerun_s']:.2f}" for p in pages]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    first = numbers["map"]["first"]
    out += ["", (f"First map: analysis {first['analyse_s']:.2f} s (engine, once per pair of "
                 f"layers), map index {first['index_s']:.2f} s, layers {first['layers_s']:.2f} "
                 f"s, HTML {first['render_s']:.2f} s; concessions as "
                 f"{first['polygons']}, sites as {first['sites']}, zoom {first['zoom']}.")]
    if "drawn_s" in numbers:
        out.append(f"Time to the first drawn map in headless Chromium (saved HTML, median of "
                   f"3): {numbers['drawn_s']:.2f} s.")
    if "app_drawn_s" in numbers:
        out.append(f"Map page of the app on the workspace (server warm), opened to map "
                   f"drawn: {numbers['app_drawn_s']:.2f} s; screenshot "
                   f"`{numbers['screenshot']}`.")
    out += ["", "Zoomed in (the views after a few clicks on +):", "",
            "| zoom | polygons | sites | titles sent | bytes | build_s |",
            "|---|---|---|---|---|---|"]
    out += [f"| {z['zoom']} | {z['polygons']} | {z['sites']} | {z['titles_sent']:,} | "
            f"{z['bytes']:,} | {z['build_s']:.2f} |" for z in numbers["map"]["zoomed"]]
    if numbers.get("filters"):
        out += ["", "Filtered analysis derived from the whole one (`geo.subset.filtered`):", "",
                "| filter | filtered_s |", "|---|---|"]
        out += [f"| {row['filter']} | {row['filtered_s']:.3f} |" for row in numbers["filters"]]
    upload = numbers.get("upload")
    if upload:
        out += ["", (f"Upload: {upload['sites']:,} sites ({upload['file_mb']:.1f} MB "
                     f"GeoPackage); the page said: {upload['notice']}")]
    return [*out, ""]


if __name__ == "__main__":  # pragma: no cover - run through bench/run.py
    raise SystemExit("run: python bench/run.py --size 100k --map")
