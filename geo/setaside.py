"""Set-aside scenario: land ceded from mining titles to artisanal miners, and what changes.

A polygon (EPSG:4326, drawn on the map or pasted as GeoJSON) is ceded to artisanal miners.

* **Which titles cede it.** One chosen title (``conc_id``), by default in the dashboard; or,
  with ``conc_id=None``, every title whose interior the polygon overlaps except existing
  artisanal zones (they are already set aside).
* **The set-aside** is the polygon clipped to the titles that cede it: the land that changes
  hands. Land of the polygon outside them is not part of it. It becomes a new title of
  licence type ``asm_zone`` with the id ``SET-ASIDE-1`` (the next free number).
* **The titles that cede it** lose it: ``shapely.difference``, kept valid (repaired with
  ``make_valid`` if the difference were not); a title ceded whole leaves the layer.
* The overlap engine (:func:`geo.overlap.compute_overlaps`, :mod:`geo.stats`) runs again on
  the modified layer with the same sites and options, and the two runs are compared: sites
  changing tenure, hectares moved, sites and workers per tenure class.

Nothing is stored and no input is changed: the modified layer is a new frame.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
...                         geometry=[box(0, 0, 0.1, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "workers": [40, 10]},
...                          geometry=[Point(0.02, 0.02), Point(0.08, 0.08)], crs=4326)
>>> scenario = set_aside(conc, sites, box(0, 0, 0.05, 0.05), conc_id="A")
>>> scenario.changes[["site_id", "tenure_before", "tenure_after", "conc_after"]].values.tolist()
[['s1', 'exploitation', 'asm_zone', 'SET-ASIDE-1']]
>>> round(scenario.ceded_ha)
3077
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape

from geo.errors import GeometryError, NotFoundError
from geo.export import csv_text, method_note
from geo.i18n import _
from geo.measure import area_ha
from geo.overlap import DEFAULT_RINGS_KM, Overlaps, _polygonal, compute_overlaps
from geo.schema import (
    RED_FLAGS,
    SET_ASIDE_ID_PREFIX,
    SET_ASIDE_LIC_TYPE,
    SETASIDE_CHANGE_COLUMNS,
    SETASIDE_SITE_COLUMNS,
    SETASIDE_TENURE_COLUMNS,
    SETASIDE_TITLE_COLUMNS,
    SETASIDE_ZONE_COLUMNS,
    TENURE_CLASSES,
)
from geo.stats import concession_stats, site_measures

#: A drawn polygon larger than this (ha) is refused: no artisanal zone is that big (the
#: largest title of the bundled DR Congo cadastre is about 40,000 ha, its largest ZEA 14,000).
MAX_SET_ASIDE_HA = 250_000.0
#: Name and status of the new artisanal zone in the modified layer.
SET_ASIDE_NAME = "Set-aside for artisanal mining"
SET_ASIDE_STATUS = "scenario"
#: What a scenario can be exported as.
ScenarioFormat = Literal["gpkg", "csv"]
SCENARIO_FILES: dict[ScenarioFormat, tuple[str, str]] = {
    "gpkg": (".gpkg", "application/geopackage+sqlite3"),
    "csv": ("_csv.zip", "application/zip"),
}
_POLYGONAL = ("Polygon", "MultiPolygon")
#: A GeoJSON polygon shown in messages as an example of what to paste.
_EXAMPLE = ('{"type": "Polygon", "coordinates": [[[28.1, -3.1], [28.2, -3.1], [28.2, -3.0], '
            '[28.1, -3.1]]]}')


@dataclass(frozen=True)
class DrawnArea:
    """A polygon checked for use as a set-aside.

    Attributes
    ----------
    geometry : shapely Polygon or MultiPolygon
        Valid, in EPSG:4326 (repaired when the input was not valid).
    area_ha : float
        Its geodesic area.
    repaired : bool
        True when the input was not valid (it crossed itself, say) and was repaired.
    problem : str or None
        Why it was not valid (GEOS ``is_valid_reason``), when repaired.
    """

    geometry: Any
    area_ha: float
    repaired: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class SetAside:
    """A set-aside scenario: the modified layer, both engine runs and what changed.

    Attributes
    ----------
    drawn : DrawnArea
        The polygon as given (checked, repaired if needed).
    zone : shapely geometry
        The set-aside: the polygon clipped to the titles that cede it.
    zone_id : str
        ``conc_id`` of the new artisanal zone (``SET-ASIDE-1``...).
    ceded_from : tuple of str
        ``conc_id`` of the titles that cede land, in layer order.
    removed : tuple of str
        Those ceded whole, which leave the layer.
    concessions : GeoDataFrame
        The modified concession layer (with ``area_ha``), as the engine saw it.
    before, after : Overlaps
        The engine's results on the current and on the modified layer.
    sites : DataFrame
        Every site with its tenure before and after, :data:`geo.schema.SETASIDE_SITE_COLUMNS`.
    changes : DataFrame
        The sites changing tenure class or deciding title, most workers first,
        :data:`geo.schema.SETASIDE_CHANGE_COLUMNS`.
    titles : DataFrame
        The titles ceded from and the new zone, area/overlap/sites/workers before and after,
        :data:`geo.schema.SETASIDE_TITLE_COLUMNS`.
    tenure : DataFrame
        Sites and workers per tenure class before and after,
        :data:`geo.schema.SETASIDE_TENURE_COLUMNS`.
    """

    drawn: DrawnArea
    zone: Any
    zone_id: str
    ceded_from: tuple[str, ...]
    removed: tuple[str, ...]
    concessions: gpd.GeoDataFrame
    before: Overlaps
    after: Overlaps
    sites: pd.DataFrame
    changes: pd.DataFrame
    titles: pd.DataFrame
    tenure: pd.DataFrame

    @property
    def ceded_ha(self) -> float:
        """Geodesic area of the set-aside, in hectares."""
        return float(area_ha([self.zone])[0])

    @property
    def workers_changed(self) -> int:
        """Workers at the sites changing tenure (0 where unknown)."""
        workers = pd.to_numeric(self.changes["workers"], errors="coerce")
        return int(workers.fillna(0).sum())


# --- the polygon ---------------------------------------------------------------------------


def read_area(value: object, *, max_ha: float = MAX_SET_ASIDE_HA) -> DrawnArea:
    """Check a polygon given as a shapely geometry, GeoJSON text, a GeoJSON mapping (geometry,
    Feature or FeatureCollection) or a list of GeoJSON features (streamlit-folium's
    ``all_drawings``). Several polygons are taken together, as one area.

    Parameters
    ----------
    value : geometry, str, mapping or list of mappings
        Longitude/latitude (EPSG:4326).
    max_ha : float, keyword-only
        Largest area accepted, in hectares.

    Returns
    -------
    DrawnArea

    Raises
    ------
    GeometryError
        Not GeoJSON, not a polygon, not longitude/latitude, no area, or larger than
        ``max_ha``; one sentence each. A polygon that crosses itself is repaired, not refused.

    Examples
    --------
    >>> bowtie = ('{"type": "Polygon", "coordinates": '
    ...           '[[[0, 0], [0.1, 0.1], [0.1, 0], [0, 0.1], [0, 0]]]}')
    >>> drawn = read_area(bowtie)
    >>> drawn.repaired, drawn.geometry.geom_type
    (True, 'MultiPolygon')
    """
    geometry = geometry_of(value)
    kind = geometry.geom_type
    if kind not in _POLYGONAL:
        raise GeometryError(
            _("The set-aside must be a polygon, got a {kind}; draw a polygon or a rectangle, "
              "or paste a GeoJSON Polygon.").format(kind=kind)
        )
    _check_lonlat(geometry)
    repaired, problem = False, None
    if not shapely.is_valid(geometry):
        repaired, problem = True, str(shapely.is_valid_reason(geometry))
        geometry = _valid_polygonal(np.array([geometry], dtype=object))[0]
    area = float(area_ha([geometry])[0]) if geometry.geom_type in _POLYGONAL else 0.0
    if area <= 0.0:
        raise GeometryError(
            _("The polygon has no area; give at least three corners that are not on one "
              "line.")
        )
    if area > max_ha:
        raise GeometryError(
            _("The polygon covers {area} ha, more than the {limit} ha a set-aside may cover; "
              "draw a smaller area.").format(area=f"{area:,.0f}", limit=f"{max_ha:,.0f}")
        )
    return DrawnArea(geometry, area, repaired, problem)


def geometry_of(value: object) -> Any:
    """The geometry in ``value`` as given, unchecked (several polygons united).

    ``value`` is a shapely geometry, GeoJSON text, a GeoJSON mapping (geometry, Feature or
    FeatureCollection) or a list of GeoJSON features.

    Raises
    ------
    GeometryError
        ``value`` is not GeoJSON or holds no geometry.
    """
    if isinstance(value, shapely.Geometry):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            raise GeometryError(
                _("The text is not GeoJSON ({error}); paste a polygon such as {example}.")
                .format(error=err, example=_EXAMPLE)
            ) from err
    if isinstance(value, Mapping) and value.get("type") == "FeatureCollection":
        value = value.get("features") or []
    if isinstance(value, Mapping) and value.get("type") == "Feature":
        value = [value]
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return _union_of_features(value)
    if not isinstance(value, Mapping):
        raise GeometryError(
            _("The set-aside must be a GeoJSON polygon, got {kind}; paste a polygon such as "
              "{example}.").format(kind=type(value).__name__, example=_EXAMPLE)
        )
    try:
        return shape(value)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError,
            GEOSException) as err:
        raise GeometryError(
            _("The GeoJSON geometry cannot be read ({error}); paste a polygon such as "
              "{example}.").format(error=str(err) or type(err).__name__, example=_EXAMPLE)
        ) from err


def _union_of_features(features: Sequence[object]) -> Any:
    geometries = []
    for feature in features:
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        if geometry is None:
            continue
        geometries.append(geometry_of(geometry))
    if not geometries:
        raise GeometryError(
            _("No polygon was given; draw one on the map or paste a GeoJSON polygon.")
        )
    other = [g for g in geometries if g.geom_type not in _POLYGONAL]
    if len(geometries) == 1 or other:
        return (other or geometries)[0]
    return shapely.union_all(_valid_polygonal(np.array(geometries, dtype=object)))


def _check_lonlat(geometry: Any) -> None:
    xy = shapely.get_coordinates(geometry)
    inside = (np.abs(xy[:, 0]) <= 180.0) & (np.abs(xy[:, 1]) <= 90.0) & np.isfinite(xy).all(1)
    if not inside.all():
        raise GeometryError(
            _("The polygon's coordinates are not longitude/latitude (EPSG:4326): longitudes "
              "lie within -180 to 180 and latitudes within -90 to 90.")
        )


def _valid_polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid geometries keeping only their polygonal parts (repaired where invalid)."""
    geoms = np.asarray(geoms, dtype=object).copy()
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    return np.asarray(_polygonal(geoms), dtype=object)


# --- the modified layer ----------------------------------------------------------------------


def ceding_titles(
    concessions: gpd.GeoDataFrame, polygon: Any, *, conc_id: str | None = None
) -> np.ndarray:
    """Row positions of the titles that cede land under ``polygon``.

    With ``conc_id``, that title alone; else every title whose interior the polygon
    overlaps, except artisanal zones.

    Raises
    ------
    NotFoundError
        ``conc_id`` is not in the layer.
    GeometryError
        The polygon overlaps no such title.
    """
    geoms = np.asarray(concessions.geometry.values, dtype=object)
    ids = concessions["conc_id"].astype(str).to_numpy()
    if conc_id is not None:
        candidates = np.flatnonzero(ids == str(conc_id))
        if not len(candidates):
            raise NotFoundError(
                _("Title {title} is not in the concessions layer; pick one from the list.")
                .format(title=conc_id)
            )
    else:
        candidates = shapely.STRtree(geoms).query(polygon, predicate="intersects")
    overlapping = candidates[_interiors_meet(geoms[candidates], polygon)]
    if conc_id is None:
        lic = concessions["lic_type"].astype(str).to_numpy()
        overlapping = np.sort(overlapping[lic[overlapping] != SET_ASIDE_LIC_TYPE])
    if not len(overlapping):
        raise GeometryError(_outside_message(conc_id, bool(len(candidates))))
    return overlapping


def _interiors_meet(geoms: np.ndarray, polygon: Any) -> np.ndarray:
    return np.asarray(shapely.intersects(geoms, polygon) & ~shapely.touches(geoms, polygon),
                      dtype=bool)


def _outside_message(conc_id: str | None, touched: bool) -> str:
    if conc_id is not None:
        return _("The polygon does not overlap title {title}; draw it inside that title, or "
                 "cede from every title it covers.").format(title=conc_id)
    if touched:
        return _("The polygon covers only artisanal zones, which are already set aside; draw "
                 "it over another title.")
    return _("The polygon lies outside every concession; draw it over the title that cedes "
             "the land.")


def cede(
    concessions: gpd.GeoDataFrame, polygon: Any, positions: np.ndarray
) -> tuple[gpd.GeoDataFrame, Any, str, np.ndarray]:
    """The concession layer with ``polygon`` ceded from the titles at ``positions``.

    Returns
    -------
    (GeoDataFrame, geometry, str, ndarray)
        The modified layer (titles ceded whole left out, the new zone appended last), the
        set-aside geometry, its ``conc_id`` and the area (ha) each ceding title gives up.
    """
    geoms = np.asarray(concessions.geometry.values, dtype=object)
    pieces = _valid_polygonal(shapely.intersection(geoms[positions], polygon))
    zone = _valid_polygonal(np.array([shapely.union_all(pieces)], dtype=object))[0]
    remaining = _valid_polygonal(shapely.difference(geoms[positions], polygon))
    new_geoms = geoms.copy()
    new_geoms[positions] = remaining
    modified = concessions.copy()
    modified[concessions.geometry.name] = gpd.GeoSeries(new_geoms, index=modified.index,
                                                        crs=concessions.crs)
    gone = positions[shapely.is_empty(remaining) | (area_ha(remaining) <= 0.0)]
    modified = modified.drop(index=modified.index[gone])
    zone_id = _free_id(concessions["conc_id"].astype(str))
    province = concessions["province"].iloc[positions[0]] if "province" in concessions else None
    row = gpd.GeoDataFrame(
        {"conc_id": [zone_id], "name": [SET_ASIDE_NAME], "holder": [None],
         "lic_type": [SET_ASIDE_LIC_TYPE], "status": [SET_ASIDE_STATUS],
         "expiry": pd.array([pd.NaT], dtype=_expiry_dtype(concessions)),
         "province": [province]},
        geometry=[zone], crs=concessions.crs,
    )
    if concessions.geometry.name != "geometry":
        row = row.rename_geometry(concessions.geometry.name)
    row = row[[c for c in row.columns if c in modified.columns]]
    modified = pd.concat([modified, row], ignore_index=True)
    if "area_ha" in modified:
        modified = modified.drop(columns="area_ha")
    modified = gpd.GeoDataFrame(modified, geometry=concessions.geometry.name,
                                crs=concessions.crs)
    return modified, zone, zone_id, area_ha(pieces)


def _free_id(ids: pd.Series) -> str:
    taken = set(ids)
    number = 1
    while f"{SET_ASIDE_ID_PREFIX}{number}" in taken:
        number += 1
    return f"{SET_ASIDE_ID_PREFIX}{number}"


def _expiry_dtype(concessions: pd.DataFrame) -> Any:
    return concessions["expiry"].dtype if "expiry" in concessions else "datetime64[ms]"


# --- the scenario ----------------------------------------------------------------------------


def set_aside(
    concessions: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    area: object,
    *,
    conc_id: str | None = None,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    max_ha: float = MAX_SET_ASIDE_HA,
    before: Overlaps | None = None,
) -> SetAside:
    """Cede ``area`` to artisanal miners and compare the engine before and after.

    Parameters
    ----------
    concessions, sites : GeoDataFrame
        The current layers, normalised and validated, in EPSG:4326 (as for
        :func:`geo.overlap.compute_overlaps`). They are not changed.
    area : geometry, GeoJSON text or mapping, or list of GeoJSON features
        The polygon ceded (see :func:`read_area`).
    conc_id : str, optional, keyword-only
        The title that cedes it; ``None`` cedes it from every title it overlaps except
        artisanal zones.
    rings_km, radius_m : keyword-only
        Engine options (see :func:`geo.overlap.compute_overlaps`); taken from ``before``
        when it is given.
    max_ha : float, keyword-only
        Largest polygon accepted (ha).
    before : Overlaps, optional, keyword-only
        The engine's result on these same layers, to save computing it again.

    Returns
    -------
    SetAside

    Raises
    ------
    GeometryError
        The polygon cannot be used (see :func:`read_area`) or overlaps no title that can cede.
    NotFoundError
        ``conc_id`` is not in the layer.
    """
    drawn = read_area(area, max_ha=max_ha)
    positions = ceding_titles(concessions, drawn.geometry, conc_id=conc_id)
    modified, zone, zone_id, ceded_each = cede(concessions, drawn.geometry, positions)
    if before is None:
        before = compute_overlaps(concessions, sites, rings_km=rings_km, radius_m=radius_m)
    elif not np.array_equal(before.sites["site_id"].astype(str).to_numpy(),
                            sites["site_id"].astype(str).to_numpy()):
        raise ValueError("before was computed on another sites layer than the one given")
    after = compute_overlaps(modified, sites, rings_km=before.rings_km,
                             radius_m=before.radius_m)
    ids = concessions["conc_id"].astype(str).to_numpy()
    ceded_from = tuple(str(conc) for conc in ids[positions])
    kept = set(modified["conc_id"].astype(str))
    site_table = _site_changes(before, after)
    changed = site_table[site_table["changed"]]
    changed = changed.assign(_w=_workers(changed)).sort_values(
        ["_w", "site_id"], ascending=[False, True], kind="stable")
    return SetAside(
        drawn=drawn, zone=zone, zone_id=zone_id, ceded_from=ceded_from,
        removed=tuple(c for c in ceded_from if c not in kept),
        concessions=after.concessions, before=before, after=after,
        sites=site_table,
        changes=changed[list(SETASIDE_CHANGE_COLUMNS)].reset_index(drop=True),
        titles=_title_changes(before, after, [*ceded_from, zone_id],
                              [*ceded_each, float(area_ha([zone])[0])]),
        tenure=_tenure_changes(before, after),
    )


def _workers(table: pd.DataFrame) -> np.ndarray:
    return pd.to_numeric(table["workers"], errors="coerce").fillna(0).to_numpy()


def _site_changes(before: Overlaps, after: Overlaps) -> pd.DataFrame:
    """Every site with its tenure and deciding title in both runs (same site order)."""
    old, new = before.sites, after.sites
    tenure_before = old["tenure"].astype(str).to_numpy()
    tenure_after = new["tenure"].astype(str).to_numpy()
    conc_before = old["conc_id"].astype(object).where(old["conc_id"].notna(), None).to_numpy()
    conc_after = new["conc_id"].astype(object).where(new["conc_id"].notna(), None).to_numpy()
    same_title = pd.Series(conc_before).fillna("").astype(str).to_numpy() == \
        pd.Series(conc_after).fillna("").astype(str).to_numpy()
    table = pd.DataFrame({
        "site_id": old["site_id"].to_numpy(), "name": old["name"].to_numpy(),
        "tenure_before": tenure_before, "tenure_after": tenure_after,
        "conc_before": conc_before, "conc_after": conc_after, "workers": old["workers"].array,
        **{flag: old[flag].array for flag in RED_FLAGS},
        "lon": old["lon"].to_numpy(), "lat": old["lat"].to_numpy(),
        "changed": (tenure_before != tenure_after) | ~same_title,
    })
    return table[list(SETASIDE_SITE_COLUMNS)]


def _tenure_changes(before: Overlaps, after: Overlaps) -> pd.DataFrame:
    """Sites and workers per tenure class in both runs."""
    columns: dict[str, pd.Series] = {}
    for suffix, run in (("before", before), ("after", after)):
        tenure = run.sites["tenure"].astype(str).to_numpy()
        measures = site_measures(run)
        columns[f"sites_{suffix}"] = pd.Series(tenure).value_counts()
        columns[f"workers_{suffix}"] = measures["workers"].groupby(tenure).sum()
    table = pd.DataFrame(columns).reindex(list(TENURE_CLASSES)).fillna(0).astype(int)
    table = table.rename_axis("tenure").reset_index()
    return table[list(SETASIDE_TENURE_COLUMNS)]


def _title_changes(
    before: Overlaps, after: Overlaps, ids: list[str], ceded_ha: list[float]
) -> pd.DataFrame:
    """Area, overlap, sites and workers inside each title concerned, in both runs."""
    old = concession_stats(before).drop_duplicates("conc_id").set_index("conc_id").reindex(ids)
    new = concession_stats(after).drop_duplicates("conc_id").set_index("conc_id").reindex(ids)
    described = old[["name", "holder", "lic_type"]].combine_first(
        new[["name", "holder", "lic_type"]])
    table = pd.DataFrame({
        "conc_id": ids,
        "name": described["name"].to_numpy(),
        "holder": described["holder"].to_numpy(),
        "lic_type": described["lic_type"].to_numpy(),
        "area_before_ha": old["area_ha"].fillna(0.0).to_numpy(dtype=float),
        "ceded_ha": np.asarray(ceded_ha, dtype=float),
        "area_after_ha": new["area_ha"].fillna(0.0).to_numpy(dtype=float),
        "overlap_before_ha": old["overlap_ha"].fillna(0.0).to_numpy(dtype=float),
        "overlap_after_ha": new["overlap_ha"].fillna(0.0).to_numpy(dtype=float),
        "sites_before": old["sites_in"].fillna(0).to_numpy(dtype=int),
        "sites_after": new["sites_in"].fillna(0).to_numpy(dtype=int),
        "workers_before": old["workers_in"].fillna(0).to_numpy(dtype=int),
        "workers_after": new["workers_in"].fillna(0).to_numpy(dtype=int),
    })
    return table[list(SETASIDE_TITLE_COLUMNS)]


# --- export ----------------------------------------------------------------------------------


def scenario_note(scenario: SetAside, info: Mapping[str, object]) -> str:
    """The method note (:func:`geo.export.method_note`) with the scenario's own lines."""
    lines = [
        _("Set-aside scenario: {ceded} ha ceded from {titles} to a new artisanal mining zone "
          "{zone}; the stored layers are unchanged.").format(
            ceded=f"{scenario.ceded_ha:,.1f}", titles=", ".join(scenario.ceded_from),
            zone=scenario.zone_id),
        _("The set-aside is the polygon given ({drawn} ha) clipped to the titles that cede "
          "it; each of them loses it (polygon difference, kept valid) and the overlap engine "
          "is run again on the modified layer with the same sites and options.").format(
            drawn=f"{scenario.drawn.area_ha:,.1f}"),
        _("A site changes tenure when its tenure class or the title deciding it differs "
          "between the two runs; workers count 0 where unknown."),
    ]
    if scenario.drawn.repaired:
        lines.append(_("The polygon given was not valid ({reason}) and was repaired.").format(
            reason=scenario.drawn.problem))
    return method_note(info) + "\n".join(lines) + "\n"


def scenario_layers(scenario: SetAside) -> dict[str, pd.DataFrame]:
    """The scenario's layers and tables by name: ``set_aside`` (the polygon),
    ``concessions`` (the modified layer with its statistics), ``sites`` (points, tenure
    before and after), and the tables ``changes``, ``titles`` and ``tenure``."""
    zone = gpd.GeoDataFrame(
        {"conc_id": [scenario.zone_id], "lic_type": [SET_ASIDE_LIC_TYPE],
         "ceded_from": [", ".join(scenario.ceded_from)],
         "drawn_ha": [scenario.drawn.area_ha], "ceded_ha": [scenario.ceded_ha],
         "repaired": [scenario.drawn.repaired]},
        geometry=[scenario.zone], crs=4326,
    )[list(SETASIDE_ZONE_COLUMNS)]
    stats = concession_stats(scenario.after)
    concessions = gpd.GeoDataFrame(
        stats.assign(expiry=stats["expiry"].astype("string")),
        geometry=scenario.concessions.geometry.values, crs=4326,
    )
    sites = gpd.GeoDataFrame(
        scenario.sites, geometry=gpd.points_from_xy(scenario.sites["lon"],
                                                     scenario.sites["lat"]), crs=4326,
    )
    return {"set_aside": zone, "concessions": concessions, "sites": sites,
            "changes": scenario.changes, "titles": scenario.titles, "tenure": scenario.tenure}


def export_scenario(
    scenario: SetAside, fmt: ScenarioFormat, info: Mapping[str, object]
) -> bytes:
    """The scenario as one download carrying the method note (:func:`scenario_note`).

    ``gpkg``: layers ``set_aside``, ``concessions`` and ``sites``, tables ``changes``,
    ``titles``, ``tenure`` and ``method``. ``csv``: a zip of ``changes.csv``, ``titles.csv``,
    ``tenure.csv`` and ``METHOD.txt``.
    """
    note = scenario_note(scenario, info)
    layers = scenario_layers(scenario)
    if fmt == "csv":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in ("changes", "titles", "tenure"):
                archive.writestr(f"{name}.csv", csv_text(layers[name]))
            archive.writestr("METHOD.txt", note)
        return buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.gpkg"
        for name, layer in layers.items():
            if isinstance(layer, gpd.GeoDataFrame):
                layer.to_file(path, layer=name, driver="GPKG")
            else:
                pyogrio.write_dataframe(layer, path, layer=name, driver="GPKG")
        pyogrio.write_dataframe(pd.DataFrame({"line": note.splitlines()}), path,
                                layer="method", driver="GPKG")
        return path.read_bytes()
