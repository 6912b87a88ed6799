"""Areas, distances and circles of :mod:`geo.measure` against pyproj's geodesics.

Every expected value comes from ``pyproj.Geod(ellps="WGS84")`` (Karney's algorithms, as
PostGIS ``geography`` uses), never from the engine. The requirement is 0.01% on areas; the
engine's docstring promises 1e-5, which is what the small exact shapes are held to.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely import MultiPolygon, Point, Polygon, box

from geo.measure import (
    area_ha,
    geodesic_circles,
    nearest_points_km,
    to_crs,
    utm_epsg,
    utm_scale,
)

GEOD = pyproj.Geod(ellps="WGS84")
CAMI = "data/drc/cami_titles_2016.geojson"


def geod_ha(geom) -> float:
    """Geodesic area (ha) by pyproj, rings oriented so holes subtract."""
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


def rel_error(actual: float, expected: float) -> float:
    return abs(actual - expected) / expected


# --- areas -------------------------------------------------------------------------------


@pytest.mark.parametrize("lat", [0.0, -0.5, 12.0, -23.4, 35.0, 48.0, -60.0, 70.0, 80.0])
@pytest.mark.parametrize("size", [0.01, 0.1, 1.0, 5.0])
def test_box_area_matches_geod(lat, size):
    geom = box(27.0, lat, 27.0 + size, lat + size)
    expected = geod_ha(geom)
    assert rel_error(area_ha([geom])[0], expected) < 1e-5


def test_small_box_at_equator_known_value():
    # 0.01 x 0.01 degrees at the equator: about 1.113 km x 1.106 km = 123.09 ha.
    geom = box(0, 0, 0.01, 0.01)
    assert geod_ha(geom) == pytest.approx(123.09, abs=0.01)
    assert area_ha([geom])[0] == pytest.approx(geod_ha(geom), rel=1e-5)


def test_orientation_does_not_matter():
    ccw = box(28.0, -2.0, 28.3, -1.7)
    cw = shapely.reverse(ccw)
    assert not cw.exterior.is_ccw
    areas = area_ha([ccw, cw])
    assert areas[0] == pytest.approx(areas[1], rel=1e-12)
    assert areas[0] == pytest.approx(geod_ha(ccw), rel=1e-5)


@pytest.mark.parametrize("lat", [0.0, -3.0, 45.0])
def test_polygon_with_holes(lat):
    shell = [(28.0, lat), (28.4, lat), (28.4, lat + 0.4), (28.0, lat + 0.4)]
    holes = [
        [(28.05, lat + 0.05), (28.15, lat + 0.05), (28.15, lat + 0.15), (28.05, lat + 0.15)],
        [(28.2, lat + 0.2), (28.35, lat + 0.2), (28.35, lat + 0.3), (28.2, lat + 0.3)],
    ]
    geom = Polygon(shell, holes)
    expected = geod_ha(Polygon(shell)) - sum(geod_ha(Polygon(h)) for h in holes)
    assert geod_ha(geom) == pytest.approx(expected, rel=1e-9)  # the reference itself
    assert rel_error(area_ha([geom])[0], expected) < 1e-5
    assert area_ha([geom])[0] < area_ha([Polygon(shell)])[0]


def test_multipolygon_is_sum_of_parts():
    parts = [box(28.0, -2.0, 28.2, -1.8), box(29.0, -2.0, 29.05, -1.5),
             Polygon([(30, 0), (30.5, 0.1), (30.2, 0.6)])]
    geom = MultiPolygon(parts)
    expected = sum(geod_ha(p) for p in parts)
    assert rel_error(area_ha([geom])[0], expected) < 1e-5


@pytest.mark.parametrize(
    "geom",
    [
        box(10.0, 0.0, 15.0, 0.001),  # 5 degrees long, 110 m wide, at the equator
        box(10.0, 45.0, 15.0, 45.001),  # the same at 45 N: its long edges are not geodesics
        box(-2.0, 60.0, 3.0, 60.01),
        Polygon([(0, 0), (5, 5), (5.001, 5), (0.001, 0)]),  # a thin diagonal band
        Polygon([(28.0, -3.0), (28.5, -3.0), (28.5, -2.9999), (28.0, -2.9999)]),  # 11 m wide
    ],
    ids=["equator", "45N", "60N", "diagonal", "11m-wide"],
)
def test_thin_long_polygons(geom):
    assert rel_error(area_ha([geom])[0], geod_ha(geom)) < 1e-5


@pytest.mark.parametrize("lat", [0.0, 30.0, 60.0, 70.0])
def test_very_long_edges_still_within_requirement(lat):
    # 20 degrees of longitude in one edge: far longer than any title's edge. The 0.01%
    # requirement holds (the 1e-5 of the docstring does not, see the review note).
    geom = box(0.0, lat, 20.0, lat + 0.1)
    assert rel_error(area_ha([geom])[0], geod_ha(geom)) < 1e-4


def test_non_polygons_and_missing_measure_zero():
    areas = area_ha([Point(1, 1), shapely.LineString([(0, 0), (1, 1)]), None,
                     Polygon(), box(0, 0, 0.1, 0.1)])
    assert areas[:4].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert areas[4] > 0


def test_mixed_kinds_and_orientations_match_geod():
    """Polygons of one ring (either orientation, short and very long edges), polygons with
    holes and multipolygons, in one array: each as pyproj.Geod measures it alone."""
    small = box(28.0, -2.0, 28.3, -1.7)
    large = box(20.0, 5.0, 22.0, 7.0)  # edges over 200 km
    holed = Polygon(box(10, 40, 10.5, 40.4).exterior.coords,
                    [box(10.1, 40.1, 10.2, 40.2).exterior.coords])
    multi = shapely.MultiPolygon([shapely.reverse(box(-60, -10, -59.9, -9.9)),
                                  box(-59, -10, -58.8, -9.7)])
    geoms = [small, shapely.reverse(large), holed, Point(1, 1), multi, shapely.reverse(small),
             large]
    together = area_ha(geoms)
    alone = [area_ha([g])[0] for g in geoms]
    np.testing.assert_allclose(together, alone, rtol=1e-12)
    for geom, area in zip(geoms, together, strict=True):
        assert area == pytest.approx(geod_ha(geom), rel=1e-7, abs=1e-9)


def test_vectorised_matches_one_by_one():
    geoms = [box(x, y, x + 0.2, y + 0.1) for x, y in [(28, -2), (0, 50), (-70, -15)]]
    together = area_ha(geoms)
    alone = [area_ha([g])[0] for g in geoms]
    np.testing.assert_allclose(together, alone, rtol=1e-12)


@pytest.fixture(scope="module")
def cami_geometries():
    layer = gpd.read_file(CAMI)
    return np.asarray(layer.geometry.values, dtype=object)


def test_all_real_cami_titles_within_requirement(cami_geometries):
    assert len(cami_geometries) == 2973
    engine = area_ha(cami_geometries)
    reference = np.array([geod_ha(g) for g in cami_geometries])
    assert (reference > 0).all()
    worst = np.max(np.abs(engine - reference) / reference)
    assert worst < 1e-4


# --- distances ---------------------------------------------------------------------------


def _dense_boundary(geom, step_deg=1e-5):
    return shapely.get_coordinates(shapely.segmentize(geom.boundary, step_deg))


def _geod_distance_km(point, geom) -> float:
    """Geodesic distance from a point to the densely sampled boundary of ``geom``."""
    coords = _dense_boundary(geom)
    n = len(coords)
    _, _, metres = GEOD.inv(np.full(n, point.x), np.full(n, point.y), coords[:, 0], coords[:, 1])
    return float(np.min(metres)) / 1000.0


@pytest.mark.parametrize(
    ("point", "geom"),
    [
        (Point(0.2, 0.05), box(0.0, 0.0, 0.1, 0.1)),  # due east, equator
        (Point(28.05, -2.3), box(28.0, -2.2, 28.1, -2.1)),  # due south
        (Point(28.3, -1.8), box(28.0, -2.2, 28.1, -2.1)),  # north-east corner nearest
        (Point(10.4, 52.0), box(10.0, 51.9, 10.2, 52.1)),  # higher latitude
    ],
    ids=["east", "south", "corner", "52N"],
)
def test_nearest_points_km_matches_geod(point, geom):
    epsg = int(utm_epsg(np.array([point.x]), np.array([point.y]))[0])
    a = to_crs(np.array([point], dtype=object), epsg)
    b = to_crs(np.array([geom], dtype=object), epsg)
    km = nearest_points_km(a, b, epsg)[0]
    expected = _geod_distance_km(point, geom)
    assert expected > 1.0
    assert km == pytest.approx(expected, rel=1e-3)


def test_nearest_points_km_point_to_point_is_geod_inv():
    p, q = Point(28.0, -2.0), Point(28.07, -2.05)
    epsg = int(utm_epsg(np.array([28.0]), np.array([-2.0]))[0])
    km = nearest_points_km(to_crs(np.array([p]), epsg), to_crs(np.array([q]), epsg), epsg)[0]
    _, _, metres = GEOD.inv(p.x, p.y, q.x, q.y)
    assert km == pytest.approx(metres / 1000.0, rel=1e-6)


@pytest.mark.parametrize("lat", [-60.0, -23.0, -2.0, 0.5, 12.0, 52.0, 70.0])
def test_utm_scale_matches_proj(lat):
    lon = np.linspace(24.0, 30.0, 25)  # across zone 35 (central meridian 27E) and beyond
    lats = np.full(len(lon), lat)
    epsg = 32735 if lat < 0 else 32635
    x, y = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lats)
    expected = pyproj.Proj(f"EPSG:{epsg}").get_factors(lon, lats).meridional_scale
    np.testing.assert_allclose(utm_scale(np.column_stack([x, y]), epsg), expected, rtol=1e-7)


@pytest.mark.parametrize("lat", [-45.0, -2.0, 0.0, 8.0, 60.0])
def test_nearest_points_km_short_and_long_match_geod(lat):
    """Segments under 20 km (scale factor) and over it (pyproj.Geod) within 1e-6."""
    rng = np.random.default_rng(int(lat) + 100)
    lon_a = rng.uniform(24.5, 29.5, 400)
    lat_a = lat + rng.uniform(-0.5, 0.5, 400)
    step = np.where(np.arange(400) < 300, 0.1, 1.5)  # 300 short pairs, 100 long ones
    lon_b = lon_a + rng.uniform(-1, 1, 400) * step
    lat_b = lat_a + rng.uniform(-1, 1, 400) * step
    epsg = 32735 if lat < 0 else 32635
    a = to_crs(shapely.points(lon_a, lat_a), epsg)
    b = to_crs(shapely.points(lon_b, lat_b), epsg)
    _, _, metres = GEOD.inv(lon_a, lat_a, lon_b, lat_b)
    np.testing.assert_allclose(nearest_points_km(a, b, epsg), metres / 1000.0, rtol=1e-6)


def test_nearest_points_km_zero_inside():
    geom, point = box(28.0, -2.2, 28.1, -2.1), Point(28.05, -2.15)
    epsg = 32735
    km = nearest_points_km(to_crs(np.array([point]), epsg), to_crs(np.array([geom]), epsg), epsg)
    assert km.tolist() == [0.0]


def test_nearest_points_km_empty():
    assert nearest_points_km(np.array([], dtype=object), np.array([], dtype=object), 32631).size == 0


# --- circles -----------------------------------------------------------------------------


@pytest.mark.parametrize("radius_m", [50.0, 500.0, 5000.0])
@pytest.mark.parametrize("lon_lat", [(0.0, 0.0), (28.9, -2.5), (-1.5, 6.0), (10.0, 60.0)])
def test_geodesic_circles_area(radius_m, lon_lat):
    circles = geodesic_circles(np.array([Point(*lon_lat)], dtype=object), radius_m)
    expected = math.pi * radius_m**2 / 10_000.0
    assert geod_ha(circles[0]) == pytest.approx(expected, rel=5e-3)
    assert area_ha(circles)[0] == pytest.approx(expected, rel=5e-3)


def test_geodesic_circles_radius_is_geodesic():
    centre = Point(28.9, -2.5)
    circle = geodesic_circles(np.array([centre], dtype=object), 1000.0)[0]
    coords = shapely.get_coordinates(circle.exterior)
    n = len(coords)
    _, _, metres = GEOD.inv(np.full(n, centre.x), np.full(n, centre.y), coords[:, 0], coords[:, 1])
    np.testing.assert_allclose(metres, 1000.0, rtol=2e-3)


def test_geodesic_circles_across_utm_zones_keep_order():
    points = np.array([Point(5.9, 0.0), Point(6.1, 0.0), Point(-1.0, 5.0)], dtype=object)
    circles = geodesic_circles(points, 200.0)
    for point, circle in zip(points, circles, strict=True):
        assert circle.contains(point)
        assert shapely.distance(circle.centroid, point) < 1e-6
