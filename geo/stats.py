"""Coexistence statistics from :class:`geo.overlap.Overlaps`.

Per concession, per group of concessions (holder, licence type), per region of the sites
(province, country) and per year of ``seen``, plus union-based totals. Areas of groups and
totals are areas of unions: where concessions (or site polygons) overlap each other the shared
land is counted once.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploration"]},
...                         geometry=[box(0, 0, 0.1, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "workers": [40]},
...                          geometry=[Point(0.05, 0.05)], crs=4326)
>>> concession_stats(compute_overlaps(conc, sites))[["conc_id", "sites_in", "workers_in"]]
  conc_id  sites_in  workers_in
0       A         1          40
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.measure import area_ha
from geo.overlap import Overlaps, union_per_group
from geo.parallel import map_in_threads
from geo.schema import (
    GROUP_STAT_COLUMNS,
    RED_FLAGS,
    REGION_STAT_COLUMNS,
    TENURE_CLASSES,
    YEAR_STAT_COLUMNS,
    concession_stat_columns,
    ring_columns,
)

ConcessionGroup = Literal["holder", "lic_type", "status"]
SiteRegion = Literal["province", "country"]
#: Per-concession count of the sites inside with each red flag: the column of each flag.
FLAG_COUNTS = {"mercury": "mercury_in", "armed": "armed_in", "child_lab": "child_in"}
#: DE-9IM pattern of two geometries whose interiors meet (they overlap, not just touch).
_INTERIORS_MEET = "T********"


def concession_stats(overlaps: Overlaps) -> pd.DataFrame:
    """One row per concession: area, overlap, sites inside and per ring, workers, red flags.

    Returns
    -------
    DataFrame
        Columns :func:`geo.schema.concession_stat_columns` for the rings used, in the
        concessions' order. ``overlap_pct`` is the share of the concession's area.
    """
    conc = overlaps.concessions
    n = len(conc)
    table = pd.DataFrame({
        column: conc[column].to_numpy() if column in conc else None
        for column in ("conc_id", "holder", "lic_type", "name", "status", "expiry")
    })
    table["area_ha"] = conc["area_ha"].to_numpy()
    overlap = overlaps.zones.groupby("conc_id")["area_ha"].sum()
    table["overlap_ha"] = table["conc_id"].map(overlap).fillna(0.0).to_numpy()
    table["overlap_pct"] = percent(table["overlap_ha"], table["area_ha"])
    pairs = overlaps.pairs
    ring_names = ring_columns(len(overlaps.rings_km))
    width = len(ring_names) + 1  # ring 0 is "inside"
    cells = pairs["conc"].to_numpy(dtype=int) * width + pairs["ring"].to_numpy(dtype=int)
    counts = np.bincount(cells, minlength=n * width).reshape(n, width)
    table["sites_in"] = counts[:, 0]
    for k, name in enumerate(ring_names, start=1):
        table[name] = counts[:, k]
    inside = pairs[pairs["inside"]].merge(
        site_measures(overlaps), left_on="site", right_index=True
    )
    sums = inside.groupby("conc")[["workers", *RED_FLAGS]].sum()
    sums = sums.reindex(range(n), fill_value=0)
    table["workers_in"] = sums["workers"].to_numpy().astype(int)
    for flag, column in FLAG_COUNTS.items():
        table[column] = sums[flag].to_numpy().astype(int)
    return table[concession_stat_columns(len(ring_names))]


def group_stats(overlaps: Overlaps, by: ConcessionGroup) -> pd.DataFrame:
    """Statistics per holder, licence type or status, with union-based areas.

    Returns
    -------
    DataFrame
        Index: the group's values; columns :data:`geo.schema.GROUP_STAT_COLUMNS`. A site
        inside two concessions of the same group counts once for the group.
    """
    conc = overlaps.concessions
    key = conc[by].fillna("(unknown)").astype(str).to_numpy()
    conc_geoms = np.asarray(conc.geometry.values, dtype=object)
    area = union_area_by(conc_geoms, key)
    zone_key = pd.Series(key, index=conc["conc_id"].to_numpy())
    zone_groups = zone_key.reindex(overlaps.zones["conc_id"]).to_numpy()
    overlap = union_area_by(np.asarray(overlaps.zones.geometry.values, dtype=object),
                             zone_groups)
    table = pd.DataFrame({"concessions": pd.Series(key).value_counts()})
    table["area_ha"] = area
    table["overlap_ha"] = overlap.reindex(table.index).fillna(0.0)
    table["overlap_pct"] = percent(table["overlap_ha"], table["area_ha"])
    inside = overlaps.pairs[overlaps.pairs["inside"]]
    inside = inside.assign(group=key[inside["conc"].to_numpy()])
    inside = inside.drop_duplicates(["group", "site"])
    measured = inside.merge(site_measures(overlaps), left_on="site", right_index=True)
    sums = measured.groupby("group")[["workers", *RED_FLAGS]].sum()
    table["sites_in"] = inside.groupby("group").size().reindex(table.index).fillna(0)
    table["workers_in"] = sums["workers"].reindex(table.index).fillna(0)
    for flag, column in FLAG_COUNTS.items():
        table[column] = sums[flag].reindex(table.index).fillna(0)
    table.index.name = by
    integer = ["concessions", "sites_in", "workers_in", *FLAG_COUNTS.values()]
    table[integer] = table[integer].astype(int)
    return table[list(GROUP_STAT_COLUMNS)].sort_values("overlap_ha", ascending=False)


def region_stats(overlaps: Overlaps, by: SiteRegion = "province") -> pd.DataFrame:
    """Statistics per region the sites lie in (their ``province``, or ``country``).

    Returns
    -------
    DataFrame
        Index: the region; columns :data:`geo.schema.REGION_STAT_COLUMNS`.
        ``overlap_ha`` is the union of that region's site footprints inside concessions.
    """
    sites = site_measures(overlaps)
    sites["region"] = overlaps.sites[by].fillna("(unknown)").astype(str).to_numpy()
    sites["in"] = overlaps.sites["n_conc"].to_numpy() > 0
    inside = sites[sites["in"]]
    table = pd.DataFrame({"sites": sites.groupby("region").size()})
    table["sites_in"] = inside.groupby("region").size().reindex(table.index).fillna(0)
    table["share_in_pct"] = percent(table["sites_in"], table["sites"])
    table["workers"] = sites.groupby("region")["workers"].sum()
    table["workers_in"] = inside.groupby("region")["workers"].sum().reindex(table.index)
    for flag, column in FLAG_COUNTS.items():
        table[column] = inside.groupby("region")[flag].sum().reindex(table.index)
    zones_union = shapely.union_all(np.asarray(overlaps.zones.geometry.values, dtype=object))
    table["overlap_ha"] = _region_overlap(overlaps, sites["region"].to_numpy(), zones_union)
    table = table.fillna(0)
    integer = ["sites", "sites_in", "workers", "workers_in", *FLAG_COUNTS.values()]
    table[integer] = table[integer].astype(int)
    table.index.name = by
    return table[list(REGION_STAT_COLUMNS)].sort_values("sites", ascending=False)


def year_stats(overlaps: Overlaps) -> pd.DataFrame:
    """Sites and workers inside versus outside concessions per year of ``seen``.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.YEAR_STAT_COLUMNS`, one row per year with sites, sorted.
    """
    sites = site_measures(overlaps)
    seen = pd.to_datetime(overlaps.sites["seen"], errors="coerce")
    sites["year"] = seen.dt.year.to_numpy()
    sites["in"] = overlaps.sites["n_conc"].to_numpy() > 0
    sites = sites.dropna(subset=["year"])
    if sites.empty:
        return pd.DataFrame({c: pd.Series(dtype=int) for c in YEAR_STAT_COLUMNS})
    sites["year"] = sites["year"].astype(int)
    grouped = sites.groupby(["year", "in"]).agg(n=("workers", "size"), w=("workers", "sum"))
    wide = pd.DataFrame(grouped.unstack("in", fill_value=0))
    table = pd.DataFrame({
        "year": wide.index.to_numpy(),
        "sites_in": _col(wide, "n", True),
        "sites_out": _col(wide, "n", False),
        "workers_in": _col(wide, "w", True),
        "workers_out": _col(wide, "w", False),
    })
    return table[list(YEAR_STAT_COLUMNS)].astype(int).reset_index(drop=True)


def totals(
    overlaps: Overlaps, *, union_areas: Mapping[str, float] | None = None
) -> dict[str, object]:
    """Headline numbers, union-based: shared land is counted once.

    Parameters
    ----------
    overlaps : Overlaps
    union_areas : dict, optional, keyword-only
        ``concession_ha``, ``overlap_ha`` and ``site_ha`` when they are known already (a
        filtered analysis derives them from the whole one, :mod:`geo.subset`); measured here
        otherwise.

    Returns
    -------
    dict
        ``concessions``, ``sites``, ``sites_in``, ``sites_in_pct``, ``concession_ha`` (union
        of concessions), ``overlap_ha`` (union of zones), ``site_ha`` (union of site
        footprints), ``tenure`` (sites per tenure class), ``workers_in``,
        ``workers_in_exploitation``, and the red flags of sites inside concessions.
    """
    sites = overlaps.sites
    measures = site_measures(overlaps)
    inside = sites["n_conc"].to_numpy() > 0
    if union_areas is None:
        union_areas = union_totals(overlaps)
    tenure = sites["tenure"].value_counts().reindex(TENURE_CLASSES, fill_value=0)
    exploitation = (sites["tenure"] == "exploitation").to_numpy()
    result: dict[str, object] = {
        "concessions": len(overlaps.concessions),
        "sites": len(sites),
        "sites_in": int(inside.sum()),
        "sites_in_pct": round(100.0 * float(inside.sum()) / len(sites), 2) if len(sites) else 0.0,
        "concession_ha": float(union_areas["concession_ha"]),
        "overlap_ha": float(union_areas["overlap_ha"]),
        "site_ha": float(union_areas["site_ha"]),
        "tenure": {str(k): int(v) for k, v in tenure.items()},
        "workers_in": int(measures.loc[inside, "workers"].sum()),
        "workers_in_exploitation": int(measures.loc[exploitation, "workers"].sum()),
    }
    for flag, column in FLAG_COUNTS.items():
        result[column] = int(measures.loc[inside, flag].sum())
    return result


def union_totals(overlaps: Overlaps) -> dict[str, float]:
    """Areas (ha) of the unions of the concessions, the zones and the site footprints,
    measured side by side (:func:`geo.parallel.map_in_threads`).

    Returns
    -------
    dict
        ``concession_ha``, ``overlap_ha`` and ``site_ha``, as :func:`union_ha` gives them.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point, box
    >>> from geo.overlap import compute_overlaps
    >>> conc = gpd.GeoDataFrame({"conc_id": ["A", "B"], "holder": ["H", "H"],
    ...                          "lic_type": ["exploration", "exploration"]}, crs=4326,
    ...                         geometry=[box(0, 0, 0.2, 0.1), box(0.1, 0, 0.3, 0.1)])
    >>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "workers": [40]},
    ...                          geometry=[Point(0.15, 0.05)], crs=4326)
    >>> round(union_totals(compute_overlaps(conc, sites))["concession_ha"])  # shared land once
    36927
    """
    layers = {
        "concession_ha": (_geometries(overlaps.concessions), overlaps.concessions),
        "overlap_ha": (_geometries(overlaps.zones), overlaps.zones),
        "site_ha": (_footprints_of(overlaps), overlaps.sites),
    }
    areas = map_in_threads(_union_ha_of, layers.values())
    return dict(zip(layers, areas, strict=True))


def sites_of_concession(overlaps: Overlaps, conc_id: str) -> pd.DataFrame:
    """The sites inside a concession and in its rings, nearest first.

    Returns
    -------
    DataFrame
        Columns ``site_id``, ``name``, ``where`` ("inside" or "within N km"), ``dist_km``,
        ``workers``, the red flags, ``tenure`` and ``seen``.
    """
    position = np.flatnonzero(overlaps.concessions["conc_id"].astype(str).to_numpy() == conc_id)
    pairs = overlaps.pairs[overlaps.pairs["conc"].isin(position)]
    pairs = pairs.sort_values(["ring", "dist_km"]).drop_duplicates("site")
    sites = overlaps.sites.iloc[pairs["site"].to_numpy()].reset_index(drop=True)
    edges = ["inside", *(f"within {r:g} km" for r in overlaps.rings_km)]
    table = pd.DataFrame({
        "site_id": sites["site_id"],
        "name": sites["name"],
        "where": [edges[r] for r in pairs["ring"].to_numpy()],
        "dist_km": pairs["dist_km"].to_numpy(),
        "workers": sites["workers"],
        **{flag: sites[flag] for flag in RED_FLAGS},
        "tenure": sites["tenure"],
        "seen": sites["seen"],
    })
    return table


# --- helpers -----------------------------------------------------------------------------


def site_measures(overlaps: Overlaps) -> pd.DataFrame:
    """Per site position: workers (0 when unknown) and red flags as 0/1."""
    sites = overlaps.sites
    measures = pd.DataFrame(index=range(len(sites)))
    workers = pd.to_numeric(sites["workers"], errors="coerce")
    measures["workers"] = workers.fillna(0).astype(int).to_numpy()
    for flag in RED_FLAGS:
        measures[flag] = sites[flag].astype("boolean").fillna(False).astype(int).to_numpy()
    return measures


def percent(part: pd.Series | np.ndarray, whole: pd.Series | np.ndarray) -> np.ndarray:
    """The share (%) of ``part`` in ``whole``, rounded to 4 decimals; 0 of nothing."""
    part, whole = np.asarray(part, dtype=float), np.asarray(whole, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 100.0 * part / np.where(whole > 0, whole, np.nan)
    return np.round(np.where(np.isnan(share), 0.0, share), 4)


def _col(wide: pd.DataFrame, measure: str, inside: bool) -> np.ndarray:
    if (measure, inside) in wide.columns:
        return wide[(measure, inside)].to_numpy()
    return np.zeros(len(wide), dtype=int)


def union_ha(geoms: np.ndarray, areas: np.ndarray | None = None) -> float:
    """Area (ha) of the union of ``geoms``, merging only the groups that overlap.

    Features that overlap no other keep their own area; each group of features whose
    interiors overlap (directly or through a chain) is merged and measured once. The same
    number as the area of the union of all, without building one national-size geometry.

    Parameters
    ----------
    geoms : ndarray of geometries
        Missing and empty geometries are left out.
    areas : ndarray of float, optional
        ``area_ha(geoms)`` when it is known already.
    """
    present_mask = shapely.is_geometry(geoms) & ~shapely.is_empty(geoms)
    present = geoms[present_mask]
    if len(present) == 0:
        return 0.0
    group = overlap_groups(present)
    sizes = np.bincount(group)
    alone = sizes[group] == 1
    own = area_ha(present[alone]) if areas is None else np.asarray(areas)[present_mask][alone]
    total = float(own.sum())
    if (~alone).any():
        total += float(area_ha(union_per_group(present[~alone], group[~alone])[1]).sum())
    return total


def overlap_groups(geoms: np.ndarray, *, keys: np.ndarray | None = None) -> np.ndarray:
    """Label of each geometry's group: geometries whose interiors overlap, directly or
    through a chain of others, share a label (touching edges do not join groups). With
    ``keys``, only geometries of the same key join. A group's label is the position of its
    first member.

    Examples
    --------
    >>> from shapely import box
    >>> overlap_groups(np.array([box(0, 0, 2, 2), box(1, 1, 3, 3), box(5, 5, 6, 6)])).tolist()
    [0, 0, 2]
    """
    left, right = shapely.STRtree(geoms).query(geoms)
    pair = left < right
    if keys is not None:
        pair &= keys[left] == keys[right]
    left, right = left[pair], right[pair]
    overlapping = shapely.relate_pattern(geoms[left], geoms[right], _INTERIORS_MEET)
    left, right = left[overlapping], right[overlapping]
    return connected_labels(len(geoms), left, right)


def connected_labels(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Label of each of ``n`` nodes joined by the edges ``left[i] - right[i]``: nodes
    connected directly or through a chain share the smallest position among them.

    Examples
    --------
    >>> connected_labels(5, np.array([3, 1]), np.array([4, 3])).tolist()
    [0, 1, 2, 1, 1]
    """
    labels = np.arange(n)
    while True:  # label propagation: each pass lowers labels along the edges
        lowest = np.minimum(labels[left], labels[right])
        before = labels.copy()
        np.minimum.at(labels, left, lowest)
        np.minimum.at(labels, right, lowest)
        labels = labels[labels]
        if np.array_equal(labels, before):
            return labels


def union_area_by(geoms: np.ndarray, keys: np.ndarray) -> pd.Series:
    """Area (ha) of the union of the geometries of each key (overlapping groups merged)."""
    if len(geoms) == 0:
        return pd.Series(dtype=float)
    group = overlap_groups(geoms, keys=keys)
    sizes = np.bincount(group)
    alone = sizes[group] == 1
    areas = pd.Series(0.0, index=range(len(geoms)))
    areas[alone] = area_ha(geoms[alone])
    if (~alone).any():
        labels, merged = union_per_group(geoms[~alone], group[~alone])
        areas[labels] = area_ha(merged)
    first = np.zeros(len(geoms), dtype=bool)
    first[np.unique(group)] = True  # one row per group carries its area
    return areas[first].groupby(keys[first]).sum()


def _known_areas(table: pd.DataFrame, n: int) -> np.ndarray | None:
    """The ``area_ha`` column of a table of ``n`` geometries' rows, when it has one."""
    if "area_ha" not in table or len(table) != n:
        return None
    return table["area_ha"].to_numpy(dtype=float)


def _geometries(layer: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(layer.geometry.values, dtype=object)


def _union_ha_of(layer: tuple[np.ndarray, pd.DataFrame]) -> float:
    """:func:`union_ha` of some geometries, with the ``area_ha`` of their table's rows."""
    geoms, table = layer
    return union_ha(geoms, _known_areas(table, len(geoms)))


def _footprints_of(overlaps: Overlaps) -> np.ndarray:
    return np.asarray(overlaps.footprints.values, dtype=object)


def _region_overlap(
    overlaps: Overlaps, regions: np.ndarray, zones_union: object
) -> pd.Series:
    """Per region, area of the union of its site footprints inside any concession."""
    footprints = _footprints_of(overlaps)
    present = shapely.is_geometry(footprints)
    if not present.any() or zones_union is None or shapely.is_empty(zones_union):
        return pd.Series(dtype=float)
    frame = gpd.GeoDataFrame(
        {"region": regions[present]}, geometry=list(footprints[present]), crs=4326
    )
    per_region = frame.dissolve(by="region").geometry
    clipped = shapely.intersection(np.asarray(per_region.values, dtype=object), zones_union)
    return pd.Series(area_ha(clipped), index=per_region.index)
