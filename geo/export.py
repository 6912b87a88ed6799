"""Writing results: the command line's output folder and the dashboard's downloads.

Every export carries the method note (area method, CRS, date, data sources). Text cells
that a spreadsheet would run as a formula are neutralised in CSV and XLSX.

Examples
--------
>>> from geo.pipeline import analyse, load_bundled
>>> analysis = analyse(load_bundled("concessions"), load_bundled("sites"))
>>> sorted(summary(analysis, sources={"sites": "IPIS"})["totals"])[:3]
['armed_in', 'child_in', 'concession_ha']
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio
import pyproj
import shapely

from geo.errors import SchemaError
from geo.i18n import N_, _
from geo.measure import AREA_METHOD
from geo.overlap import Overlaps
from geo.parallel import map_in_threads
from geo.pipeline import Analysis
from geo.stats import group_stats, region_stats, year_stats
from geo.validate import ValidationReport

ExportFormat = Literal["csv", "xlsx", "geojson", "gpkg", "shapefile"]
TableFormat = Literal["csv", "xlsx"]
#: File name suffix and MIME type of each download.
EXPORT_FILES: dict[ExportFormat, tuple[str, str]] = {
    "csv": ("_csv.zip", "application/zip"),
    "xlsx": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "geojson": ("_zones.geojson", "application/geo+json"),
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "shapefile": ("_shp.zip", "application/zip"),
}
#: File name suffix and MIME type of each table download (:func:`tables_bytes`).
TABLE_FILES: dict[TableFormat, tuple[str, str]] = {
    "csv": EXPORT_FILES["csv"], "xlsx": EXPORT_FILES["xlsx"],
}
#: The files ``python -m geo overlap`` writes (:func:`write_outputs`), in this order.
OUTPUT_FILES: tuple[str, ...] = ("zones.gpkg", "concessions.csv", "sites.csv", "summary.json")
#: Shapefile field names are at most 10 characters.
SHAPEFILE_NAMES: dict[str, str] = {
    "overlap_pct": "overlap_pc", "share_in_pct": "share_in_p", "qualification": "qualif",
}
#: Leading characters that make a spreadsheet cell a formula, with their full-width forms.
_FORMULA_START = (*"=+-@\t\r\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
#: How CSV files write dates.
_DATE_FORMAT = "%Y-%m-%d"


def summary(
    analysis: Analysis,
    *,
    sources: Mapping[str, str] | None = None,
    reports: Mapping[str, ValidationReport] | None = None,
) -> dict[str, object]:
    """The ``summary.json`` content: union-based totals, validation counts and the method.

    Parameters
    ----------
    analysis : Analysis
    sources : dict, optional
        ``layer kind -> description of its source``.
    reports : dict, optional
        ``layer kind -> ValidationReport`` of the layers analysed.
    """
    overlaps = analysis.overlaps
    validation = {kind: report.to_dict() for kind, report in (reports or {}).items()}
    return {
        "totals": analysis.totals,
        "validation": validation,
        "repaired": sum(int(v["repaired"]) for v in validation.values()),  # type: ignore[call-overload]
        "dropped": sum(int(v["left_out"]) for v in validation.values()),  # type: ignore[call-overload]
        "rings_km": list(overlaps.rings_km),
        "radius_m": overlaps.radius_m,
        "area_method": AREA_METHOD,
        "crs": "EPSG:4326",
        "sources": dict(sources or {}),
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "versions": _versions(),
    }


def method_note(info: Mapping[str, object]) -> str:
    """The method note in plain words, from a :func:`summary` dict, in the current language
    (:mod:`geo.i18n`)."""
    sources: Mapping[str, str] = info.get("sources") or {}  # type: ignore[assignment]
    source_lines = {
        "concessions": N_("Source (concessions): {source}"),
        "sites": N_("Source (sites): {source}"),
    }
    rings = ", ".join(str(r) for r in info["rings_km"])  # type: ignore[attr-defined]
    lines = [
        _("Method note"),
        _("Created: {created}").format(created=info["created"]),
        _("Coordinates: {crs} (WGS84 longitude/latitude).").format(crs=info["crs"]),
        _("Area method: {method}").format(method=_(str(info["area_method"]))),
        _("Overlap zone of a concession = the concession intersected with the union of the "
          "artisanal site footprints touching it; overlapping sites are counted once, and "
          "totals use the union of concessions."),
        _("Proximity rings (km): {rings}.").format(rings=rings),
        _("Footprint radius of point sites (m): {radius}.").format(
            radius=info["radius_m"] or _("none (points count, no area)")),
        _("Geometries repaired: {repaired}; left out: {dropped}.").format(
            repaired=info["repaired"], dropped=info["dropped"]),
        *(
            _(source_lines.get(kind, "Source ({kind}): {source}")).format(kind=kind, source=text)
            for kind, text in sources.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """Every summary table by name: concessions, sites, holders, licence types, provinces,
    countries and years."""
    overlaps = analysis.overlaps
    return {
        "concessions": analysis.concession_table,
        "sites": overlaps.sites,
        "holders": group_stats(overlaps, "holder").reset_index(),
        "licence_types": group_stats(overlaps, "lic_type").reset_index(),
        "provinces": region_stats(overlaps, "province").reset_index(),
        "countries": region_stats(overlaps, "country").reset_index(),
        "years": year_stats(overlaps),
    }


def write_outputs(analysis: Analysis, outdir: str | Path, info: Mapping[str, object]) -> list[Path]:
    """Write :data:`OUTPUT_FILES`: ``zones.gpkg``, ``concessions.csv``, ``sites.csv`` and
    ``summary.json`` (:func:`write_overlap_files` and :func:`write_analysis_files`).

    Parameters
    ----------
    analysis : Analysis
    outdir : str or Path
        The folder, made if need be; files of the same names in it are replaced.
    info : dict
        The ``summary.json`` content (:func:`summary`).

    Returns
    -------
    list of Path
        The files written, in the order of :data:`OUTPUT_FILES`.
    """
    written = [*write_overlap_files(analysis.overlaps, outdir),
               *write_analysis_files(analysis, outdir, info)]
    return sorted(written, key=lambda path: OUTPUT_FILES.index(path.name))


def write_overlap_files(overlaps: Overlaps, outdir: str | Path) -> list[Path]:
    """Write ``zones.gpkg`` and ``sites.csv``, what needs the overlaps alone, side by side
    (:func:`geo.parallel.map_in_threads`): they can be written while the statistics are
    computed (see ``python -m geo overlap``).

    Returns
    -------
    list of Path
        The files written.
    """
    out = _output_folder(outdir)
    writers: list[tuple[Callable[[Path], None], Path]] = [
        (partial(_write_zones, overlaps.zones), out / "zones.gpkg"),
        (partial(_write_csv, overlaps.sites), out / "sites.csv"),
    ]
    return map_in_threads(_written, writers)


def write_analysis_files(
    analysis: Analysis, outdir: str | Path, info: Mapping[str, object]
) -> list[Path]:
    """Write ``concessions.csv`` and ``summary.json``, what needs the statistics.

    Returns
    -------
    list of Path
        The files written.
    """
    out = _output_folder(outdir)
    _write_csv(analysis.concession_table, out / "concessions.csv")
    _write_json(info, out / "summary.json")
    return [out / "concessions.csv", out / "summary.json"]


def _output_folder(outdir: str | Path) -> Path:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def tables_bytes(tables: Mapping[str, pd.DataFrame], fmt: TableFormat, note: str) -> bytes:
    """Tables as one download carrying a method note.

    ``csv`` is a zip of ``<name>.csv`` per table and ``METHOD.txt``; ``xlsx`` has a sheet
    per table (names cut to 31 characters) and a ``method`` sheet. Text cells that a
    spreadsheet would run as a formula are neutralised.

    Raises
    ------
    SchemaError
        ``fmt`` is neither ``csv`` nor ``xlsx``.
    """
    buffer = io.BytesIO()
    if fmt == "csv":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, table in tables.items():
                archive.writestr(f"{name}.csv", csv_text(table))
            archive.writestr("METHOD.txt", note)
    elif fmt == "xlsx":
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            for name, table in tables.items():
                spreadsheet_safe(table).to_excel(writer, sheet_name=name[:31], index=False)
            method = pd.DataFrame({"method": note.splitlines()})
            spreadsheet_safe(method).to_excel(writer, sheet_name="method", index=False)
    else:
        raise SchemaError(
            _("Table downloads are 'csv' or 'xlsx', got {fmt}.").format(fmt=repr(fmt)))
    return buffer.getvalue()


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as CSV (UTF-8), text that looks like a formula neutralised."""
    return csv_text(table).encode("utf-8")


def export_bytes(
    analysis: Analysis, fmt: ExportFormat, info: Mapping[str, object]
) -> bytes:
    """One download of the zone summaries in ``fmt``, carrying the method note.

    ``csv`` and ``shapefile`` are zip archives (one file per table or layer, plus
    ``METHOD.txt``); ``xlsx`` has one sheet per table and a ``method`` sheet; ``geojson``
    holds the zones with the note as a top-level ``method`` member; ``gpkg`` holds the zones,
    the concessions with their statistics, the sites, and a ``method`` table.
    """
    writers = {
        "csv": _csv_zip, "xlsx": _xlsx, "geojson": _geojson, "gpkg": _gpkg,
        "shapefile": _shapefile_zip,
    }
    return writers[fmt](analysis, info)


# --- writers -----------------------------------------------------------------------------


def _written(writer: tuple[Callable[[Path], None], Path]) -> Path:
    """Run one writer of :func:`write_overlap_files` on its path; the path."""
    write, path = writer
    write(path)
    return path


def _write_zones(zones: gpd.GeoDataFrame, path: Path) -> None:
    """The zones as the layer ``zones`` of a new GeoPackage at ``path``."""
    path.unlink(missing_ok=True)
    _writable_zones(zones).to_file(path, layer="zones", driver="GPKG")


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    """``table`` as CSV (:func:`csv_text`) at ``path``."""
    path.write_text(csv_text(table), encoding="utf-8")


def _write_json(info: Mapping[str, object], path: Path) -> None:
    """``info`` as indented JSON at ``path``."""
    path.write_text(json.dumps(info, indent=2, default=_json_default), encoding="utf-8")


def _csv_zip(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    return tables_bytes(tables(analysis), "csv", method_note(info))


def _xlsx(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    return tables_bytes(tables(analysis), "xlsx", method_note(info))


def _geojson(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    collection = json.loads(_writable_zones(analysis.overlaps.zones).to_json(drop_id=True))
    collection["method"] = method_note(info)
    return json.dumps(collection, default=_json_default).encode("utf-8")


def _gpkg(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.gpkg"
        for name, layer in _spatial_layers(analysis).items():
            layer.to_file(path, layer=name, driver="GPKG")
        note = pd.DataFrame({"line": method_note(info).splitlines()})
        pyogrio.write_dataframe(note, path, layer="method", driver="GPKG")
        return path.read_bytes()


def _shapefile_zip(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(
        buffer, "w", zipfile.ZIP_DEFLATED
    ) as archive:
        for name, layer in _spatial_layers(analysis).items():
            layer = layer.rename(columns=SHAPEFILE_NAMES)
            layer = _shapefile_ready(layer)
            layer.to_file(Path(folder) / f"{name}.shp", driver="ESRI Shapefile", encoding="UTF-8")
        for path in sorted(Path(folder).iterdir()):
            archive.write(path, path.name)
        archive.writestr("METHOD.txt", method_note(info))
    return buffer.getvalue()


# --- helpers -----------------------------------------------------------------------------


def _writable_zones(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The zones with 2D geometries (Z and M dropped)."""
    zones = zones.copy()
    geometries = np.asarray(zones.geometry.values, dtype=object)
    if len(geometries) and shapely.get_coordinate_dimension(geometries).max() > 2:
        zones["geometry"] = shapely.force_2d(geometries)
    return zones


def _spatial_layers(analysis: Analysis) -> dict[str, gpd.GeoDataFrame]:
    overlaps = analysis.overlaps
    table = analysis.concession_table.drop(columns=["expiry"]).assign(
        expiry=analysis.concession_table["expiry"].astype("string")
    )
    concessions = gpd.GeoDataFrame(
        table, geometry=overlaps.concessions.geometry.values, crs=overlaps.concessions.crs
    )
    sites = overlaps.sites.assign(seen=overlaps.sites["seen"].astype("string"))
    site_points = gpd.GeoDataFrame(
        sites, geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326
    )
    return {"zones": _writable_zones(analysis.overlaps.zones), "concessions": concessions, "sites": site_points}


def _shapefile_ready(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = layer.copy()
    for column in out.columns:
        if column != "geometry" and out[column].dtype == bool:
            out[column] = out[column].astype(int)
        elif column != "geometry" and str(out[column].dtype) == "boolean":
            out[column] = out[column].astype("Int64")
    return out


def csv_text(table: pd.DataFrame) -> str:
    """A table as CSV text, dates as YYYY-MM-DD, formula-looking text neutralised.

    The text is what ``DataFrame.to_csv(index=False, date_format="%Y-%m-%d")`` writes, byte
    for byte. A table whose columns are all numbers, booleans, dates or text is formatted a
    column at a time and its rows joined with Arrow (:func:`_csv_by_columns`); any other
    table is written by ``to_csv``.
    """
    safe = spreadsheet_safe(table)
    text = _csv_by_columns(safe)
    return text if text is not None else safe.to_csv(index=False, date_format=_DATE_FORMAT)


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix with ``'`` every text cell a spreadsheet would take as a formula."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            values = out[column]
            is_text = _is_text(values)
            if not is_text.any():
                continue
            text = values if is_text.all() else values[is_text]
            risky = np.zeros(len(values), dtype=bool)
            risky[is_text] = text.astype(str).str.startswith(_FORMULA_START).to_numpy()
            if risky.any():
                out[column] = values.astype(object).where(~risky, "'" + values[risky].astype(str))
    return out


def _is_text(values: pd.Series) -> np.ndarray:
    """Which cells of a text-like column hold text.

    In a mixed object column, numbers stay numbers; a string column is all text (or missing).
    """
    if values.dtype != object:
        return values.notna().to_numpy(dtype=bool)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "string":  # every value present is a str
        return values.notna().to_numpy(dtype=bool)
    if kind == "empty":
        return np.zeros(len(values), dtype=bool)
    return values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)


# --- CSV a column at a time --------------------------------------------------------------


def _csv_by_columns(table: pd.DataFrame) -> str | None:
    """``table.to_csv(index=False, date_format=...)``'s text, built a column at a time.

    Parameters
    ----------
    table : DataFrame

    Returns
    -------
    str or None
        ``None`` when a column is of a kind not formatted here (see :func:`_csv_cells`),
        when the table has fewer than two columns (``to_csv`` quotes a lone empty cell), or
        when a column name is not text.
    """
    if table.shape[1] < 2 or not all(isinstance(name, str) for name in table.columns):
        return None
    columns = [_csv_cells(table.iloc[:, position]) for position in range(table.shape[1])]
    if any(column is None for column in columns):
        return None
    names = _csv_quoted(pa.array(list(table.columns), type=pa.large_string()))
    header = ",".join(names.to_pylist()) + os.linesep
    if not len(table):
        return header
    rows = pc.binary_join_element_wise(*columns, _large(","))
    lines = pa.LargeListArray.from_arrays(pa.array([0, len(rows)], type=pa.int64()), rows)
    return header + pc.binary_join(lines, _large(os.linesep))[0].as_py() + os.linesep


def _csv_cells(values: pd.Series) -> pa.Array | None:
    """Each cell of a column as ``to_csv`` writes it, quoted if need be; missing -> ``""``.

    Parameters
    ----------
    values : Series

    Returns
    -------
    pyarrow.Array or None
        ``large_string`` without nulls; ``None`` for a column of another kind than numpy
        floats, integers, booleans or naive dates, nullable integers or booleans, text, or
        categories of text.
    """
    dtype = values.dtype
    text = dtype.kind == "O"  # object, text and categories; the others need no quotes
    if isinstance(dtype, np.dtype):
        cells = _numpy_cells(values)
    elif isinstance(dtype, pd.StringDtype):
        cells = pa.array(values.array, from_pandas=True)
    elif isinstance(dtype, pd.CategoricalDtype):
        cells = _category_cells(values)
    elif isinstance(values.array, pd.arrays.BooleanArray):
        cells = pc.if_else(pa.array(values.array), _large("True"), _large("False"))
    elif isinstance(values.array, pd.arrays.IntegerArray):
        cells = pa.array(values.array)
    else:
        return None
    if cells is None:
        return None
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    cells = pc.fill_null(cells.cast(pa.large_string()), _large(""))
    return _csv_quoted(cells) if text else cells


def _numpy_cells(values: pd.Series) -> pa.Array | None:
    """:func:`_csv_cells` of a numpy column, nulls where ``to_csv`` writes nothing."""
    array = values.to_numpy()
    kind = array.dtype.kind
    if array.dtype == np.float64:  # numpy's str, as to_csv writes it, is Python's repr
        return pa.array(list(map(float.__repr__, array.tolist())), mask=np.isnan(array))
    if kind == "f":
        return pa.array(array.astype(str), mask=np.isnan(array))
    if kind in "iu":
        return pa.array(array)
    if kind == "b":
        return pc.if_else(pa.array(array), _large("True"), _large("False"))
    if kind == "M":
        return pa.array(values.dt.strftime(_DATE_FORMAT), from_pandas=True)
    if kind == "O":
        return _object_cells(values)
    return None


def _object_cells(values: pd.Series) -> pa.Array | None:
    """:func:`_csv_cells` of an object column: only one of text (or all missing)."""
    if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        return None
    cells = values.to_numpy(dtype=object, copy=True)
    cells[values.isna().to_numpy()] = ""
    try:
        return pa.array(cells, type=pa.large_string())
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: not UTF-8
        return None


def _category_cells(values: pd.Series) -> pa.Array | None:
    """:func:`_csv_cells` of a column of categories: only categories that are text."""
    categories = values.cat.categories
    if not (isinstance(categories.dtype, pd.StringDtype)
            or pd.api.types.infer_dtype(categories, skipna=False) == "string"):
        return None
    codes = values.cat.codes.to_numpy()
    names = pa.array(list(categories), type=pa.large_string())
    return names.take(pa.array(codes, mask=codes < 0))


def _csv_quoted(cells: pa.Array) -> pa.Array:
    """Cells as the ``csv`` module writes them: a cell holding one of :data:`_CSV_QUOTE_CHARS`
    in quotes, its quotes doubled; others as they are."""
    special = pc.match_substring_regex(cells, _CSV_QUOTE_PATTERN)
    if not pc.any(special).as_py():
        return cells
    doubled = pc.replace_substring(cells, '"', '""')
    quoted = pc.binary_join_element_wise(_large('"'), doubled, _large('"'), _large(""))
    return pc.if_else(special, quoted, cells)


def _csv_field(cell: str) -> str:
    """One cell as the ``csv`` module writes it for ``to_csv``, in a row of two or more."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=",", quotechar='"', doublequote=True, escapechar=None,
                        quoting=csv.QUOTE_MINIMAL, lineterminator=os.linesep)
    writer.writerow([cell, ""])
    return buffer.getvalue()[: -len("," + os.linesep)]


#: The characters that make the ``csv`` module quote a cell, asked of the module itself: the
#: delimiter, the quote and those of the line end (Python 3.11 leaves a lone ``\r`` alone).
_CSV_QUOTE_CHARS = "".join(char for char in ',"\r\n' if _csv_field(f"a{char}b") != f"a{char}b")
_CSV_QUOTE_PATTERN = "[" + _CSV_QUOTE_CHARS.replace("\r", r"\r").replace("\n", r"\n") + "]"


def _large(text: str) -> pa.Scalar:
    """``text`` as an Arrow ``large_string`` scalar."""
    return pa.scalar(text, type=pa.large_string())


def _versions() -> dict[str, str]:
    return {
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "pyogrio": pyogrio.__version__,
        "pyproj": pyproj.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "geos": shapely.geos_version_string,
        "proj": pyproj.proj_version_str,
    }


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return str(value)
