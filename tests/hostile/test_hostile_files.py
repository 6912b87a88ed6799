"""Hostile uploads: every crafted file is refused with a plain sentence, in time, without
reading local files or touching the network, or its payload is neutralised.

Each input is built in ``tmp_path``. Reads go through :func:`geo.fence.read_layer_fenced`,
the path the dashboard's upload takes (``ui.upload.parse_upload`` ->
``load_layer(..., reader="fenced")``).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tempfile
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely import Polygon, box

from geo.errors import CRSError, GeoError, LayerReadError
from geo.fence import read_layer_fenced
from geo.i18n import language
from geo.io import detect_format, read_layer
from geo.pipeline import load_layer
from geo.store import GeoPackageWorkspace
from ui.upload import parse_upload

POINTER = "pointer to other data"
#: Generous for a loaded CI machine; the crafted stalls are cut at FAST_TIMEOUT.
FAST_TIMEOUT = 4.0


def _titles() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"conc_id": ["PE-1", "PE-2"], "holder": ["A", "B"]},
        geometry=[box(28, -2, 28.5, -1.5), box(29, -3, 29.1, -2.9)], crs=4326,
    )


def _zip(members: dict[str, bytes], *, infos: list[zipfile.ZipInfo] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        for info in infos or []:
            archive.writestr(info, b"/etc/passwd")
    return buffer.getvalue()


def _shapefile_members(tmp_path: Path) -> dict[str, bytes]:
    folder = tmp_path / "shp"
    folder.mkdir()
    _titles().to_file(folder / "titles.shp")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _no_fence_folders_left() -> bool:
    left = list(Path(tempfile.gettempdir()).glob("geo-fence-*"))
    assert not left, [(p, list(p.rglob("*"))) for p in left]
    return True


# --- the fenced reader reads what read_layer reads ---------------------------------------


def _formats(tmp_path: Path) -> dict[str, tuple[str, bytes]]:
    titles = _titles()
    gpkg = tmp_path / "t.gpkg"
    titles.to_file(gpkg, driver="GPKG")
    kml = tmp_path / "t.kml"
    titles.to_file(kml, driver="KML")
    parquet = io.BytesIO()
    titles.to_parquet(parquet)
    return {
        "geojson": ("t.geojson", titles.to_json().encode()),
        "gpkg": ("t.gpkg", gpkg.read_bytes()),
        "shapefile_zip": ("t.zip", _zip(_shapefile_members(tmp_path))),
        "kml": ("t.kml", kml.read_bytes()),
        "kmz": ("t.kmz", _zip({"doc.kml": kml.read_bytes()})),
        "csv": ("t.csv", b"conc_id,lon,lat\nPE-1,28.1,-1.9\nPE-2,29.05,-2.95\n"),
        "parquet": ("t.parquet", parquet.getvalue()),
    }


def test_fenced_reader_gives_what_read_layer_gives(tmp_path: Path) -> None:
    for fmt, (name, data) in _formats(tmp_path).items():
        fenced = read_layer_fenced(data, filename=name)
        assert_geodataframe_equal(fenced, read_layer(data, filename=name), check_dtype=False,
                                  check_index_type=False), fmt
    assert _no_fence_folders_left()


def test_fenced_errors_keep_their_class_and_the_callers_language() -> None:
    with pytest.raises(CRSError, match="is not a coordinate reference system"):
        read_layer_fenced(b"x,y\n1,1\n", filename="a.csv", crs="not a crs")
    with language("fr"), pytest.raises(LayerReadError, match="Le fichier est vide"):
        read_layer_fenced(b"   ", filename="a.geojson")


def test_upload_over_the_size_limit_is_refused_before_reading() -> None:
    with pytest.raises(LayerReadError, match=r"at most 0\.001 MB are accepted"):
        read_layer_fenced(b"lon,lat\n" + b"28.1,-1.9\n" * 200, max_mb=0.001)


def test_upload_over_the_feature_limit_is_refused() -> None:
    data = b"lon,lat\n" + b"28.1,-1.9\n" * 6
    with pytest.raises(LayerReadError, match="holds 6 features; at most 5 are accepted"):
        read_layer_fenced(data, filename="a.csv", max_features=5)


def test_reading_that_needs_too_much_memory_is_stopped() -> None:
    data = b"lon,lat,name\n" + b"28.123456,-1.987654,abcdefghijklmnopqrstuvwxyz\n" * 1_000_000
    started = time.monotonic()
    with pytest.raises(LayerReadError, match="needed too much memory to read"):
        read_layer_fenced(data, filename="big.csv", memory_mb=64, max_mb=100)
    assert time.monotonic() - started < 30
    assert _no_fence_folders_left()


def test_recursive_geopackage_view_is_stopped_in_time(tmp_path: Path) -> None:
    path = tmp_path / "evil.gpkg"
    _titles().to_file(path, layer="base", driver="GPKG")
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE VIEW evil AS
              WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r)
              SELECT n AS fid, (SELECT geom FROM base LIMIT 1) AS geom FROM r WHERE n < 0;
            UPDATE gpkg_contents SET table_name = 'evil', identifier = 'evil'
              WHERE table_name = 'base';
            UPDATE gpkg_geometry_columns SET table_name = 'evil' WHERE table_name = 'base';
        """)
    started = time.monotonic()
    with pytest.raises(LayerReadError, match="took too long to read"):
        read_layer_fenced(path.read_bytes(), filename="evil.gpkg", timeout_s=FAST_TIMEOUT)
    assert time.monotonic() - started < FAST_TIMEOUT + 5
    assert _no_fence_folders_left()


# --- files that point GDAL elsewhere ------------------------------------------------------


def _secret(tmp_path: Path) -> Path:
    """A copy of /etc/passwd as a CSV GDAL could read, if it were allowed to."""
    secret = tmp_path / "passwd.csv"
    secret.write_text("user,lon,lat\nroot:x:0:0,28.1,-1.9\n")
    return secret


def _vrt(source: str) -> bytes:
    return (
        f'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>{source}</SrcDataSource>'
        '<SrcLayer>passwd</SrcLayer><LayerSRS>EPSG:4326</LayerSRS><GeometryType>wkbPoint</GeometryType><GeometryField encoding="PointFromColumns" '
        'x="lon" y="lat"/></OGRVRTLayer></OGRVRTDataSource>'
    ).encode()


def _gdalg(source: str) -> bytes:
    return json.dumps({
        "type": "gdal_streamed_alg",
        "command_line": f"gdal vector pipeline ! read {source} ! write --of stream streamed",
    }).encode()


def test_the_vrt_really_reads_a_local_file_without_the_fence(tmp_path: Path) -> None:
    """The payload is real: plain GDAL follows it to the local file."""
    secret = _secret(tmp_path)
    vrt = tmp_path / "evil.vrt"
    vrt.write_bytes(_vrt(str(secret)))
    assert pyogrio.read_dataframe(vrt)["user"].tolist() == ["root:x:0:0"]


def _pointers(tmp_path: Path, url: str) -> dict[str, bytes]:
    secret = str(_secret(tmp_path))
    return {
        "vrt_local": _vrt(secret),
        "vrt_http": _vrt(f"/vsicurl/{url}/sites.geojson"),
        "vrt_after_a_long_comment": b"<!--" + b" " * 20_000 + b"-->" + _vrt(secret),
        "gdalg_local": _gdalg(secret),
        "gdalg_http": _gdalg(f"/vsicurl/{url}/sites.geojson"),
        "wfs_xml": f"<OGRWFSDataSource><URL>{url}/wfs</URL></OGRWFSDataSource>".encode(),
        "wfs_prefix": f"WFS:{url}/wfs".encode(),
        "address": f"{url}/sites.geojson".encode(),
        "vsicurl": f"/vsicurl/{url}/sites.geojson".encode(),
        "geojson_with_vsicurl": json.dumps({"type": "FeatureCollection", "features": [],
                                            "x": f"/vsicurl/{url}/a"}).encode(),
    }


@pytest.mark.parametrize("kind", [
    "vrt_local", "vrt_http", "vrt_after_a_long_comment", "gdalg_local", "gdalg_http", "wfs_xml",
    "wfs_prefix", "address", "vsicurl", "geojson_with_vsicurl",
])
def test_files_pointing_elsewhere_are_refused(kind: str, tmp_path: Path, listener) -> None:
    data = _pointers(tmp_path, listener.url)[kind]
    with pytest.raises(LayerReadError, match=POINTER):
        read_layer_fenced(data, filename="sites.geojson", timeout_s=FAST_TIMEOUT)
    with pytest.raises(LayerReadError, match=POINTER):
        read_layer(data, filename="sites.geojson")
    with pytest.raises(LayerReadError, match=POINTER):
        detect_format(data, "sites.geojson")
    assert listener.hits == []


def test_pointer_hidden_in_an_archive_is_refused(tmp_path: Path, listener) -> None:
    secret = str(_secret(tmp_path))
    members = _shapefile_members(tmp_path)
    members["titles.shp"] = _vrt(secret)
    disguised_shp = _zip(members)
    disguised_kmz = _zip({"doc.kml": _vrt(f"/vsicurl/{listener.url}/a.geojson")})
    with pytest.raises(LayerReadError, match="could not be read"):
        read_layer_fenced(disguised_shp, filename="t.zip")
    with pytest.raises(LayerReadError, match=POINTER):
        read_layer_fenced(disguised_kmz, filename="t.kmz")
    assert listener.hits == []


def test_worker_has_no_network_even_when_gdal_is_asked(tmp_path: Path, listener) -> None:
    """A KML whose style and network link point at the listener is read without a hit."""
    kml = (
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f'<NetworkLink><Link><href>{listener.url}/more.kml</href></Link></NetworkLink>'
        f'<Style id="s"><IconStyle><Icon><href>{listener.url}/icon.png</href></Icon>'
        '</IconStyle></Style><Placemark><name>A</name><styleUrl>'
        f'{listener.url}/styles.kml#s</styleUrl><Point><coordinates>28.1,-1.9</coordinates>'
        '</Point></Placemark></Document></kml>'
    ).encode()
    layer = read_layer_fenced(kml, filename="a.kml")
    assert layer.geometry.to_wkt().tolist() == ["POINT (28.1 -1.9)"]
    assert listener.hits == []


# --- archives -----------------------------------------------------------------------------


def _zeros_zip(tmp_path: Path, size: int, *, name: str = "zeros.shp") -> bytes:
    path = tmp_path / "bomb.zip"
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
        archive.writestr("zeros.shx", b"")
        archive.writestr("zeros.dbf", b"")
    return path.read_bytes()


def _symlink() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("link.cpg")
    info.create_system = 3
    info.external_attr = (0o120777 << 16)
    return info


def _archives(tmp_path: Path) -> dict[str, tuple[bytes, str]]:
    shp = _shapefile_members(tmp_path)
    return {
        "gigabyte_of_zeros": (_zeros_zip(tmp_path, 1 << 30),
                              "would unzip to 1024 MB; at most 500 MB"),
        "ratio": (_zeros_zip(tmp_path, 1 << 25), "unzips to over 100 times its zipped size"),
        "members": (_zip({f"f{i}.txt": b"" for i in range(1001)} | shp),
                    "holds 1006 files; at most 1000"),
        "zip_slip": (_zip({**shp, "../evil.shp": b"x"}), "its path leaves the zip's folder"),
        "absolute": (_zip({**shp, "/tmp/evil.shp": b"x"}), "its path leaves the zip's folder"),
        "windows_slip": (_zip({**shp, "..\\evil.dbf": b"x"}), "its path leaves the zip's folder"),
        "symlink": (_zip(shp, infos=[_symlink()]), "it is a symbolic link"),
        "nested": (_zip({**shp, "more.zip": _zip(shp)}), "it is an archive inside the archive"),
        "kmz_nested": (_zip({"doc.kml": b"<kml/>", "inner.kmz": b"PK"}),
                       "it is an archive inside the archive"),
    }


ARCHIVES = ["gigabyte_of_zeros", "ratio", "members", "zip_slip", "absolute", "windows_slip",
            "symlink", "nested", "kmz_nested"]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, str]]:
    return _archives(tmp_path_factory.mktemp("archives"))


@pytest.mark.parametrize("kind", ARCHIVES)
def test_hostile_archives_are_refused(kind: str, archives, tmp_path: Path) -> None:
    data, reason = archives[kind]
    started = time.monotonic()
    with pytest.raises(LayerReadError, match=reason):
        read_layer_fenced(data, filename="upload.zip", max_mb=200)
    with pytest.raises(LayerReadError, match=reason):
        detect_format(data, "upload.zip")
    assert time.monotonic() - started < 10
    assert not (tmp_path.parent / "evil.shp").exists()


def test_an_ordinary_shapefile_zip_passes_the_archive_checks(tmp_path: Path) -> None:
    data = _zip(_shapefile_members(tmp_path))
    assert len(read_layer_fenced(data, filename="t.zip")) == 2


# --- geometry traps, through the upload path ----------------------------------------------


def _sites_csv(rows: list[str], header: str = "site_id,name,lon,lat") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def test_bow_tie_keeps_its_full_area() -> None:
    bowtie = Polygon([(28, -2), (28.1, -1.9), (28.1, -2), (28, -1.9)])
    frame = gpd.GeoDataFrame({"site_id": ["b"]}, geometry=[bowtie], crs=4326)
    layer = load_layer(frame.to_json().encode(), "sites", filename="b.geojson", reader="fenced")
    assert layer.report.n_repaired == 1
    assert shapely.area(layer.data.geometry.values[0]) == pytest.approx(0.005)


def test_swapped_latitude_and_longitude_are_refused() -> None:
    data = _sites_csv([f"s{i},x,-2.{i},28.{i}" for i in range(5)])
    with pytest.raises(CRSError, match="look swapped"):
        load_layer(data, "sites", filename="s.csv", reference_bounds=(27, -4, 30, -1),
                   reader="fenced")


def test_utm_numbers_without_a_crs_are_refused() -> None:
    data = _sites_csv([f"s{i},x,50000{i},970000{i}" for i in range(5)], "site_id,name,x,y")
    with pytest.raises(CRSError, match="look like metres in a projected coordinate system"):
        load_layer(data, "sites", filename="s.csv", reader="fenced")


def test_non_finite_and_out_of_range_coordinates_are_left_out_by_row() -> None:
    data = _sites_csv(["s1,a,28.1,-1.9", "s2,b,nan,-1.9", "s3,c,inf,-1.9", "s4,d,28.1,-inf",
                       "s5,e,28.1,-91"])
    layer = load_layer(data, "sites", filename="s.csv", reader="fenced")
    issues = layer.report.issues
    assert layer.report.n_kept == 1
    assert issues[issues["rule"] == "empty_geometry"]["row"].tolist() == [2, 3, 4]
    assert issues[issues["rule"] == "out_of_range"]["id"].tolist() == ["s5"]
    wkt = b'site_id,wkt\nw1,"POINT (28.1 -1.9)"\nw2,"POINT (inf -1.9)"\nw3,"POINT (nan nan)"\n'
    layer = load_layer(wkt, "sites", filename="w.csv", reader="fenced")
    left_out = layer.report.issues
    assert sorted(left_out["row"].tolist()) == [2, 3]
    assert layer.data["site_id"].tolist() == ["w1"]


def test_z_and_m_coordinates_are_made_2d() -> None:
    feature = {"type": "Feature", "properties": {"site_id": "z"},
               "geometry": {"type": "Point", "coordinates": [28.1, -1.9, 1500.0]}}
    data = json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()
    layer = load_layer(data, "sites", filename="z.geojson", reader="fenced")
    assert not shapely.has_z(layer.data.geometry.values).any()


def test_layers_in_different_crs_are_aligned(tmp_path: Path) -> None:
    titles = _titles()
    utm = titles.to_crs(32735)
    mercator = titles.to_crs(3857)
    first = read_layer_fenced(utm.to_json().encode(), filename="utm.geojson")
    gpkg = tmp_path / "m.gpkg"
    mercator.to_file(gpkg, driver="GPKG")
    second = read_layer_fenced(gpkg.read_bytes(), filename="m.gpkg")
    assert first.crs.to_epsg() == second.crs.to_epsg() == 4326
    assert np.allclose(first.total_bounds, second.total_bounds, atol=1e-6)
    assert np.allclose(first.total_bounds, titles.total_bounds, atol=1e-6)


def test_markup_and_formula_payloads_come_back_as_plain_text() -> None:
    evil = ['<img src=x onerror="window.__xss=1">', "=HYPERLINK(\"http://x\",\"y\")",
            "+1+1", "@SUM(A1)", "\t=1", "\r=1"]
    frame = gpd.GeoDataFrame({"site_id": [f"s{i}" for i in range(len(evil))], "name": evil},
                             geometry=shapely.points(np.full(len(evil), 28.1), -1.9), crs=4326)
    layer = read_layer_fenced(frame.to_json().encode(), filename="x.geojson")
    assert layer["name"].tolist() == evil


# --- the workspace is unchanged after refused uploads ---------------------------------------


def test_refused_uploads_leave_the_workspace_unchanged(tmp_path: Path, listener,
                                                        archives) -> None:
    workspace = GeoPackageWorkspace(tmp_path / "w.gpkg")
    workspace.seed({"sites": (gpd.GeoDataFrame(
        {"site_id": ["a"]}, geometry=[shapely.Point(28.1, -1.9)], crs=4326), "seed", "0" * 64)})
    before = workspace.history()
    hostile = {f"{k}.geojson": v for k, v in _pointers(tmp_path, listener.url).items()}
    hostile |= {f"{k}.zip": archives[k][0] for k in ("zip_slip", "symlink", "nested")}
    for name, data in hostile.items():
        with pytest.raises(GeoError):
            parse_upload(data, name, "sites", None, (), None)
    assert workspace.history().equals(before)
    assert listener.hits == []
    assert _no_fence_folders_left()
    assert not os.path.exists(tmp_path.parent / "evil.shp")


def test_polygon_across_the_antimeridian_is_split_and_reported() -> None:
    strip = Polygon([(179.9, -17), (-179.9, -17), (-179.9, -16.9), (179.9, -16.9)])
    frame = gpd.GeoDataFrame({"conc_id": ["FJ-1"]}, geometry=[strip], crs=4326)
    layer = load_layer(frame.to_json().encode(), "concessions", filename="fiji.geojson",
                       reader="fenced")
    issues = layer.report.issues
    assert issues["rule"].tolist() == ["crosses_antimeridian"]
    assert issues["detail"].tolist() == ["longitudes from -179.9 to 179.9"]
    geod = pyproj.Geod(ellps="WGS84")
    area_m2 = abs(geod.geometry_area_perimeter(layer.data.geometry.values[0])[0])
    expected = abs(geod.geometry_area_perimeter(box(179.9, -17, 180.1, -16.9))[0])
    assert area_m2 == pytest.approx(expected, rel=1e-6)  # a strip, not the whole world
