"""Downloads (:func:`geo.export.export_bytes`): every format reads back, carries the method
note, and neutralises spreadsheet formulas without turning numbers into text."""

from __future__ import annotations

import io
import json
import zipfile

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from shapely import Point, box

from geo.export import (
    _csv_by_columns,
    csv_text,
    export_bytes,
    spreadsheet_safe,
    summary,
    tables,
)
from geo.io import read_layer
from geo.measure import AREA_METHOD
from geo.overlap import compute_overlaps
from geo.pipeline import Analysis
from geo.stats import concession_stats, totals

#: Holder names a spreadsheet would run as formulas.
FORMULAS = ['=HYPERLINK("http://evil.example","click")', "@SUM(1)", "+1+2", "-2+3"]
FORMATS = ["csv", "xlsx", "geojson", "gpkg", "shapefile"]


@pytest.fixture(scope="module")
def analysis():
    # Western Ghana: negative longitudes, so lon columns hold negative numbers.
    geoms = [box(-1.5 + 0.1 * i, 5.5, -1.42 + 0.1 * i, 5.58) for i in range(5)]
    conc = gpd.GeoDataFrame(
        {"conc_id": ["G1", "G2", "G3", "G4", "G5"],
         "holder": [*FORMULAS, "Plain Mining Ltd"],
         "lic_type": ["exploitation", "exploration", "small_scale", "asm_zone", "other"],
         "expiry": pd.to_datetime(["2030-01-01", None, "2025-06-30", None, None])},
        geometry=geoms, crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["a", "b", "c", "d"],
         "name": ["=1+1", "Site B", "@cmd", "Site D"],
         "workers": pd.array([10, 0, 5, 3], dtype="Int64")},
        geometry=[box(-1.49, 5.51, -1.47, 5.53), box(-1.38, 5.52, -1.35, 5.56),
                  Point(-1.2, 5.55), Point(-1.0, 5.0)],
        crs=4326,
    )
    overlaps = compute_overlaps(conc, sites)
    return Analysis(overlaps, concession_stats(overlaps), totals(overlaps))


@pytest.fixture(scope="module")
def info(analysis):
    return summary(analysis, sources={"concessions": "test titles", "sites": "test sites"})


@pytest.fixture(scope="module")
def exported(analysis, info):
    return {fmt: export_bytes(analysis, fmt, info) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_not_empty(exported, fmt):
    assert len(exported[fmt]) > 100


def test_csv_zip(analysis, exported):
    expected = tables(analysis)
    with zipfile.ZipFile(io.BytesIO(exported["csv"])) as archive:
        names = set(archive.namelist())
        assert names == {f"{name}.csv" for name in expected} | {"METHOD.txt"}
        for name, table in expected.items():
            read = pd.read_csv(archive.open(f"{name}.csv"))
            assert len(read) == len(table), name
        note = archive.read("METHOD.txt").decode()
    assert AREA_METHOD in note
    assert "test titles" in note


def test_csv_neutralises_formulas_keeps_numbers(exported):
    with zipfile.ZipFile(io.BytesIO(exported["csv"])) as archive:
        conc = pd.read_csv(archive.open("concessions.csv"))
        sites = pd.read_csv(archive.open("sites.csv"))
        raw = archive.read("concessions.csv").decode()
    assert conc["holder"].tolist() == [f"'{f}" for f in FORMULAS] + ["Plain Mining Ltd"]
    assert "\n=" not in raw
    assert ",=" not in raw
    assert ",@" not in raw
    assert sites["name"].tolist()[:3] == ["'=1+1", "Site B", "'@cmd"]
    assert pd.api.types.is_float_dtype(sites["lon"])
    assert (sites["lon"] < 0).all()
    assert pd.api.types.is_numeric_dtype(conc["area_ha"])


def test_xlsx(analysis, exported):
    book = openpyxl.load_workbook(io.BytesIO(exported["xlsx"]))
    expected = tables(analysis)
    assert set(book.sheetnames) == {name[:31] for name in expected} | {"method"}
    for name, table in expected.items():
        assert book[name[:31]].max_row - 1 == len(table), name
    note = "\n".join(str(row[0]) for row in book["method"].iter_rows(values_only=True))
    assert AREA_METHOD in note


def test_xlsx_neutralises_formulas_keeps_numbers(exported):
    book = openpyxl.load_workbook(io.BytesIO(exported["xlsx"]))
    sheet = book["concessions"]
    header = [cell.value for cell in sheet[1]]
    holder = header.index("holder") + 1
    holders = [sheet.cell(row=r, column=holder) for r in range(2, sheet.max_row + 1)]
    assert [c.value for c in holders] == [f"'{f}" for f in FORMULAS] + ["Plain Mining Ltd"]
    assert all(c.data_type == "s" for c in holders)  # text, never a formula ("f")
    sites = book["sites"]
    header = [cell.value for cell in sites[1]]
    lon = [sites.cell(row=r, column=header.index("lon") + 1) for r in range(2, sites.max_row + 1)]
    assert all(c.data_type == "n" and c.value < 0 for c in lon)
    names = [sites.cell(row=r, column=header.index("name") + 1).value
             for r in range(2, sites.max_row + 1)]
    assert names[0] == "'=1+1"
    for row in book["concessions"].iter_rows():
        assert all(cell.data_type != "f" for cell in row)


def test_geojson(analysis, exported):
    collection = json.loads(exported["geojson"])
    assert AREA_METHOD in collection["method"]
    zones = gpd.read_file(io.BytesIO(exported["geojson"]))
    assert len(zones) == len(analysis.overlaps.zones) == 2
    assert set(zones["conc_id"]) == {"G1", "G2"}
    assert zones.crs.to_epsg() == 4326


def test_gpkg(analysis, exported, tmp_path):
    path = tmp_path / "export.gpkg"
    path.write_bytes(exported["gpkg"])
    layers = set(pyogrio.list_layers(path)[:, 0])
    assert layers >= {"zones", "concessions", "sites", "method"}
    assert len(gpd.read_file(path, layer="zones")) == len(analysis.overlaps.zones)
    conc = gpd.read_file(path, layer="concessions")
    assert len(conc) == len(analysis.concession_table)
    assert conc["holder"].tolist() == [*FORMULAS, "Plain Mining Ltd"]  # data, not a sheet
    assert len(gpd.read_file(path, layer="sites")) == len(analysis.overlaps.sites)
    note = pyogrio.read_dataframe(path, layer="method", read_geometry=False)
    assert AREA_METHOD in "\n".join(note.iloc[:, 0])


def test_shapefile_zip(analysis, exported, tmp_path):
    path = tmp_path / "export_shp.zip"
    path.write_bytes(exported["shapefile"])
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        note = archive.read("METHOD.txt").decode()
    assert {"zones.shp", "concessions.shp", "sites.shp", "concessions.dbf"} <= names
    assert AREA_METHOD in note
    conc = gpd.read_file(f"zip://{path}!concessions.shp")
    assert len(conc) == len(analysis.concession_table)
    assert all(len(c) <= 10 for c in conc.columns)
    assert "overlap_pc" in conc.columns
    assert conc.crs.to_epsg() == 4326
    assert len(gpd.read_file(f"zip://{path}!zones.shp")) == len(analysis.overlaps.zones)
    assert len(gpd.read_file(f"zip://{path}!sites.shp")) == len(analysis.overlaps.sites)


def test_summary_method_fields(info):
    assert info["area_method"] == AREA_METHOD
    assert info["crs"] == "EPSG:4326"
    assert info["rings_km"] == [1.0, 5.0, 10.0]
    assert {"geopandas", "shapely", "pyproj", "pyogrio", "geos", "proj"} <= set(info["versions"])
    json.dumps(info)  # JSON-ready as it is


@pytest.mark.parametrize(("fmt", "filename"), [
    ("geojson", "zones.geojson"), ("gpkg", "export.gpkg"), ("shapefile", "export.zip"),
])
def test_spatial_exports_read_back_with_geo_io(analysis, exported, fmt, filename):
    """What the dashboard exports, the dashboard's own reader takes back, row for row."""
    layer = read_layer(exported[fmt], filename=filename, layer="zones" if fmt != "geojson" else None)
    assert len(layer) == len(analysis.overlaps.zones)
    assert sorted(layer["conc_id"]) == sorted(analysis.overlaps.zones["conc_id"])


def test_csv_sites_table_reads_back_with_geo_io(analysis, exported):
    with zipfile.ZipFile(io.BytesIO(exported["csv"])) as archive:
        sites_csv = archive.read("sites.csv")
    layer = read_layer(sites_csv, filename="sites.csv")
    assert len(layer) == len(analysis.overlaps.sites)
    assert layer.geometry.x.min() < 0  # western longitudes stay numbers


def test_csv_text_is_to_csv_byte_for_byte():
    """Tables of plain columns are joined column by column, as ``to_csv`` would write them."""
    text = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "=1+1", "", None]
    n = len(text)
    table = pd.DataFrame({
        "text": pd.Series(text, dtype="str"),
        "object": pd.Series(text, dtype=object),
        "float": [0.1, -0.0, 1e16, 1e-5, float("inf"), float("nan"), 36.58053819402626, 2.0],
        "int": range(-3, n - 3),
        "flag": [True, False] * (n // 2),
        "count": pd.array([1, None] * (n // 2), dtype="Int64"),
        "known": pd.array([True, None] * (n // 2), dtype="boolean"),
        "day": pd.to_datetime(["2020-01-02 13:00", None] * (n // 2)).astype("datetime64[ms]"),
        "class": pd.Categorical(["in", None] * (n // 2)),
        "empty": pd.Series([None] * n, dtype=object),
    })
    safe = spreadsheet_safe(table)
    assert _csv_by_columns(safe) is not None
    assert csv_text(table) == safe.to_csv(index=False, date_format="%Y-%m-%d")
    assert csv_text(table.iloc[:0]) == safe.iloc[:0].to_csv(index=False, date_format="%Y-%m-%d")


def test_csv_floats_are_written_as_numpy_writes_them():
    """``to_csv`` writes floats with numpy's ``str``; ``csv_text`` with Python's ``repr``."""
    rng = np.random.default_rng(0)
    floats = np.concatenate([
        rng.integers(0, 2**64, size=50_000, dtype=np.uint64).view(np.float64),
        rng.uniform(-1, 1, 50_000) * 10.0 ** rng.integers(-20, 22, 50_000),
        [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e16, 9999999999999998.0, 1e-4, 1e-5],
    ])
    small = rng.uniform(-1, 1, len(floats)) * 10.0 ** rng.integers(-30, 30, len(floats))
    table = pd.DataFrame({"x": floats, "y": small.astype(np.float32)})
    assert csv_text(table) == table.to_csv(index=False)
