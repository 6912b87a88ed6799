"""Candidates for formalisation: artisanal sites a cadastre office can act on.

Three categories, decided in this order (first match wins):

* ``in_zone``: inside an artisanal mining zone (a polygon of the zone layer: by default the
  concessions of licence type ``asm_zone``, the DRC's ZEA), whatever the site's tenure. A
  point on a zone's boundary counts as inside, as the engine counts points on a title's
  boundary (:mod:`geo.overlap`).
* ``free_land``: on land free of titles (tenure ``unlicensed``).
* ``near_zone``: inside an exploitation permit (tenure ``exploitation``) and within the
  chosen distance of an artisanal zone.

Distances to the zones are geodesic, found as the engine finds distances to concessions
(:func:`geo.overlap._ring_pairs`: candidates from the spatial index in the site's UTM zone,
then the geodesic distance between the nearest points, :func:`geo.measure.nearest_points_km`).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame(
...     {"conc_id": ["ZEA 1", "PE 1"], "holder": ["State", "Mine Co"],
...      "lic_type": ["asm_zone", "exploitation"]},
...     geometry=[box(0, 0, 0.1, 0.1), box(0.2, 0, 0.4, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2", "s3"]},
...     geometry=[Point(0.05, 0.05), Point(0.25, 0.05), Point(1, 1)], crs=4326)
>>> result = formalisation(compute_overlaps(conc, sites), distance_km=20)
>>> result.sites[["site_id", "category", "zone_id"]].to_numpy().tolist()
[['s3', 'free_land', 'ZEA 1'], ['s1', 'in_zone', 'ZEA 1'], ['s2', 'near_zone', 'ZEA 1']]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import SchemaError
from geo.i18n import N_, _
from geo.overlap import Overlaps, _inside_pairs, _ring_pairs
from geo.pipeline import DATA_DIR, Layer, load_layer
from geo.schema import (
    FORMALISATION_CATEGORIES,
    FORMALISATION_CATEGORY_COLUMNS,
    FORMALISATION_PROVINCE_COLUMNS,
    FORMALISATION_SITE_COLUMNS,
    RED_FLAGS,
)
from geo.stats import site_measures

ZoneSource = Literal["workspace", "zea_2020"]
#: Default distance (km) of an exploitation-permit site to an artisanal zone.
DEFAULT_DISTANCE_KM = 5.0
#: The CAMI artisanal zones (ZEA) layer of 2020 bundled with the project (data/README.md).
ZEA_2020 = DATA_DIR / "drc" / "zea_artisanal_zones_2020.geojson"
#: Where the artisanal zones come from (English, marked; translated where shown).
ZONE_SOURCE_LABELS: dict[str, str] = {
    "workspace": N_("The workspace's concessions of type artisanal zone"),
    "zea_2020": N_("CAMI artisanal zones (ZEA), 2020 (461 zones)"),
}
ZEA_2020_SOURCE = N_("CAMI artisanal exploitation zones (ZEA) 2020, via MUTALIKA")
_MEASURES = ("sites", "workers", "flagged")


@dataclass(frozen=True)
class Formalisation:
    """The formalisation view of one analysis.

    Attributes
    ----------
    sites : DataFrame
        The list for the cadastre office, columns
        :data:`geo.schema.FORMALISATION_SITE_COLUMNS`: by category, province, then workers.
    categories : DataFrame
        One row per category, columns :data:`geo.schema.FORMALISATION_CATEGORY_COLUMNS`.
    provinces : DataFrame
        One row per province with sites in a category, columns
        :data:`geo.schema.FORMALISATION_PROVINCE_COLUMNS`, most sites first.
    zones : GeoDataFrame
        The artisanal zones used (``conc_id``, ``holder``, geometry).
    distance_km : float
        The distance chosen for ``near_zone``.
    """

    sites: pd.DataFrame
    categories: pd.DataFrame
    provinces: pd.DataFrame
    zones: gpd.GeoDataFrame
    distance_km: float


def artisanal_zones(concessions: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The artisanal zones among ``concessions`` (licence type ``asm_zone``).

    Returns
    -------
    GeoDataFrame
        Columns ``conc_id``, ``holder`` and geometry, in the layer's order.
    """
    zones = concessions[concessions["lic_type"].astype(str) == "asm_zone"]
    holder = zones["holder"] if "holder" in zones else pd.Series(None, index=zones.index)
    return gpd.GeoDataFrame(
        {"conc_id": zones["conc_id"].astype(str).to_numpy(), "holder": holder.to_numpy()},
        geometry=np.asarray(zones.geometry.values, dtype=object), crs=concessions.crs,
    )


def load_zea_2020() -> Layer:
    """The bundled CAMI artisanal zones of 2020, read, normalised and validated."""
    return replace(load_layer(ZEA_2020, "concessions"), source=ZEA_2020_SOURCE)


def formalisation(
    overlaps: Overlaps,
    *,
    distance_km: float = DEFAULT_DISTANCE_KM,
    zones: gpd.GeoDataFrame | None = None,
) -> Formalisation:
    """Sites on free land, inside artisanal zones, and in exploitation permits near one.

    Parameters
    ----------
    overlaps : Overlaps
        The engine's result (:func:`geo.overlap.compute_overlaps`).
    distance_km : float, keyword-only
        Largest geodesic distance (km) of a ``near_zone`` site to an artisanal zone.
    zones : GeoDataFrame, optional, keyword-only
        Another layer of artisanal zones (normalised concessions in EPSG:4326; those of
        licence type ``asm_zone`` are used). By default the analysed concessions' zones.

    Returns
    -------
    Formalisation

    Raises
    ------
    SchemaError
        ``distance_km`` is not a positive number.
    """
    distance = _check_distance(distance_km)
    zone_layer = artisanal_zones(overlaps.concessions if zones is None else zones)
    placed = classify_sites(overlaps, zone_layer, distance)
    return Formalisation(
        sites=_cadastre_list(overlaps, placed),
        categories=_category_counts(overlaps, placed),
        provinces=_province_counts(overlaps, placed),
        zones=zone_layer,
        distance_km=distance,
    )


def classify_sites(
    overlaps: Overlaps, zones: gpd.GeoDataFrame, distance_km: float
) -> pd.DataFrame:
    """Per site (in the order of ``overlaps.sites``): its category and nearest zone.

    Returns
    -------
    DataFrame
        ``category`` (one of :data:`geo.schema.FORMALISATION_CATEGORIES` or None),
        ``zone_id`` (the nearest artisanal zone, the one it is in when inside; None when
        there are no zones) and ``zone_km`` (geodesic km to it, 0 inside; NaN without zones).
    """
    n = len(overlaps.sites)
    zone_id = np.full(n, None, dtype=object)
    zone_km = np.full(n, np.nan)
    in_zone = np.zeros(n, dtype=bool)
    zone_geoms = np.asarray(zones.geometry.values, dtype=object)
    if len(zone_geoms) and n:
        ids = zones["conc_id"].astype(str).to_numpy()
        site_geoms = _site_geometries(overlaps)
        inside = _inside_pairs(zone_geoms, site_geoms, np.zeros(len(ids), dtype=int), ids)
        _near, nearest = _ring_pairs(zone_geoms, site_geoms, inside, (distance_km,))
        found = nearest["conc"].to_numpy(dtype=int)
        zone_id[found >= 0] = ids[found[found >= 0]]
        zone_km = nearest["dist_km"].to_numpy(dtype=float)
        in_zone[inside["site"].to_numpy(dtype=int)] = True
    tenure = overlaps.sites["tenure"].astype(str).to_numpy()
    category = np.full(n, None, dtype=object)
    category[(tenure == "exploitation") & (zone_km <= distance_km)] = "near_zone"
    category[tenure == "unlicensed"] = "free_land"
    category[in_zone] = "in_zone"
    return pd.DataFrame({"category": category, "zone_id": zone_id,
                         "zone_km": np.round(zone_km, 3)})


def workbook_tables(result: Formalisation) -> dict[str, pd.DataFrame]:
    """The view's tables for a workbook: the cadastre list, the categories, the provinces."""
    return {"sites": result.sites, "categories": result.categories,
            "provinces": result.provinces}


def formalisation_note(distance_km: float, zone_source: str) -> str:
    """How the categories were decided, in the current language, for downloads."""
    lines = [
        _("Formalisation categories, first match wins:"),
        _("1. Inside an artisanal zone: inside a polygon of the artisanal-zone layer, "
          "whatever the title the site is in."),
        _("2. On land free of titles: inside no concession of the analysed layer."),
        _("3. In an exploitation permit near an artisanal zone: inside an exploitation "
          "permit and at most {distance} km from an artisanal zone.").format(
            distance=f"{distance_km:g}"),
        _("Distances are geodesic on WGS84 between the nearest points."),
        _("Artisanal zones: {source}.").format(source=_(ZONE_SOURCE_LABELS.get(
            zone_source, zone_source))),
        _("Red flags: a site counts as flagged when mercury use, armed actors or children "
          "under 15 working were recorded at its latest visit."),
    ]
    return "\n".join(lines) + "\n"


# --- helpers -----------------------------------------------------------------------------


def _check_distance(distance_km: float) -> float:
    try:
        distance = float(distance_km)
    except (TypeError, ValueError):
        distance = float("nan")
    if not (np.isfinite(distance) and distance > 0):
        raise SchemaError(
            _("The distance to an artisanal zone must be a positive number of km, got "
              "{distance}.").format(distance=repr(distance_km))
        )
    return distance


def _site_geometries(overlaps: Overlaps) -> np.ndarray:
    """Each site's own geometry: its polygon, or the point at its lon/lat."""
    sites = overlaps.sites
    points = shapely.points(sites["lon"].to_numpy(dtype=float),
                            sites["lat"].to_numpy(dtype=float))
    polygons = np.asarray(overlaps.footprints.values, dtype=object)
    is_polygon = sites["is_polygon"].to_numpy(dtype=bool)
    return np.where(is_polygon, polygons, points)


def _measures(overlaps: Overlaps, placed: pd.DataFrame) -> pd.DataFrame:
    """Per site: category, province, workers (0 unknown), red flags 0/1 and any flag."""
    measures = site_measures(overlaps)
    measures["flagged"] = measures[list(RED_FLAGS)].max(axis=1)
    measures["category"] = placed["category"].to_numpy()
    province = overlaps.sites["province"].astype(object)
    measures["province"] = province.where(province.notna(), "(unknown)").astype(str).to_numpy()
    return measures[measures["category"].notna()]


def _cadastre_list(overlaps: Overlaps, placed: pd.DataFrame) -> pd.DataFrame:
    sites = overlaps.sites
    holders = pd.Series(overlaps.concessions["holder"].to_numpy(),
                        index=overlaps.concessions["conc_id"].astype(str).to_numpy())
    holders = holders[~holders.index.duplicated()]
    table = pd.DataFrame({
        **{column: sites[column].to_numpy() for column in
           ("site_id", "name", "province", "tenure", "conc_id")},
        "category": placed["category"].to_numpy(),
        "zone_id": placed["zone_id"].to_numpy(),
        "zone_km": placed["zone_km"].to_numpy(),
        **{column: sites[column].array for column in
           ("workers", "gold", *RED_FLAGS, "seen", "lon", "lat")},
    })
    table["tenure"] = table["tenure"].astype(str)
    table["holder"] = table["conc_id"].map(holders)
    table = table[table["category"].notna()]
    order = table["category"].map({c: i for i, c in enumerate(FORMALISATION_CATEGORIES)})
    table = table.assign(_order=order, _workers=table["workers"].fillna(-1))
    table = table.sort_values(["_order", "province", "_workers", "site_id"],
                              ascending=[True, True, False, True], na_position="last")
    return table[list(FORMALISATION_SITE_COLUMNS)].reset_index(drop=True)


def _category_counts(overlaps: Overlaps, placed: pd.DataFrame) -> pd.DataFrame:
    measures = _measures(overlaps, placed)
    columns = ["workers", *RED_FLAGS, "flagged"]
    sums = measures.groupby("category")[columns].sum()
    table = pd.DataFrame({"sites": measures.groupby("category").size()}).join(sums)
    table = table.reindex(list(FORMALISATION_CATEGORIES), fill_value=0).fillna(0)
    table = table.astype(int).rename_axis("category").reset_index()
    return table[list(FORMALISATION_CATEGORY_COLUMNS)]


def _province_counts(overlaps: Overlaps, placed: pd.DataFrame) -> pd.DataFrame:
    measures = _measures(overlaps, placed)
    if measures.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "province" else int)
                             for c in FORMALISATION_PROVINCE_COLUMNS})
    grouped = measures.groupby(["province", "category"]).agg(
        sites=("workers", "size"), workers=("workers", "sum"), flagged=("flagged", "sum"))
    wide = grouped.unstack("category", fill_value=0)
    table = pd.DataFrame(index=wide.index)
    for category in FORMALISATION_CATEGORIES:
        for measure in _MEASURES:
            key = (measure, category)
            table[f"{category}_{measure}"] = wide.get(key, 0)
    for measure in _MEASURES:
        table[measure] = grouped[measure].groupby(level="province").sum()
    table = table.fillna(0).astype(int).rename_axis("province").reset_index()
    table = table.sort_values(["sites", "province"], ascending=[False, True])
    return table[list(FORMALISATION_PROVINCE_COLUMNS)].reset_index(drop=True)
