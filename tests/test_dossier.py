"""The concession dossier: its numbers on a small exact fixture, its HTML and PDF, the command
line on the bundled data, and the dashboard page (with the Map page's link to it).

The fixture, near the equator (1 km is about 0.009 degrees):

* ``PE-4401`` (exploitation) = box(0, 0, 0.1, 0.1); ``PR-77`` (exploration) = box(0.1, 0,
  0.2, 0.1) shares its eastern edge; ``ZEA-9`` (artisanal zone) lies about 33 km away.
* Sites, with their place relative to ``PE-4401``:

  ====  ==========================  =======  ===========  ======  =====================
  site  where                       workers  flags        first   ring of PE-4401
  ====  ==========================  =======  ===========  ======  =====================
  s1    point (0.05, 0.05)          100      mercury      2015    inside
  s2    point (0.02, 0.08)          unknown  armed        2016    inside
  s3    polygon 0.06-0.07 square    50       none         2016    inside
  s8    polygon across the edge     40       mercury      2016    inside (and in PR-77)
  s9    point on the shared edge    5        none         2015    inside (boundary rule)
  s5    point 0.005 deg west        20       unrecorded   2015    ring 1 (0.56 km)
  s4    point inside PR-77          30       armed, child 2017    ring 2 (3.34 km)
  s6    point 0.07 deg south        10       mercury      none    ring 3 (7.74 km)
  s7    point 0.1 deg north         7        all three    2015    beyond 10 km
  ====  ==========================  =======  ===========  ======  =====================
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pypdf
import pyproj
import pytest
import shapely
from app_runner import open_app
from shapely import Point, box

from geo import format as fmt
from geo.dossier import Dossier, concession_dossier
from geo.errors import GeoError, NotFoundError
from geo.export import summary
from geo.i18n import language
from geo.overlap import compute_overlaps
from geo.pipeline import Analysis
from geo.report import figures, html_report, pdf_report
from geo.schema import (
    DOSSIER_FLAG_COLUMNS,
    DOSSIER_FLAG_SITE_COLUMNS,
    DOSSIER_RING_COLUMNS,
    DOSSIER_SITE_COLUMNS,
    TENURE_CLASSES,
    dossier_tenure_columns,
    dossier_year_columns,
    normalise_concessions,
    normalise_sites,
)
from geo.stats import concession_stats, totals
from ui import state

ROOT = Path(__file__).resolve().parents[1]
GEOD = pyproj.Geod(ellps="WGS84")
HOLDER = 'Société <b>Minière</b> & "Cie"'
S8 = box(0.095, 0.02, 0.105, 0.03)
S3 = box(0.06, 0.06, 0.07, 0.07)


def _analysis(*, radius_m: float | None = None) -> Analysis:
    concessions = gpd.GeoDataFrame(
        {
            "conc_id": ["PE-4401", "PR-77", "ZEA-9"],
            "holder": [HOLDER, "Beta Exploration", "Coopérative Ωmega"],
            "lic_type": ["exploitation", "exploration", "asm_zone"],
            "status": ["Actif", "Actif", "Actif"],
            "expiry": ["2030-01-31", "2027-06-30", None],
        },
        geometry=[box(0, 0, 0.1, 0.1), box(0.1, 0, 0.2, 0.1), box(0.5, 0.5, 0.6, 0.6)],
        crs=4326,
    )
    rows = [  # site_id, geometry, workers, mercury, armed, child_lab, first_seen
        ("s1", Point(0.05, 0.05), 100, True, False, False, "2015-03-01"),
        ("s2", Point(0.02, 0.08), None, None, True, None, "2016-05-01"),
        ("s3", S3, 50, False, False, False, "2016-01-01"),
        ("s8", S8, 40, True, False, False, "2016-09-01"),
        ("s9", Point(0.1, 0.09), 5, False, False, False, "2015-02-01"),
        ("s5", Point(-0.005, 0.05), 20, None, None, None, "2015-07-01"),
        ("s4", Point(0.13, 0.05), 30, False, True, True, "2017-06-01"),
        ("s6", Point(0.05, -0.07), 10, True, False, False, None),
        ("s7", Point(0.05, 0.2), 7, True, True, True, "2015-01-01"),
    ]
    sites = gpd.GeoDataFrame(
        {
            "site_id": [r[0] for r in rows],
            "name": ["Mine Ωmega", "Šahta Кварц", "<script>x</script>", "Edge", "Border",
                     "West", "Beta pit", "South", "Far"],
            "workers": [r[2] for r in rows],
            "mercury": [r[3] for r in rows],
            "armed": [r[4] for r in rows],
            "child_lab": [r[5] for r in rows],
            "seen": [r[6] for r in rows],
            "first_seen": [r[6] for r in rows],
        },
        geometry=[r[1] for r in rows], crs=4326,
    )
    overlaps = compute_overlaps(normalise_concessions(concessions), normalise_sites(sites),
                                radius_m=radius_m)
    return Analysis(overlaps, concession_stats(overlaps), totals(overlaps))


def _geod_ha(geometry: object) -> float:
    area, _perimeter = GEOD.geometry_area_perimeter(geometry)
    return abs(area) / 10_000.0


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return _analysis()


@pytest.fixture(scope="module")
def dossier(analysis: Analysis) -> Dossier:
    return concession_dossier(analysis, "PE-4401")


@pytest.fixture(scope="module")
def info(analysis: Analysis) -> dict[str, object]:
    return summary(analysis, sources={"concessions": "Test <cadastre>", "sites": "Survey"})


# --- the numbers ---------------------------------------------------------------------------


def test_attributes_area_and_overlap(dossier: Dossier) -> None:
    assert (dossier.conc_id, dossier.holder, dossier.lic_type, dossier.status) == (
        "PE-4401", HOLDER, "exploitation", "Actif")
    assert dossier.expiry == pd.Timestamp("2030-01-31")
    title = box(0, 0, 0.1, 0.1)
    assert dossier.area_ha == pytest.approx(_geod_ha(title), rel=1e-6)
    # The overlap zone: the title intersected with the union of the site polygons touching it
    # (s3 wholly inside, the western half of s8); the point sites have no area.
    expected = _geod_ha(shapely.intersection(title, shapely.union(S3, S8)))
    assert dossier.overlap_ha == pytest.approx(expected, rel=1e-6)
    assert dossier.overlap_pct == pytest.approx(100 * expected / _geod_ha(title), abs=1e-4)


def test_sites_and_workers_by_ring(dossier: Dossier) -> None:
    table = dossier.by_ring
    assert list(table.columns) == list(DOSSIER_RING_COLUMNS)
    assert table["ring"].tolist() == [0, 1, 2, 3]
    assert table[["inner_km", "outer_km"]].values.tolist() == [[0, 0], [0, 1], [1, 5], [5, 10]]
    assert table["sites"].tolist() == [5, 1, 1, 1]  # s1 s2 s3 s8 s9 | s5 | s4 | s6; s7 too far
    assert table["workers"].tolist() == [195, 20, 30, 10]  # s2's unknown count is 0
    assert table["mercury"].tolist() == [2, 0, 0, 1]
    assert table["armed"].tolist() == [1, 0, 1, 0]
    assert table["child_lab"].tolist() == [0, 0, 1, 0]
    assert (dossier.sites_in, dossier.sites_near) == (5, 3)
    assert (dossier.workers_in, dossier.workers_near) == (195, 60)
    assert dossier.flagged_in == 3  # s1, s2, s8


def test_sites_by_tenure_class(dossier: Dossier) -> None:
    table = dossier.by_tenure.set_index("tenure")
    assert list(dossier.by_tenure.columns) == dossier_tenure_columns(3)
    assert list(table.index) == list(TENURE_CLASSES)
    # s8 (inside both titles) and the boundary point s9 take the exploitation permit's class.
    assert table.loc["exploitation"].tolist() == [5, 0, 0, 0, 195, 0]
    assert table.loc["exploration"].tolist() == [0, 0, 1, 0, 0, 30]  # s4, inside PR-77
    assert table.loc["unlicensed"].tolist() == [0, 1, 0, 1, 0, 30]  # s5, s6
    assert table.loc[["asm_zone", "small_scale", "other_title"]].to_numpy().sum() == 0


def test_red_flags_and_the_sites_behind_them(dossier: Dossier) -> None:
    flags = dossier.flags.set_index("flag")
    assert list(dossier.flags.columns) == list(DOSSIER_FLAG_COLUMNS)
    assert flags.loc["mercury"].tolist() == [2, 1, 140, 10, 2]  # s1 s8 | s6; s2 s5 unrecorded
    assert flags.loc["armed"].tolist() == [1, 1, 0, 30, 1]  # s2 | s4; s5 unrecorded
    assert flags.loc["child_lab"].tolist() == [0, 1, 0, 30, 2]  # s4; s2 s5 unrecorded
    behind = dossier.flag_sites
    assert list(behind.columns) == list(DOSSIER_FLAG_SITE_COLUMNS)
    assert behind["flag"].tolist() == ["mercury"] * 3 + ["armed"] * 2 + ["child_lab"]
    assert set(behind.loc[behind["flag"] == "mercury", "site_id"].iloc[:2]) == {"s1", "s8"}
    assert behind.loc[behind["flag"] == "mercury", "site_id"].iloc[2] == "s6"
    assert behind.loc[behind["flag"] == "armed", "site_id"].tolist() == ["s2", "s4"]
    assert behind.loc[behind["flag"] == "child_lab", "site_id"].tolist() == ["s4"]
    assert "s7" not in set(behind["site_id"])


def test_trend_by_year_first_seen(dossier: Dossier) -> None:
    table = dossier.by_year
    assert list(table.columns) == dossier_year_columns(3)
    assert table.values.tolist() == [
        # year, inside, ring 1, ring 2, ring 3, workers inside, workers in the rings
        [2015, 2, 1, 0, 0, 105, 20],  # s1 s9 | s5
        [2016, 3, 0, 0, 0, 90, 0],  # s2 s3 s8
        [2017, 0, 0, 1, 0, 0, 30],  # s4
    ]
    assert dossier.undated == 1  # s6


def test_sites_table_and_shapes(dossier: Dossier) -> None:
    sites = dossier.sites
    assert list(sites.columns) == list(DOSSIER_SITE_COLUMNS)
    assert set(sites["site_id"].iloc[:5]) == {"s1", "s2", "s3", "s8", "s9"}
    assert sites["site_id"].iloc[5:].tolist() == ["s5", "s4", "s6"]  # nearest first
    assert sites["ring"].tolist() == [0] * 5 + [1, 2, 3]
    assert sites["dist_km"].iloc[5:].tolist() == pytest.approx([0.5566, 3.3396, 7.7402],
                                                              abs=2e-3)
    shapes = dossier.site_shapes.set_index("site_id")
    assert shapes.geometry.geom_type.to_dict() == {
        "s1": "Point", "s2": "Point", "s3": "Polygon", "s8": "Polygon", "s9": "Point",
        "s5": "Point", "s4": "Point", "s6": "Point"}
    assert shapes.loc[["s1", "s2", "s8", "s4", "s6"], "flagged"].all()
    assert not shapes.loc[["s3", "s9", "s5"], "flagged"].any()
    assert dossier.neighbours["conc_id"].tolist() == ["PR-77"]
    assert dossier.rings["ring_km"].tolist() == [1.0, 5.0, 10.0]
    assert dossier.zones["conc_id"].tolist() == ["PE-4401"]


def test_a_site_inside_one_title_counts_in_the_rings_of_its_neighbour(
    analysis: Analysis,
) -> None:
    beta = concession_dossier(analysis, "PR-77")
    # Inside: s4 and the straddling s8; ring 1: the boundary point s9 (given to PE-4401);
    # ring 2: s3 (3.3 km); ring 3: s1 (5.6 km), s2 (8.9 km), s6 (9.5 km).
    assert beta.by_ring["sites"].tolist() == [2, 1, 1, 3]
    tenure = beta.by_tenure.set_index("tenure")["sites_in"]
    assert (tenure["exploitation"], tenure["exploration"]) == (1, 1)


def test_footprint_radius_adds_circles_to_the_overlap() -> None:
    with_radius = concession_dossier(_analysis(radius_m=100.0), "PE-4401")
    without = concession_dossier(_analysis(), "PE-4401")
    assert with_radius.overlap_ha > without.overlap_ha
    assert with_radius.radius_m == 100.0


def test_unknown_concession_is_one_plain_sentence(analysis: Analysis) -> None:
    with pytest.raises(NotFoundError, match=r"^There is no concession 'XX-1' .*\.$") as caught:
        concession_dossier(analysis, "XX-1")
    assert isinstance(caught.value, GeoError)
    assert "\n" not in str(caught.value)


def test_a_title_with_no_site_around() -> None:
    lonely = concession_dossier(_analysis(), "ZEA-9")
    assert lonely.by_ring["sites"].tolist() == [0, 0, 0, 0]
    assert lonely.sites.empty
    assert lonely.flag_sites.empty
    assert lonely.by_year.empty
    assert list(lonely.by_year.columns) == dossier_year_columns(3)


# --- the documents ------------------------------------------------------------------------


def _pdf_text(content: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


def _pdf_images(content: bytes) -> int:
    reader = pypdf.PdfReader(io.BytesIO(content))
    found = 0
    for page in reader.pages:
        objects = page.get("/Resources", {}).get("/XObject", {})
        found += sum(obj.get_object().get("/Subtype") == "/Image" for obj in objects.values())
    return found


def _plain(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_html_report(dossier: Dossier, info: dict[str, object], lang: str) -> None:
    with language(lang):
        page = html_report(dossier, info)
        numbers = [fmt.hectares(dossier.area_ha), fmt.hectares(dossier.overlap_ha),
                   fmt.percent(dossier.overlap_pct), fmt.count(dossier.workers_in)]
    assert page.startswith("<!DOCTYPE html>")
    assert f'<html lang="{lang}">' in page
    assert "PE-4401" in page
    for number in numbers:
        assert _plain(number) in _plain(page), number
    assert page.count("data:image/png;base64,") == 2  # the map and the chart by year
    # Attribute values are text, never markup; nothing is fetched from the network.
    assert "Société &lt;b&gt;Minière&lt;/b&gt; &amp; &quot;Cie&quot;" in page
    assert "<b>Minière" not in page
    assert "<script>x" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "Test &lt;cadastre&gt;" in page  # the method note's sources
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "Šahta Кварц" in page


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_pdf_report(dossier: Dossier, info: dict[str, object], lang: str) -> None:
    with language(lang):
        content = pdf_report(dossier, info)
        numbers = [fmt.hectares(dossier.area_ha), fmt.percent(dossier.overlap_pct),
                   fmt.count(dossier.workers_in), fmt.date(dossier.expiry)]
    assert content.startswith(b"%PDF-")
    text = _pdf_text(content)
    assert "PE-4401" in text
    for number in numbers:
        assert _plain(str(number)) in text, number
    assert _pdf_images(content) >= 2  # the map and the chart by year
    assert HOLDER in text  # printed as written, markup characters included
    assert "Šahta Кварц" in text
    assert "Ωmega" in text
    assert "EPSG:4326" in text
    assert "Survey" in text


def test_pictures_are_png(dossier: Dossier) -> None:
    pictures = figures(dossier)
    assert pictures.map_png.startswith(b"\x89PNG")
    assert pictures.years_png is not None
    assert pictures.years_png.startswith(b"\x89PNG")


def test_documents_of_a_title_with_no_site_around(info: dict[str, object]) -> None:
    lonely = concession_dossier(_analysis(), "ZEA-9")
    page = html_report(lonely, info)
    assert page.count("data:image/png;base64,") == 1  # the map; no dates, no chart
    assert "no trend" in page
    assert "ZEA-9" in _pdf_text(pdf_report(lonely, info))


# --- the command line ---------------------------------------------------------------------


def run_geo(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", *map(str, args)], cwd=ROOT, capture_output=True,
        text=True, timeout=300, check=False, env={**os.environ, "GEO_LANG": "en"},
    )


def test_cli_writes_both_formats_on_the_bundled_data(tmp_path: Path) -> None:
    for name in ("12028.pdf", "12028.html"):
        proc = run_geo("report", "12028", "-o", tmp_path / name, "--rings", "1,5,10")
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
    pdf = (tmp_path / "12028.pdf").read_bytes()
    assert "12028" in _pdf_text(pdf)
    assert "MONGBWALU" in _pdf_text(pdf)
    assert _pdf_images(pdf) >= 1
    page = (tmp_path / "12028.html").read_text(encoding="utf-8")
    assert "12028" in page
    assert "data:image/png;base64," in page


def test_cli_on_a_workspace(tmp_path: Path, seeded_workspace_file: Path) -> None:
    out = tmp_path / "dossier.html"
    proc = run_geo("report", "12028", "--workspace", seeded_workspace_file, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "(version" in out.read_text(encoding="utf-8")  # sources name the stored versions


@pytest.mark.parametrize(("args", "message"), [
    (["report", "NO-SUCH-TITLE", "-o", "{tmp}/x.pdf"], "There is no concession 'NO-SUCH-TITLE'"),
    (["report", "12028", "-o", "{tmp}/x.txt"], "must end in .pdf or .html"),
    (["report", "12028", "-o", "{tmp}/missing/x.pdf"], "does not exist"),
    (["report", "12028", "-o", "{tmp}/x.pdf", "--rings", "1,five"], "--rings must be"),
])
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = run_geo(*(arg.format(tmp=tmp_path) for arg in args))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert not list(tmp_path.glob("x.*"))


# --- the dashboard ------------------------------------------------------------------------




@pytest.mark.parametrize("lang", ["en", "fr"])
def test_dossier_page(lang: str) -> None:
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/dossier.py").run()
        assert not at.exception, at.exception
        # Without a title chosen on the map: the one with the most sites inside.
        assert at.selectbox(key=state.DOSSIER_PICK).value == "12028"
        at.selectbox(key=state.DOSSIER_PICK).set_value("80").run()
        assert not at.exception, at.exception
        area = fmt.hectares(29457.342052)
        assert at.session_state[state.SELECTED_CONCESSION] == "80"  # the Map page follows
        assert "80" in at.subheader[0].value
        buttons = {button.key for button in at.get("download_button")}
        assert buttons == {state.DOSSIER_DOWNLOAD_HTML, state.DOSSIER_DOWNLOAD_PDF}
        values = [metric.value for metric in at.metric]
        assert area in values
        assert "47" in values  # sites inside title 80
        at.radio(key=state.DOSSIER_YEAR_MEASURE).set_value("Workers").run()
        assert not at.exception, at.exception


def test_map_page_links_to_the_dossier_of_the_clicked_title() -> None:
    at = open_app()
    at.switch_page("pages/map.py")
    at.session_state[state.SELECTED_CONCESSION] = "2598"  # as a click on the map sets it
    at.run()
    assert not at.exception, at.exception
    links = [link for link in at.get("page_link") if link.proto.label == "Open the dossier"]
    assert len(links) == 1
    assert links[0].proto.page == "dossier"
    at.switch_page("pages/dossier.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.DOSSIER_PICK).value == "2598"
    assert "2598" in at.subheader[0].value


def test_dossier_page_with_filters_that_hide_the_selected_title() -> None:
    at = open_app()
    at.session_state[state.SELECTED_CONCESSION] = "2598"
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["asm_zone"]).run()
    at.switch_page("pages/dossier.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=state.DOSSIER_PICK).value != "2598"  # falls back, no error
