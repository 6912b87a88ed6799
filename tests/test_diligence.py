"""Due diligence for market access: qualification, traceability and blocking red flags per
concession, holder and province on small exact layers; the pack opened and checked; the
bundled data against plain counts; the page."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from app_runner import open_app
from shapely import Point, box
from streamlit.testing.v1 import AppTest

from geo.diligence import (
    PACK_GEOPACKAGE,
    diligence_sites,
    diligence_table,
    pack_bytes,
    site_links,
    sites_behind,
)
from geo.errors import SchemaError
from geo.export import csv_bytes, summary, tables_bytes
from geo.i18n import language
from geo.overlap import compute_overlaps
from geo.pipeline import BUNDLED, Analysis, analyse, load_bundled
from geo.schema import DILIGENCE_LINK_COLUMNS, DILIGENCE_SITE_COLUMNS, diligence_columns
from geo.stats import concession_stats, totals
from ui import state

INDICATORS = ["sites", "workers", "green", "yellow", "red", "not_qualified", "itsci",
              "itsci_pct", "armed", "child_lab", "mercury", "blocked", "blocked_pct"]


@pytest.fixture
def overlaps():
    """Titles A and B of holder H1 overlap; C is H2's; D has no holder and no sites."""
    concessions = gpd.GeoDataFrame(
        {
            "conc_id": ["A", "B", "C", "D"],
            "name": ["Alpha", "Beta", "Gamma", "Delta"],
            "holder": ["H1", "H1", "H2", None],
            "lic_type": ["exploitation", "exploration", "exploitation", "other"],
            "status": ["active", "active", "expired", None],
        },
        geometry=[box(0, 0, 1, 1), box(0.5, 0, 1.5, 1), box(3, 0, 4, 1), box(10, 10, 11, 11)],
        crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["s1", "s2", "s3", "s4", "s5", "s6"],
            "name": ["One", "Two", "Three", "=cmd|' /C calc'!A0", "Five", "Six"],
            "province": ["P1", "P1", "P1", "P2", "P2", None],
            "workers": pd.array([10, 20, None, 5, 7, 3], dtype="Int64"),
            "qualification": ["green", "yellow", "red", None, "green", None],
            "itsci": pd.array([True, False, None, None, True, None], dtype="boolean"),
            "armed": pd.array([False, True, False, False, False, None], dtype="boolean"),
            "child_lab": pd.array([False, False, True, None, False, None], dtype="boolean"),
            "mercury": pd.array([False, False, True, False, None, None], dtype="boolean"),
        },
        geometry=[Point(0.2, 0.5), Point(0.7, 0.5), Point(1.2, 0.5), Point(3.5, 0.5),
                  Point(5, 5), Point(6, 6)],
        crs=4326,
    )
    return compute_overlaps(concessions, sites)


def _rows(table: pd.DataFrame, key: str) -> dict[str, list[object]]:
    """Each row's indicators, in the order of :data:`INDICATORS`."""
    return {str(k): list(v) for k, v in table.set_index(key)[INDICATORS].iterrows()}


def test_per_concession(overlaps) -> None:
    table = diligence_table(overlaps, "concession")
    assert table.columns.tolist() == diligence_columns("concession")
    assert table["conc_id"].tolist() == ["A", "B", "C", "D"]
    assert table.set_index("conc_id").loc["A", ["name", "holder", "lic_type"]].tolist() == [
        "Alpha", "H1", "exploitation"]
    # A: s1 (green, ITSCI) and s2 (yellow, armed); B: s2 and s3 (red, child labour and
    # mercury, workers unknown); C: s4 (not qualified, nothing recorded); D: nothing.
    assert _rows(table, "conc_id") == {
        #     sites work  G  Y  R  NQ ITSCI  %    arm chi mer blk   %
        "A": [2, 30, 1, 1, 0, 0, 1, 50.0, 1, 0, 0, 1, 50.0],
        "B": [2, 20, 0, 1, 1, 0, 0, 0.0, 1, 1, 1, 2, 100.0],
        "C": [1, 5, 0, 0, 0, 1, 0, 0.0, 0, 0, 0, 0, 0.0],
        "D": [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, 0, 0.0],
    }


def test_per_holder_counts_a_site_once(overlaps) -> None:
    table = diligence_table(overlaps, "holder")
    assert table.columns.tolist() == diligence_columns("holder")
    assert table["holder"].tolist() == ["H1", "H2", "(unknown)"]
    assert table["concessions"].tolist() == [2, 1, 1]
    # s2 lies in both of H1's titles and counts once: s1, s2, s3.
    assert _rows(table, "holder") == {
        "H1": [3, 30, 1, 1, 1, 0, 1, 33.33, 1, 1, 1, 2, 66.67],
        "H2": [1, 5, 0, 0, 0, 1, 0, 0.0, 0, 0, 0, 0, 0.0],
        "(unknown)": [0, 0, 0, 0, 0, 0, 0, 0.0, 0, 0, 0, 0, 0.0],
    }


def test_per_province_counts_every_site(overlaps) -> None:
    table = diligence_table(overlaps, "province")
    assert table.columns.tolist() == diligence_columns("province")
    # P2: s4 inside C and s5 outside every title; s6 has no province; its armed actors are
    # unknown, which does not block.
    assert _rows(table, "province") == {
        "P1": [3, 30, 1, 1, 1, 0, 1, 33.33, 1, 1, 1, 2, 66.67],
        "P2": [2, 12, 1, 0, 0, 1, 1, 50.0, 0, 0, 0, 0, 0.0],
        "(unknown)": [1, 3, 0, 0, 0, 1, 0, 0.0, 0, 0, 0, 0, 0.0],
    }
    assert table["province"].tolist() == ["P1", "P2", "(unknown)"]
    assert table["sites"].sum() == len(overlaps.sites)


def test_unknown_view_is_refused(overlaps) -> None:
    with pytest.raises(SchemaError, match="must be one of concession, holder, province"):
        diligence_table(overlaps, "country")  # type: ignore[arg-type]


def test_sites_behind_a_row(overlaps) -> None:
    assert sites_behind(overlaps, "concession", "A")["site_id"].tolist() == ["s2", "s1"]
    # Blocked first, then most workers (s3's are unknown).
    assert sites_behind(overlaps, "holder", "H1")["site_id"].tolist() == ["s2", "s3", "s1"]
    assert sites_behind(overlaps, "province", "(unknown)")["site_id"].tolist() == ["s6"]
    assert sites_behind(overlaps, "concession", "D").empty


def test_site_table_and_links(overlaps) -> None:
    sites = diligence_sites(overlaps)
    assert sites.columns.tolist() == list(DILIGENCE_SITE_COLUMNS)
    row = sites.set_index("site_id").loc["s2"]
    # Inside A (exploitation) and B (exploration): A decides its tenure.
    assert (row["conc_id"], row["holder"], row["n_conc"], row["tenure"]) == (
        "A", "H1", 2, "exploitation")
    assert sites["blocked"].tolist() == [False, True, True, False, False, False]
    assert pd.isna(sites.set_index("site_id").loc["s6", "armed"])
    links = site_links(overlaps)
    assert links.columns.tolist() == list(DILIGENCE_LINK_COLUMNS)
    assert list(links.itertuples(index=False, name=None)) == [
        ("s1", "A"), ("s2", "A"), ("s2", "B"), ("s3", "B"), ("s4", "C")]


def test_the_pack_can_be_checked(overlaps, tmp_path: Path) -> None:
    analysis = Analysis(overlaps, concession_stats(overlaps), totals(overlaps))
    info = summary(analysis, sources={"sites": "test sites"})
    archive = zipfile.ZipFile(io.BytesIO(pack_bytes(overlaps, info)))
    assert sorted(archive.namelist()) == sorted([
        "concessions.csv", "holders.csv", "provinces.csv", "sites.csv",
        "site_concessions.csv", PACK_GEOPACKAGE, "METHOD.txt"])
    note = archive.read("METHOD.txt").decode("utf-8")
    assert "Method note" in note
    assert "Due diligence for market access" in note
    assert "Source (sites): test sites" in note

    concessions = pd.read_csv(archive.open("concessions.csv"))
    assert concessions.set_index("conc_id").loc["B", "blocked"] == 2
    holders = pd.read_csv(archive.open("holders.csv"), keep_default_na=False)
    assert holders.set_index("holder").loc["H1", "sites"] == 3
    sites = pd.read_csv(archive.open("sites.csv"))
    # A name a spreadsheet would run as a command is neutralised.
    assert sites.set_index("site_id").loc["s4", "name"] == "'=cmd|' /C calc'!A0"
    links = pd.read_csv(archive.open("site_concessions.csv"))
    assert len(links) == 5

    path = tmp_path / PACK_GEOPACKAGE
    path.write_bytes(archive.read(PACK_GEOPACKAGE))
    assert {name for name, _geometry in pyogrio.list_layers(path)} == {
        "concessions", "sites", "method"}
    layer = pyogrio.read_dataframe(path, layer="concessions")
    assert layer.crs.to_epsg() == 4326
    assert layer["conc_id"].tolist() == ["A", "B", "C", "D"]
    assert layer["sites"].tolist() == [2, 2, 1, 0]
    assert layer["blocked_pct"].tolist() == [50.0, 100.0, 0.0, 0.0]
    assert layer.geometry.iloc[0].equals(box(0, 0, 1, 1))
    points = pyogrio.read_dataframe(path, layer="sites")
    assert len(points) == 6
    assert points.set_index("site_id").loc["s3", "qualification"] == "red"
    assert points.set_index("site_id").loc["s3", "geometry"].equals(Point(1.2, 0.5))
    method = pyogrio.read_dataframe(path, layer="method", read_geometry=False)
    assert "Due diligence for market access" in method["line"].tolist()


def test_table_downloads(overlaps) -> None:
    sites = diligence_sites(overlaps)
    text = csv_bytes(sites).decode("utf-8")
    assert "'=cmd" in text
    tables = {"table": diligence_table(overlaps, "holder"), "sites": sites}
    workbook = tables_bytes(tables, "xlsx", "line one\nline two")
    sheets = pd.read_excel(io.BytesIO(workbook), sheet_name=None)
    assert list(sheets) == ["table", "sites", "method"]
    assert sheets["method"]["method"].tolist() == ["line one", "line two"]
    assert sheets["sites"].set_index("site_id").loc["s4", "name"].startswith("'=")


# --- the bundled data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return analyse(load_bundled("concessions"), load_bundled("sites"))


def test_bundled_green_sites_inside_titles_against_a_plain_count(bundled) -> None:
    raw = gpd.read_file(BUNDLED["sites"])
    green = raw[raw["qualification"] == "Vert"]
    provinces = diligence_table(bundled.overlaps, "province")
    assert provinces["green"].sum() == len(green) == 500
    assert provinces["itsci"].sum() == (raw["itsci"] == "Actif").sum() == 486
    # Green sites inside any title, by a plain loop over the titles.
    titles = list(load_bundled("concessions").data.geometry)
    for title in titles:
        shapely.prepare(title)
    inside = sum(any(title.covers(point) for title in titles) for point in green.geometry)
    sites = diligence_sites(bundled.overlaps)
    counted = ((sites["qualification"] == "green") & (sites["n_conc"] > 0)).sum()
    assert counted == inside
    # Per province, against plain pandas counts of the source file.
    by_province = provinces.set_index("province")
    per_province = green.groupby("province").size()
    assert by_province.loc[per_province.index, "green"].tolist() == per_province.tolist()
    blocked = (raw[["presence", "childunder15", "mercury"]] == 1).any(axis=1)
    plain = blocked.groupby(raw["province"]).sum()
    assert by_province.loc[plain.index, "blocked"].tolist() == plain.tolist()
    assert by_province["blocked"].sum() == blocked.sum() == 1406


def test_bundled_holder_rows_match_their_sites(bundled) -> None:
    holders = diligence_table(bundled.overlaps, "holder")
    top = holders.iloc[0]
    behind = sites_behind(bundled.overlaps, "holder", top["holder"])
    assert len(behind) == top["sites"]
    assert behind["blocked"].sum() == top["blocked"]
    assert (behind["qualification"] == "green").sum() == top["green"]
    assert int(np.asarray(behind["itsci"].fillna(False), dtype=bool).sum()) == top["itsci"]


# --- the page ----------------------------------------------------------------------------




def _numbers(at: AppTest) -> list[int]:
    return [int(re.sub(r"\D", "", metric.value)) for metric in at.metric]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_page_shows_the_views(lang: str) -> None:
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/due_diligence.py").run()
        assert not at.exception, at.exception
        assert _numbers(at) == [2988, 529, 8, 486, 1406]
        # The concession with most sites is picked first; its sites are listed.
        assert at.selectbox(key=state.DILIGENCE_PICK).value == "12028"
        assert len(at.dataframe[1].value) == 58
        at.segmented_control(key=state.DILIGENCE_VIEW).set_value("province").run()
        assert not at.exception, at.exception
        assert at.selectbox(key=state.DILIGENCE_PICK).value == "Sud-Kivu"
        assert len(at.dataframe[1].value) == 775
        at.selectbox(key=state.DILIGENCE_PICK).set_value("Tanganyika").run()
        assert len(at.dataframe[1].value) == 175
        at.segmented_control(key=state.DILIGENCE_VIEW).set_value("holder").run()
        at.text_input(key=state.DILIGENCE_SEARCH).set_value("BANRO").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["holder"].str.contains("BANRO").all()
    keys = {button.key for button in at.download_button}
    assert {f"{state.DILIGENCE_DOWNLOAD_PREFIX}{name}" for name in ("pack", "csv", "xlsx")} <= keys


def test_page_without_sites_inside_titles() -> None:
    at = open_app()
    at.multiselect(key=state.FILTER_PROVINCES).set_value(["Bas-Uele"]).run()
    at.switch_page("pages/due_diligence.py").run()
    assert not at.exception, at.exception
    assert _numbers(at)[0] == 12
    assert "No row to show" in at.info[0].value
    at.toggle(key=state.DILIGENCE_WITH_SITES).set_value(False).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[1].value) == 0
