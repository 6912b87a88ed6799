"""Read any supported file into a GeoDataFrame in EPSG:4326.

One entry point, :func:`read_layer`, takes a path or the raw bytes of an uploaded file. The
format is decided from the file's own first bytes (:func:`detect_format`), the file name only
breaking ties. Every failure is a :class:`~geo.errors.LayerReadError` (or a
:class:`~geo.errors.CRSError` for a missing or unusable coordinate reference system) with one
plain sentence for the user; no pyogrio, GDAL, zipfile, pandas or pyarrow error escapes.

Reading is all this module does: rows are never dropped, null and empty geometries are kept
and nothing is validated or repaired (see :mod:`geo.validate`).

Formats
-------
========================  ===================================================================
``gpkg``                  GeoPackage: the first layer with geometry, or ``layer``.
``geojson``               GeoJSON (also Esri JSON and other JSON that GDAL reads). No ``crs``
                          member means WGS84, as the GeoJSON specification says.
``shapefile_zip``         A zip holding one shapefile at any folder depth; ``__MACOSX/`` and
                          ``._*`` entries are ignored. A zip holding several shapefiles is
                          refused unless ``layer`` names one (see :func:`list_layers`).
``kml`` / ``kmz``         Every folder (layer) with geometry, concatenated; ``layer`` reads one.
``csv``                   Point columns ``longitude/latitude``, ``lon/lat``, ``long/lat``,
                          ``lng/lat`` or ``x/y`` (any case), or a WKT column named ``wkt``,
                          ``geom``, ``geometry`` or ``the_geom``. Delimiter ``,`` ``;`` tab or
                          ``|``; decimal commas are read. No CRS: EPSG:4326 unless ``crs``.
``parquet``               GeoParquet; a plain Parquet table is read like a CSV.
========================  ===================================================================

A path to a ``.shp`` file (its ``.shx``, ``.dbf`` and ``.prj`` beside it) is read as well.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> titles = gpd.GeoDataFrame({"conc_id": ["PE-1"]}, geometry=[box(28, -2, 28.5, -1.5)], crs=4326)
>>> layer = read_layer(titles.to_json().encode(), filename="titles.geojson")
>>> layer.crs.to_epsg(), len(layer), layer.total_bounds.tolist()
(4326, 1, [28.0, -2.0, 28.5, -1.5])
>>> read_layer(b"name;lon;lat\\nA;28,1;-1,9\\n").geometry.to_wkt().tolist()
['POINT (28.1 -1.9)']
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet as pq
import pyogrio
import pyproj
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geo.errors import CRSError, LayerReadError
from geo.i18n import N_, _

__all__ = [
    "MAX_ARCHIVE_MEMBERS",
    "MAX_COMPRESSION_RATIO",
    "MAX_UNZIPPED_MB",
    "SUPPORTED_FORMATS",
    "FormatName",
    "detect_format",
    "list_layers",
    "read_layer",
]

FormatName = Literal["gpkg", "geojson", "shapefile_zip", "kml", "kmz", "csv", "parquet"]
_Format = FormatName | Literal["shapefile"]
_Source = str | os.PathLike[str] | bytes

#: File extensions accepted for upload, with the label shown next to them.
SUPPORTED_FORMATS: dict[str, str] = {
    ".zip": "zipped shapefile (.shp with its .shx, .dbf and .prj)",
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".gpkg": "GeoPackage",
    ".kml": "KML (Google Earth)",
    ".kmz": "KMZ (zipped KML)",
    ".csv": "CSV with longitude/latitude or WKT columns",
    ".parquet": "GeoParquet",
    ".geoparquet": "GeoParquet",
}

#: A zip or KMZ holding more files than this is refused before anything in it is read.
MAX_ARCHIVE_MEMBERS = 1_000
#: ... or declaring more than this many MB once unzipped (all its files together).
MAX_UNZIPPED_MB = 500
#: ... or a file in it that unzips to more than this many times its zipped size (a zip bomb;
#: only checked for files over :data:`_RATIO_FLOOR` bytes unzipped).
MAX_COMPRESSION_RATIO = 100
_RATIO_FLOOR = 1 << 20
_NESTED_ARCHIVES = (".zip", ".kmz", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".zst")
_S_IFMT, _S_IFLNK = 0o170000, 0o120000

_WGS84 = pyproj.CRS.from_epsg(4326)
_HEAD_SIZE = 8192
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PARQUET_MAGIC = b"PAR1"
_SHP_MAGIC = b"\x00\x00\x27\x0a"
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DELIMITERS = (",", ";", "\t", "|")
_TEXT_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
_LON_NAMES = ("longitude", "lon", "long", "lng")
_LAT_NAMES = ("latitude", "lat")
_WKT_NAMES = ("wkt", "geom", "geometry", "the_geom")
# pyogrio 0.13 raises UnicodeDecodeError for text not in the declared encoding and, when that
# happens in a .prj, an UnboundLocalError from its own CRS code: both mean "cannot read".
_GDAL_ERRORS = (DataSourceError, DataLayerError, OSError, UnicodeDecodeError, UnboundLocalError)

_PARQUET_ERRORS = (
    pyarrow.ArrowException,
    OSError,
    ValueError,
    TypeError,
    shapely.errors.GEOSException,
    pyproj.exceptions.CRSError,
)

_SUFFIX: dict[_Format, str] = {
    "gpkg": ".gpkg",
    "geojson": ".geojson",
    "shapefile_zip": ".zip",
    "kml": ".kml",
    "kmz": ".kmz",
    "csv": ".csv",
    "parquet": ".parquet",
    "shapefile": ".shp",
}
#: What a format is called in messages (English, marked; translated where used).
_LABEL: dict[_Format, str] = {
    "gpkg": N_("GeoPackage file"),
    "geojson": N_("GeoJSON file"),
    "shapefile_zip": N_("zipped shapefile"),
    "kml": N_("KML file"),
    "kmz": N_("KMZ file"),
    "csv": N_("CSV file"),
    "parquet": N_("Parquet file"),
    "shapefile": N_("shapefile"),
}
_MULTI_LAYER: tuple[_Format, ...] = ("gpkg", "shapefile_zip", "kml", "kmz")

# Files that only point GDAL at other data (a local file, a web address, a database) are
# refused from their content, before GDAL sees them: an OGR or raster VRT, a GDAL pipeline
# (GDALG), a WFS description, or a connection string / address in place of the data.
_INDIRECTION = re.compile(
    rb"<\s*(?:OGRVRTDataSource|VRTDataset|OGRWFSDataSource|GDAL_WMS|WFS_Capabilities)\b"
    rb"|gdal_streamed_alg"
    rb"|/vsi(?:curl|http|https|s3|gs|az|adls|oss|swift|webhdfs|stdin|subfile|sparse|crypt)",
    re.IGNORECASE,
)
_ADDRESS = re.compile(
    r"^(?:[a-z][a-z0-9+.-]{1,15}://|/vsi|(?:WFS|OAPIF|WMS|WMTS|CSW|PG|MYSQL|ODBC|MSSQL|OCI|ES|"
    r"CARTO|NGW|PLSCENES|EEDA|AMIGOCLOUD|GDALG|SQLITE|GPKG|GTFS|VRT|HTTP|HTTPS|FTP|FILE):)",
    re.IGNORECASE,
)

# TRANSLATORS: {name} is the quoted file name followed by a space, or nothing.
_UNKNOWN = N_(
    "The file {name}is not in a supported format; upload a zipped shapefile (.zip), GeoJSON, "
    "GeoPackage (.gpkg), KML, KMZ, CSV with longitude/latitude columns or GeoParquet file."
)
# TRANSLATORS: {hint} is empty or " (a shapefile needs its .prj file)".
_NO_CRS = N_(
    "The file has no coordinate reference system{hint}. Add it, or choose the CRS the "
    "coordinates are in."
)


# --- public API -------------------------------------------------------------------------


def read_layer(
    source: str | os.PathLike[str] | bytes,
    *,
    filename: str | None = None,
    crs: str | int | None = None,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a file of any supported format into a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A path, or the raw bytes of an uploaded file. Bytes are read in a private temporary
        folder that is always removed.
    filename : str, optional
        The uploaded file's name. The format is decided from the bytes; the name only breaks
        ties (a zip holding both a shapefile and a KML, a headerless text table).
    crs : str or int, optional
        The CRS the coordinates are in, used when the file declares none (a CSV, a shapefile
        without ``.prj``, a GeoPackage with an undefined SRS); anything ``pyproj.CRS``
        accepts, such as ``32735`` or ``"EPSG:32735"``. A CRS the file declares is kept. A
        CSV without ``crs`` is taken as longitude/latitude on WGS84 (EPSG:4326).
    layer : str, optional
        Which layer to read from a GeoPackage (layer name), a zip of several shapefiles
        (path inside the zip or file name without ``.shp``) or a KML/KMZ (folder name).
        Default: the first GeoPackage layer with geometry, the zip's only shapefile, every
        KML folder with geometry. Not allowed for single-layer formats.

    Returns
    -------
    geopandas.GeoDataFrame
        The source's attribute columns as read and a ``geometry`` column, in EPSG:4326, one
        row per feature in file order, index ``0..n-1``. Null and empty geometries are kept;
        Z coordinates are kept. Rows of a CSV whose coordinates are missing or unreadable
        have a null geometry.

    Raises
    ------
    LayerReadError
        The file is empty, damaged, of an unknown format, has no geometry, or ``layer`` does
        not name one of its layers.
    CRSError
        The file has no CRS and ``crs`` is not given, ``crs`` is not a CRS, or the file's
        CRS cannot be converted to longitude/latitude.

    Examples
    --------
    >>> csv = b"site,x,y\\na,500000,9700000\\n"  # UTM zone 35S
    >>> layer = read_layer(csv, crs=32735)
    >>> layer.crs.to_epsg(), layer.geometry.to_wkt(rounding_precision=4).tolist()
    (4326, ['POINT (27 -2.7142)'])
    """
    fallback = _parse_crs(crs)
    with _opened(source, filename) as (path, fmt):
        if layer is not None and fmt not in _MULTI_LAYER:
            raise LayerReadError(
                _("layer={layer} was given, but a {label} holds a single layer; leave the layer "
                  "empty.").format(layer=repr(layer), label=_(_LABEL[fmt]))
            )
        frame = _READERS[fmt](path, layer=layer, crs=fallback)
    return _finish(frame, fallback, fmt)


def detect_format(data: bytes, filename: str | None = None) -> FormatName:
    """Decide a file's format from its first bytes.

    Parameters
    ----------
    data : bytes
        The file's content (a zip needs all of it, to look inside).
    filename : str, optional
        The file's name; only used to break ties (see :func:`read_layer`).

    Returns
    -------
    str
        One of ``"gpkg"``, ``"geojson"``, ``"shapefile_zip"``, ``"kml"``, ``"kmz"``,
        ``"csv"``, ``"parquet"``.

    Raises
    ------
    LayerReadError
        The data is empty, a damaged zip, or in no supported format.

    Examples
    --------
    >>> detect_format(b'{"type": "FeatureCollection", "features": []}')
    'geojson'
    >>> detect_format(b"pcode,longitude,latitude\\nA1,28.1,-1.9\\n")
    'csv'
    """
    return _detect(bytes(data[:_HEAD_SIZE]), filename, lambda: io.BytesIO(data))


def list_layers(source: _Source, *, filename: str | None = None) -> list[str]:
    """Name the layers with geometry that ``read_layer(..., layer=...)`` can pick from.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A path, or the raw bytes of an uploaded file.
    filename : str, optional
        The uploaded file's name, as for :func:`read_layer`.

    Returns
    -------
    list of str
        GeoPackage layers with geometry, the shapefiles inside a zip (paths inside the zip),
        or KML/KMZ folders; an empty list for single-layer formats (GeoJSON, CSV, Parquet).

    Raises
    ------
    LayerReadError
        As :func:`read_layer`.

    Examples
    --------
    >>> list_layers(b"lon,lat\\n28.1,-1.9\\n")
    []
    """
    with _opened(source, filename) as (path, fmt):
        if fmt in ("shapefile_zip", "kmz"):
            members = _zip_members(path)
            if fmt == "shapefile_zip":
                return _shapefiles(members)
            path = _vsizip(path, _kml_member(members))
        if fmt in _MULTI_LAYER:
            return [name for name, geometry_type in _gdal_layers(path, fmt) if geometry_type]
    return []


# --- opening and detecting --------------------------------------------------------------


@contextlib.contextmanager
def _opened(source: _Source, filename: str | None) -> Iterator[tuple[str, _Format]]:
    """Yield a local path to the source and its format; bytes live in a temp folder."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        fmt = detect_format(data, filename)
        with tempfile.TemporaryDirectory(prefix="geo-io-") as folder:
            path = Path(folder) / f"upload{_SUFFIX[fmt]}"
            path.write_bytes(data)
            yield str(path), fmt
        return
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    path = _existing_file(Path(source))
    if path.suffix.lower() == ".shp":
        yield str(path), "shapefile"
        return
    yield str(path), _detect(_head(path), filename or path.name, lambda: path)


def _existing_file(path: Path) -> Path:
    if path.is_dir():
        raise LayerReadError(
            _("{path} is a folder, not a file; zip a shapefile's files together, or pick the "
              "file.").format(path=path)
        )
    if not path.is_file():
        raise LayerReadError(
            _("There is no file at {path}; check the path and the file name.").format(path=path)
        )
    return path


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_SIZE)
    except OSError as err:
        raise LayerReadError(
            _("The file {path} could not be opened ({reason}).").format(
                path=path, reason=err.strerror)
        ) from err


def _detect(
    head: bytes, filename: str | None, whole: Callable[[], str | Path | IO[bytes]]
) -> FormatName:
    """Decide the format from the first bytes; ``whole`` opens the file, to look in a zip."""
    if not head.strip():
        raise LayerReadError(
            _("The file is empty; check that it finished saving or uploading.")
        )
    if head.startswith(_ZIP_MAGIC):
        return _zip_format(_zip_members(whole()), filename)
    if head.startswith(_SQLITE_MAGIC):
        return "gpkg"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_SHP_MAGIC):
        raise LayerReadError(_(
            "This is only the .shp part of a shapefile; zip it together with its .shx, .dbf "
            "and .prj files and upload the zip."
        ))
    text = _text_head(head, filename)
    _refuse_indirection(text, _whole_bytes(whole))
    return _text_format(text, filename)


def _refuse_indirection(text: str, content: bytes) -> None:
    """Refuse a text file that points GDAL at other data instead of holding it."""
    if _ADDRESS.match(text) or _INDIRECTION.search(content):
        raise LayerReadError(_(
            "The file is not map data but a pointer to other data (a GDAL virtual file, a "
            "processing pipeline, a web service or an address); for safety such files are "
            "never opened. Export the data itself as GeoJSON, GeoPackage, KML, CSV or a zipped "
            "shapefile."
        ))


def _whole_bytes(whole: Callable[[], str | Path | IO[bytes]]) -> bytes:
    opened = whole()
    if isinstance(opened, str | Path):
        try:
            return Path(opened).read_bytes()
        except OSError:
            return b""
    return opened.read()


def _text_head(head: bytes, filename: str | None) -> str:
    """Decode the start of a text file; binary data of no known format is refused."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if len(_BINARY_CHARS.findall(text)) > len(text) // 100:
        raise LayerReadError(_(_UNKNOWN).format(name=_quoted(filename)))
    return text


def _text_format(text: str, filename: str | None) -> FormatName:
    suffix = _suffix(filename)
    if text.startswith(("{", "[")):
        return "geojson"
    if text.startswith("<"):
        lowered = text.lower()
        if "<kml" in lowered or suffix == ".kml":
            return "kml"
        if "<html" in lowered:
            raise LayerReadError(_(
                "The file is a web page (HTML), not map data; the download probably failed, "
                "so download the file again."
            ))
        # TRANSLATORS: {name} is the quoted file name followed by a space, or nothing.
        raise LayerReadError(
            _("The file {name}is XML but not KML; export it as KML, GeoJSON or "
              "GeoPackage.").format(name=_quoted(filename))
        )
    first_line = text.split("\n", 1)[0]
    if any(d in first_line for d in _DELIMITERS) or suffix in _TEXT_TABLE_SUFFIXES:
        return "csv"
    raise LayerReadError(_(_UNKNOWN).format(name=_quoted(filename)))


def _zip_format(members: list[str], filename: str | None) -> FormatName:
    """A zip with a .kml is a KMZ, with a .shp a zipped shapefile; the name breaks ties."""
    has_kml = any(m.lower().endswith(".kml") for m in members)
    has_shp = bool(_shapefiles(members))
    if has_kml != has_shp:
        return "kmz" if has_kml else "shapefile_zip"
    return "kmz" if _suffix(filename) == ".kmz" else "shapefile_zip"


def _zip_members(archive: str | Path | IO[bytes]) -> list[str]:
    """Names of the files in a zip, without folders and macOS junk (``__MACOSX/``, ``._*``)."""
    try:
        with zipfile.ZipFile(archive) as opened:
            members = opened.infolist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as err:
        raise LayerReadError(_(
            "The zip file is damaged or incomplete (perhaps cut off while downloading or "
            "uploading); zip or download it again and retry."
        )) from err
    _check_archive(members)
    return [member.filename for member in members if not _is_junk(member.filename)]


def _check_archive(members: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip that is a bomb, escapes its folder, links elsewhere or nests archives.

    Only the zip's directory is read: sizes are the ones the zip declares, which is what a
    reader trusts when it unzips.
    """
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise LayerReadError(
            _("The zip file holds {count} files; at most {limit} are accepted. Zip only the "
              "layer's files.").format(count=len(members), limit=MAX_ARCHIVE_MEMBERS)
        )
    total = sum(member.file_size for member in members)
    if total > MAX_UNZIPPED_MB * 1024 * 1024:
        raise LayerReadError(
            _("The zip file would unzip to {size} MB; at most {limit} MB are accepted.").format(
                size=total // (1024 * 1024), limit=MAX_UNZIPPED_MB)
        )
    for member in members:
        name = member.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            reason = _("its path leaves the zip's folder")
        elif (member.external_attr >> 16) & _S_IFMT == _S_IFLNK:
            reason = _("it is a symbolic link")
        elif not name.endswith("/") and PurePosixPath(name).suffix.lower() in _NESTED_ARCHIVES:
            reason = _("it is an archive inside the archive")
        elif (member.file_size > _RATIO_FLOOR
              and member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1)):
            reason = _("it unzips to over {ratio} times its zipped size").format(
                ratio=MAX_COMPRESSION_RATIO)
        else:
            continue
        # TRANSLATORS: {reason} says what is wrong with the file inside the zip.
        raise LayerReadError(
            _("The zip file was refused because of {name}: {reason}. Zip the layer's files "
              "again, without folders outside it, links or other archives.").format(
                name=repr(name), reason=reason)
        )


def _is_junk(name: str) -> bool:
    path = PurePosixPath(name)
    return name.endswith("/") or path.parts[0] == "__MACOSX" or path.name.startswith("._")


def _suffix(filename: str | None) -> str:
    return PurePosixPath(filename).suffix.lower() if filename else ""


def _quoted(filename: str | None) -> str:
    return f"{filename!r} " if filename else ""


# --- readers ----------------------------------------------------------------------------


def _read_gpkg(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    return _gdal_read(path, "gpkg", layer=_pick_layer(_gdal_layers(path, "gpkg"), layer, "gpkg"))


def _read_geojson(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    return _gdal_read(path, "geojson")


def _read_shapefile(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    shp = Path(path)
    _check_sidecars([p.name for p in shp.parent.iterdir()], shp.name, zipped=False)
    return _gdal_read(path, "shapefile")


def _read_shapefile_zip(
    path: str, *, layer: str | None, crs: pyproj.CRS | None
) -> gpd.GeoDataFrame:
    members = _zip_members(path)
    shp = _pick_shapefile(members, layer)
    _check_sidecars(members, shp, zipped=True)
    if not _member_head(path, shp).startswith(_SHP_MAGIC):
        raise LayerReadError(_damaged("shapefile_zip"))
    return _gdal_read(_vsizip(path, shp), "shapefile_zip")


def _read_kmz(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    document = _kml_member(_zip_members(path))
    head = _member_head(path, document)
    _refuse_indirection(head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n"), head)
    return _read_kml(_vsizip(path, document), layer=layer, crs=crs)


def _member_head(path: str, member: str) -> bytes:
    """The first bytes of a file inside a zip (already checked by :func:`_zip_members`)."""
    try:
        with zipfile.ZipFile(path) as opened, opened.open(member) as handle:
            return handle.read(_HEAD_SIZE)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
            NotImplementedError, KeyError, RuntimeError) as err:
        raise LayerReadError(_(
            "The zip file is damaged or incomplete (perhaps cut off while downloading or "
            "uploading); zip or download it again and retry."
        )) from err


def _read_kml(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    """Every KML folder (GDAL layer) with geometry, concatenated in document order."""
    layers = _gdal_layers(path, "kml")
    names = [_pick_layer(layers, layer, "kml")] if layer is not None else _spatial(layers, "kml")
    frames = [_gdal_read(path, "kml", layer=name) for name in names]
    filled = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(filled, ignore_index=True) if len(filled) > 1 else filled[0]


def _read_csv(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    text = _decode(Path(path).read_bytes())
    first_line = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first_line.count)
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise LayerReadError(
            _("The CSV file could not be read ({reason}); check that every row has as many "
              "values as the header and that values holding the delimiter are "
              "quoted.").format(reason=_first_line(err))
        ) from err
    return _table_to_frame(table, crs or _WGS84, "csv")


def _read_parquet(path: str, *, layer: str | None, crs: pyproj.CRS | None) -> gpd.GeoDataFrame:
    try:
        metadata = pq.read_schema(path).metadata or {}
        if b"geo" in metadata:
            return gpd.read_parquet(path)
        table = pd.read_parquet(path)
    except _PARQUET_ERRORS as err:
        raise LayerReadError(_(
            "The Parquet file could not be read: it is damaged, incomplete, or its geometry or "
            "CRS is broken; export it again as GeoParquet and retry."
        )) from err
    return _table_to_frame(table, crs or _WGS84, "parquet")


_READERS: dict[_Format, Callable[..., gpd.GeoDataFrame]] = {
    "gpkg": _read_gpkg,
    "geojson": _read_geojson,
    "shapefile": _read_shapefile,
    "shapefile_zip": _read_shapefile_zip,
    "kml": _read_kml,
    "kmz": _read_kmz,
    "csv": _read_csv,
    "parquet": _read_parquet,
}


# --- GDAL helpers -----------------------------------------------------------------------


def _gdal_read(path: str, fmt: _Format, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer with GDAL; a shape GEOS cannot build comes back null, with a warning."""
    try:
        return pyogrio.read_dataframe(path, layer=layer, on_invalid="warn")
    except UnicodeDecodeError as err:
        raise LayerReadError(
            _("The {label} holds text that is not in the character encoding it declares; save "
              "it again as UTF-8 and retry.").format(label=_(_LABEL[fmt]))
        ) from err
    except _GDAL_ERRORS as err:
        message = _json_problem(Path(path)) if fmt == "geojson" else _damaged(fmt)
        raise LayerReadError(message) from err


def _gdal_layers(path: str, fmt: _Format) -> list[tuple[str, str | None]]:
    """``(name, geometry type or None)`` of every layer GDAL sees in the file."""
    try:
        return [(str(name), kind) for name, kind in pyogrio.list_layers(path)]
    except _GDAL_ERRORS as err:
        raise LayerReadError(_damaged(fmt)) from err


def _damaged(fmt: _Format) -> str:
    return _(
        "The {label} could not be read: it is damaged, incomplete or not really in that "
        "format; export or download it again and retry."
    ).format(label=_(_LABEL[fmt]))


def _spatial(layers: list[tuple[str, str | None]], fmt: _Format) -> list[str]:
    names = [name for name, geometry_type in layers if geometry_type]
    if not names:
        tables = (
            _(" (it holds only tables: {names})").format(
                names=_listing([name for name, _kind in layers]))
            if layers else ""
        )
        # TRANSLATORS: {tables} is empty or " (it holds only tables: ...)".
        raise LayerReadError(
            _("The {label} has no layer with geometry{tables}; export the layer together with "
              "its geometry.").format(label=_(_LABEL[fmt]), tables=tables)
        )
    return names


def _pick_layer(layers: list[tuple[str, str | None]], layer: str | None, fmt: _Format) -> str:
    """The named layer, or the first with geometry."""
    if layer is None:
        return _spatial(layers, fmt)[0]
    kinds = dict(layers)
    if layer not in kinds:
        raise LayerReadError(
            _("There is no layer {layer} in the file; its layers are {names}.").format(
                layer=repr(layer), names=_listing(list(kinds)))
        )
    if kinds[layer] is None:
        raise LayerReadError(
            _("Layer {layer} has no geometry; choose a layer with geometry.").format(
                layer=repr(layer))
        )
    return layer


def _vsizip(path: str, member: str) -> str:
    return f"/vsizip/{Path(path).as_posix()}/{member}"


def _shapefiles(members: list[str]) -> list[str]:
    return [m for m in members if m.lower().endswith(".shp")]


def _pick_shapefile(members: list[str], layer: str | None) -> str:
    """The zip's only shapefile, or the one ``layer`` names (path in the zip or stem)."""
    shapefiles = _shapefiles(members)
    if not shapefiles:
        raise LayerReadError(
            _("The zip file holds no shapefile (.shp); it holds {names}. Zip the .shp with its "
              ".shx, .dbf and .prj files, or upload a GeoJSON, GeoPackage, KML or CSV file as "
              "it is.").format(names=_listing(members) or _("nothing"))
        )
    if layer is not None:
        wanted = layer.lower().removesuffix(".shp")
        matches = [s for s in shapefiles if wanted in (s.lower()[:-4], _stem(s))]
        if not matches:
            raise LayerReadError(
                _("There is no shapefile {layer} in the zip; it holds {names}.").format(
                    layer=repr(layer), names=_listing(shapefiles))
            )
        return matches[0]
    if len(shapefiles) > 1:
        raise LayerReadError(
            _("The zip file holds {count} shapefiles ({names}); choose which one to read, or "
              "upload a zip holding only one.").format(
                count=len(shapefiles), names=_listing(shapefiles))
        )
    return shapefiles[0]


def _check_sidecars(members: list[str], shp: str, *, zipped: bool) -> None:
    """Refuse a shapefile whose .shx or .dbf is not among ``members`` (names, any case)."""
    present = {m.lower() for m in members}
    missing = [ext for ext in (".shx", ".dbf") if shp[:-4].lower() + ext not in present]
    if missing:
        message = (
            _("The shapefile {name} has no {missing} file in the zip; a shapefile needs its "
              ".shp, .shx, .dbf and .prj files kept (or zipped) together.")
            if zipped else
            _("The shapefile {name} has no {missing} file beside it; a shapefile needs its "
              ".shp, .shx, .dbf and .prj files kept (or zipped) together.")
        )
        raise LayerReadError(
            message.format(name=repr(shp), missing=_(" or ").join(missing))
        )


def _stem(member: str) -> str:
    return PurePosixPath(member).stem.lower()


def _kml_member(members: list[str]) -> str:
    """The KMZ's main document: ``doc.kml`` at the root, else the first ``.kml``."""
    documents = [m for m in members if m.lower().endswith(".kml")]
    if not documents:
        raise LayerReadError(_(
            "The KMZ file holds no KML document (.kml); export it from Google Earth or your "
            "GIS again."
        ))
    return next((d for d in documents if d.lower() == "doc.kml"), documents[0])


def _json_problem(path: Path) -> str:
    """Why GDAL could not read a JSON file, in words: not JSON at all, or not GeoJSON."""
    try:
        json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as err:
        where = (
            _(" (line {line}, column {column}: {problem})").format(
                line=err.lineno, column=err.colno, problem=err.msg)
            if isinstance(err, json.JSONDecodeError)
            else ""
        )
        # TRANSLATORS: {where} is empty or " (line L, column C: problem)".
        return _(
            "The GeoJSON file is not valid JSON{where}; it may be cut off or edited by hand, "
            "so export or download it again."
        ).format(where=where)
    return _(
        "The file is JSON but not GeoJSON: it needs a FeatureCollection of features with a "
        "geometry; export it again as GeoJSON."
    )


# --- tables with coordinates (CSV, plain Parquet) ---------------------------------------


def _decode(raw: bytes) -> str:
    """Text of a CSV: UTF-8 (with or without BOM), else Windows-1252, else Latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        with contextlib.suppress(UnicodeDecodeError):
            return raw.decode(encoding)
    return raw.decode("latin-1")


def _table_to_frame(table: pd.DataFrame, crs: pyproj.CRS, fmt: _Format) -> gpd.GeoDataFrame:
    """Points from longitude/latitude (or x/y) columns, else shapes from a WKT column.

    Longitude/latitude columns stay as attributes; a WKT column becomes the geometry (and a
    text column named ``geometry`` is always replaced by the geometry). Rows whose
    coordinates are missing or unreadable get a null geometry; none is dropped.
    """
    names = {str(column).strip().lower(): column for column in table.columns}
    pair = _coordinate_pair(names)
    wkt = next((names[n] for n in _WKT_NAMES if n in names), None)
    if pair is not None:
        geometry = _points(table[pair[0]], table[pair[1]])
    elif wkt is not None:
        geometry = _shapes(table[wkt])
        table = table.drop(columns=wkt)
    else:
        raise LayerReadError(
            _("The {label} has no coordinate columns: it needs longitude and latitude (or "
              "lon/lat, lng/lat, x/y) or a WKT column named wkt or geometry, and its columns "
              "are {names}.").format(label=_(_LABEL[fmt]),
                                     names=_listing([str(c) for c in table.columns]))
        )
    table = table.drop(columns=[c for c in table.columns if c == "geometry"])
    return gpd.GeoDataFrame(table, geometry=geometry, crs=crs)


def _coordinate_pair(names: dict[str, str]) -> tuple[str, str] | None:
    lon = next((names[n] for n in _LON_NAMES if n in names), None)
    lat = next((names[n] for n in _LAT_NAMES if n in names), None)
    if lon is not None and lat is not None:
        return lon, lat
    if "x" in names and "y" in names:
        return names["x"], names["y"]
    return None


def _numbers(values: pd.Series) -> np.ndarray:
    """Floats from numbers or text (decimal comma allowed); NaN where unreadable."""
    if not pd.api.types.is_numeric_dtype(values):
        text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _points(x: pd.Series, y: pd.Series) -> np.ndarray:
    xs, ys = _numbers(x), _numbers(y)
    known = np.isfinite(xs) & np.isfinite(ys)
    geometry = np.full(len(xs), None, dtype=object)
    geometry[known] = shapely.points(xs[known], ys[known])
    return geometry


def _shapes(values: pd.Series) -> np.ndarray:
    """Shapes from WKT text (or WKB bytes); None where missing or unreadable."""
    if pd.api.types.infer_dtype(values, skipna=True) == "bytes":
        return shapely.from_wkb(_objects(values), on_invalid="ignore")
    return shapely.from_wkt(_objects(values.astype("string").str.strip()), on_invalid="ignore")


def _objects(values: pd.Series) -> np.ndarray:
    """The values as a numpy object array, missing values as None."""
    return np.asarray(values.astype(object).where(values.notna(), None), dtype=object)


# --- CRS and the final shape ------------------------------------------------------------


def _parse_crs(crs: str | int | None) -> pyproj.CRS | None:
    if crs is None:
        return None
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as err:
        raise CRSError(
            _("crs={crs} is not a coordinate reference system; give an EPSG code such as 4326 "
              "(longitude/latitude) or 32735 (UTM zone 35S).").format(crs=repr(crs))
        ) from err


def _finish(frame: gpd.GeoDataFrame, fallback: pyproj.CRS | None, fmt: _Format) -> gpd.GeoDataFrame:
    """Set the fallback CRS if none, reproject to EPSG:4326, name the geometry, reset index."""
    if frame.crs is None:
        if fallback is None:
            hint = _(" (a shapefile needs its .prj file)") if "shapefile" in fmt else ""
            raise CRSError(_(_NO_CRS).format(hint=hint))
        frame = frame.set_crs(fallback)
    if not frame.crs.equals(_WGS84):
        frame = _reproject(frame)
    if frame.geometry.name != "geometry":
        if "geometry" in frame.columns:
            raise LayerReadError(
                _("The file has a column named 'geometry' besides its geometry; rename it.")
            )
        frame = frame.rename_geometry("geometry")
    return frame.reset_index(drop=all(name is None for name in frame.index.names))


def _reproject(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    try:
        return frame.to_crs(_WGS84)
    except (pyproj.exceptions.CRSError, pyproj.exceptions.ProjError, ValueError) as err:
        raise CRSError(
            _("The file's coordinate reference system ({name}) cannot be converted to "
              "longitude/latitude (WGS84); export the file in EPSG:4326 and retry.").format(
                name=frame.crs.name)
        ) from err


# --- messages ---------------------------------------------------------------------------


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    if len(names) <= limit:
        return shown
    return _("{names} and {count} more").format(names=shown, count=len(names) - limit)


def _first_line(err: Exception) -> str:
    return str(err).strip().split("\n", 1)[0]
