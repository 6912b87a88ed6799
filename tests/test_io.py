"""Tests of geo.io: every format from a path and from bytes, reprojection, every error path."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import box

from geo.errors import CRSError, GeoError, LayerReadError
from geo.io import SUPPORTED_FORMATS, detect_format, list_layers, read_layer

ATTRIBUTES = {"site": ["a-1", "b-2", "c-3"], "workers": [3, 40, 250]}
CSV_STYLES = {
    "csv_longitude": ("Longitude", "Latitude"),
    "csv_lon": ("lon", "lat"),
    "csv_long": ("LONG", "Lat"),
    "csv_lng": ("lng", "lat"),
    "csv_xy": ("X", "Y"),
}
WKT_STYLES = {
    "csv_wkt": "WKT",
    "csv_geom": "geom",
    "csv_geometry": "geometry",
    "csv_the_geom": "the_geom",
}


# --- sample layers and writers ----------------------------------------------------------


def sample(kind: str, crs: int = 4326) -> gpd.GeoDataFrame:
    """Three boxes, or three points, with a string and an integer attribute."""
    if crs == 4326:
        boxes = [
            box(28.0, -2.0, 28.5, -1.5),
            box(29.0, -3.0, 29.1, -2.9),
            box(27.25, -1.125, 27.5, -1.0),
        ]
    else:  # UTM zone 35S, eastern DRC
        boxes = [
            box(500_000, 9_700_000, 501_000, 9_701_000),
            box(620_500, 9_650_000, 621_000, 9_652_000),
            box(410_000, 9_800_000, 410_250, 9_800_250),
        ]
    geometry = boxes if kind == "polygons" else shapely.centroid(boxes)
    return gpd.GeoDataFrame(ATTRIBUTES, geometry=geometry, crs=crs)


def zip_files(target: Path, members: dict[str, Path | bytes]) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            data = content if isinstance(content, bytes) else content.read_bytes()
            archive.writestr(name, data)
    return target


def write_shapefile_zip(frame: gpd.GeoDataFrame, folder: Path, *, prj: bool = True) -> Path:
    """The shapefile two folders deep, with macOS junk and a .shp.xml beside it."""
    (folder / "shp").mkdir()
    frame.to_file(folder / "shp" / "sites.shp")
    parts = {
        f"export/data/{p.name}": p
        for p in sorted((folder / "shp").iterdir())
        if prj or p.suffix != ".prj"
    }
    parts["export/data/sites.shp.xml"] = b"<metadata/>"
    parts["__MACOSX/export/data/._sites.shp"] = b"\x00\x05\x16\x07junk"
    return zip_files(folder / "sites.zip", parts)


def write_kml(frame: gpd.GeoDataFrame, folder: Path) -> Path:
    frame.to_file(folder / "sites.kml", driver="KML")
    return folder / "sites.kml"


def write_kmz(frame: gpd.GeoDataFrame, folder: Path) -> Path:
    return zip_files(folder / "sites.kmz", {"doc.kml": write_kml(frame, folder)})


def write_csv_xy(x: str, y: str) -> Callable[[gpd.GeoDataFrame, Path], Path]:
    def write(frame: gpd.GeoDataFrame, folder: Path) -> Path:
        table = pd.DataFrame(frame.drop(columns="geometry")).assign(
            **{x: frame.geometry.x, y: frame.geometry.y}
        )
        table.to_csv(folder / "sites.csv", index=False)
        return folder / "sites.csv"

    return write


def write_csv_wkt(column: str) -> Callable[[gpd.GeoDataFrame, Path], Path]:
    def write(frame: gpd.GeoDataFrame, folder: Path) -> Path:
        table = pd.DataFrame(frame.drop(columns="geometry")).assign(
            **{column: frame.geometry.to_wkt()}
        )
        table.to_csv(folder / "sites.csv", index=False)
        return folder / "sites.csv"

    return write


def write_file(suffix: str, **options: str) -> Callable[[gpd.GeoDataFrame, Path], Path]:
    def write(frame: gpd.GeoDataFrame, folder: Path) -> Path:
        frame.to_file(folder / f"sites{suffix}", **options)
        return folder / f"sites{suffix}"

    return write


def write_parquet(frame: gpd.GeoDataFrame, folder: Path) -> Path:
    frame.to_parquet(folder / "sites.parquet")
    return folder / "sites.parquet"


WRITERS: dict[str, Callable[[gpd.GeoDataFrame, Path], Path]] = {
    "geojson": write_file(".geojson", driver="GeoJSON"),
    "gpkg": write_file(".gpkg", driver="GPKG", layer="sites"),
    "shapefile_zip": write_shapefile_zip,
    "kml": write_kml,
    "kmz": write_kmz,
    "parquet": write_parquet,
    **{name: write_csv_xy(x, y) for name, (x, y) in CSV_STYLES.items()},
    **{name: write_csv_wkt(column) for name, column in WKT_STYLES.items()},
}
CASES = [
    pytest.param((name, kind), id=f"{name}-{kind}")
    for name in WRITERS
    for kind in ("polygons", "points")
    if kind == "points" or name not in CSV_STYLES
]


def read(path: Path, mode: str, **options: object) -> gpd.GeoDataFrame:
    """Read from the path, from bytes alone, or from bytes with the upload's file name."""
    if mode == "path":
        return read_layer(path, **options)  # type: ignore[arg-type]
    name = path.name if mode == "bytes+name" else None
    return read_layer(path.read_bytes(), filename=name, **options)  # type: ignore[arg-type]


def same_shapes(
    result: gpd.GeoSeries, expected: gpd.GeoSeries | np.ndarray, tolerance: float = 1e-9
) -> bool:
    """Equal coordinates up to ring orientation and start vertex, ignoring Z."""
    got = shapely.normalize(shapely.force_2d(np.asarray(result)))
    want = shapely.normalize(shapely.force_2d(np.asarray(expected)))
    return bool(shapely.equals_exact(got, want, tolerance=tolerance).all())


def assert_layer(result: gpd.GeoDataFrame, expected: gpd.GeoDataFrame) -> None:
    assert isinstance(result, gpd.GeoDataFrame)
    assert len(result) == len(expected)
    assert result.crs.to_epsg() == 4326
    assert result.geometry.name == "geometry"
    assert result.index.equals(pd.RangeIndex(len(expected)))
    assert result["site"].tolist() == expected["site"].tolist()
    assert pd.to_numeric(result["workers"]).tolist() == expected["workers"].tolist()
    assert same_shapes(result.geometry, expected.geometry)


MODES = pytest.mark.parametrize("mode", ["path", "bytes", "bytes+name"])


@pytest.fixture(params=CASES)
def written(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, gpd.GeoDataFrame]:
    name, kind = request.param
    frame = sample(kind)
    return WRITERS[name](frame, tmp_path), frame


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the temp folder somewhere we can watch, to prove nothing is left behind."""
    folder = tmp_path / "private-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- every format, from a path and from bytes -------------------------------------------


@MODES
def test_reads_every_format(written: tuple[Path, gpd.GeoDataFrame], mode: str) -> None:
    path, expected = written
    assert_layer(read(path, mode), expected)


def test_bytes_leave_no_files_behind(
    written: tuple[Path, gpd.GeoDataFrame], private_tmp: Path
) -> None:
    path, expected = written
    assert_layer(read_layer(path.read_bytes()), expected)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.filterwarnings("ignore:GPKG. bad application_id:RuntimeWarning")
def test_failed_read_from_bytes_leaves_no_files_behind(private_tmp: Path) -> None:
    with pytest.raises(LayerReadError):
        read_layer(b'{"type": "FeatureCollection", "features": [')
    with pytest.raises(LayerReadError):
        read_layer(b"SQLite format 3\x00" + b"\x01" * 500)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("name", ["geojson", "gpkg", "shapefile_zip", "parquet"])
@pytest.mark.parametrize("kind", ["polygons", "points"])
@MODES
def test_other_crs_is_reprojected_to_wgs84(name: str, kind: str, mode: str, tmp_path: Path) -> None:
    utm = sample(kind, crs=32735)
    result = read(WRITERS[name](utm, tmp_path), mode)
    transformer = pyproj.Transformer.from_crs(32735, 4326, always_xy=True)
    expected = shapely.transform(
        np.asarray(utm.geometry), lambda xy: np.column_stack(transformer.transform(*xy.T))
    )
    assert result.crs.to_epsg() == 4326
    assert result["site"].tolist() == ATTRIBUTES["site"]
    assert same_shapes(result.geometry, expected)
    west, _, east, _ = result.total_bounds
    assert 25 < west < east < 31  # eastern DRC in degrees, not metres


@MODES
def test_csv_with_crs_is_reprojected(mode: str, tmp_path: Path) -> None:
    utm = sample("points", crs=32735)
    result = read(write_csv_xy("x", "y")(utm, tmp_path), mode, crs="EPSG:32735")
    expected = utm.to_crs(4326).geometry
    assert result.crs.to_epsg() == 4326
    assert same_shapes(result.geometry, expected)


# --- CRS ----------------------------------------------------------------------------------


@MODES
def test_shapefile_without_prj_needs_a_crs(mode: str, tmp_path: Path) -> None:
    path = write_shapefile_zip(sample("polygons"), tmp_path, prj=False)
    with pytest.raises(
        CRSError, match=r"no coordinate reference system \(a shapefile needs its \.prj"
    ):
        read(path, mode)
    assert_layer(read(path, mode, crs=4326), sample("polygons"))


def test_shapefile_without_prj_takes_the_given_projected_crs(tmp_path: Path) -> None:
    utm = sample("polygons", crs=32735)
    result = read_layer(write_shapefile_zip(utm, tmp_path, prj=False), crs=32735)
    assert same_shapes(result.geometry, utm.to_crs(4326).geometry, tolerance=1e-7)


@pytest.mark.filterwarnings("ignore:'crs' was not provided:UserWarning")
@pytest.mark.parametrize(
    ("name", "hint"),
    [("gpkg", r"\. Add it"), ("parquet", r"\. Add it"), ("shp", r" \(a shapefile needs its \.prj")],
)
def test_layer_with_undefined_crs_needs_a_crs(name: str, hint: str, tmp_path: Path) -> None:
    utm = sample("polygons", crs=32735)
    path = tmp_path / f"nocrs.{name}"
    unknown = utm.set_crs(None, allow_override=True)
    if name == "parquet":
        unknown.to_parquet(path)
    else:
        unknown.to_file(path)
    with pytest.raises(CRSError, match="has no coordinate reference system" + hint):
        read_layer(path)
    result = read_layer(path, crs=32735)
    assert result.crs.to_epsg() == 4326
    assert same_shapes(result.geometry, utm.to_crs(4326).geometry, tolerance=1e-7)


def test_declared_crs_wins_over_the_given_one(tmp_path: Path) -> None:
    """GeoJSON without a ``crs`` member is WGS84 by the spec: that is a declared CRS."""
    path = tmp_path / "rfc7946.geojson"
    path.write_text(sample("points").to_json())
    assert "crs" not in json.loads(path.read_text())
    assert_layer(read_layer(path), sample("points"))
    assert_layer(read_layer(path, crs=32735), sample("points"))


@pytest.mark.parametrize("crs", ["not a crs", "EPSG:999999", -1])
def test_unknown_crs_argument(crs: str | int) -> None:
    with pytest.raises(CRSError, match="is not a coordinate reference system; give an EPSG code"):
        read_layer(b"lon,lat\n28.1,-1.9\n", crs=crs)


# --- CSV ----------------------------------------------------------------------------------


def test_csv_keeps_rows_with_missing_or_bad_coordinates() -> None:
    data = b"name,lon,lat\na,28.1,-1.9\nb,,\nc,abc,-2\nd,29,\ne,500,100\n"
    result = read_layer(data)
    assert result["name"].tolist() == ["a", "b", "c", "d", "e"]
    assert result.geometry.isna().tolist() == [False, True, True, True, False]
    out_of_range = result.geometry.iloc[4]  # kept as it is: the validator reports it
    assert out_of_range.equals(shapely.Point(500, 100))


def test_csv_decimal_comma_semicolon_and_windows_encoding() -> None:
    data = "nom;Longitude;Latitude\nMukungwe é;28,75;-2,5\nKamituga;28,18;-3,06\n".encode("cp1252")
    result = read_layer(data, filename="sites.csv")
    assert result["nom"].tolist() == ["Mukungwe é", "Kamituga"]
    assert same_shapes(result.geometry, [shapely.Point(28.75, -2.5), shapely.Point(28.18, -3.06)])


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_csv_other_delimiters_and_bom(delimiter: str) -> None:
    d = delimiter
    data = f"\ufeffname{d}lng{d}lat\na{d}28.1{d}-1.9\n".encode()
    result = read_layer(data)
    assert result["name"].tolist() == ["a"]
    assert same_shapes(result.geometry, [shapely.Point(28.1, -1.9)])


def test_csv_bad_wkt_becomes_a_null_geometry() -> None:
    data = b'id,wkt\n1,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n2,not wkt\n3,\n4,POINT EMPTY\n'
    result = read_layer(data)
    assert result["id"].tolist() == [1, 2, 3, 4]
    assert result.geometry.isna().tolist() == [False, True, True, False]
    assert result.geometry.iloc[3].is_empty
    assert "wkt" not in result.columns


def test_csv_prefers_lon_lat_and_keeps_other_geometry_text() -> None:
    data = b"pcode,geom,longitude,latitude\nA,POINT (1 1),28.5,-2.25\n"
    result = read_layer(data)
    assert result["geom"].tolist() == ["POINT (1 1)"]
    assert same_shapes(result.geometry, [shapely.Point(28.5, -2.25)])


def test_csv_with_only_a_wkt_column(tmp_path: Path) -> None:
    path = tmp_path / "shapes.csv"
    path.write_text("wkt\nPOINT (28 -2)\n")
    assert same_shapes(read_layer(path).geometry, [shapely.Point(28, -2)])
    assert same_shapes(
        read_layer(path.read_bytes(), filename=path.name).geometry, [shapely.Point(28, -2)]
    )


def test_plain_parquet_with_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    pd.DataFrame({"site": ["a"], "lon": [28.5], "lat": [-2.0]}).to_parquet(path)
    result = read_layer(path)
    assert result.crs.to_epsg() == 4326
    assert same_shapes(result.geometry, [shapely.Point(28.5, -2.0)])


def test_geoparquet_named_index_is_kept_as_a_column(tmp_path: Path) -> None:
    path = tmp_path / "indexed.parquet"
    sample("points").set_index("site").to_parquet(path)
    result = read_layer(path)
    assert result.index.equals(pd.RangeIndex(3))
    assert result["site"].tolist() == ATTRIBUTES["site"]


# --- several layers -----------------------------------------------------------------------

KML_FOLDERS = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>survey</name>
<Placemark><name>Top</name><Point><coordinates>27,-1</coordinates></Point></Placemark>
<Folder><name>Concessions</name>
  <Placemark><name>PE 1</name><ExtendedData><Data name="holder"><value>ACME</value></Data></ExtendedData>
  <Polygon><outerBoundaryIs><LinearRing><coordinates>28,-2 28.5,-2 28.5,-1.5 28,-1.5 28,-2</coordinates>
  </LinearRing></outerBoundaryIs></Polygon></Placemark>
</Folder>
<Folder><name>Sites</name>
  <Placemark><name>S1</name><Point><coordinates>28.2,-1.8</coordinates></Point></Placemark>
  <Placemark><name>S2</name><Point><coordinates>28.3,-1.7,100</coordinates></Point></Placemark>
  <Folder><name>Nested</name>
    <Placemark><name>S3</name><Point><coordinates>28.4,-1.6</coordinates></Point></Placemark>
  </Folder>
</Folder>
<Folder><name>Empty</name></Folder>
</Document></kml>
"""


@pytest.fixture(params=["kml", "kmz"])
def kml_folders(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "survey.kml"
    path.write_text(KML_FOLDERS)
    if request.param == "kmz":
        return zip_files(tmp_path / "survey.kmz", {"files/icon.png": b"\x89PNG", "doc.kml": path})
    return path


@MODES
def test_kml_reads_every_folder(kml_folders: Path, mode: str) -> None:
    result = read(kml_folders, mode)
    assert sorted(result["Name"]) == ["PE 1", "S1", "S2", "S3", "Top"]
    assert result.index.equals(pd.RangeIndex(5))
    assert result.loc[result["Name"] == "PE 1", "holder"].tolist() == ["ACME"]
    assert result.loc[result["Name"] == "S2"].geometry.has_z.tolist() == [True]


def test_kml_layer_picks_one_folder(kml_folders: Path) -> None:
    assert {"Concessions", "Sites", "Nested"} <= set(list_layers(kml_folders))
    assert read_layer(kml_folders, layer="Sites")["Name"].tolist() == ["S1", "S2"]
    with pytest.raises(
        LayerReadError, match="There is no layer 'Roads' in the file; its layers are"
    ):
        read_layer(kml_folders, layer="Roads")


def test_geopackage_takes_the_first_layer_with_geometry(tmp_path: Path) -> None:
    path = tmp_path / "many.gpkg"
    pd.DataFrame({"note": ["attribute table"]}).pipe(gpd.GeoDataFrame).to_file(
        path, layer="aaa_notes"
    )
    sample("polygons").to_file(path, layer="concessions")
    sample("points").to_file(path, layer="sites")
    assert list_layers(path) == ["concessions", "sites"]
    assert_layer(read_layer(path), sample("polygons"))
    assert_layer(read_layer(path.read_bytes(), layer="sites"), sample("points"))
    with pytest.raises(LayerReadError, match="Layer 'aaa_notes' has no geometry"):
        read_layer(path, layer="aaa_notes")
    with pytest.raises(
        LayerReadError, match=r"no layer 'roads' in the file; its layers are .*sites"
    ):
        read_layer(path, layer="roads")


def test_geopackage_without_geometry(tmp_path: Path) -> None:
    path = tmp_path / "tables.gpkg"
    pd.DataFrame({"note": ["x"]}).pipe(gpd.GeoDataFrame).to_file(path, layer="notes")
    with pytest.raises(
        LayerReadError,
        match=r"GeoPackage file has no layer with geometry \(it holds only tables: notes\)",
    ):
        read_layer(path)


def test_zip_with_several_shapefiles(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    sample("polygons").to_file(tmp_path / "a" / "concessions.shp")
    sample("points").to_file(tmp_path / "a" / "sites.shp")
    path = zip_files(
        tmp_path / "both.zip", {f"gis/{p.name}": p for p in (tmp_path / "a").iterdir()}
    )
    with pytest.raises(
        LayerReadError, match=r"holds 2 shapefiles \(gis/concessions.shp, gis/sites.shp\); choose"
    ):
        read_layer(path)
    assert sorted(list_layers(path)) == ["gis/concessions.shp", "gis/sites.shp"]
    assert_layer(read_layer(path, layer="sites"), sample("points"))
    assert_layer(read_layer(path.read_bytes(), layer="gis/concessions.shp"), sample("polygons"))
    with pytest.raises(LayerReadError, match="There is no shapefile 'roads' in the zip"):
        read_layer(path, layer="roads")


def test_bare_shapefile_path(tmp_path: Path) -> None:
    sample("polygons").to_file(tmp_path / "titles.shp")
    assert_layer(read_layer(tmp_path / "titles.shp"), sample("polygons"))
    (tmp_path / "titles.dbf").unlink()
    (tmp_path / "titles.shx").unlink()
    with pytest.raises(LayerReadError, match=r"'titles.shp' has no \.shx or \.dbf file beside it"):
        read_layer(tmp_path / "titles.shp")


def test_single_layer_format_refuses_a_layer() -> None:
    with pytest.raises(
        LayerReadError, match="layer='x' was given, but a CSV file holds a single layer"
    ):
        read_layer(b"lon,lat\n1,2\n", layer="x")
    assert list_layers(b"lon,lat\n1,2\n") == []


# --- errors -------------------------------------------------------------------------------


def truncated_zip(tmp_path: Path) -> bytes:
    return write_shapefile_zip(sample("polygons"), tmp_path).read_bytes()[:300]


def zip_without_shp(tmp_path: Path) -> bytes:
    return zip_files(
        tmp_path / "x.zip", {"readme.txt": b"hello", "data/sites.csv": b"lon,lat\n1,2\n"}
    ).read_bytes()


def bare_shp(tmp_path: Path) -> bytes:
    sample("points").to_file(tmp_path / "s.shp")
    return (tmp_path / "s.shp").read_bytes()


def parquet_without_coordinates(tmp_path: Path) -> bytes:
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "t.parquet")
    return (tmp_path / "t.parquet").read_bytes()


def zip_shp_without_dbf(tmp_path: Path) -> bytes:
    sample("points").to_file(tmp_path / "s.shp")
    return zip_files(
        tmp_path / "x.zip", {f"s{e}": tmp_path / f"s{e}" for e in (".shp", ".shx", ".prj")}
    ).read_bytes()


BAD_INPUTS: list[tuple[str, Callable[[Path], bytes], str | None, type[Exception], str]] = [
    ("empty", lambda _: b"", None, LayerReadError, "The file is empty"),
    ("whitespace", lambda _: b"  \n\t", "x.geojson", LayerReadError, "The file is empty"),
    (
        "random",
        lambda _: b"\x01\x02" + random.Random(0).randbytes(2000),
        "x.bin",
        LayerReadError,
        r"The file 'x.bin' is not in a supported format; upload a zipped shapefile",
    ),
    (
        "text",
        lambda _: b"just some words\nno table\n",
        None,
        LayerReadError,
        "not in a supported format",
    ),
    (
        "truncated zip",
        truncated_zip,
        "sites.zip",
        LayerReadError,
        "The zip file is damaged or incomplete",
    ),
    (
        "zip without shp",
        zip_without_shp,
        "x.zip",
        LayerReadError,
        r"The zip file holds no shapefile \(\.shp\); it holds readme.txt, data/sites.csv",
    ),
    (
        "empty zip",
        lambda p: zip_files(p / "e.zip", {}).read_bytes(),
        None,
        LayerReadError,
        "holds nothing",
    ),
    (
        "shp without dbf",
        zip_shp_without_dbf,
        None,
        LayerReadError,
        r"'s.shp' has no \.dbf file in the zip",
    ),
    (
        "kmz without kml",
        lambda p: zip_files(p / "k.kmz", {"a.txt": b"x"}).read_bytes(),
        "k.kmz",
        LayerReadError,
        r"The KMZ file holds no KML document",
    ),
    (
        "malformed json",
        lambda _: b'{"type": "FeatureCollection",\n "features": [}',
        None,
        LayerReadError,
        r"The GeoJSON file is not valid JSON \(line 2, column 15: Expecting value\)",
    ),
    (
        "json not geojson",
        lambda _: b'{"sites": [1, 2]}',
        "x.json",
        LayerReadError,
        "The file is JSON but not GeoJSON",
    ),
    (
        "csv without coordinates",
        lambda _: b"name,province\nA,Sud-Kivu\n",
        None,
        LayerReadError,
        r"The CSV file has no coordinate columns: .* its columns are name, province",
    ),
    (
        "ragged csv",
        lambda _: b"lon,lat\n1,2\n1,2,3,4\n",
        None,
        LayerReadError,
        r"The CSV file could not be read \(Error tokenizing data",
    ),
    (
        "html",
        lambda _: b"<!DOCTYPE html><html><body>404</body></html>",
        "x.geojson",
        LayerReadError,
        "a web page",
    ),
    (
        "gpx",
        lambda _: b'<?xml version="1.0"?><gpx version="1.1"></gpx>',
        "t.gpx",
        LayerReadError,
        "'t.gpx' is XML but not KML",
    ),
    (
        "bare shp",
        bare_shp,
        None,
        LayerReadError,
        r"only the \.shp part of a shapefile; zip it",
    ),
    (
        "broken gpkg",
        lambda _: b"SQLite format 3\x00" + bytes(3000),
        "x.gpkg",
        LayerReadError,
        "The GeoPackage file could not be read: it is damaged",
    ),
    (
        "broken kml",
        lambda _: b"<kml><Document><Placemark>",
        None,
        LayerReadError,
        "The KML file could not be read",
    ),
    (
        "broken parquet",
        lambda _: b"PAR1" + bytes(100),
        None,
        LayerReadError,
        "The Parquet file could not be read",
    ),
    (
        "parquet without coordinates",
        parquet_without_coordinates,
        None,
        LayerReadError,
        "The Parquet file has no coordinate columns",
    ),
]


@pytest.mark.filterwarnings("ignore:GPKG. bad application_id:RuntimeWarning")
@pytest.mark.parametrize(
    ("make", "filename", "error", "match"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
@pytest.mark.parametrize("as_path", [False, True], ids=["bytes", "path"])
def test_bad_input_raises_one_clear_error(
    make: Callable[[Path], bytes],
    filename: str | None,
    error: type[Exception],
    match: str,
    as_path: bool,
    tmp_path: Path,
) -> None:
    data = make(tmp_path)
    if as_path:
        path = tmp_path / "upload" / (filename or "upload.dat")
        path.parent.mkdir()
        path.write_bytes(data)
        source: Path | bytes = path
    else:
        source = data
    with pytest.raises(error, match=match) as caught:
        read_layer(source, filename=filename)
    assert "\n" not in str(caught.value)


def test_library_error_is_chained() -> None:
    with pytest.raises(LayerReadError) as caught:
        read_layer(b'{"type": "FeatureCollection", "features": [')
    assert caught.value.__cause__ is not None


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(
        LayerReadError, match=r"There is no file at .*nowhere\.gpkg; check the path"
    ):
        read_layer(tmp_path / "nowhere.gpkg")
    with pytest.raises(LayerReadError, match="is a folder, not a file"):
        read_layer(str(tmp_path))


def test_source_must_be_a_path_or_bytes() -> None:
    with pytest.raises(TypeError, match="source must be a path or bytes, not int"):
        read_layer(42)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """One good file per format (UTM for those that carry a CRS), as bytes, to damage."""
    files = {}
    for name in ("geojson", "gpkg", "shapefile_zip", "kml", "kmz", "parquet", "csv_lon", "csv_wkt"):
        crs = 4326 if name.startswith(("k", "csv")) else 32735
        files[name] = WRITERS[name](
            sample("polygons" if name != "csv_lon" else "points", crs),
            tmp_path_factory.mktemp(name),
        ).read_bytes()
    return files


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore:Invalid WKB:Warning")
@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(
        ["geojson", "gpkg", "shapefile_zip", "kml", "kmz", "parquet", "csv_lon", "csv_wkt"]
    ),
    cut=st.floats(0.05, 1.0),
    flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=12),
    crs=st.sampled_from([None, 4326]),
)
def test_damaged_files_give_a_layer_or_a_geo_error(
    valid_files: dict[str, bytes],
    name: str,
    cut: float,
    flips: list[tuple[float, int]],
    crs: int | None,
) -> None:
    """Truncated or bit-flipped files of every format: never a raw library exception."""
    data = bytearray(valid_files[name][: max(1, int(len(valid_files[name]) * cut))])
    for where, value in flips:
        data[int(where * len(data))] = value
    try:
        result = read_layer(bytes(data), crs=crs)
    except GeoError:
        return
    assert result.crs.to_epsg() == 4326


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from(
        [
            b"",
            b"PK\x03\x04",
            b"PK\x05\x06",
            b"SQLite format 3\x00",
            b"PAR1",
            b"<?xml ",
            b"<kml>",
            b"{",
            b"[",
            b"lon,lat\n",
            b"wkt\n",
            b"\xef\xbb\xbf",
        ]
    ),
    tail=st.binary(max_size=400),
    filename=st.sampled_from([None, "a.zip", "a.kmz", "a.csv", "a.kml", "a.geojson"]),
)
def test_any_bytes_give_a_layer_or_a_geo_error(
    prefix: bytes, tail: bytes, filename: str | None
) -> None:
    try:
        result = read_layer(prefix + tail, filename=filename)
    except GeoError:
        return
    assert result.crs.to_epsg() == 4326


def test_text_not_in_the_declared_encoding(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"nom": ["Mukungwe é"]}, geometry=[shapely.Point(28, -2)], crs=4326)
    frame.to_file(tmp_path / "s.shp", encoding="cp1252")
    (tmp_path / "s.cpg").write_text("UTF-8")  # a lie: the .dbf is Windows-1252
    data = zip_files(
        tmp_path / "s.zip", {p.name: p for p in tmp_path.glob("s.*") if p.suffix != ".zip"}
    )
    with pytest.raises(
        LayerReadError, match="holds text that is not in the character encoding it declares"
    ):
        read_layer(data)


@pytest.mark.filterwarnings("ignore:Non closed ring detected:RuntimeWarning")
def test_shape_geos_cannot_build_comes_back_null() -> None:
    ring = [[0, 0], [1, 0], [1, 1]]  # not closed
    features = [
        {
            "type": "Feature",
            "properties": {"a": 1},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        {
            "type": "Feature",
            "properties": {"a": 2},
            "geometry": {"type": "Point", "coordinates": [1, 2]},
        },
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    with pytest.warns(Warning, match="Invalid WKB"):
        result = read_layer(data)
    assert result["a"].tolist() == [1, 2]
    assert result.geometry.isna().tolist() == [True, False]


def test_geoparquet_with_broken_geometry(tmp_path: Path) -> None:
    path = write_parquet(sample("points"), tmp_path)
    table = pq.read_table(path)
    broken = pa.array([b"\x01\x03\x00\x00\x00\x01\x00\x00\x00\x09"] * 3, type=pa.binary())
    pq.write_table(
        table.set_column(table.schema.get_field_index("geometry"), "geometry", broken), path
    )
    with pytest.raises(LayerReadError, match="The Parquet file could not be read"):
        read_layer(path)


# --- detection ----------------------------------------------------------------------------


def test_detect_format_from_content(tmp_path: Path) -> None:
    frame = sample("points")
    for name in ("geojson", "gpkg", "kml", "kmz", "parquet", "shapefile_zip"):
        folder = tmp_path / name
        folder.mkdir()
        assert detect_format(WRITERS[name](frame, folder).read_bytes()) == name
    zipped = (tmp_path / "shapefile_zip" / "sites.zip").read_bytes()
    assert detect_format(zipped) == "shapefile_zip"
    assert detect_format(zipped, "really-a.kmz") == "shapefile_zip"  # the content decides
    assert detect_format(b"\xef\xbb\xbf  \n[{}]") == "geojson"
    assert detect_format(b"a;b\n1;2\n") == "csv"
    assert detect_format(b"wkt\nPOINT (1 2)\n", "x.csv") == "csv"


def test_detect_format_zip_with_shapefile_and_kml_uses_the_name(tmp_path: Path) -> None:
    data = zip_files(
        tmp_path / "b.zip", {"a.shp": b"", "a.shx": b"", "a.dbf": b"", "doc.kml": b"<kml/>"}
    ).read_bytes()
    assert detect_format(data, "survey.kmz") == "kmz"
    assert detect_format(data, "survey.zip") == "shapefile_zip"
    assert detect_format(data) == "shapefile_zip"


def test_detect_format_unknown() -> None:
    with pytest.raises(LayerReadError, match="not in a supported format"):
        detect_format(bytes(range(256)))


def test_supported_formats_cover_every_reader() -> None:
    assert {".zip", ".geojson", ".gpkg", ".kml", ".kmz", ".csv", ".parquet"} <= set(
        SUPPORTED_FORMATS
    )
    assert all(ext.startswith(".") and label for ext, label in SUPPORTED_FORMATS.items())


def test_geo_io_does_not_import_streamlit() -> None:
    code = "import sys, geo.io; assert 'streamlit' not in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1]
    )


# --- real data ----------------------------------------------------------------------------

BUNDLED = Path(__file__).resolve().parents[1] / "data"
CAMI = BUNDLED / "drc" / "cami_titles_2016.geojson"
IPIS = BUNDLED / "drc" / "ipis_asm_visits.csv"
needs_data = pytest.mark.skipif(
    not CAMI.exists() or not IPIS.exists(), reason="bundled data not present"
)


@needs_data
@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytes"])
def test_real_cami_titles(as_bytes: bool) -> None:
    titles = read_layer(CAMI.read_bytes(), filename=CAMI.name) if as_bytes else read_layer(CAMI)
    assert len(titles) == 2973
    assert titles.crs.to_epsg() == 4326
    assert {"name", "type", "parties", "statut", "date_de1", "group"} <= set(titles.columns)
    assert set(titles.geom_type) == {"MultiPolygon"}
    assert (titles["type"] == "PE").sum() == 512
    assert "13214" in set(titles["name"])  # the real data error far outside the DRC is kept


@needs_data
@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytes"])
def test_real_ipis_visits_csv(as_bytes: bool) -> None:
    visits = read_layer(IPIS.read_bytes(), filename=IPIS.name) if as_bytes else read_layer(IPIS)
    assert len(visits) == 5071
    assert visits.crs.to_epsg() == 4326
    assert visits.geometry.notna().all()
    np.testing.assert_array_equal(visits.geometry.x, visits["longitude"])
    np.testing.assert_array_equal(visits.geometry.y, visits["latitude"])
    assert visits["geom"].iloc[0].startswith("POINT")  # the source's WKT text stays an attribute
    assert visits["pcode"].nunique() == 2988
