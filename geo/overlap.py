"""Overlap zones and site-to-concession relations.

The semantics (see the project's ``docs/method.md``):

* **Overlap zone** of a concession = the concession intersected with the union of the site
  footprints (site polygons, and point sites' circles when a footprint radius is given) that
  touch it, so overlapping site polygons are never counted twice. Intersections are computed
  on the lon/lat coordinates (as PostGIS ``ST_Intersection`` on ``geometry``), areas on the
  ellipsoid (:func:`geo.measure.area_ha`).
* **Inside**: a point site is inside every concession whose interior contains it; a polygon
  site is inside every concession whose interior its interior meets. A point site on a
  boundary and in no interior counts for exactly one of the concessions it touches: the
  first by tenure order, then the smallest ``conc_id``.
* **Tenure** of a site, first match wins over the concessions it is inside:
  exploitation, exploration, asm_zone, small_scale, other_title; else unlicensed. The site's
  ``conc_id`` is the concession that decided its tenure (ties: smallest ``conc_id``).
* **Rings**: for each concession, the sites not inside it whose geodesic distance to it lies
  in ring k, ``(r[k-1], r[k]]`` km (ring 1 starts at 0). A site inside a neighbouring title
  can be in a ring of this one. ``dist_km`` of a site is 0 inside a concession, else the
  geodesic distance to the nearest concession (``near_id``; of equidistant concessions, the
  first in the layer).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
...                         geometry=[box(0, 0, 0.1, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"]},
...                          geometry=[box(0.05, 0.05, 0.15, 0.06), box(0.06, 0.05, 0.07, 0.07)],
...                          crs=4326)
>>> result = compute_overlaps(conc, sites)
>>> round(float(result.zones["area_ha"].iloc[0]), 1)  # union of the two sites, inside A
738.5
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo.errors import CRSError, GeometryError, SchemaError
from geo.i18n import N_, _
from geo.measure import (
    area_ha,
    geodesic_buffers,
    geodesic_circles,
    nearest_points_km,
    to_crs,
    utm_groups,
)
from geo.parallel import map_in_threads, run_together
from geo.regions import country_of
from geo.schema import LIC_TYPES, SITE_RESULT_COLUMNS, TENURE_CLASSES, ZONE_COLUMNS
from geo.validate import NO_GEOMETRY

#: Default proximity rings, outer edges in km.
DEFAULT_RINGS_KM: tuple[float, ...] = (1.0, 5.0, 10.0)
#: Tenure class of a site inside a concession of each licence type.
_TENURE_OF_LIC = {lic: (lic if lic != "other" else "other_title") for lic in LIC_TYPES}
_RANK_OF_LIC = {lic: rank for rank, lic in enumerate(LIC_TYPES)}
#: Nearest-point candidates are searched this much beyond the outer ring (UTM scale margin).
_SEARCH_MARGIN = 1.02
#: The UTM scale factor stays below this within 8 degrees of longitude of a zone's central
#: meridian, far beyond a site's zone and its outer ring.
_MAX_UTM_SCALE = 1.01

#: Columns of :attr:`Overlaps.pairs`: one row per (site, concession) relation.
PAIR_COLUMNS: tuple[str, ...] = ("site", "conc", "inside", "dist_km", "ring")


@dataclass(frozen=True)
class Overlaps:
    """Everything computed from one concession layer and one site layer.

    Attributes
    ----------
    concessions : GeoDataFrame
        The concessions with ``area_ha`` added.
    sites : DataFrame
        One row per site, columns :data:`geo.schema.SITE_RESULT_COLUMNS`.
    zones : GeoDataFrame
        One overlap zone per concession that site footprints overlap, columns
        :data:`geo.schema.ZONE_COLUMNS`.
    pairs : DataFrame
        Positional relations, columns :data:`PAIR_COLUMNS`: ``site`` and ``conc`` are row
        positions, ``inside`` is True for sites inside the concession (``ring`` 0), else
        ``ring`` is the 1-based ring the site falls in.
    footprints : GeoSeries
        Per site, the polygon that counts in areas: its polygon, its footprint circle, or
        None for a point site without a footprint radius.
    rings_km : tuple of float
        The rings' outer edges.
    radius_m : float or None
        Footprint radius given to point sites.
    """

    concessions: gpd.GeoDataFrame
    sites: pd.DataFrame
    zones: gpd.GeoDataFrame
    pairs: pd.DataFrame
    footprints: gpd.GeoSeries
    rings_km: tuple[float, ...]
    radius_m: float | None


def compute_overlaps(
    concessions: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
) -> Overlaps:
    """Intersect a concession layer with a site layer.

    Parameters
    ----------
    concessions : GeoDataFrame
        Normalised, validated concessions in EPSG:4326 (``conc_id``, ``holder``,
        ``lic_type``, polygon geometry).
    sites : GeoDataFrame
        Normalised, validated sites in EPSG:4326 (``site_id``, points and/or polygons).
    rings_km : tuple of float, keyword-only
        Increasing outer edges of the proximity rings, in km.
    radius_m : float, optional, keyword-only
        Footprint radius of point sites: their circles count in overlap areas.

    Returns
    -------
    Overlaps
        See :class:`Overlaps` for each frame's columns.

    Raises
    ------
    CRSError
        A layer is not in EPSG:4326.
    SchemaError
        ``rings_km`` is not increasing and positive, or ``radius_m`` is not positive.
    GeometryError
        Concessions that are not polygons, or invalid geometry (validate first).
    """
    return _overlaps_and_parts(concessions, sites, rings_km=rings_km, radius_m=radius_m)[0]


class _Parts(NamedTuple):
    """What :func:`compute_overlaps` finds on the way, kept for :mod:`geo.subset`: the
    relations that depend on one site and one concession alone.

    ``contacts`` is :func:`_contact_pairs`; ``piece_conc``, ``piece_site`` and ``pieces``
    are :func:`_zone_pieces`; ``nearest`` is per site the position of the nearest concession
    and the unrounded distance (km) of :func:`_ring_pairs`.
    """

    site_geoms: np.ndarray
    conc_rank: np.ndarray
    conc_ids: np.ndarray
    contacts: pd.DataFrame
    piece_conc: np.ndarray
    piece_site: np.ndarray
    pieces: np.ndarray
    nearest: pd.DataFrame


def _overlaps_and_parts(
    concessions: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    *,
    rings_km: tuple[float, ...],
    radius_m: float | None,
    known: ConcessionIndex | None = None,
) -> tuple[Overlaps, _Parts]:
    """:func:`compute_overlaps`, and the parts a subset of the layers can be derived from.

    ``known`` is a :class:`ConcessionIndex` of these concessions, kept from an earlier
    analysis.
    """
    rings = _check_options(rings_km, radius_m)
    _check_layers(concessions, sites)
    conc_geoms = np.asarray(concessions.geometry.values, dtype=object)
    site_geoms = np.asarray(sites.geometry.values, dtype=object)
    conc_rank = concessions["lic_type"].map(_RANK_OF_LIC).fillna(len(LIC_TYPES) - 1)
    conc_rank = conc_rank.to_numpy(dtype=int)
    conc_ids = concessions["conc_id"].astype(str).to_numpy()

    footprints = _footprints(site_geoms, radius_m)
    tree = known.tree if known is not None else shapely.STRtree(conc_geoms)

    def areas() -> np.ndarray:
        return area_ha(conc_geoms) if known is None else known.area_ha

    def zones() -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], gpd.GeoDataFrame]:
        found = _zone_pieces(conc_geoms, footprints, tree)
        return found, _zones_of(concessions, found[0], found[2])

    # Every step depends on the layers alone: they share the threads, the longest first.
    zone_steps = _zone_steps(conc_geoms, site_geoms, rings, tree, known)
    steps: list[Callable[[], Any]] = [
        areas, zones, partial(_site_attributes, sites, site_geoms, footprints), *zone_steps,
        partial(_contact_pairs, conc_geoms, site_geoms, tree),
    ]
    done = run_together(steps)
    conc_areas, ((piece_conc, piece_site, pieces), zone_frame), attributes = done[:3]
    candidates = _candidates_of(done[3:-1], len(site_geoms))
    contacts = done[-1]
    inside = _choose_inside(contacts, conc_rank, conc_ids)
    near, nearest = _rings_beside(candidates, inside, rings)
    pairs = pd.concat([inside, near], ignore_index=True)[list(PAIR_COLUMNS)]

    with_area = concessions.copy()
    with_area["area_ha"] = conc_areas
    site_table = _site_table(sites, site_geoms, footprints, inside, conc_rank, conc_ids,
                             nearest, attributes)
    overlaps = Overlaps(
        concessions=with_area,
        sites=site_table,
        zones=zone_frame,
        pairs=pairs,
        footprints=gpd.GeoSeries(footprints, crs=sites.crs),
        rings_km=rings,
        radius_m=radius_m,
    )
    parts = _Parts(site_geoms, conc_rank, conc_ids, contacts, piece_conc, piece_site, pieces,
                   nearest)
    return overlaps, parts


def _check_options(
    rings_km: tuple[float, ...], radius_m: float | None
) -> tuple[float, ...]:
    rings = tuple(float(r) for r in rings_km)
    if not rings or any(r <= 0 for r in rings) or list(rings) != sorted(set(rings)):
        raise SchemaError(
            _("rings_km must be increasing positive distances in km, got {rings}; for example "
              "1,5,10.").format(rings=repr(rings_km))
        )
    if radius_m is not None and not (np.isfinite(radius_m) and radius_m > 0):
        raise SchemaError(
            _("radius_m must be a positive number of metres, got {radius}.").format(
                radius=repr(radius_m))
        )
    return rings


def _check_layers(concessions: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> None:
    wrong_crs = {
        "concessions": N_("The concessions layer must be in EPSG:4326 (longitude/latitude), "
                          "got {crs}; read it with geo.io.read_layer, which reprojects."),
        "sites": N_("The sites layer must be in EPSG:4326 (longitude/latitude), got {crs}; "
                    "read it with geo.io.read_layer, which reprojects."),
    }
    for kind, layer in (("concessions", concessions), ("sites", sites)):
        if layer.crs is None or not layer.crs.equals(pyproj.CRS("EPSG:4326")):
            raise CRSError(_(wrong_crs[kind]).format(crs=layer.crs))
    for column in ("conc_id", "lic_type"):
        if column not in concessions:
            raise SchemaError(
                _("The concessions have no {column} column; normalise first.").format(
                    column=repr(column))
            )
    if "site_id" not in sites:
        raise SchemaError(_("The sites have no 'site_id' column; normalise first."))
    conc_types = shapely.get_type_id(np.asarray(concessions.geometry.values, dtype=object))
    if not np.isin(conc_types, (3, 6)).all():  # Polygon, MultiPolygon
        raise GeometryError(_("Concessions must be polygons; validate the layer first."))
    if not all(map_in_threads(_all_valid, (concessions, sites))):
        raise GeometryError(
            _("The layers hold invalid geometry; validate (repair) them first.")
        )


def _all_valid(layer: gpd.GeoDataFrame) -> bool:
    return bool(shapely.is_valid(np.asarray(layer.geometry.values, dtype=object)).all())


def _inside_pairs(
    conc_geoms: np.ndarray, site_geoms: np.ndarray, conc_rank: np.ndarray, conc_ids: np.ndarray
) -> pd.DataFrame:
    """(site, concession) pairs where the site is inside, boundary points assigned once."""
    return _choose_inside(_contact_pairs(conc_geoms, site_geoms), conc_rank, conc_ids)


def _contact_pairs(
    conc_geoms: np.ndarray, site_geoms: np.ndarray, tree: shapely.STRtree | None = None
) -> pd.DataFrame:
    """(site, concession) pairs where the site is in the concession's interior
    (``interior``) or is a point on its boundary only (``boundary``); ``tree`` is the
    spatial index of ``conc_geoms`` when made already.

    Each row depends on its two geometries alone: the contacts of a subset of either layer
    are the matching rows of these (see :mod:`geo.subset`).
    """
    tree = tree if tree is not None else shapely.STRtree(conc_geoms)
    site_pos, conc_pos = tree.query(site_geoms, predicate="intersects")
    conc_g, site_g = conc_geoms[conc_pos], site_geoms[site_pos]
    is_point = _is_point(site_g)
    point_in = is_point & shapely.contains(conc_g, site_g)
    polygon_in = ~is_point & ~shapely.touches(conc_g, site_g)
    interior = point_in | polygon_in
    boundary = is_point & ~point_in
    keep = interior | boundary
    return pd.DataFrame({"site": site_pos[keep], "conc": conc_pos[keep],
                         "interior": interior[keep], "boundary": boundary[keep]})


def _choose_inside(
    contacts: pd.DataFrame, conc_rank: np.ndarray, conc_ids: np.ndarray
) -> pd.DataFrame:
    """The inside pairs of :func:`_contact_pairs`: every interior pair, and for a point site
    in no interior the boundary pair of the first concession by tenure order, then
    ``conc_id``."""
    conc_pos = contacts["conc"].to_numpy(dtype=int)
    pairs = contacts.assign(rank=conc_rank[conc_pos], conc_id=conc_ids[conc_pos])
    on_boundary = pairs[pairs["boundary"].to_numpy(dtype=bool)]
    on_boundary = on_boundary[~on_boundary["site"].isin(pairs.loc[pairs["interior"], "site"])]
    chosen = on_boundary.sort_values(["site", "rank", "conc_id"]).drop_duplicates("site")
    inside = pd.concat([pairs[pairs["interior"]], chosen], ignore_index=True)
    inside = inside.assign(inside=True, dist_km=0.0, ring=0)
    return inside[list(PAIR_COLUMNS)].astype({"site": int, "conc": int, "ring": int})


def _is_point(geoms: np.ndarray) -> np.ndarray:
    """True for Point and MultiPoint geometries."""
    return np.isin(shapely.get_type_id(geoms), (0, 4))


def _footprints(site_geoms: np.ndarray, radius_m: float | None) -> np.ndarray:
    """Polygon footprint of each site: its polygon, a circle around a point, or None."""
    is_point = _is_point(site_geoms)
    footprints = np.where(is_point, NO_GEOMETRY, site_geoms)
    if radius_m is not None and is_point.any():
        footprints[is_point] = geodesic_circles(site_geoms[is_point], radius_m)
    return footprints


def _zone_pieces(
    conc_geoms: np.ndarray, footprints: np.ndarray, tree: shapely.STRtree | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(concession position, site position, piece) of every intersection of a footprint
    with a concession that has an area, in the order of the sites; ``tree`` is the spatial
    index of ``conc_geoms`` when made already.

    Each piece depends on its two geometries alone (see :mod:`geo.subset`).
    """
    has = np.flatnonzero(shapely.is_geometry(footprints))
    tree = tree if tree is not None else shapely.STRtree(conc_geoms)
    fp_pos, conc_pos = tree.query(footprints[has], predicate="intersects")
    pieces = shapely.intersection(conc_geoms[conc_pos], footprints[has][fp_pos])
    polygonal = shapely.get_type_id(pieces) >= 0
    polygonal &= shapely.area(pieces) > 0
    return conc_pos[polygonal], has[fp_pos][polygonal], pieces[polygonal]


def _zones_of(
    concessions: gpd.GeoDataFrame, conc_pos: np.ndarray, pieces: np.ndarray
) -> gpd.GeoDataFrame:
    """Overlap zones (:data:`geo.schema.ZONE_COLUMNS`) from the pieces of
    :func:`_zone_pieces`: per concession, its intersection with the union of the footprints
    touching it, as the union of its pieces."""
    if len(pieces) == 0:
        return gpd.GeoDataFrame(
            {c: pd.Series(dtype=object) for c in ZONE_COLUMNS if c != "geometry"},
            geometry=gpd.GeoSeries([], crs=concessions.crs),
        )
    conc, merged = union_per_group(pieces, conc_pos)
    kept = ~shapely.is_empty(merged)
    conc, merged = conc[kept], _polygonal(merged[kept])
    zones = gpd.GeoDataFrame(
        {
            "conc_id": concessions["conc_id"].to_numpy()[conc],
            "holder": concessions.get("holder", pd.Series(None, index=concessions.index))
            .to_numpy()[conc],
            "lic_type": concessions["lic_type"].to_numpy()[conc],
            "area_ha": area_ha(merged),
        },
        geometry=merged,
        crs=concessions.crs,
    )
    return zones[list(ZONE_COLUMNS)].reset_index(drop=True)


def union_per_group(geoms: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of the geometries of each group, groups of one passed through untouched.

    Parameters
    ----------
    geoms : ndarray of geometries
    group : ndarray of int
        The group label of each geometry.

    Returns
    -------
    (ndarray, ndarray)
        The labels, in increasing order, and the union of each label's geometries (merged
        in the order they come in ``geoms``).

    Examples
    --------
    >>> from shapely import box
    >>> labels, unions = union_per_group(
    ...     np.array([box(0, 0, 2, 2), box(5, 5, 6, 6), box(1, 1, 3, 3)]), np.array([0, 1, 0]))
    >>> labels.tolist(), [round(u.area, 1) for u in unions]
    ([0, 1], [7.0, 1.0])
    """
    order = np.argsort(group, kind="stable")
    labels, start, counts = np.unique(group[order], return_index=True, return_counts=True)
    unions = np.asarray(geoms, dtype=object)[order[start]]
    owner = np.repeat(np.arange(len(labels)), counts)
    rank = np.arange(len(order)) - start[owner]
    # Groups padded to the next power of two and merged a matrix row each, so that no
    # matrix is more than twice the size of its geometries.
    width = 2 ** np.ceil(np.log2(counts)).astype(int)
    for size in np.unique(width[counts > 1]):
        rows = np.flatnonzero((width == size) & (counts > 1))
        member = np.isin(owner, rows)
        matrix = np.full((len(rows), size), None, dtype=object)
        matrix[np.searchsorted(rows, owner[member]), rank[member]] = geoms[order[member]]
        unions[rows] = shapely.union_all(matrix, axis=1)
    return labels, unions


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Drop line and point debris that intersections leave in collections."""
    collection = shapely.get_type_id(geoms) == 7
    if not collection.any():
        return geoms
    out = geoms.copy()
    parts, owner = shapely.get_parts(geoms[collection], return_index=True)
    keep = shapely.get_type_id(parts) == 3
    owners, dense = np.unique(owner[keep], return_inverse=True)
    rebuilt = np.full(collection.sum(), shapely.from_wkt("MULTIPOLYGON EMPTY"), dtype=object)
    rebuilt[owners] = shapely.multipolygons(parts[keep], indices=dense)
    out[np.flatnonzero(collection)] = rebuilt
    return out


def _ring_pairs(
    conc_geoms: np.ndarray,
    site_geoms: np.ndarray,
    inside: pd.DataFrame,
    rings: tuple[float, ...],
    measured: ConcessionIndex | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ring pairs within the outer ring, and each site's nearest concession.

    Sites are grouped by UTM zone; in each zone the candidates are found with the spatial
    index in metres and their distance is then measured geodesically. ``measured`` (of
    these ``conc_geoms``) supplies the spatial index and projections made before.

    Returns
    -------
    (DataFrame, DataFrame)
        The ring pairs (:data:`PAIR_COLUMNS`) and, per site position, ``conc`` (position of
        the nearest concession, -1 when there is none) and ``dist_km`` (0 inside).
    """
    whole_tree = measured.tree if measured is not None else shapely.STRtree(conc_geoms)
    return _rings_beside(_ring_candidates(conc_geoms, site_geoms, rings, whole_tree, measured),
                         inside, rings)


class _Candidates(NamedTuple):
    """What :func:`_ring_candidates` finds before the inside pairs are known: the pairs
    within the outer ring and its search margin (``site``, ``conc``, ``dist_km``), and per
    site position its nearest concession (``conc``, -1 for none; ``dist_km``)."""

    pairs: pd.DataFrame
    nearest: pd.DataFrame


def _ring_candidates(
    conc_geoms: np.ndarray,
    site_geoms: np.ndarray,
    rings: tuple[float, ...],
    whole_tree: shapely.STRtree,
    measured: ConcessionIndex | None = None,
) -> _Candidates:
    """The measured pairs of :func:`_ring_pairs`, the UTM zones spread over threads;
    ``whole_tree`` is the spatial index of ``conc_geoms``."""
    steps = _zone_steps(conc_geoms, site_geoms, rings, whole_tree, measured)
    return _candidates_of(run_together(steps), len(site_geoms))


def _zone_steps(
    conc_geoms: np.ndarray,
    site_geoms: np.ndarray,
    rings: tuple[float, ...],
    whole_tree: shapely.STRtree,
    measured: ConcessionIndex | None,
) -> list[Callable[[], tuple[pd.DataFrame, pd.DataFrame]]]:
    """One :func:`_zone_ring_pairs` step per UTM zone of the sites, the largest first."""
    groups = sorted(utm_groups(site_geoms), key=lambda group: -len(group[1]))
    return [partial(_zone_ring_pairs, conc_geoms, site_geoms, group, rings, whole_tree,
                    measured) for group in groups]


def _candidates_of(
    results: Sequence[tuple[pd.DataFrame, pd.DataFrame]], n_sites: int
) -> _Candidates:
    """The :class:`_Candidates` of ``n_sites`` sites from the results of :func:`_zone_steps`."""
    conc = np.full(n_sites, -1)
    dist_km = np.full(n_sites, np.nan)
    for _pairs, chosen in results:
        conc[chosen["site"].to_numpy()] = chosen["conc"].to_numpy()
        dist_km[chosen["site"].to_numpy()] = chosen["dist_km"].to_numpy()
    found = [pairs for pairs, _chosen in results]
    candidates = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        {"site": pd.Series(dtype=int), "conc": pd.Series(dtype=int), "dist_km": []}
    )
    return _Candidates(candidates, pd.DataFrame({"conc": conc, "dist_km": dist_km}))


def _rings_beside(
    candidates: _Candidates, inside: pd.DataFrame, rings: tuple[float, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`_ring_pairs` from its candidates and the inside pairs."""
    pairs = candidates.pairs
    conc = candidates.nearest["conc"].to_numpy(dtype=int, copy=True)
    dist_km = candidates.nearest["dist_km"].to_numpy(dtype=float, copy=True)
    closest = _first_per_site(pairs)
    site, km = pairs["site"].to_numpy()[closest], pairs["dist_km"].to_numpy()[closest]
    closer = (km < dist_km[site]) | np.isnan(dist_km[site])
    conc[site[closer]] = pairs["conc"].to_numpy()[closest][closer]
    dist_km[site[closer]] = km[closer]
    first_inside = inside.drop_duplicates("site")
    conc[first_inside["site"].to_numpy()] = first_inside["conc"].to_numpy()
    dist_km[first_inside["site"].to_numpy()] = 0.0
    nearest = pd.DataFrame({"conc": conc, "dist_km": dist_km})

    keyed = pairs.merge(inside[["site", "conc"]], how="left", indicator=True)
    near = keyed[(keyed["_merge"] == "left_only") & (keyed["dist_km"] <= rings[-1])]
    ring = np.searchsorted(np.asarray(rings), near["dist_km"].to_numpy(), side="left") + 1
    near = near.assign(inside=False, ring=ring)[list(PAIR_COLUMNS)]
    return near.astype({"site": int, "conc": int, "ring": int}), nearest


def _first_per_site(pairs: pd.DataFrame) -> np.ndarray:
    """Row of each site's nearest pair (equidistant: the concession first in the layer),
    in the order of the sites."""
    site = pairs["site"].to_numpy()
    if len(site) == 0:
        return np.zeros(0, dtype=int)
    conc, km = pairs["conc"].to_numpy(), pairs["dist_km"].to_numpy()
    best_km = np.full(site.max() + 1, np.inf)
    np.minimum.at(best_km, site, km)
    tied = np.flatnonzero(km == best_km[site])
    first_conc = np.full(len(best_km), np.iinfo(np.int64).max)
    np.minimum.at(first_conc, site[tied], conc[tied])
    rows = tied[conc[tied] == first_conc[site[tied]]]
    return rows[np.argsort(site[rows], kind="stable")]


def _zone_ring_pairs(
    conc_geoms: np.ndarray,
    site_geoms: np.ndarray,
    group: tuple[int, np.ndarray],
    rings: tuple[float, ...],
    whole_tree: shapely.STRtree,
    measured: ConcessionIndex | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`_ring_pairs` for the sites ``group = (epsg, rows)`` of one UTM zone;
    ``whole_tree`` is the spatial index of ``conc_geoms``.

    Returns
    -------
    (DataFrame, DataFrame)
        ``site``, ``conc``, ``dist_km`` of the pairs within the outer ring (and its search
        margin), and of the nearest concession of each site that has none within it.
    """
    epsg, rows = group
    outer_m = rings[-1] * 1000.0
    local_sites = to_crs(site_geoms[rows], epsg)
    conc_index, local_geoms = _local_concessions(conc_geoms, site_geoms[rows], epsg,
                                                 outer_m, whole_tree, measured)
    tree = shapely.STRtree(local_geoms)
    s, c = tree.query(_grown_boxes(local_sites, outer_m * _SEARCH_MARGIN))
    # Boxes farther apart than the search reach (in the plane, at any scale factor a site's
    # zone has) hold no pair within it: only the others are measured.
    gap = _box_gaps(shapely.bounds(local_sites)[s], shapely.bounds(local_geoms)[c])
    reach = gap <= outer_m * _SEARCH_MARGIN * _MAX_UTM_SCALE
    s, c = s[reach], c[reach]
    km = nearest_points_km(local_sites[s], local_geoms[c], epsg)
    close = km <= rings[-1] * _SEARCH_MARGIN
    s, c, km = s[close], c[close], km[close]
    found = pd.DataFrame({"site": rows[s], "conc": conc_index[c], "dist_km": km})
    # Sites with a concession within the outer ring take their nearest from those pairs;
    # only the others need the nearest-neighbour search.
    far = np.setdiff1d(np.arange(len(rows)), s)
    s, c = tree.query_nearest(local_sites[far], all_matches=True)
    s = far[s]
    km = nearest_points_km(local_sites[s], local_geoms[c], epsg)
    # Equidistant concessions: the first in the layer.
    picked = pd.DataFrame({"site": rows[s], "conc": conc_index[c], "dist_km": km})
    return found, picked.iloc[_first_per_site(picked)]


def _box_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between the boxes of pairs, given as rows of ``shapely.bounds``."""
    dx = np.maximum(np.maximum(a[:, 0] - b[:, 2], b[:, 0] - a[:, 2]), 0.0)
    dy = np.maximum(np.maximum(a[:, 1] - b[:, 3], b[:, 1] - a[:, 3]), 0.0)
    return np.hypot(dx, dy)


def _grown_boxes(geoms: np.ndarray, margin: float) -> np.ndarray:
    """Each geometry's bounding box grown by ``margin`` on every side."""
    bounds = shapely.bounds(geoms)
    return shapely.box(bounds[:, 0] - margin, bounds[:, 1] - margin,
                       bounds[:, 2] + margin, bounds[:, 3] + margin)


def _local_concessions(
    conc_geoms: np.ndarray, group_sites: np.ndarray, epsg: int, outer_m: float,
    tree: shapely.STRtree, measured: ConcessionIndex | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Concessions worth projecting into this zone: all of them (small layers) or nearby.

    ``tree`` is the spatial index of ``conc_geoms``; ``measured`` (of these ``conc_geoms``)
    supplies the projections already made.
    """
    if len(conc_geoms) <= 5000:
        index = np.arange(len(conc_geoms))
    else:
        pad = outer_m / 1000.0 / 100.0 + 1.0  # degrees; generous at any latitude below 80
        minx, miny, maxx, maxy = shapely.total_bounds(group_sites)
        area = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
        index = tree.query(area)
        if len(index) == 0:
            index = np.arange(len(conc_geoms))
    if measured is not None:
        return index, measured.projected(epsg, index)
    return index, to_crs(conc_geoms[index], epsg)


class ConcessionIndex:
    """What the engine computes from the concessions alone, kept for analyses of the same
    concessions with other sites (:func:`geo.subset.prepare`): their areas (ha), their
    spatial index and their projections into each UTM zone, made as they are needed.

    Every value is the one the engine computes without it.

    Parameters
    ----------
    conc_geoms : ndarray of geometries
        The concessions' geometries (EPSG:4326), in the layer's order.
    """

    def __init__(self, conc_geoms: np.ndarray) -> None:
        self.geoms = np.asarray(conc_geoms, dtype=object)
        self.area_ha = area_ha(self.geoms)
        self._tree: shapely.STRtree | None = None
        self._projected: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._whole: ConcessionIndex | None = None
        self._positions = np.arange(len(self.geoms))

    def part(self, keep: np.ndarray) -> ConcessionIndex:
        """The index of the concessions ``keep`` (a mask), sharing the projections."""
        part = ConcessionIndex.__new__(ConcessionIndex)
        part.geoms, part.area_ha = self.geoms[keep], self.area_ha[keep]
        part._tree, part._projected, part._lock = None, {}, threading.Lock()
        part._whole = self._whole or self
        part._positions = self._positions[keep]
        return part

    @property
    def tree(self) -> shapely.STRtree:
        """The spatial index of the geometries."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    def projected(self, epsg: int, index: np.ndarray) -> np.ndarray:
        """The geometries at ``index`` in the UTM zone ``epsg``."""
        if self._whole is not None:
            return self._whole.projected(epsg, self._positions[index])
        with self._lock:
            done, geoms = self._projected.setdefault(
                epsg, (np.zeros(len(self.geoms), dtype=bool),
                       np.empty(len(self.geoms), dtype=object)))
            missing = index[~done[index]]
            if len(missing):
                geoms[missing] = to_crs(self.geoms[missing], epsg)
                done[missing] = True
            return geoms[index]


def _site_table(
    sites: gpd.GeoDataFrame,
    site_geoms: np.ndarray,
    footprints: np.ndarray,
    inside: pd.DataFrame,
    conc_rank: np.ndarray,
    conc_ids: np.ndarray,
    nearest: pd.DataFrame,
    attributes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per site: tenure, deciding concession, distance and the attributes stats use.

    ``attributes`` is :func:`_site_attributes` of these sites, when made already.
    """
    if attributes is None:
        attributes = _site_attributes(sites, site_geoms, footprints)
    relations = _relations(len(sites), inside, conc_rank, conc_ids, nearest)
    table = pd.concat([relations, attributes.set_axis(relations.index)], axis=1)
    return table[list(SITE_RESULT_COLUMNS)]


def _site_attributes(
    sites: gpd.GeoDataFrame, site_geoms: np.ndarray, footprints: np.ndarray
) -> pd.DataFrame:
    """The columns of the site table that do not depend on the concessions."""
    points = shapely.point_on_surface(site_geoms)
    table = pd.DataFrame({
        "site_id": sites["site_id"].astype(str).to_numpy(),
        "is_polygon": ~_is_point(site_geoms),
        "area_ha": area_ha(footprints),
        "lon": shapely.get_x(points),
        "lat": shapely.get_y(points),
    })
    for column in ("name", "workers", "mercury", "armed", "child_lab", "gold", "seen",
                   "province", "first_seen", "qualification", "itsci"):
        table[column] = sites[column].array if column in sites else pd.NA
    table["country"] = country_of(table["lon"].to_numpy(), table["lat"].to_numpy())
    return table


def _relations(
    n_sites: int,
    inside: pd.DataFrame,
    conc_rank: np.ndarray,
    conc_ids: np.ndarray,
    nearest: pd.DataFrame,
) -> pd.DataFrame:
    """Per site position, the columns that depend on the concessions: ``tenure``,
    ``conc_id`` (the deciding concession), ``dist_km``, ``n_conc`` and ``near_id``.

    ``inside`` holds the inside pairs, ``nearest`` per site the position of the nearest
    concession (``conc``, -1 for none) and ``dist_km`` (0 inside).
    """
    best = inside.assign(rank=conc_rank[inside["conc"]], conc_id=conc_ids[inside["conc"]])
    best = best.sort_values(["site", "rank", "conc_id"]).drop_duplicates("site")
    tenure = np.full(n_sites, "unlicensed", dtype=object)
    conc_of = np.full(n_sites, None, dtype=object)
    tenure[best["site"]] = [
        _TENURE_OF_LIC[LIC_TYPES[r]] for r in best["rank"].to_numpy()
    ]
    conc_of[best["site"]] = best["conc_id"].to_numpy()
    table = pd.DataFrame({
        "tenure": pd.Categorical(tenure, categories=TENURE_CLASSES),
        "conc_id": conc_of,
        "dist_km": np.round(nearest["dist_km"].to_numpy(dtype=float), 4),
        "n_conc": np.bincount(inside["site"], minlength=n_sites),
    })
    near = nearest["conc"].to_numpy(dtype=int)
    no_id = np.array(None, dtype=object)
    table["near_id"] = np.where(near >= 0, conc_ids[np.maximum(near, 0)], no_id)
    table.loc[table["conc_id"].notna(), "near_id"] = table["conc_id"]
    return table


def ring_bands(
    concessions: gpd.GeoDataFrame, rings_km: tuple[float, ...] = DEFAULT_RINGS_KM
) -> gpd.GeoDataFrame:
    """Proximity-ring bands around each concession, for maps.

    Parameters
    ----------
    concessions : GeoDataFrame
        Concessions in EPSG:4326 with ``conc_id``.
    rings_km : tuple of float
        Outer edges of the rings.

    Returns
    -------
    GeoDataFrame
        Columns ``conc_id``, ``ring_km`` (outer edge) and geometry: the band between the
        previous edge (or the concession) and this one, buffered geodesically.
    """
    rings = _check_options(rings_km, None)
    geoms = np.asarray(concessions.geometry.values, dtype=object)
    ids = concessions["conc_id"].astype(str).to_numpy()
    inner = geoms
    frames = []
    for ring in rings:
        outer = geodesic_buffers(geoms, ring * 1000.0)
        frames.append(gpd.GeoDataFrame(
            {"conc_id": ids, "ring_km": ring},
            geometry=shapely.difference(outer, inner), crs=concessions.crs,
        ))
        inner = outer
    if not frames:
        return gpd.GeoDataFrame({"conc_id": [], "ring_km": []}, geometry=[], crs=4326)
    return pd.concat(frames, ignore_index=True)
