"""Measurement on the ellipsoid: areas, distances and buffers for layers in EPSG:4326.

Areas are geodesic, as PostGIS ``ST_Area(geom::geography)`` and
``pyproj.Geod(ellps="WGS84")`` compute them: measured in EPSG:6933 (WGS 84 / NSIDC EASE-Grid
2.0 Global, a cylindrical equal-area projection on the WGS84 ellipsoid) with each long edge
corrected from the projection's straight line to the geodesic, vectorised over all edges.
Distances are geodesic on WGS84 between the nearest points found in the site's UTM zone
(short ones through the zone's scale factor). Buffers (footprint circles of point sites) are
drawn in the point's UTM zone, where scale is within 0.1% of true.

Examples
--------
>>> from shapely import box
>>> round(float(area_ha([box(0, 0, 0.01, 0.01)])[0]), 2)
123.09
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pyproj
import shapely

from geo.i18n import N_

#: The equal-area CRS in which every area is measured.
AREA_CRS = "EPSG:6933"
#: What outputs say about the area method.
AREA_METHOD = N_(
    "Geodesic areas on the WGS84 ellipsoid (equal-area EPSG:6933 with edges corrected to "
    "geodesics; agrees with PostGIS geography within 0.00001%); distances geodesic on WGS84."
)
GEOD = pyproj.Geod(ellps="WGS84")
_TO_AREA = pyproj.Transformer.from_crs("EPSG:4326", AREA_CRS, always_xy=True)
_SQ_M_PER_HA = 10_000.0
#: Edges shorter than this (in the equal-area plane) bulge by less than 1e-9 of the area.
_MIN_BULGE_EDGE_M = 500.0
#: Edges longer than this get the dense shoelace correction instead of Simpson's rule.
_DENSE_BULGE_EDGE_M = 50_000.0
#: ... sampled every this many metres or less (a power-of-two number of steps per edge).
_DENSE_STEP_M = 2_000.0
#: Nearest-point segments up to this long (m, in the UTM plane) are measured with the UTM
#: scale factor; longer ones with ``pyproj.Geod``.
_SCALED_MAX_M = 20_000.0
_UTM_K0 = 0.9996
#: Mean length of a degree of latitude (m): the latitude of a UTM position within 0.01
#: degree, all the scale factor needs.
_METRES_PER_DEGREE_LAT = 111_132.954


def area_ha(geoms: Sequence[object] | np.ndarray) -> np.ndarray:
    """Geodesic area in hectares of each lon/lat geometry on the WGS84 ellipsoid.

    The area of the polygon projected to the equal-area CRS :data:`AREA_CRS` is corrected
    for the bulge of every long edge: the edge of a geodesic polygon (as PostGIS
    ``geography`` and ``pyproj.Geod`` take it) is the geodesic between its vertices, not the
    straight line of the projection. The area between the two is integrated with
    Simpson's rule on the geodesic's midpoint (edges over 50 km: the shoelace formula over
    geodesic points at most 2 km apart), all edges of all geometries at once. A polygon of
    one ring is measured as it is (reversing it only changes the sign); the others are
    oriented first, so holes subtract. The result agrees with
    ``pyproj.Geod(ellps="WGS84").geometry_area_perimeter`` within 1e-7 relative.

    Parameters
    ----------
    geoms : array of shapely geometries in EPSG:4326
        Missing geometries, points and lines measure 0.

    Returns
    -------
    ndarray of float
    """
    geoms = np.asarray(geoms, dtype=object)
    areas = np.zeros(len(geoms))
    # A polygon of one ring needs no orienting: its signed area only changes sign.
    single = shapely.get_type_id(geoms) == 3
    single[single] = shapely.get_num_interior_rings(geoms[single]) == 0
    if single.any():
        areas[single] = np.abs(_signed_area_m2(_single_ring_edges(geoms[single])))
    if not single.all():
        others = shapely.orient_polygons(geoms[~single])
        areas[~single] = _signed_area_m2(_ring_edges(others))
    return areas / _SQ_M_PER_HA


def _signed_area_m2(edges: _Edges) -> np.ndarray:
    """Per geometry, the sum of its edges' shoelace terms and bulges (m2)."""
    areas = np.bincount(edges.owner, weights=_shoelace_m2(edges), minlength=edges.n_geoms)
    owner, correction = _edge_bulge_m2(edges)
    return areas + np.bincount(owner, weights=correction, minlength=edges.n_geoms)


class _Edges(NamedTuple):
    """Every ring edge of ``n_geoms`` geometries: ends in lon/lat and in :data:`AREA_CRS`, the
    position of the geometry it belongs to, and the projected first vertex of its ring."""

    start: np.ndarray
    end: np.ndarray
    p_start: np.ndarray
    p_end: np.ndarray
    owner: np.ndarray
    origin: np.ndarray
    n_geoms: int


def _ring_edges(geoms: np.ndarray) -> _Edges:
    """The edges of the polygon rings of ``geoms`` (collections and multi-parts opened)."""
    parts, part_owner = shapely.get_parts(geoms, return_index=True)
    while (nested := np.isin(shapely.get_type_id(parts), (4, 5, 6, 7))).any():
        inner, inner_owner = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], inner])
        part_owner = np.concatenate([part_owner[~nested], part_owner[nested][inner_owner]])
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    return _edges_of(coords, vertex_ring, part_owner[ring_part], len(geoms))


def _single_ring_edges(polygons: np.ndarray) -> _Edges:
    """The edges of polygons that have one ring each (no hole, no other part)."""
    coords, vertex_ring = shapely.get_coordinates(polygons, return_index=True)
    return _edges_of(coords, vertex_ring, np.arange(len(polygons)), len(polygons))


def _edges_of(
    coords: np.ndarray, vertex_ring: np.ndarray, ring_owner: np.ndarray, n_geoms: int
) -> _Edges:
    """The :class:`_Edges` of rings given by their vertices ``coords`` (each ring closed,
    rings one after the other), each vertex's ring and each ring's geometry."""
    projected = np.column_stack(_TO_AREA.transform(coords[:, 0], coords[:, 1]))
    ring_start = np.searchsorted(vertex_ring, vertex_ring)
    same_ring = vertex_ring[1:] == vertex_ring[:-1]
    return _Edges(
        start=coords[:-1][same_ring], end=coords[1:][same_ring],
        p_start=projected[:-1][same_ring], p_end=projected[1:][same_ring],
        owner=ring_owner[vertex_ring[:-1][same_ring]],
        origin=projected[ring_start[:-1][same_ring]], n_geoms=n_geoms,
    )


def _shoelace_m2(edges: _Edges) -> np.ndarray:
    """Each edge's term of its ring's signed area in the equal-area plane (m2): rings are
    oriented, so exteriors add and holes subtract. Taken about the ring's first vertex, so
    small rings far from the origin keep their precision."""
    a, b = edges.p_start - edges.origin, edges.p_end - edges.origin
    return 0.5 * (a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1])


def _edge_bulge_m2(edges: _Edges) -> tuple[np.ndarray, np.ndarray]:
    """Signed area (m2) between each long edge's geodesic and its projected straight line."""
    chord = edges.p_end - edges.p_start
    length = np.hypot(chord[:, 0], chord[:, 1])
    # A meridian is a geodesic and a straight line in the cylindrical projection: no bulge.
    long = (length > _MIN_BULGE_EDGE_M) & (edges.start[:, 0] != edges.end[:, 0])
    start, end, p_start = edges.start[long], edges.end[long], edges.p_start[long]
    chord, length, owner = chord[long], length[long], edges.owner[long]
    azimuth, _, distance = GEOD.inv(start[:, 0], start[:, 1], end[:, 0], end[:, 1])
    very_long = length > _DENSE_BULGE_EDGE_M
    # Simpson's rule on the midpoint (the offset is 0 at both ends): exact for an offset
    # cubic along the edge, which it is within 1e-9 of the area for edges under 50 km.
    lon, lat, _ = GEOD.fwd(start[:, 0], start[:, 1], azimuth, distance * 0.5)
    relative = np.column_stack(_TO_AREA.transform(lon, lat)) - p_start
    middle = (chord[:, 0] * relative[:, 1] - chord[:, 1] * relative[:, 0]) / length
    bulge = -(2.0 / 3.0) * middle * length
    nodes = 2 ** np.ceil(np.log2(np.maximum(length / _DENSE_STEP_M, 1.0)))
    for count in np.unique(nodes[very_long]):
        rows = very_long & (nodes == count)
        bulge[rows] = _dense_bulge_m2(
            start[rows], azimuth[rows], distance[rows], p_start[rows], int(count)
        )
    # Counter-clockwise (an oriented exterior), a bulge to the left cuts area; clockwise,
    # the sign of everything turns.
    return owner, bulge


def _dense_bulge_m2(
    start: np.ndarray, azimuth: np.ndarray, distance: np.ndarray, p_start: np.ndarray,
    nodes: int,
) -> np.ndarray:
    """Signed area between very long edges' geodesics and their chords, by the shoelace
    formula over ``nodes`` geodesic points per edge."""
    fractions = np.linspace(0.0, 1.0, nodes + 1)
    lon, lat, _ = GEOD.fwd(
        np.repeat(start[:, 0], len(fractions)), np.repeat(start[:, 1], len(fractions)),
        np.repeat(azimuth, len(fractions)), np.outer(distance, fractions).ravel(),
    )
    x, y = _TO_AREA.transform(lon, lat)
    x = x.reshape(len(start), -1) - p_start[:, :1]
    y = y.reshape(len(start), -1) - p_start[:, 1:]
    # Closed path: along the geodesic from start to end, then back along the chord.
    path_area = 0.5 * np.sum(x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1], axis=1)
    # The chord back to the start closes the path and adds nothing (it ends at the origin).
    # A geodesic bulging left of the chord makes this path clockwise: negative area.
    return path_area



def utm_epsg(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """EPSG code of the WGS84 UTM zone of each lon/lat position."""
    zone = np.clip(np.floor((np.asarray(lon) + 180.0) / 6.0).astype(int) + 1, 1, 60)
    return np.where(np.asarray(lat) >= 0, 32600, 32700) + zone


def utm_groups(geoms: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(epsg, positions)`` grouping geometries by the UTM zone of their centre."""
    centres = shapely.centroid(geoms)
    codes = utm_epsg(shapely.get_x(centres), shapely.get_y(centres))
    for code in np.unique(codes):
        yield int(code), np.flatnonzero(codes == code)


def to_crs(geoms: np.ndarray, epsg: int, *, inverse: bool = False) -> np.ndarray:
    """Transform lon/lat geometries to ``epsg`` (or back, with ``inverse=True``)."""
    source, target = ("EPSG:4326", f"EPSG:{epsg}")
    if inverse:
        source, target = target, source
    transformer = _transformer(source, target)
    return shapely.transform(
        geoms, transformer.transform, interleaved=False
    )


@lru_cache(maxsize=256)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    """A lon/lat-ordered transformer, made once per pair of CRSs (pyproj's are
    thread-safe)."""
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def geodesic_circles(points: np.ndarray, radius_m: float) -> np.ndarray:
    """Circles of ``radius_m`` metres around lon/lat points, drawn in their UTM zones."""
    return geodesic_buffers(points, radius_m)


def geodesic_buffers(geoms: np.ndarray, distance_m: float) -> np.ndarray:
    """Buffers of ``distance_m`` metres around lon/lat geometries, drawn in their UTM zones."""
    buffers = np.empty(len(geoms), dtype=object)
    for epsg, rows in utm_groups(geoms):
        local = shapely.buffer(to_crs(geoms[rows], epsg), distance_m, quad_segs=16)
        buffers[rows] = to_crs(local, epsg, inverse=True)
    return buffers


def nearest_points_km(
    a_local: np.ndarray, b_local: np.ndarray, epsg: int
) -> np.ndarray:
    """Geodesic distance (km) between the nearest points of geometry pairs.

    The nearest points are found in the projected CRS ``epsg``. In a UTM zone the segment
    between them, when shorter than :data:`_SCALED_MAX_M`, is measured in the plane and
    divided by the zone's scale factor at its midpoint (within 1e-6 of the geodesic);
    longer segments, and other projections, are measured with ``pyproj.Geod`` between the
    two points.

    Parameters
    ----------
    a_local, b_local : arrays of shapely geometries of equal length
        Both in the projected CRS ``epsg``.

    Returns
    -------
    ndarray of float
        Geodesic distance on WGS84 between the two nearest points of each pair; 0 where the
        geometries intersect.
    """
    if len(a_local) == 0:
        return np.zeros(0)
    ends = shapely.get_coordinates(shapely.shortest_line(a_local, b_local)).reshape(-1, 2, 2)
    planar = np.hypot(ends[:, 1, 0] - ends[:, 0, 0], ends[:, 1, 1] - ends[:, 0, 1])
    metres = np.full(len(planar), np.nan)
    if _is_utm(epsg):
        scaled = planar <= _SCALED_MAX_M
        metres[scaled] = planar[scaled] / utm_scale(ends[scaled].mean(axis=1), epsg)
    exact = np.isnan(metres)
    if exact.any():
        metres[exact] = _geodesic_m(ends[exact], epsg)
    return np.where(planar == 0.0, 0.0, metres) / 1000.0


def utm_scale(xy: np.ndarray, epsg: int) -> np.ndarray:
    """Point scale factor of the WGS84 UTM zone ``epsg`` at projected positions ``xy``.

    The transverse Mercator series ``k0 (1 + x^2 / 2R^2 + x^4 / 24R^4)``, with ``x`` the
    distance from the central meridian and ``R^2`` the product of the ellipsoid's radii of
    curvature at the latitude: within 1e-7 of PROJ's scale within the zone.
    """
    false_northing = 10_000_000.0 if epsg >= 32700 else 0.0
    latitude = np.radians((xy[:, 1] - false_northing) / _UTM_K0 / _METRES_PER_DEGREE_LAT)
    e2 = GEOD.es
    sin2 = np.sin(latitude) ** 2
    radius2 = GEOD.a**2 * (1.0 - e2) / (1.0 - e2 * sin2) ** 2
    x2 = ((xy[:, 0] - 500_000.0) / _UTM_K0) ** 2 / radius2
    return _UTM_K0 * (1.0 + x2 / 2.0 + x2 * x2 / 24.0)


def _is_utm(epsg: int) -> bool:
    return 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760


def _geodesic_m(ends: np.ndarray, epsg: int) -> np.ndarray:
    """``pyproj.Geod`` distance (m) of segments ``(n, 2, 2)`` given in ``epsg``."""
    back = _transformer(f"EPSG:{epsg}", "EPSG:4326")
    lon, lat = back.transform(ends[:, :, 0].ravel(), ends[:, :, 1].ravel())
    lon, lat = np.reshape(lon, (-1, 2)), np.reshape(lat, (-1, 2))
    _, _, metres = GEOD.inv(lon[:, 0], lat[:, 0], lon[:, 1], lat[:, 1])
    return np.asarray(metres, dtype=float)
