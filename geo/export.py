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

import io
import json
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from geo.errors import SchemaError
from geo.i18n import N_, _
from geo.measure import AREA_METHOD
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
#: Shapefile field names are at most 10 characters.
SHAPEFILE_NAMES: dict[str, str] = {
    "overlap_pct": "overlap_pc", "share_in_pct": "share_in_p", "qualification": "qualif",
}
#: Leading characters that make a spreadsheet cell a formula, with their full-width forms.
_FORMULA_START = (*"=+-@\t\r\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


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
    """Write ``zones.gpkg``, ``concessions.csv``, ``sites.csv`` and ``summary.json``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    zones_path = out / "zones.gpkg"
    zones_path.unlink(missing_ok=True)
    _writable_zones(analysis).to_file(zones_path, layer="zones", driver="GPKG")
    written = [zones_path]
    for name in ("concessions", "sites"):
        path = out / f"{name}.csv"
        table = analysis.concession_table if name == "concessions" else analysis.overlaps.sites
        path.write_text(csv_text(table), encoding="utf-8")
        written.append(path)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(info, indent=2, default=_json_default), encoding="utf-8")
    return [*written, summary_path]


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


def _csv_zip(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    return tables_bytes(tables(analysis), "csv", method_note(info))


def _xlsx(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    return tables_bytes(tables(analysis), "xlsx", method_note(info))


def _geojson(analysis: Analysis, info: Mapping[str, object]) -> bytes:
    collection = json.loads(_writable_zones(analysis).to_json(drop_id=True))
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


def _writable_zones(analysis: Analysis) -> gpd.GeoDataFrame:
    zones = analysis.overlaps.zones.copy()
    zones["geometry"] = shapely.force_2d(np.asarray(zones.geometry.values, dtype=object))
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
    return {"zones": _writable_zones(analysis), "concessions": concessions, "sites": site_points}


def _shapefile_ready(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = layer.copy()
    for column in out.columns:
        if column != "geometry" and out[column].dtype == bool:
            out[column] = out[column].astype(int)
        elif column != "geometry" and str(out[column].dtype) == "boolean":
            out[column] = out[column].astype("Int64")
    return out


def csv_text(table: pd.DataFrame) -> str:
    """A table as CSV text, dates as YYYY-MM-DD, formula-looking text neutralised."""
    return spreadsheet_safe(table).to_csv(index=False, date_format="%Y-%m-%d")


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """Prefix with ``'`` every text cell a spreadsheet would take as a formula."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            values = out[column]
            # In a mixed object column, numbers stay numbers; a string column is all text.
            is_text = (values.notna() if values.dtype != object
                       else values.map(lambda v: isinstance(v, str))).to_numpy(dtype=bool)
            if not is_text.any():
                continue
            risky = np.zeros(len(values), dtype=bool)
            risky[is_text] = values[is_text].astype(str).str.startswith(_FORMULA_START).to_numpy()
            if risky.any():
                out[column] = values.astype(object).where(~risky, "'" + values[risky].astype(str))
    return out


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
