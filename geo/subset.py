"""Filtered analyses derived from the analysis of the whole layers, without the engine.

A filter change must not recompute the overlaps of a national cadastre. Every relation the
engine finds between one site and one concession depends on those two geometries alone
(the contacts of :func:`geo.overlap._contact_pairs`, the zone pieces of
:func:`geo.overlap._zone_pieces`, the ring pairs and their geodesic distances), so the
analysis of a subset of either layer is assembled from the whole one's relations with the
engine's own selection steps:

* inside pairs: the engine's choice (:func:`geo.overlap._choose_inside`) made again on the
  contacts kept (a point on the boundary of two titles may change title);
* ring pairs: the whole analysis's, less those that became inside pairs;
* tenure, deciding title, nearest title and distance (:func:`geo.overlap._relations`):
  unchanged when only sites are filtered; with concession filters, the nearest title kept is
  the whole analysis's when it is kept, else the nearest in the ring pairs, and only the
  sites with no title kept within the outer ring are searched again
  (:func:`geo.overlap._ring_pairs`);
* overlap zones: a title's zone is reused when all its pieces are kept, rebuilt from the
  pieces kept (:func:`geo.overlap._zones_of`) when some are, dropped when none are;
* union areas of the totals: the groups of overlapping features of the whole layers are
  merged and measured once (:class:`UnionCache`); a filtered total adds the groups kept whole
  and merges again only the groups that lost members.

The result is :func:`geo.pipeline.analyse` with the same filters (``tests/test_subset.py``
compares both, table by table): counts, per-site and per-concession numbers and zone
geometries exactly, union areas up to the order of floating-point sums. One reach differs:
above 5,000 kept titles the engine looks for the nearest title of a site far from all of
them among the titles within a degree of its UTM zone's sites; searched again here, that
window holds only the sites searched again. Both find the same title unless the nearest
kept title is over about 100 km away.

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

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.filters import Filters, filter_concessions, filter_sites
from geo.measure import area_ha
from geo.overlap import (
    DEFAULT_RINGS_KM,
    PAIR_COLUMNS,
    ConcessionIndex,
    Overlaps,
    _choose_inside,
    _overlaps_and_parts,
    _Parts,
    _relations,
    _ring_pairs,
    _zones_of,
)
from geo.pipeline import Analysis, Layer, require_rows
from geo.stats import concession_stats, overlap_groups, totals, union_ha

__all__ = ["Basis", "ConcessionCache", "UnionCache", "filtered", "kept_rows", "prepare"]


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
        several = np.flatnonzero(size[group[present]] > 1)
        if len(several):
            members = present[several]
            frame = gpd.GeoDataFrame({"group": group[members]},
                                     geometry=list(geoms[members]), crs=4326)
            merged = frame.dissolve(by="group")
            group_ha[merged.index.to_numpy()] = area_ha(merged.geometry.values)
        return cls(geoms, np.asarray(area, dtype=float), group, size, group_ha)

    def union_ha(
        self,
        kept: np.ndarray,
        changed: np.ndarray | None = None,
        changed_of: np.ndarray | None = None,
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
        """
        has = self.group >= 0
        whole = np.bincount(self.group[kept & has], minlength=len(self.size)) == self.size
        touched = np.zeros(len(self.size), dtype=bool)
        if changed is not None and changed_of is not None and len(changed):
            touched[self.group[changed_of]] = True
        whole &= ~touched & (self.size > 0)
        member = kept & has
        alone = member & (self.size[self.group] == 1) & ~touched[self.group]
        grouped = whole & (self.size > 1)
        redo = member & ~alone & ~whole[self.group]
        total = float(self.area[alone].sum()) + float(self.group_ha[grouped].sum())
        again = [self.geoms[redo]]
        if changed is not None and len(changed):
            again.append(np.asarray(changed, dtype=object))
        rest = np.concatenate(again)
        return total + (union_ha(rest) if len(rest) else 0.0)


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
    contact_site, contact_conc, contact_interior, contact_boundary : ndarray
        ``parts.contacts`` as arrays.
    ring_site, ring_conc, ring_dist, ring_ring : ndarray
        The ring pairs of ``analysis`` (not inside) as arrays.
    """

    analysis: Analysis
    parts: _Parts
    concessions: ConcessionCache
    concession_unions: UnionCache
    site_unions: UnionCache
    zone_unions: UnionCache
    zone_conc: np.ndarray
    contact_site: np.ndarray
    contact_conc: np.ndarray
    contact_interior: np.ndarray
    contact_boundary: np.ndarray
    ring_site: np.ndarray
    ring_conc: np.ndarray
    ring_dist: np.ndarray
    ring_ring: np.ndarray


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
    contacts = parts.contacts
    ring = overlaps.pairs[~overlaps.pairs["inside"].to_numpy(dtype=bool)]
    return Basis(
        analysis, parts, known, concession_unions, site_unions, zone_unions,
        zone_conc=np.unique(parts.piece_conc),
        contact_site=contacts["site"].to_numpy(dtype=np.int64),
        contact_conc=contacts["conc"].to_numpy(dtype=np.int64),
        contact_interior=contacts["interior"].to_numpy(dtype=bool),
        contact_boundary=contacts["boundary"].to_numpy(dtype=bool),
        ring_site=ring["site"].to_numpy(dtype=np.int64),
        ring_conc=ring["conc"].to_numpy(dtype=np.int64),
        ring_dist=ring["dist_km"].to_numpy(dtype=float),
        ring_ring=ring["ring"].to_numpy(dtype=np.int64),
    )


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
    whole = basis.analysis.overlaps
    conc_keep, site_keep = kept_rows(basis, filters)
    require_rows(int(conc_keep.sum()), int(site_keep.sum()))
    conc_new = np.cumsum(conc_keep) - 1
    site_new = np.cumsum(site_keep) - 1
    conc_pos = np.flatnonzero(conc_keep)
    parts = basis.parts

    site, conc = basis.contact_site, basis.contact_conc
    kept = conc_keep[conc] & site_keep[site]
    contacts = pd.DataFrame({"site": site_new[site[kept]], "conc": conc_new[conc[kept]],
                             "interior": basis.contact_interior[kept],
                             "boundary": basis.contact_boundary[kept]})
    inside = _choose_inside(contacts, parts.conc_rank[conc_pos], parts.conc_ids[conc_pos])
    near = _ring_pairs_kept(basis, inside, conc_keep, site_keep, conc_new, site_new)
    pairs = pd.concat([inside, near], ignore_index=True)[list(PAIR_COLUMNS)]

    site_table = whole.sites[site_keep].reset_index(drop=True)
    if not conc_keep.all():
        nearest = _nearest_kept(basis, inside, near, conc_keep, site_keep, conc_new)
        relations = _relations(len(site_table), inside, parts.conc_rank[conc_pos],
                               parts.conc_ids[conc_pos], nearest)
        for column in relations.columns:
            site_table[column] = relations[column]

    zones, zone_areas = _zones_kept(basis, conc_keep, site_keep)
    overlaps = Overlaps(
        concessions=whole.concessions[conc_keep],
        sites=site_table,
        zones=zones,
        pairs=pairs,
        footprints=gpd.GeoSeries(whole.footprints.values[site_keep], crs=whole.footprints.crs),
        rings_km=whole.rings_km,
        radius_m=whole.radius_m,
    )
    union_areas = {
        "concession_ha": basis.concession_unions.union_ha(conc_keep),
        "overlap_ha": zone_areas,
        "site_ha": basis.site_unions.union_ha(site_keep),
    }
    return Analysis(overlaps, concession_stats(overlaps),
                    totals(overlaps, union_areas=union_areas))


def kept_rows(basis: Basis, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the concessions and of the sites of ``basis`` that ``filters`` keep (in the
    whole analysis's order, which a filtered analysis keeps)."""
    whole = basis.analysis.overlaps
    conc_keep = _kept(filter_concessions(whole.concessions.reset_index(drop=True), filters),
                      len(whole.concessions))
    return conc_keep, _kept(filter_sites(whole.sites, filters), len(whole.sites))


def _kept(rows: pd.DataFrame, n: int) -> np.ndarray:
    """Mask of the positions (index of a frame with a fresh index) that ``rows`` kept."""
    keep = np.zeros(n, dtype=bool)
    keep[rows.index.to_numpy(dtype=int)] = True
    return keep


def _ring_pairs_kept(
    basis: Basis,
    inside: pd.DataFrame,
    conc_keep: np.ndarray,
    site_keep: np.ndarray,
    conc_new: np.ndarray,
    site_new: np.ndarray,
) -> pd.DataFrame:
    """The whole analysis's ring pairs between kept rows, renumbered, less the pairs that
    are inside pairs of the subset (points on a boundary whose title changed)."""
    site, conc = basis.ring_site, basis.ring_conc
    keep = site_keep[site] & conc_keep[conc]
    site, conc = site_new[site[keep]], conc_new[conc[keep]]
    width = np.int64(max(int(conc_keep.sum()), 1))
    became_inside = np.isin(
        site * width + conc,
        inside["site"].to_numpy(dtype=np.int64) * width + inside["conc"].to_numpy(dtype=np.int64),
    )
    stays = ~became_inside
    return pd.DataFrame({
        "site": site[stays], "conc": conc[stays], "inside": False,
        "dist_km": basis.ring_dist[keep][stays], "ring": basis.ring_ring[keep][stays],
    })


def _nearest_kept(
    basis: Basis,
    inside: pd.DataFrame,
    near: pd.DataFrame,
    conc_keep: np.ndarray,
    site_keep: np.ndarray,
    conc_new: np.ndarray,
) -> pd.DataFrame:
    """Per kept site, the nearest kept concession (position among those kept) and its
    distance (km, unrounded; 0 inside), as :func:`geo.overlap._ring_pairs` finds it."""
    whole = basis.parts.nearest.iloc[np.flatnonzero(site_keep)].reset_index(drop=True)
    conc = whole["conc"].to_numpy(dtype=int)
    dist = whole["dist_km"].to_numpy(dtype=float).copy()
    found = (conc >= 0) & conc_keep[np.maximum(conc, 0)]
    new_conc = np.where(found, conc_new[np.maximum(conc, 0)], -1)
    # Inside: the first inside pair, at distance 0 (as the engine sets them).
    first = inside.drop_duplicates("site")
    is_inside = np.zeros(len(whole), dtype=bool)
    is_inside[first["site"].to_numpy(dtype=int)] = True
    new_conc[first["site"].to_numpy(dtype=int)] = first["conc"].to_numpy(dtype=int)
    dist[is_inside] = 0.0
    # Outside, nearest title dropped: the nearest kept one within the rings, if any.
    lost = np.flatnonzero(~is_inside & ~found)
    candidates = near[near["site"].isin(lost)]
    # As the engine: the nearest, and of equidistant ones the first in the layer.
    closest = candidates.sort_values(["dist_km", "conc"]).drop_duplicates("site")
    rows = closest["site"].to_numpy(dtype=int)
    new_conc[rows] = closest["conc"].to_numpy(dtype=int)
    dist[rows] = closest["dist_km"].to_numpy(dtype=float)
    # None within the rings: search the kept titles again, as the engine does.
    far = np.setdiff1d(lost, rows)
    if len(far):
        conc_geoms = np.asarray(basis.analysis.overlaps.concessions.geometry.values,
                                dtype=object)[conc_keep]
        site_geoms = basis.parts.site_geoms[np.flatnonzero(site_keep)[far]]
        nobody = pd.DataFrame({column: pd.Series(dtype=int) for column in ("site", "conc")})
        _near, searched = _ring_pairs(conc_geoms, site_geoms, nobody,
                                      basis.analysis.overlaps.rings_km,
                                      basis.concessions.index.part(conc_keep))
        new_conc[far] = searched["conc"].to_numpy(dtype=int)
        dist[far] = searched["dist_km"].to_numpy(dtype=float)
    return pd.DataFrame({"conc": new_conc, "dist_km": dist})


def _zones_kept(
    basis: Basis, conc_keep: np.ndarray, site_keep: np.ndarray
) -> tuple[gpd.GeoDataFrame, float]:
    """The overlap zones of the kept rows and the area (ha) of their union."""
    whole = basis.analysis.overlaps
    parts = basis.parts
    piece_conc, piece_site = parts.piece_conc, parts.piece_site
    kept = conc_keep[piece_conc] & site_keep[piece_site]
    n = len(whole.concessions)
    all_pieces = np.bincount(piece_conc, minlength=n)
    kept_pieces = np.bincount(piece_conc[kept], minlength=n)
    zone_conc = basis.zone_conc
    same = conc_keep[zone_conc] & (kept_pieces[zone_conc] == all_pieces[zone_conc])
    redo = kept & (kept_pieces[piece_conc] < all_pieces[piece_conc])
    rebuilt = _zones_of(whole.concessions, piece_conc[redo], parts.pieces[redo])
    rebuilt_conc = np.unique(piece_conc[redo])
    zone_row = np.full(n, -1, dtype=int)
    zone_row[zone_conc] = np.arange(len(zone_conc))
    area = basis.zone_unions.union_ha(
        same, np.asarray(rebuilt.geometry.values, dtype=object), zone_row[rebuilt_conc])
    frames = [(whole.zones[same], zone_conc[same]), (rebuilt, rebuilt_conc)]
    frames = [(frame, order) for frame, order in frames if len(frame)]
    if not frames:
        return whole.zones.iloc[:0].reset_index(drop=True), area
    if len(frames) == 1:
        return frames[0][0].reset_index(drop=True), area
    zones = pd.concat([frame for frame, _order in frames], ignore_index=True)
    order = np.argsort(np.concatenate([order for _frame, order in frames]), kind="stable")
    return zones.iloc[order].reset_index(drop=True), area
