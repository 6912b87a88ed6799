"""Filtered analyses derived from the analysis of the whole layers, without the engine.

A filter change must not recompute the overlaps of a national cadastre. Every relation the
engine finds between one site and one concession depends on those two geometries alone
(the contacts of :func:`geo.overlap._contact_pairs`, the zone pieces of
:func:`geo.overlap._zone_pieces`, the ring pairs and their geodesic distances), so the
analysis of a subset of either layer is assembled from the whole one's relations, with the
engine's own selection rules, touching only what the filter changes:

* which rows a filter keeps: columns read once (:class:`geo.filters.FilterIndex`);
* inside pairs: the whole analysis's between kept rows; a point on the boundary of titles
  whose chosen title is gone is given the next one (:func:`geo.overlap._choose_inside`);
* ring pairs: the whole analysis's between kept rows, less those that became inside pairs;
* tenure, deciding title, nearest title and distance (as :func:`geo.overlap._relations`):
  unchanged when only sites are filtered, and for the sites that touch no title a filter
  takes away and whose nearest title is kept. The others: the nearest kept title is the
  nearest in their ring pairs; for sites with none within the outer ring, the nearest in
  the lists of titles around each site made once (:mod:`geo.nearest`), and only the sites
  those lists cannot decide are searched again (:func:`geo.overlap._ring_pairs`);
* overlap zones: a title's zone is reused when all its pieces are kept, rebuilt from the
  pieces kept (:func:`geo.overlap._zones_of`) when some are, dropped when none are;
* per-concession table and totals: the whole table's rows of the kept titles, with the
  counts and sums taken again over the kept pairs (as :func:`geo.stats.concession_stats`
  and :func:`geo.stats.totals`);
* union areas of the totals: the groups of overlapping features of the whole layers are
  merged and measured once (:class:`UnionCache`); a filtered total adds the groups kept whole
  and merges again, group by group, only the groups that lost members.

The result is :func:`geo.pipeline.analyse` with the same filters (``tests/test_subset.py``
compares both, table by table): counts, per-site and per-concession numbers and zone
geometries exactly, union areas up to the order of floating-point sums. One reach differs:
above 5,000 kept titles the engine looks for the nearest title of a site far from all of
them among the titles within a degree of its UTM zone's sites; here, among all the kept
titles when one is within 100 km (:mod:`geo.nearest`), else among those within a degree of
the sites searched again. Both find the same title unless the nearest kept title is over
about 100 km away.

Examples
--------
>>> from geo.filters import Filters
>>> from geo.pipeline import load_bundled
>>> basis = prepare(load_bundled("concessions"), load_bundled("sites"))
>>> basis.analysis.totals["sites"]
2988
>>> filtered(basis, Filters(lic_types=("exploitation",))).totals["concessions"] < 2973
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.filters import FilterIndex, Filters
from geo.measure import area_ha
from geo.nearest import NeighbourLists, nearest_kept
from geo.overlap import (
    _TENURE_OF_LIC,
    DEFAULT_RINGS_KM,
    PAIR_COLUMNS,
    ConcessionIndex,
    Overlaps,
    _choose_inside,
    _overlaps_and_parts,
    _Parts,
    _ring_pairs,
    _zones_of,
    union_per_group,
)
from geo.parallel import map_in_threads, side_by_side
from geo.pipeline import Analysis, Layer, require_rows
from geo.schema import LIC_TYPES, TENURE_CLASSES, ring_columns
from geo.stats import (
    FLAG_COUNTS,
    concession_stats,
    overlap_groups,
    percent,
    site_measures,
    totals,
)

__all__ = ["Basis", "ConcessionCache", "UnionCache", "filtered", "kept_rows", "prepare"]

#: Pieces of overlap zones above which zones are rebuilt in two threads.
_THREADED_PIECES = 2000
#: Per-concession sums of the sites inside: the column of each site measure.
_SUMS = {"workers": "workers_in", **FLAG_COUNTS}


@dataclass(frozen=True)
class UnionCache:
    """The area of the union of any subset of some geometries, from groups measured once.

    Attributes
    ----------
    geoms : ndarray of geometries
        The geometries (None or empty for features without one).
    area : ndarray of float
        Each geometry's own area (ha).
    group : ndarray of int
        Label of each geometry's group of interior-overlapping geometries
        (:func:`geo.stats.overlap_groups`), -1 without a geometry.
    size : ndarray of int
        Members of each label.
    group_ha : ndarray of float
        Area (ha) of the union of each label's members (groups of two or more).
    """

    geoms: np.ndarray
    area: np.ndarray
    group: np.ndarray
    size: np.ndarray
    group_ha: np.ndarray

    @classmethod
    def of(cls, geoms: np.ndarray, area: np.ndarray) -> UnionCache:
        """Group ``geoms`` (own areas ``area``, ha) and measure each group's union once."""
        geoms = np.asarray(geoms, dtype=object)
        present = np.flatnonzero(shapely.is_geometry(geoms) & ~shapely.is_empty(geoms))
        group = np.full(len(geoms), -1, dtype=int)
        group_ha = np.zeros(len(geoms), dtype=float)
        if len(present):
            group[present] = present[overlap_groups(geoms[present])]
        size = np.bincount(group[present], minlength=len(geoms))
        members = present[size[group[present]] > 1]
        if len(members):
            labels, unions = union_per_group(geoms[members], group[members])
            group_ha[labels] = area_ha(unions)
        return cls(geoms, np.asarray(area, dtype=float), group, size, group_ha)

    def union_ha(
        self,
        kept: np.ndarray,
        changed: np.ndarray | None = None,
        changed_of: np.ndarray | None = None,
        changed_ha: np.ndarray | None = None,
    ) -> float:
        """Area (ha) of the union of the members ``kept`` (a mask) and of ``changed``.

        Parameters
        ----------
        kept : ndarray of bool
            The members kept as they are.
        changed : ndarray of geometries, optional
            New geometries, each a part of the member ``changed_of`` (whose ``kept`` is
            False): they can overlap only what that member overlaps.
        changed_of : ndarray of int, optional
            Position of the member each changed geometry replaces.
        changed_ha : ndarray of float, optional
            The changed geometries' own areas (ha), when known.
        """
        member = kept & (self.group >= 0)
        counts = np.bincount(self.group[member], minlength=len(self.size))
        whole = (counts == self.size) & (self.size > 0)
        new_geoms = np.zeros(0, dtype=object)
        new_labels = np.zeros(0, dtype=int)
        new_ha = np.zeros(0)
        if changed is not None and changed_of is not None and len(changed):
            new_geoms = np.asarray(changed, dtype=object)
            new_labels = self.group[changed_of]
            new_ha = (np.full(len(new_geoms), np.nan) if changed_ha is None
                      else np.asarray(changed_ha, dtype=float))
            whole[new_labels] = False
        alone = whole & (self.size == 1)
        total = float(self.area[member & alone[self.group]].sum())
        total += float(self.group_ha[whole & (self.size > 1)].sum())
        redo = member & ~whole[self.group]
        return total + _regrouped_ha(np.concatenate([self.geoms[redo], new_geoms]),
                                     np.concatenate([self.group[redo], new_labels]),
                                     np.concatenate([self.area[redo], new_ha]))


def _regrouped_ha(geoms: np.ndarray, labels: np.ndarray, areas: np.ndarray) -> float:
    """Area (ha) of the union of ``geoms`` whose groups of overlapping ones are ``labels``
    (their own areas ``areas``, NaN when unknown): a geometry alone in its group counts its
    own area, the others are merged group by group."""
    if not len(geoms):
        return 0.0
    alone = (np.bincount(labels)[labels] == 1) & np.isfinite(areas)
    total = float(areas[alone].sum())
    if (~alone).any():
        total += float(area_ha(union_per_group(geoms[~alone], labels[~alone])[1]).sum())
    return total


@dataclass(frozen=True)
class ConcessionCache:
    """What an analysis computes from the concessions alone, kept while only the sites
    change: a new site layer is analysed without measuring the concessions again.

    Attributes
    ----------
    index : geo.overlap.ConcessionIndex
        Areas, spatial index, projections.
    unions : UnionCache
        Union areas of the concessions.
    """

    index: ConcessionIndex
    unions: UnionCache

    @classmethod
    def of(cls, concessions: Layer) -> ConcessionCache:
        """Measure ``concessions`` (a validated layer)."""
        geoms = np.asarray(concessions.data.geometry.values, dtype=object)
        index = ConcessionIndex(geoms)
        return cls(index, UnionCache.of(geoms, index.area_ha))


@dataclass(frozen=True)
class Relations:
    """The whole analysis's relations between sites and titles, as arrays.

    Attributes
    ----------
    contact_site, contact_conc, contact_interior, contact_boundary : ndarray
        ``parts.contacts``: the site in the title's interior, or a point on its boundary.
    inside_site, inside_conc : ndarray
        The inside pairs.
    ring_site, ring_conc, ring_dist, ring_ring : ndarray
        The ring pairs (not inside), by site, then distance, then title: the first kept
        pair of a site is its nearest kept title within the rings.
    ring_touch : ndarray of bool
        Ring pairs that are boundary contacts: they become inside pairs when the title the
        point counted for is filtered out.
    nearest_conc, nearest_km : ndarray
        Per site, the nearest title (-1 for none) and its unrounded distance (0 inside).
    id_order : ndarray of int
        Rank of each title's ``conc_id`` in sorted order (the engine's ties).
    measures : dict of str to ndarray
        Per site, workers and red flags (:func:`geo.stats.site_measures`).
    id_columns : dict of str to ExtensionArray
        The site table's ``conc_id`` and ``near_id`` followed by every title's
        ``conc_id``: a filtered column is one ``take`` of it.
    """

    contact_site: np.ndarray
    contact_conc: np.ndarray
    contact_interior: np.ndarray
    contact_boundary: np.ndarray
    inside_site: np.ndarray
    inside_conc: np.ndarray
    ring_site: np.ndarray
    ring_conc: np.ndarray
    ring_dist: np.ndarray
    ring_ring: np.ndarray
    ring_touch: np.ndarray
    nearest_conc: np.ndarray
    nearest_km: np.ndarray
    id_order: np.ndarray
    measures: dict[str, np.ndarray]
    id_columns: dict[str, pd.api.extensions.ExtensionArray]

    @classmethod
    def of(cls, overlaps: Overlaps, parts: _Parts) -> Relations:
        """The relations of an analysis and of the parts the engine found on the way."""
        contacts, pairs = parts.contacts, overlaps.pairs
        inside = pairs["inside"].to_numpy(dtype=bool)
        column = {name: pairs[name].to_numpy() for name in PAIR_COLUMNS}
        c_site = contacts["site"].to_numpy(dtype=np.int64)
        c_conc = contacts["conc"].to_numpy(dtype=np.int64)
        boundary = contacts["boundary"].to_numpy(dtype=bool)
        r_site = column["site"][~inside].astype(np.int64)
        r_conc = column["conc"][~inside].astype(np.int64)
        r_dist = column["dist_km"][~inside].astype(float)
        order = np.lexsort((r_conc, r_dist, r_site))
        r_site, r_conc, r_dist = r_site[order], r_conc[order], r_dist[order]
        width = np.int64(max(len(parts.conc_ids), 1))
        touch = np.isin(r_site * width + r_conc, c_site[boundary] * width + c_conc[boundary])
        measures = site_measures(overlaps)
        return cls(
            c_site, c_conc, contacts["interior"].to_numpy(dtype=bool), boundary,
            column["site"][inside].astype(np.int64), column["conc"][inside].astype(np.int64),
            r_site, r_conc, r_dist, column["ring"][~inside].astype(np.int64)[order], touch,
            parts.nearest["conc"].to_numpy(dtype=np.int64),
            parts.nearest["dist_km"].to_numpy(dtype=float),
            np.argsort(np.argsort(np.asarray(parts.conc_ids, dtype=object), kind="stable")),
            {name: measures[name].to_numpy() for name in _SUMS},
            _id_columns(overlaps.sites, parts.conc_ids),
        )


def _id_columns(sites: pd.DataFrame,
                conc_ids: np.ndarray) -> dict[str, pd.api.extensions.ExtensionArray]:
    """The site table's title columns followed by every title's id, where they hold
    strings (a column of None stays as the engine leaves it)."""
    columns = {}
    for name in ("conc_id", "near_id"):
        column = sites[name]
        if isinstance(column.dtype, pd.StringDtype):
            ids = pd.array(np.asarray(conc_ids, dtype=object), dtype=column.dtype)
            columns[name] = type(column.array)._concat_same_type([column.array, ids])
    return columns


@dataclass(frozen=True)
class Basis:
    """The analysis of the whole layers and what filtered analyses are derived from.

    Attributes
    ----------
    analysis : Analysis
        The unfiltered analysis.
    parts : geo.overlap._Parts
        The per-pair relations found by the engine.
    concessions : ConcessionCache
        What was measured of the concessions alone.
    concession_unions, site_unions, zone_unions : UnionCache
        Union areas of the concessions, of the site footprints and of the overlap zones.
    zone_conc : ndarray of int
        Position of the concession of each overlap zone of ``analysis``.
    relations : Relations
        The analysis's relations as arrays.
    filter_index : geo.filters.FilterIndex
        The columns the filters read.
    neighbours : geo.nearest.NeighbourLists or None
        The titles around each site (None when the rings are too wide for them).
    """

    analysis: Analysis
    parts: _Parts
    concessions: ConcessionCache
    concession_unions: UnionCache
    site_unions: UnionCache
    zone_unions: UnionCache
    zone_conc: np.ndarray
    relations: Relations
    filter_index: FilterIndex
    neighbours: NeighbourLists | None


def prepare(
    concessions: Layer,
    sites: Layer,
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    known: ConcessionCache | None = None,
) -> Basis:
    """Analyse the whole layers (as :func:`geo.pipeline.analyse` without filters) and keep
    what :func:`filtered` needs.

    ``known`` is :meth:`ConcessionCache.of` these concessions, when kept from before.

    Raises
    ------
    GeoError
        As :func:`geo.pipeline.analyse`.
    """
    require_rows(len(concessions.data), len(sites.data))
    if known is None:
        known = ConcessionCache.of(concessions)
    overlaps, parts = _overlaps_and_parts(concessions.data, sites.data, rings_km=rings_km,
                                          radius_m=radius_m, known=known.index)
    concession_unions = known.unions
    site_unions = UnionCache.of(np.asarray(overlaps.footprints.values, dtype=object),
                                overlaps.sites["area_ha"].to_numpy(dtype=float))
    zone_unions = UnionCache.of(np.asarray(overlaps.zones.geometry.values, dtype=object),
                                overlaps.zones["area_ha"].to_numpy(dtype=float))
    everything = {
        "concession_ha": concession_unions.union_ha(np.ones(len(overlaps.concessions), bool)),
        "overlap_ha": zone_unions.union_ha(np.ones(len(overlaps.zones), bool)),
        "site_ha": site_unions.union_ha(np.ones(len(overlaps.sites), bool)),
    }
    analysis = Analysis(overlaps, concession_stats(overlaps),
                        totals(overlaps, union_areas=everything))
    return Basis(
        analysis, parts, known, concession_unions, site_unions, zone_unions,
        zone_conc=np.unique(parts.piece_conc),
        relations=Relations.of(overlaps, parts),
        filter_index=FilterIndex.of(overlaps.concessions, overlaps.sites),
        neighbours=NeighbourLists.of(known.index, parts.site_geoms, overlaps.rings_km[-1]),
    )


def kept_rows(basis: Basis, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the concessions and of the sites of ``basis`` that ``filters`` keep (in the
    whole analysis's order, which a filtered analysis keeps)."""
    return basis.filter_index.masks(filters)


# --- the filtered analysis ---------------------------------------------------------------------


class _Kept(NamedTuple):
    """The rows a filter keeps: masks, positions, and each kept row's new position."""

    conc: np.ndarray
    site: np.ndarray
    conc_pos: np.ndarray
    site_pos: np.ndarray
    conc_new: np.ndarray
    site_new: np.ndarray
    all_conc: bool
    all_sites: bool

    @classmethod
    def of(cls, conc: np.ndarray, site: np.ndarray) -> _Kept:
        return cls(conc, site, np.flatnonzero(conc), np.flatnonzero(site),
                   np.cumsum(conc) - 1, np.cumsum(site) - 1, bool(conc.all()),
                   bool(site.all()))


class _Pairs(NamedTuple):
    """Site-title pairs in the filtered analysis's numbering."""

    site: np.ndarray
    conc: np.ndarray
    dist: np.ndarray
    ring: np.ndarray

    @classmethod
    def inside(cls, site: np.ndarray, conc: np.ndarray) -> _Pairs:
        return cls(site, conc, np.zeros(len(site)), np.zeros(len(site), dtype=np.int64))


def filtered(basis: Basis, filters: Filters | None) -> Analysis:
    """The analysis of the layers with ``filters`` applied, derived from ``basis``.

    Raises
    ------
    GeometryError
        The filters leave no concession or no site (the message of
        :func:`geo.pipeline.analyse`).
    """
    if filters is None or not filters.active:
        return basis.analysis
    keep = _Kept.of(*kept_rows(basis, filters))
    require_rows(len(keep.conc_pos), len(keep.site_pos))
    if keep.all_conc and keep.all_sites:
        return basis.analysis
    whole = basis.analysis.overlaps
    # The titles and areas in a second thread while the relations (tables) are taken.
    (concessions, zones, zone_conc, union_areas), (inside, near, sites) = side_by_side(
        lambda: _areas_kept(basis, keep), lambda: _relations_kept(basis, keep))
    overlaps = Overlaps(
        concessions=concessions,
        sites=sites,
        zones=zones,
        pairs=_pairs_frame(inside, near),
        footprints=whole.footprints if keep.all_sites else gpd.GeoSeries(
            whole.footprints.values[keep.site], crs=whole.footprints.crs),
        rings_km=whole.rings_km,
        radius_m=whole.radius_m,
    )
    table = _concession_table(basis, keep, inside, near, zone_conc, zones)
    return Analysis(overlaps, table, totals(overlaps, union_areas=union_areas))


def _relations_kept(basis: Basis, keep: _Kept) -> tuple[_Pairs, _Pairs, pd.DataFrame]:
    """Inside pairs, ring pairs and site table of the kept rows."""
    inside, chosen = _inside_kept(basis, keep)
    near = _ring_pairs_kept(basis, keep, chosen)
    return inside, near, _site_table(basis, keep, inside, near)


def _areas_kept(basis: Basis, keep: _Kept) -> tuple[
        gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray, dict[str, float]]:
    """The kept concessions, the overlap zones of the kept rows, each zone's title (new
    position) and the union areas of the totals (ha)."""
    whole = basis.analysis.overlaps.concessions
    concessions = whole if keep.all_conc else whole[keep.conc]
    zones, zone_conc, overlap_ha = _zones_kept(basis, keep)
    union_areas = {
        "concession_ha": (_whole_ha(basis, "concession_ha") if keep.all_conc
                          else basis.concession_unions.union_ha(keep.conc)),
        "overlap_ha": overlap_ha,
        "site_ha": (_whole_ha(basis, "site_ha") if keep.all_sites
                    else basis.site_unions.union_ha(keep.site)),
    }
    return concessions, zones, zone_conc, union_areas


def _whole_ha(basis: Basis, name: str) -> float:
    """A union area (ha) of the whole analysis's totals."""
    return float(cast(float, basis.analysis.totals[name]))


def _inside_kept(basis: Basis, keep: _Kept) -> tuple[_Pairs, _Pairs]:
    """The inside pairs between kept rows, and of them those chosen again: points on a
    boundary whose title is gone count for the next title they touch."""
    rel = basis.relations
    kept = _both_kept(keep, rel.inside_site, rel.inside_conc)
    site, conc = rel.inside_site[kept], rel.inside_conc[kept]
    chosen = _Pairs.inside(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    if not keep.all_conc:
        chosen = _chosen_again(basis, keep, site)
    return _Pairs.inside(np.concatenate([keep.site_new[site], chosen.site]),
                         np.concatenate([keep.conc_new[conc], chosen.conc])), chosen


def _chosen_again(basis: Basis, keep: _Kept, still_inside: np.ndarray) -> _Pairs:
    """Inside pairs of the kept points on a kept boundary that are inside no kept title
    any more (numbered as the filtered analysis)."""
    rel = basis.relations
    inside = np.zeros(len(keep.site), dtype=bool)
    inside[still_inside] = True
    again = (rel.contact_boundary & keep.conc[rel.contact_conc] & keep.site[rel.contact_site]
             & ~inside[rel.contact_site])
    if not again.any():
        return _Pairs.inside(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    contacts = pd.DataFrame({"site": keep.site_new[rel.contact_site[again]],
                             "conc": keep.conc_new[rel.contact_conc[again]],
                             "interior": False, "boundary": True})
    parts = basis.parts
    picked = _choose_inside(contacts, parts.conc_rank[keep.conc_pos],
                            parts.conc_ids[keep.conc_pos])
    return _Pairs.inside(picked["site"].to_numpy(dtype=np.int64),
                         picked["conc"].to_numpy(dtype=np.int64))


def _ring_pairs_kept(basis: Basis, keep: _Kept, chosen: _Pairs) -> _Pairs:
    """The whole analysis's ring pairs between kept rows, renumbered, less the pairs that
    became inside pairs (points on a boundary whose title changed)."""
    rel = basis.relations
    kept = _both_kept(keep, rel.ring_site, rel.ring_conc)
    if len(chosen.site):
        width = np.int64(max(len(keep.conc_pos), 1))
        touch = np.flatnonzero(kept & rel.ring_touch)
        keys = (keep.site_new[rel.ring_site[touch]] * width
                + keep.conc_new[rel.ring_conc[touch]])
        kept[touch[np.isin(keys, chosen.site * width + chosen.conc)]] = False
    site = rel.ring_site[kept]
    conc = rel.ring_conc[kept]
    return _Pairs(site if keep.all_sites else keep.site_new[site],
                  conc if keep.all_conc else keep.conc_new[conc],
                  rel.ring_dist[kept], rel.ring_ring[kept])


def _both_kept(keep: _Kept, site: np.ndarray, conc: np.ndarray) -> np.ndarray:
    """Mask of the pairs whose site and title are kept."""
    if keep.all_sites:
        return keep.conc[conc]
    if keep.all_conc:
        return keep.site[site]
    return keep.site[site] & keep.conc[conc]


def _pairs_frame(inside: _Pairs, near: _Pairs) -> pd.DataFrame:
    """The pairs as :attr:`geo.overlap.Overlaps.pairs`: inside pairs, then ring pairs."""
    columns = {
        "site": np.concatenate([inside.site, near.site]).astype(np.int64, copy=False),
        "conc": np.concatenate([inside.conc, near.conc]).astype(np.int64, copy=False),
        "inside": np.repeat([True, False], [len(inside.site), len(near.site)]),
        "dist_km": np.concatenate([inside.dist, near.dist]).astype(float, copy=False),
        "ring": np.concatenate([inside.ring, near.ring]).astype(np.int64, copy=False),
    }
    return pd.DataFrame({name: columns[name] for name in PAIR_COLUMNS}, copy=False)


# --- per site ----------------------------------------------------------------------------------


def _site_table(basis: Basis, keep: _Kept, inside: _Pairs, near: _Pairs) -> pd.DataFrame:
    """The whole site table's kept rows; with concession filters, the columns that depend
    on the titles taken again for the sites whose titles changed."""
    whole = basis.analysis.overlaps.sites
    table = (whole.copy(deep=False) if keep.all_sites
             else whole.take(keep.site_pos).reset_index(drop=True))
    if keep.all_conc:
        return table
    changed = _changed_sites(basis, keep)
    if not len(changed):
        return table
    conc, km = _nearest_of(basis, keep, inside, near, changed)
    columns = _relations_of(basis, keep, inside, changed, conc, km)
    for name in ("tenure", "dist_km", "n_conc"):
        table[name] = _scattered(table[name], changed, columns[name])
    for name in ("conc_id", "near_id"):
        table[name] = _id_column(basis, keep, table[name], changed, columns[name])
    return table


def _changed_sites(basis: Basis, keep: _Kept) -> np.ndarray:
    """Kept sites (new positions) that touch a title filtered out, or whose nearest title
    is filtered out."""
    rel = basis.relations
    changed = np.zeros(len(keep.site), dtype=bool)
    changed[rel.contact_site[~keep.conc[rel.contact_conc]]] = True
    nearest = rel.nearest_conc
    changed[(nearest >= 0) & ~keep.conc[np.maximum(nearest, 0)]] = True
    return keep.site_new[np.flatnonzero(changed & keep.site)]


def _nearest_of(basis: Basis, keep: _Kept, inside: _Pairs, near: _Pairs,
                changed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per site of ``changed`` (new positions), the nearest kept title (new position) and
    its distance (km, unrounded; 0 inside), as :func:`geo.overlap._ring_pairs` finds it."""
    rel = basis.relations
    whole_site = keep.site_pos[changed]
    conc = rel.nearest_conc[whole_site]
    km = rel.nearest_km[whole_site].copy()
    found = (conc >= 0) & keep.conc[np.maximum(conc, 0)]
    conc = np.where(found, keep.conc_new[np.maximum(conc, 0)], -1)
    # Inside: an inside pair, at distance 0 (the engine's deciding title is kept apart).
    local = np.full(len(keep.site_pos), -1, dtype=np.int64)
    local[changed] = np.arange(len(changed))
    owner = local[inside.site]
    mine = owner >= 0
    conc[owner[mine]] = inside.conc[mine]
    km[owner[mine]] = 0.0
    lost = np.ones(len(changed), dtype=bool)
    lost[owner[mine]] = False
    lost &= ~found
    # Outside, nearest title filtered out: the nearest kept one within the rings, if any
    # (the ring pairs come by site, distance and title: the first of each site).
    owner = local[near.site]
    mine = np.flatnonzero((owner >= 0) & lost[np.maximum(owner, 0)])
    first = mine[np.r_[True, owner[mine][1:] != owner[mine][:-1]]] if len(mine) else mine
    conc[owner[first]], km[owner[first]] = near.conc[first], near.dist[first]
    lost[owner[first]] = False
    far = np.flatnonzero(lost)
    if len(far):
        conc[far], km[far] = _far_nearest(basis, keep, keep.site_pos[changed[far]])
    return conc, km


def _far_nearest(basis: Basis, keep: _Kept,
                 sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest kept title (new position) and km of sites (whole positions) with no kept
    title within the outer ring: from the neighbour lists, else searched again."""
    conc = np.full(len(sites), -1, dtype=np.int64)
    km = np.full(len(sites), np.nan)
    todo = np.arange(len(sites))
    index = basis.concessions.index
    rings = basis.analysis.overlaps.rings_km
    if basis.neighbours is not None:
        found = nearest_kept(basis.neighbours, index, sites, keep.conc, rings)
        ok = found.resolved
        conc[ok], km[ok] = keep.conc_new[found.conc[ok]], found.dist_km[ok]
        todo = np.flatnonzero(~ok)
    if len(todo):
        conc_geoms = index.geoms[keep.conc]
        nobody = pd.DataFrame({column: pd.Series(dtype=int) for column in ("site", "conc")})
        _near, searched = _ring_pairs(conc_geoms, basis.parts.site_geoms[sites[todo]], nobody,
                                      rings, index.part(keep.conc))
        conc[todo] = searched["conc"].to_numpy(dtype=np.int64)
        km[todo] = searched["dist_km"].to_numpy(dtype=float)
    return conc, km


def _relations_of(basis: Basis, keep: _Kept, inside: _Pairs, changed: np.ndarray,
                  conc: np.ndarray, km: np.ndarray) -> dict[str, np.ndarray]:
    """The columns of :func:`geo.overlap._relations` for the sites ``changed``: tenure
    codes, deciding title and nearest title (new positions, -1 for none), distance and
    titles inside."""
    local = np.full(len(keep.site_pos), -1, dtype=np.int64)
    local[changed] = np.arange(len(changed))
    owner = local[inside.site]
    mine = owner >= 0
    owner, title = owner[mine], inside.conc[mine]
    rank = basis.parts.conc_rank[keep.conc_pos][title]
    order = np.lexsort((basis.relations.id_order[keep.conc_pos][title], rank, owner))
    best = order[np.r_[True, owner[order][1:] != owner[order][:-1]]] if len(order) else order
    tenure = np.full(len(changed), TENURE_CLASSES.index("unlicensed"), dtype=np.int64)
    tenure[owner[best]] = _TENURE_CODE[rank[best]]
    deciding = np.full(len(changed), -1, dtype=np.int64)
    deciding[owner[best]] = title[best]
    return {
        "tenure": tenure,
        "conc_id": deciding,
        "dist_km": np.round(km, 4),
        "n_conc": np.bincount(owner, minlength=len(changed)).astype(np.int64),
        "near_id": np.where(deciding >= 0, deciding, conc),
    }


#: Code in :data:`geo.schema.TENURE_CLASSES` of the tenure of each licence type rank.
_TENURE_CODE = np.array([TENURE_CLASSES.index(_TENURE_OF_LIC[lic]) for lic in LIC_TYPES])


def _scattered(column: pd.Series, rows: np.ndarray, values: np.ndarray) -> pd.Series:
    """``column`` with ``values`` at the positions ``rows`` (tenure as category codes)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().copy()
        codes[rows] = values
        return pd.Series(pd.Categorical.from_codes(codes, dtype=column.dtype),
                         index=column.index, name=column.name)
    out = column.to_numpy().copy()
    out[rows] = values
    return pd.Series(out, index=column.index, name=column.name)


def _id_column(basis: Basis, keep: _Kept, column: pd.Series, rows: np.ndarray,
               titles: np.ndarray) -> pd.Series:
    """A title column (``conc_id``, ``near_id``) of the kept sites with the titles
    ``titles`` (new positions, -1 for none) at the positions ``rows``."""
    everything = basis.relations.id_columns.get(str(column.name))
    if everything is None:  # no title at all in the whole analysis's column
        ids = np.asarray(basis.parts.conc_ids, dtype=object)[keep.conc_pos]
        values = np.where(titles >= 0, ids[np.maximum(titles, 0)], None)
        out = column.to_numpy(dtype=object).copy()
        out[rows] = values
        result = pd.Series(out, index=column.index, name=column.name)
    else:
        n = len(basis.analysis.overlaps.sites)
        index = keep.site_pos.copy()
        index[rows] = np.where(titles >= 0, n + keep.conc_pos[np.maximum(titles, 0)], -1)
        result = pd.Series(everything.take(index, allow_fill=True), index=column.index,
                           name=column.name)
    if result.notna().any():
        return result
    # All missing: the engine's column of None infers no string type.
    return pd.Series(np.full(len(result), None, dtype=object), index=column.index,
                     name=column.name)


# --- zones, per concession, totals -------------------------------------------------------------


def _zones_kept(basis: Basis,
                keep: _Kept) -> tuple[gpd.GeoDataFrame, np.ndarray, float]:
    """The overlap zones of the kept rows, each zone's title (new position) and the area
    (ha) of their union."""
    whole = basis.analysis.overlaps
    zone_conc = basis.zone_conc
    if keep.all_sites:  # every piece of a kept title is kept
        same = keep.conc[zone_conc]
        zones = whole.zones if same.all() else whole.zones[same].reset_index(drop=True)
        area = (_whole_ha(basis, "overlap_ha") if same.all()
                else basis.zone_unions.union_ha(same))
        return zones, keep.conc_new[zone_conc[same]], area
    parts = basis.parts
    piece_conc, piece_site = parts.piece_conc, parts.piece_site
    kept = keep.conc[piece_conc] & keep.site[piece_site]
    n = len(keep.conc)
    all_pieces = np.bincount(piece_conc, minlength=n)
    kept_pieces = np.bincount(piece_conc[kept], minlength=n)
    same = keep.conc[zone_conc] & (kept_pieces[zone_conc] == all_pieces[zone_conc])
    redo = kept & (kept_pieces[piece_conc] < all_pieces[piece_conc])
    rebuilt, rebuilt_conc = _zones_rebuilt(whole.concessions, piece_conc[redo],
                                           parts.pieces[redo])
    zone_row = np.full(n, -1, dtype=int)
    zone_row[zone_conc] = np.arange(len(zone_conc))
    area = basis.zone_unions.union_ha(
        same, np.asarray(rebuilt.geometry.values, dtype=object), zone_row[rebuilt_conc],
        rebuilt["area_ha"].to_numpy(dtype=float))
    frames = [(whole.zones[same], zone_conc[same]), (rebuilt, rebuilt_conc)]
    frames = [(frame, order) for frame, order in frames if len(frame)]
    if not frames:
        return whole.zones.iloc[:0].reset_index(drop=True), np.zeros(0, dtype=int), area
    zones = pd.concat([frame for frame, _order in frames], ignore_index=True)
    conc = np.concatenate([order for _frame, order in frames])
    order = np.argsort(conc, kind="stable")
    return zones.iloc[order].reset_index(drop=True), keep.conc_new[conc[order]], area


def _zones_rebuilt(concessions: gpd.GeoDataFrame, piece_conc: np.ndarray,
                   pieces: np.ndarray) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """:func:`geo.overlap._zones_of` the pieces, and each zone's title: the titles split
    between threads when there are many pieces (each zone depends on its own alone)."""
    titles = np.unique(piece_conc)
    chunks = [titles] if len(pieces) < _THREADED_PIECES else np.array_split(titles, 2)
    parts = map_in_threads(
        lambda chunk: _zones_of(concessions, piece_conc[np.isin(piece_conc, chunk)],
                                pieces[np.isin(piece_conc, chunk)]), chunks)
    parts = [part for part in parts if len(part)]
    if len(parts) <= 1:
        return (parts[0] if parts else _zones_of(concessions, piece_conc, pieces)), titles
    return pd.concat(parts, ignore_index=True), titles


def _concession_table(basis: Basis, keep: _Kept, inside: _Pairs, near: _Pairs,
                      zone_conc: np.ndarray, zones: gpd.GeoDataFrame) -> pd.DataFrame:
    """:func:`geo.stats.concession_stats` of the filtered analysis: the whole table's rows
    of the kept titles, with overlaps, counts and sums taken again."""
    whole = basis.analysis.concession_table
    n = len(keep.conc_pos)
    area = whole["area_ha"].to_numpy(dtype=float)
    overlap = np.zeros(n)
    np.add.at(overlap, zone_conc, zones["area_ha"].to_numpy(dtype=float))
    names = ring_columns(len(basis.analysis.overlaps.rings_km))
    width = len(names) + 1
    cells = np.concatenate([inside.conc * width + inside.ring, near.conc * width + near.ring])
    counts = np.bincount(cells, minlength=n * width).reshape(n, width)
    taken = {
        "overlap_ha": overlap,
        "overlap_pct": percent(overlap, area if keep.all_conc else area[keep.conc_pos]),
        "sites_in": counts[:, 0],
        **{name: counts[:, k] for k, name in enumerate(names, start=1)},
    }
    measures = basis.relations.measures
    for measure, column in _SUMS.items():
        values = measures[measure][keep.site_pos[inside.site]]
        taken[column] = np.bincount(inside.conc, weights=values, minlength=n).astype(int)
    same = whole[[column for column in whole.columns if column not in taken]]
    if not keep.all_conc:
        same = same.take(keep.conc_pos).reset_index(drop=True)
    table = pd.concat([same, pd.DataFrame(taken, index=same.index)], axis=1)
    return table[list(whole.columns)]
