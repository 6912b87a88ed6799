"""The nearest title kept by a filter on the concessions, without a nearest-neighbour search.

A filter on the concessions takes away the nearest title of many sites: those with no title
kept within the outer ring need the nearest kept one, as the engine finds it
(:func:`geo.overlap._zone_ring_pairs`, in the site's UTM zone):

* a kept title whose bounding box meets the site's, grown by the outer ring and its search
  margin, and within that margin geodesically: the geodesically nearest of those;
* otherwise the titles nearest in the plane of the zone (all of them when several are at
  the same distance), and of those the geodesically nearest, then the first in the layer.

The engine's search (``STRtree.query_nearest``) costs tens of microseconds a site. Instead,
:meth:`NeighbourLists.of` lists once, for every site of the whole layers, every title whose
bounding box lies within :data:`REACH_M` of the site's in the plane of its UTM zone, with
the distance between the two boxes: a lower bound of theirs. A filter then measures, of a
site's kept titles, only the one whose box is nearest and those whose box is nearer than
that one is (:func:`nearest_kept`): a site whose nearest kept title is closer than the
reach has it in its list, and every title outside the list is farther. The few sites with
no kept title within the reach are searched among the kept titles in boxes of longitude and
latitude that grow until one is found (up to 100 km); beyond that they are left to the
engine's search.

The result is the engine's: the same planar distances (GEOS, site first), the same boxes and
the same geodesic distances (:func:`geo.measure.nearest_points_km`) of the same projected
geometries.

Examples
--------
>>> from shapely import box
>>> from geo.overlap import ConcessionIndex
>>> titles = np.array([box(0.0, 0.0, 0.01, 0.01), box(0.1, 0.0, 0.11, 0.01)], dtype=object)
>>> sites = np.array([box(0.02, 0.0, 0.021, 0.001)], dtype=object)
>>> lists = NeighbourLists.of(ConcessionIndex(titles), sites, 1.0)
>>> found = nearest_kept(lists, ConcessionIndex(titles), np.array([0]),
...                      np.array([False, True]), (1.0,))
>>> int(found.conc[0]), round(float(found.dist_km[0]), 1), bool(found.resolved[0])
(1, 8.8, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import shapely

from geo.measure import nearest_points_km, to_crs, utm_groups
from geo.overlap import _SEARCH_MARGIN, ConcessionIndex
from geo.parallel import map_in_threads

__all__ = ["REACH_M", "Found", "NeighbourLists", "nearest_kept"]

#: How far (m, in the plane of a site's UTM zone) a site's list of titles reaches.
REACH_M = 20_000.0
#: Lists are made only when the outer ring's search box stays well inside the reach.
_MAX_BOX_SHARE = 0.75
#: Sites with no kept title within the reach are searched up to this far (m, planar); the
#: others are left to the engine's search.
_FARTHEST_M = 100_000.0
#: Largest scale of a UTM zone's plane near its sites, with room to spare.
_SCALE_SLACK = 1.01
#: Margin of the boxes in degrees over the least length of a degree.
_DEGREE_SLACK = 1.01
#: Lower bounds are stored rounded down by this share (float32 and rounding of the gaps).
_SLACK = 1e-6


@dataclass(frozen=True)
class ZoneLists:
    """The lists of the sites of one UTM zone.

    Attributes
    ----------
    epsg : int
    rows : ndarray of int
        Positions of the zone's sites in the layer, increasing.
    local : ndarray of geometries
        Those sites in the zone's projection, as the engine projects them.
    offsets : ndarray of int64
        The entries of the site ``rows[i]`` are ``offsets[i]:offsets[i + 1]``.
    conc : ndarray of int32
        Title (position in the layer) of each entry.
    gap : ndarray of float32
        Lower bound (m) of the planar distance of the entry's title to the site.
    in_box : ndarray of bool
        The title's bounding box meets the site's grown by the outer ring's search box, as
        the engine's candidate query.
    """

    epsg: int
    rows: np.ndarray
    local: np.ndarray
    offsets: np.ndarray
    conc: np.ndarray
    gap: np.ndarray
    in_box: np.ndarray


@dataclass(frozen=True)
class NeighbourLists:
    """Per site, the titles within :data:`REACH_M` of it (see the module's description):
    about 30 a site at national density, 30 MB for 100,000 sites.

    Attributes
    ----------
    zones : list of ZoneLists
    zone_of : ndarray of int
        Per site, its entry in ``zones``.
    row_of : ndarray of int
        Per site, its position in its zone's ``rows``.
    lonlat : ndarray of float, shape (n, 4)
        Per site, its bounding box in longitude and latitude.
    reach : float
        Every title outside a site's list is farther than this (m, planar).
    """

    zones: list[ZoneLists]
    zone_of: np.ndarray
    row_of: np.ndarray
    lonlat: np.ndarray
    reach: float

    @classmethod
    def of(cls, index: ConcessionIndex, site_geoms: np.ndarray,
           outer_km: float) -> NeighbourLists | None:
        """The lists of ``site_geoms`` among the titles of ``index``, for rings whose outer
        edge is ``outer_km``; None when that ring is too wide for the reach."""
        box_m = outer_km * 1000.0 * _SEARCH_MARGIN
        if box_m > REACH_M * _MAX_BOX_SHARE or len(site_geoms) == 0:
            return None
        zones = map_in_threads(lambda group: _zone_lists(index, site_geoms, group, box_m),
                               list(utm_groups(site_geoms)))
        zone_of = np.zeros(len(site_geoms), dtype=np.int64)
        row_of = np.zeros(len(site_geoms), dtype=np.int64)
        for position, zone in enumerate(zones):
            zone_of[zone.rows] = position
            row_of[zone.rows] = np.arange(len(zone.rows))
        return cls(zones, zone_of, row_of, shapely.bounds(site_geoms), REACH_M)


def _zone_lists(index: ConcessionIndex, site_geoms: np.ndarray,
                group: tuple[int, np.ndarray], box_m: float) -> ZoneLists:
    """The lists of the sites ``group = (epsg, rows)`` of one UTM zone."""
    epsg, rows = group
    local = to_crs(site_geoms[rows], epsg)
    near = _window(index, site_geoms[rows])
    local_titles = index.projected(epsg, near)
    site_box, title_box = shapely.bounds(local), shapely.bounds(local_titles)
    s, c = shapely.STRtree(local_titles).query(_grown(site_box, REACH_M))
    if len(s) and (np.diff(s) < 0).any():  # the query gives them by site; in case not
        order = np.argsort(s, kind="stable")
        s, c = s[order], c[order]
    site = [np.ascontiguousarray(site_box[:, k])[s] for k in range(4)]
    title = [np.ascontiguousarray(title_box[:, k])[c] for k in range(4)]
    gap = np.hypot(_side_gap(site[0], site[2], title[0], title[2]),
                   _side_gap(site[1], site[3], title[1], title[3]))
    # The engine's search box: the site's box grown by the margin, as _grown_boxes does.
    in_box = ((title[0] <= site[2] + box_m) & (title[2] >= site[0] - box_m)
              & (title[1] <= site[3] + box_m) & (title[3] >= site[1] - box_m))
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(np.bincount(s, minlength=len(rows)))
    # Rounded down: float32 keeps 7 digits, far finer than the slack.
    stored = (gap * (1.0 - _SLACK)).astype(np.float32)
    return ZoneLists(epsg, rows, local, offsets, near[c].astype(np.int32), stored, in_box)


def _side_gap(low: np.ndarray, high: np.ndarray, other_low: np.ndarray,
              other_high: np.ndarray) -> np.ndarray:
    """Gap between intervals along one axis (0 when they meet)."""
    return np.maximum(np.maximum(other_low - high, low - other_high), 0.0)


def _window(index: ConcessionIndex, lonlat_sites: np.ndarray) -> np.ndarray:
    """Titles near the zone's sites (degrees around their extent, generous below 80 degrees
    of latitude), as the engine's window: every title within the reach is in it."""
    pad = REACH_M / 1000.0 / 100.0 + 1.0
    minx, miny, maxx, maxy = shapely.total_bounds(lonlat_sites)
    return index.tree.query(shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad))


def _grown(bounds: np.ndarray, margin: float) -> np.ndarray:
    """Boxes around ``bounds`` grown by ``margin`` on every side."""
    return shapely.box(bounds[:, 0] - margin, bounds[:, 1] - margin, bounds[:, 2] + margin,
                       bounds[:, 3] + margin)


@dataclass(frozen=True)
class Found:
    """Per site asked about: the nearest kept title (``conc``, position in the layer),
    its distance (``dist_km``, unrounded), and whether the lists decided it
    (``resolved``; else the engine's search must)."""

    conc: np.ndarray
    dist_km: np.ndarray
    resolved: np.ndarray


def nearest_kept(lists: NeighbourLists, index: ConcessionIndex, sites: np.ndarray,
                 conc_keep: np.ndarray, rings: tuple[float, ...]) -> Found:
    """The nearest title kept (``conc_keep``, a mask of the layer) of each of ``sites``
    (positions in the layer), for sites with no kept title within the outer ring of
    ``rings`` and inside none (see the module's description)."""
    conc = np.full(len(sites), -1, dtype=np.int64)
    dist = np.full(len(sites), np.nan)
    resolved = np.zeros(len(sites), dtype=bool)
    zone = lists.zone_of[sites]
    groups = [(z, np.flatnonzero(zone == z)) for z in np.unique(zone)]

    def one(group: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z, asked = group
        return _zone_nearest(lists.zones[z], index, lists.row_of[sites[asked]], conc_keep,
                             rings, lists.reach)

    for (_z, asked), (c, km, ok) in zip(groups, map_in_threads(one, groups), strict=True):
        conc[asked], dist[asked], resolved[asked] = c, km, ok
    rest = np.flatnonzero(~resolved)
    if len(rest):
        found = _beyond(lists, index, sites[rest], conc_keep)
        conc[rest], dist[rest], resolved[rest] = found.conc, found.dist_km, found.resolved
    return Found(conc, dist, resolved)


def _zone_nearest(zone: ZoneLists, index: ConcessionIndex, rows: np.ndarray,
                  conc_keep: np.ndarray, rings: tuple[float, ...],
                  reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`nearest_kept` for the sites at ``rows`` of one zone's lists."""
    owner, entry = _entries(zone.offsets, rows)
    kept = conc_keep[zone.conc[entry]]
    asked = _Asked(zone, index, rows, owner[kept], entry[kept])
    conc = np.full(len(rows), -1, dtype=np.int64)
    km = np.full(len(rows), np.nan)
    (tied, least, certain) = _planar_nearest(asked, len(rows), reach)
    conc, km = _pick(conc, km, *tied)
    # A kept title within the outer ring's margin geodesically decides instead: only
    # possible for a site whose nearest kept title is that near in the plane.
    margin = least <= rings[-1] * _SEARCH_MARGIN * 1000.0 * _SCALE_SLACK
    boxed = _within_search_box(asked.part(margin[asked.owner]), rings)
    conc, km = _pick(conc, km, *boxed)
    return conc, km, certain | np.isin(np.arange(len(rows)), boxed[0])


class _Asked(NamedTuple):
    """Kept list entries of some sites of one zone: ``owner`` is the position of the entry's
    site in ``rows`` (positions in the zone's lists)."""

    zone: ZoneLists
    titles: ConcessionIndex
    rows: np.ndarray
    owner: np.ndarray
    entry: np.ndarray

    def part(self, which: np.ndarray) -> _Asked:
        """The entries ``which`` (a mask or positions)."""
        return self._replace(owner=self.owner[which], entry=self.entry[which])

    def title(self) -> np.ndarray:
        """Each entry's title (position in the layer)."""
        return self.zone.conc[self.entry].astype(np.int64)

    def planar(self) -> np.ndarray:
        """Planar distance (m) of each entry's site and title, as the engine's nearest
        search measures it (GEOS, the site first)."""
        titles = self.titles.projected(self.zone.epsg, self.title())
        return shapely.distance(self.zone.local[self.rows[self.owner]], titles)

    def km(self) -> np.ndarray:
        """Geodesic distance (km) of each entry's site and title, as the engine measures
        it."""
        titles = self.titles.projected(self.zone.epsg, self.title())
        return nearest_points_km(self.zone.local[self.rows[self.owner]], titles,
                                 self.zone.epsg)


def _beyond(lists: NeighbourLists, index: ConcessionIndex, sites: np.ndarray,
            conc_keep: np.ndarray) -> Found:
    """The planar nearest kept title of sites with none within the reach: kept titles in
    boxes of longitude and latitude that hold every point within a planar radius, the
    radius doubled until one is found within it (up to :data:`_FARTHEST_M`)."""
    tree = index.tree  # every title's: the kept ones are picked from what it finds
    conc = np.full(len(sites), -1, dtype=np.int64)
    dist = np.full(len(sites), np.nan)
    resolved = np.zeros(len(sites), dtype=bool)
    todo = np.arange(len(sites))
    radius = 2.0 * lists.reach
    while len(todo) and radius <= _FARTHEST_M:
        owner, title = tree.query(_degree_boxes(lists.lonlat[sites[todo]], radius))
        kept = conc_keep[title]
        owner, title, planar = _planar_of(lists, index, sites[todo], owner[kept], title[kept])
        least = np.full(len(todo), np.inf)
        np.minimum.at(least, owner, planar)
        tied = planar == least[owner]
        km = _km_of(lists, index, sites[todo], owner[tied], title[tied])
        found_conc, found_km = _pick(conc[todo], dist[todo], owner[tied], title[tied], km)
        covered = least <= radius
        conc[todo[covered]], dist[todo[covered]] = found_conc[covered], found_km[covered]
        resolved[todo[covered]] = True
        todo, radius = todo[~covered], radius * 2.0
    return Found(conc, dist, resolved)


def _degree_boxes(bounds: np.ndarray, radius: float) -> np.ndarray:
    """Boxes of longitude and latitude around ``bounds`` holding every point within
    ``radius`` metres of them in the plane of any UTM zone (whose scale is at least
    0.9996; a degree of latitude is at least 110.5 km, of longitude 111.3 km times the
    cosine of the latitude)."""
    dlat = radius * _DEGREE_SLACK / 110_500.0
    top = np.minimum(np.maximum(np.abs(bounds[:, 1]), np.abs(bounds[:, 3])) + dlat, 89.9)
    dlon = np.minimum(radius * _DEGREE_SLACK / (111_300.0 * np.cos(np.radians(top))), 360.0)
    return shapely.box(bounds[:, 0] - dlon, bounds[:, 1] - dlat, bounds[:, 2] + dlon,
                       bounds[:, 3] + dlat)


def _planar_of(lists: NeighbourLists, index: ConcessionIndex, sites: np.ndarray,
               owner: np.ndarray, title: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, title, planar distance) of pairs of ``sites[owner]`` and titles (positions
    in the layer), measured in each site's zone, in the order of the zones."""
    zone = lists.zone_of[sites[owner]]
    out = []
    for z in np.unique(zone):
        mine = np.flatnonzero(zone == z)
        local = lists.zones[z].local[lists.row_of[sites[owner[mine]]]]
        titles = index.projected(lists.zones[z].epsg, title[mine])
        out.append((owner[mine], title[mine], shapely.distance(local, titles)))
    if not out:
        return owner, title, np.zeros(0)
    return tuple(np.concatenate(parts) for parts in zip(*out, strict=True))  # type: ignore[return-value]


def _km_of(lists: NeighbourLists, index: ConcessionIndex, sites: np.ndarray,
           owner: np.ndarray, title: np.ndarray) -> np.ndarray:
    """Geodesic distance (km) of pairs of ``sites[owner]`` and titles, in each site's zone
    (in the order given)."""
    km = np.zeros(len(owner))
    zone = lists.zone_of[sites[owner]]
    for z in np.unique(zone):
        mine = np.flatnonzero(zone == z)
        local = lists.zones[z].local[lists.row_of[sites[owner[mine]]]]
        titles = index.projected(lists.zones[z].epsg, title[mine])
        km[mine] = nearest_points_km(local, titles, lists.zones[z].epsg)
    return km


def _entries(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, entry) of every list entry of the sites ``rows`` (owner: position in
    ``rows``)."""
    starts, ends = offsets[rows], offsets[rows + 1]
    counts = ends - starts
    owner = np.repeat(np.arange(len(rows)), counts)
    first = np.repeat(starts - np.cumsum(counts) + counts, counts)
    return owner, first + np.arange(int(counts.sum()))


def _within_search_box(asked: _Asked, rings: tuple[float, ...]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, title, km) of the kept titles in a site's search box and within the outer
    ring's margin geodesically, as the engine's candidates (a title whose box is farther
    than that margin over the UTM scale cannot be)."""
    outer = rings[-1] * _SEARCH_MARGIN
    zone = asked.zone
    boxed = asked.part(zone.in_box[asked.entry]
                       & (zone.gap[asked.entry] <= outer * 1000.0 * _SCALE_SLACK))
    km = boxed.km()
    close = km <= outer
    return boxed.owner[close], boxed.title()[close], km[close]


def _planar_nearest(asked: _Asked, n: int, reach: float
                    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray,
                               np.ndarray]:
    """(owner, title, km) of the kept titles nearest in the plane to each of ``n`` sites,
    their planar distance (m, inf for none) and the sites they are certain for: those
    nearer than the reach."""
    gap = asked.zone.gap[asked.entry].astype(float)
    # An upper bound: the distance to the kept title whose box is nearest; then only the
    # titles whose box is nearer than that are measured.
    first = _least_per_owner(asked.owner, gap, n)[1]
    first = first[first >= 0]
    bound = np.full(n, np.inf)
    bound[asked.owner[first]] = asked.part(first).planar()
    others = gap <= bound[asked.owner]
    others[first] = False
    more = asked.part(others)
    measured = asked._replace(owner=np.concatenate([asked.owner[first], more.owner]),
                              entry=np.concatenate([asked.entry[first], more.entry]))
    planar = np.concatenate([bound[asked.owner[first]], more.planar()])
    least = np.full(n, np.inf)
    np.minimum.at(least, measured.owner, planar)
    certain = least < reach * (1.0 - _SLACK)
    # Only the certain sites' ties are measured geodesically; the others are searched on.
    tied = measured.part((planar == least[measured.owner]) & certain[measured.owner])
    return (tied.owner, tied.title(), tied.km()), least, certain


def _least_per_owner(owner: np.ndarray, value: np.ndarray,
                     n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per owner in ``range(n)`` (``owner`` in increasing order): the least value (inf for
    none) and the position of its first entry with it (-1 for none)."""
    least = np.full(n, np.inf)
    first = np.full(n, -1, dtype=np.int64)
    if not len(owner):
        return least, first
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    least[owner[starts]] = np.minimum.reduceat(value, starts)
    at = np.flatnonzero(value == least[owner])
    at = at[np.r_[True, owner[at][1:] != owner[at][:-1]]]
    first[owner[at]] = at
    return least, first


def _pick(conc: np.ndarray, km: np.ndarray, owner: np.ndarray, title: np.ndarray,
          dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per owner, the candidate nearest geodesically, of equals the first in the layer
    (owners without candidates keep ``conc`` and ``km``)."""
    if not len(owner):
        return conc, km
    order = np.lexsort((title, dist, owner))
    starts = np.r_[True, owner[order][1:] != owner[order][:-1]]
    best = order[starts]
    conc, km = conc.copy(), km.copy()
    conc[owner[best]], km[owner[best]] = title[best], dist[best]
    return conc, km
