"""Overlap zones, inside / boundary / rings and tenure of :func:`geo.overlap.compute_overlaps`.

Small exact geometries near the equator; expected areas from ``pyproj.Geod`` on shapely's
own union and intersection, expected distances from ``Geod.inv``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely import Point, Polygon, box

from geo.errors import CRSError, GeometryError, SchemaError
from geo.overlap import (
    PAIR_COLUMNS,
    _box_gaps,
    _first_per_site,
    compute_overlaps,
    union_per_group,
)
from geo.schema import SITE_RESULT_COLUMNS, ZONE_COLUMNS
from geo.validate import validate_layer

GEOD = pyproj.Geod(ellps="WGS84")


def geod_ha(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


def geod_km(a: Point, b: Point) -> float:
    _, _, metres = GEOD.inv(a.x, a.y, b.x, b.y)
    return metres / 1000.0


def geodesic_circle(centre: Point, radius_m: float, n: int = 720) -> Polygon:
    """A circle of true geodesic radius, vertex by vertex with ``Geod.fwd``."""
    azimuths = np.linspace(0.0, 360.0, n, endpoint=False)
    lon, lat, _ = GEOD.fwd(np.full(n, centre.x), np.full(n, centre.y), azimuths,
                           np.full(n, radius_m))
    return Polygon(zip(lon, lat, strict=True))


def concessions(rows) -> gpd.GeoDataFrame:
    """``rows``: (conc_id, lic_type, geometry) triples."""
    ids, types, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"conc_id": list(ids), "holder": [f"holder of {i}" for i in ids],
         "lic_type": list(types)},
        geometry=list(geoms), crs=4326,
    )


def sites(geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or [f"s{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"site_id": ids}, geometry=list(geoms), crs=4326)


def zone_area(result, conc_id) -> float:
    zones = result.zones.set_index("conc_id")
    return float(zones.loc[conc_id, "area_ha"]) if conc_id in zones.index else 0.0


def site_row(result, site_id) -> pd.Series:
    return result.sites.set_index("site_id").loc[site_id]


A = box(0.0, 0.0, 0.1, 0.1)


# --- overlap zones -----------------------------------------------------------------------


def test_overlapping_site_polygons_counted_once():
    s1 = box(0.02, 0.02, 0.05, 0.05)
    s2 = box(0.04, 0.04, 0.07, 0.07)  # overlaps s1 on 0.01 x 0.01 degrees
    s3 = box(0.09, 0.03, 0.12, 0.05)  # crosses A's east edge
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([s1, s2, s3]))
    expected = geod_ha(shapely.union_all([s1, s2, s3]).intersection(A))
    summed = sum(geod_ha(s.intersection(A)) for s in (s1, s2, s3))
    assert expected < summed - 100  # the double count would be about 123 ha too many
    assert zone_area(result, "A") == pytest.approx(expected, rel=1e-5)
    zone = result.zones.geometry.iloc[0]
    assert zone.symmetric_difference(shapely.union_all([s1, s2, s3]).intersection(A)).area < 1e-12


def test_zones_schema_and_attributes():
    result = compute_overlaps(concessions([("A", "exploration", A)]),
                              sites([box(0.01, 0.01, 0.02, 0.02)]))
    assert result.zones.columns.tolist() == list(ZONE_COLUMNS)
    assert result.zones.crs.to_epsg() == 4326
    row = result.zones.iloc[0]
    assert (row["conc_id"], row["holder"], row["lic_type"]) == ("A", "holder of A",
                                                                 "exploration")


def test_concession_areas_match_geod():
    b = Polygon([(1.0, 1.0), (1.3, 1.05), (1.2, 1.4)])
    result = compute_overlaps(concessions([("A", "exploitation", A), ("B", "other", b)]),
                              sites([Point(5, 5)]))
    np.testing.assert_allclose(result.concessions["area_ha"], [geod_ha(A), geod_ha(b)],
                               rtol=1e-5)


def test_one_site_overlapping_two_concessions_clipped_to_each():
    b = box(0.1, 0.0, 0.2, 0.1)
    site = box(0.08, 0.04, 0.13, 0.06)
    result = compute_overlaps(
        concessions([("A", "exploitation", A), ("B", "exploration", b)]), sites([site])
    )
    assert zone_area(result, "A") == pytest.approx(geod_ha(site.intersection(A)), rel=1e-5)
    assert zone_area(result, "B") == pytest.approx(geod_ha(site.intersection(b)), rel=1e-5)
    assert zone_area(result, "A") + zone_area(result, "B") == pytest.approx(geod_ha(site),
                                                                           rel=1e-5)


def test_bowtie_site_after_validation_does_not_zero_the_overlap():
    bowtie = Polygon([(0.01, 0.01), (0.04, 0.04), (0.04, 0.01), (0.01, 0.04)])
    others = [box(0.03, 0.02, 0.06, 0.03), box(0.07, 0.07, 0.08, 0.08), Point(0.05, 0.05)]
    raw = sites([bowtie, *others])
    clean, report = validate_layer(raw, "sites")
    assert report.n_repaired == 1
    assert len(clean) == 4
    result = compute_overlaps(concessions([("A", "small_scale", A)]), clean)
    polygons = [shapely.make_valid(bowtie), others[0], others[1]]
    expected = geod_ha(shapely.union_all(polygons).intersection(A))
    assert expected > geod_ha(others[0]) + geod_ha(others[1])  # the triangles count
    assert zone_area(result, "A") == pytest.approx(expected, rel=1e-5)
    assert site_row(result, "s0")["tenure"] == "small_scale"


def test_site_touching_only_the_boundary_gives_no_zone():
    site = box(0.1, 0.02, 0.12, 0.04)  # shares A's east edge, no area inside
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([site]))
    assert result.zones.empty
    assert result.zones.columns.tolist() == list(ZONE_COLUMNS)
    row = site_row(result, "s0")
    assert row["tenure"] == "unlicensed"
    assert row["n_conc"] == 0


def test_polygon_site_inside_counts_without_area_from_points():
    result = compute_overlaps(concessions([("A", "exploitation", A)]),
                              sites([Point(0.05, 0.05)]))
    assert result.zones.empty
    assert result.footprints.iloc[0] is None
    assert site_row(result, "s0")["area_ha"] == 0.0


def test_mixed_points_and_polygons():
    poly = box(0.02, 0.02, 0.04, 0.04)
    layer = sites([Point(0.05, 0.05), poly, Point(0.5, 0.5), box(0.6, 0.6, 0.61, 0.61)])
    conc = concessions([("A", "exploitation", A)])
    result = compute_overlaps(conc, layer)
    assert result.sites["site_id"].tolist() == ["s0", "s1", "s2", "s3"]
    assert result.sites["is_polygon"].tolist() == [False, True, False, True]
    assert result.sites["n_conc"].tolist() == [1, 1, 0, 0]
    assert zone_area(result, "A") == pytest.approx(geod_ha(poly), rel=1e-5)
    with_radius = compute_overlaps(conc, layer, radius_m=300.0)
    circle = geodesic_circle(Point(0.05, 0.05), 300.0)
    expected = geod_ha(shapely.union(circle, poly).intersection(A))
    assert zone_area(with_radius, "A") == pytest.approx(expected, rel=5e-3)


# --- footprints of point sites -----------------------------------------------------------


def test_footprint_radius_circle_inside():
    result = compute_overlaps(concessions([("A", "exploitation", A)]),
                              sites([Point(0.05, 0.05)]), radius_m=500.0)
    expected = geod_ha(geodesic_circle(Point(0.05, 0.05), 500.0))
    assert expected == pytest.approx(np.pi * 500.0**2 / 1e4, rel=1e-3)
    assert zone_area(result, "A") == pytest.approx(expected, rel=5e-3)
    assert site_row(result, "s0")["area_ha"] == pytest.approx(expected, rel=5e-3)
    assert result.radius_m == 500.0


def test_footprint_radius_circle_across_the_edge():
    centre = Point(0.1, 0.05)  # on A's east edge: about half the circle is inside
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([centre]),
                              radius_m=1000.0)
    expected = geod_ha(geodesic_circle(centre, 1000.0).intersection(A))
    assert expected == pytest.approx(np.pi * 1000.0**2 / 1e4 / 2, rel=1e-3)
    assert zone_area(result, "A") == pytest.approx(expected, rel=5e-3)


def test_overlapping_circles_counted_once():
    p, q = Point(0.05, 0.05), Point(0.052, 0.05)  # 220 m apart, radius 300 m
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([p, q]),
                              radius_m=300.0)
    expected = geod_ha(shapely.union(geodesic_circle(p, 300.0), geodesic_circle(q, 300.0)))
    assert zone_area(result, "A") == pytest.approx(expected, rel=5e-3)
    assert zone_area(result, "A") < 1.5 * np.pi * 300.0**2 / 1e4


# --- inside and the boundary rule --------------------------------------------------------


def test_point_inside_outside_and_count():
    result = compute_overlaps(
        concessions([("A", "exploitation", A)]),
        sites([Point(0.05, 0.05), Point(0.099, 0.001), Point(0.2, 0.2)]),
    )
    inside = result.pairs[result.pairs["inside"]]
    assert sorted(inside["site"]) == [0, 1]
    assert (inside["ring"] == 0).all()
    assert (inside["dist_km"] == 0).all()
    assert result.pairs.columns.tolist() == list(PAIR_COLUMNS)
    assert result.sites["dist_km"].tolist()[:2] == [0.0, 0.0]


@pytest.mark.parametrize(
    ("type_a", "type_b", "winner"),
    [
        ("exploration", "exploitation", "B"),  # tenure order first
        ("exploitation", "exploration", "A"),
        ("asm_zone", "small_scale", "A"),
        ("other", "small_scale", "B"),
        ("exploration", "exploration", "A"),  # same type: smallest conc_id
    ],
)
def test_point_on_shared_boundary_counts_once(type_a, type_b, winner):
    b = box(0.1, 0.0, 0.2, 0.1)
    shared = Point(0.1, 0.05)
    assert not A.contains(shared)
    assert not b.contains(shared)
    result = compute_overlaps(concessions([("A", type_a, A), ("B", type_b, b)]),
                              sites([shared]))
    inside = result.pairs[result.pairs["inside"]]
    assert len(inside) == 1
    conc_id = result.concessions["conc_id"].iloc[int(inside["conc"].iloc[0])]
    assert conc_id == winner
    row = site_row(result, "s0")
    assert row["conc_id"] == winner
    assert row["n_conc"] == 1
    assert row["dist_km"] == 0.0
    # For the other title it is a site of a neighbour at 0 km: ring 1 ("ring 1 starts at 0").
    loser = 1 - int(inside["conc"].iloc[0])
    near = result.pairs[~result.pairs["inside"]]
    assert near[["conc", "ring"]].values.tolist() == [[loser, 1]]
    # 0 up to the UTM chord of the projected edge (about 0.1 m here)
    assert near["dist_km"].iloc[0] < 1e-3


def test_boundary_rule_uses_conc_id_not_row_order():
    b = box(0.1, 0.0, 0.2, 0.1)
    result = compute_overlaps(
        concessions([("Z", "exploration", A), ("M", "exploration", b)]), sites([Point(0.1, 0.05)])
    )
    assert site_row(result, "s0")["conc_id"] == "M"


def test_point_on_boundary_and_inside_another_counts_for_the_interior_one():
    inner = box(0.05, 0.0, 0.15, 0.1)  # overlaps A; (0.1, 0.05) is inside it, on A's edge
    result = compute_overlaps(
        concessions([("A", "exploitation", A), ("B", "exploration", inner)]),
        sites([Point(0.1, 0.05)]),
    )
    inside = result.pairs[result.pairs["inside"]]
    assert inside["conc"].tolist() == [1]
    assert site_row(result, "s0")["tenure"] == "exploration"


def test_point_on_outer_boundary_of_single_concession_counts():
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([Point(0.0, 0.05)]))
    assert site_row(result, "s0")["tenure"] == "exploitation"
    assert site_row(result, "s0")["dist_km"] == 0.0


# --- rings -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ring_case():
    """Sites due east of A's east edge (lon 0.1) along latitude 0.05."""
    offsets = {"r1": 0.005, "r2": 0.027, "r3": 0.07, "beyond": 0.12, "in": -0.05}
    points = {k: Point(0.1 + d, 0.05) for k, d in offsets.items()}
    result = compute_overlaps(concessions([("A", "exploitation", A)]),
                              sites(list(points.values()), ids=list(points)))
    return points, result


def test_ring_distances_match_geod(ring_case):
    points, result = ring_case
    for key in ("r1", "r2", "r3", "beyond"):
        expected = geod_km(points[key], Point(0.1, 0.05))
        assert site_row(result, key)["dist_km"] == pytest.approx(expected, rel=1e-4, abs=1e-4)
        assert site_row(result, key)["near_id"] == "A"
        assert site_row(result, key)["tenure"] == "unlicensed"
    assert site_row(result, "in")["dist_km"] == 0.0


def test_ring_assignment(ring_case):
    points, result = ring_case
    edges = (1.0, 5.0, 10.0)
    ring_of = dict(zip(result.sites["site_id"], range(len(points)), strict=True))
    near = result.pairs[~result.pairs["inside"]].set_index("site")["ring"]
    for key in ("r1", "r2", "r3"):
        distance = geod_km(points[key], Point(0.1, 0.05))
        expected_ring = next(k for k, edge in enumerate(edges, start=1) if distance <= edge)
        assert near[ring_of[key]] == expected_ring == int(key[1])
    assert ring_of["beyond"] not in near.index
    assert ring_of["in"] not in near.index


@pytest.mark.parametrize(
    ("rings", "expected"),
    [
        ((2.0, 4.0), {"r1": 1, "r2": 2}),  # 0.56 km, 3.0 km; 7.8 km is beyond
        ((0.5, 3.5, 7.5, 20.0), {"r1": 2, "r2": 2, "r3": 4, "beyond": 4}),  # 13.4 km in ring 4
    ],
)
def test_custom_rings(ring_case, rings, expected):
    points, _ = ring_case
    result = compute_overlaps(concessions([("A", "exploitation", A)]),
                              sites(list(points.values()), ids=list(points)), rings_km=rings)
    assert result.rings_km == rings
    near = result.pairs[~result.pairs["inside"]]
    got = {result.sites["site_id"].iloc[s]: r for s, r in zip(near["site"], near["ring"],
                                                               strict=True)}
    assert got == expected


def test_site_inside_a_neighbour_is_in_a_ring_of_this_one():
    b = box(0.11, 0.0, 0.2, 0.1)  # 0.01 degrees (about 1.1 km) east of A
    result = compute_overlaps(concessions([("A", "exploitation", A), ("B", "exploration", b)]),
                              sites([Point(0.112, 0.05)]))
    pairs = result.pairs.set_index("conc")
    assert bool(pairs.loc[1, "inside"]) is True
    expected = geod_km(Point(0.112, 0.05), Point(0.1, 0.05))
    assert 1.0 < expected <= 5.0  # 1.34 km: ring 2 of A
    assert bool(pairs.loc[0, "inside"]) is False
    assert pairs.loc[0, "ring"] == 2
    assert pairs.loc[0, "dist_km"] == pytest.approx(expected, rel=1e-4)
    assert site_row(result, "s0")["dist_km"] == 0.0


def test_polygon_site_distance_is_between_nearest_points():
    site = box(0.13, 0.02, 0.14, 0.03)
    result = compute_overlaps(concessions([("A", "exploitation", A)]), sites([site]))
    expected = geod_km(Point(0.13, 0.03), Point(0.1, 0.03))  # nearest edges at equal lat
    assert site_row(result, "s0")["dist_km"] == pytest.approx(expected, rel=1e-3)


# --- tenure ------------------------------------------------------------------------------


def test_tenure_priority_and_unlicensed():
    exploration = box(0.0, 0.0, 0.2, 0.2)
    exploitation = box(0.1, 0.1, 0.3, 0.3)
    conc = concessions([("E", "exploration", exploration), ("X", "exploitation", exploitation)])
    layer = sites([Point(0.15, 0.15), Point(0.05, 0.05), Point(1.0, 1.0)],
                  ids=["both", "explo", "none"])
    result = compute_overlaps(conc, layer)
    both, explo, none = (site_row(result, k) for k in ("both", "explo", "none"))
    assert (both["tenure"], both["conc_id"], both["n_conc"]) == ("exploitation", "X", 2)
    assert (explo["tenure"], explo["conc_id"], explo["n_conc"]) == ("exploration", "E", 1)
    assert none["tenure"] == "unlicensed"
    assert pd.isna(none["conc_id"])
    assert none["near_id"] == "X"
    expected = geod_km(Point(1.0, 1.0), Point(0.3, 0.3))
    assert none["dist_km"] == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize(
    ("types", "tenure"),
    [
        (("small_scale", "asm_zone"), "asm_zone"),
        (("other", "small_scale"), "small_scale"),
        (("other", "asm_zone", "exploration"), "exploration"),
        (("other",), "other_title"),
        (("exploitation", "other"), "exploitation"),
    ],
)
def test_tenure_first_match_wins(types, tenure):
    conc = concessions([(f"C{i}", t, box(0, 0, 0.1 + 0.01 * i, 0.1))
                        for i, t in enumerate(types)])
    result = compute_overlaps(conc, sites([Point(0.05, 0.05)]))
    assert site_row(result, "s0")["tenure"] == tenure
    assert site_row(result, "s0")["n_conc"] == len(types)


def test_tenure_tie_goes_to_smallest_conc_id():
    conc = concessions([("B", "exploitation", box(0, 0, 0.2, 0.1)),
                        ("A", "exploitation", box(0, 0, 0.1, 0.2))])
    result = compute_overlaps(conc, sites([Point(0.05, 0.05)]))
    assert site_row(result, "s0")["conc_id"] == "A"
    assert site_row(result, "s0")["n_conc"] == 2


def test_multipoint_site_is_a_point_site():
    p, q = Point(0.05, 0.05), Point(0.06, 0.06)
    layer = sites([shapely.MultiPoint([p, q])])
    clean, _ = validate_layer(layer, "sites")
    result = compute_overlaps(concessions([("A", "exploitation", A)]), clean, radius_m=200.0)
    assert not site_row(result, "s0")["is_polygon"]
    expected = geod_ha(shapely.union(geodesic_circle(p, 200.0), geodesic_circle(q, 200.0)))
    assert zone_area(result, "A") == pytest.approx(expected, rel=5e-3)


def test_site_table_schema_and_order():
    layer = sites([Point(0.5, 0.5), Point(0.05, 0.05)], ids=["b", "a"])
    result = compute_overlaps(concessions([("A", "exploitation", A)]), layer)
    assert result.sites.columns.tolist() == list(SITE_RESULT_COLUMNS)
    assert result.sites["site_id"].tolist() == ["b", "a"]
    assert result.sites["lon"].tolist() == [0.5, 0.05]


def test_inputs_not_mutated():
    conc = concessions([("A", "exploitation", A)])
    layer = sites([box(0.02, 0.02, 0.05, 0.05)])
    conc_before, sites_before = conc.copy(), layer.copy()
    compute_overlaps(conc, layer, radius_m=100.0)
    pd.testing.assert_frame_equal(conc, conc_before)
    pd.testing.assert_frame_equal(layer, sites_before)
    assert "area_ha" not in conc.columns


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("rings", [(5.0, 1.0), (0.0, 1.0), (-1.0,), (), (1.0, 1.0)])
def test_bad_rings_raise(rings):
    with pytest.raises(SchemaError, match="rings_km must be increasing positive"):
        compute_overlaps(concessions([("A", "exploitation", A)]), sites([Point(0, 0)]),
                         rings_km=rings)


@pytest.mark.parametrize("radius", [0.0, -50.0, float("nan"), float("inf")])
def test_bad_radius_raises(radius):
    with pytest.raises(SchemaError, match="radius_m must be a positive number"):
        compute_overlaps(concessions([("A", "exploitation", A)]), sites([Point(0, 0)]),
                         radius_m=radius)


def test_layer_not_in_4326_raises():
    conc = concessions([("A", "exploitation", A)])
    with pytest.raises(CRSError, match="sites layer must be in EPSG:4326"):
        compute_overlaps(conc, sites([Point(0.05, 0.05)]).to_crs(3857))
    with pytest.raises(CRSError, match="concessions layer must be in EPSG:4326"):
        compute_overlaps(conc.to_crs(32631), sites([Point(0.05, 0.05)]))
    with pytest.raises(CRSError, match="must be in EPSG:4326"):
        compute_overlaps(conc.set_crs(None, allow_override=True), sites([Point(0.05, 0.05)]))


def test_invalid_geometry_without_validation_raises():
    bowtie = Polygon([(0.01, 0.01), (0.04, 0.04), (0.04, 0.01), (0.01, 0.04)])
    with pytest.raises(GeometryError, match="invalid geometry"):
        compute_overlaps(concessions([("A", "exploitation", A)]), sites([bowtie]))
    with pytest.raises(GeometryError, match="invalid geometry"):
        compute_overlaps(concessions([("A", "exploitation", bowtie)]), sites([Point(0, 0)]))


def test_non_polygon_concessions_raise():
    with pytest.raises(GeometryError, match="Concessions must be polygons"):
        compute_overlaps(concessions([("A", "exploitation", Point(0, 0))]),
                         sites([Point(0, 0)]))


def test_missing_id_columns_raise():
    conc = concessions([("A", "exploitation", A)])
    with pytest.raises(SchemaError, match="'site_id'"):
        compute_overlaps(conc, gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=4326))
    with pytest.raises(SchemaError, match="'lic_type'"):
        compute_overlaps(conc.drop(columns="lic_type"), sites([Point(0, 0)]))


def test_union_per_group_matches_a_plain_loop():
    """Groups of 1 to 40 overlapping boxes (across the padded widths) against union_all of
    each group in a plain loop."""
    rng = np.random.default_rng(7)
    sizes = [1, 2, 3, 4, 5, 8, 9, 16, 17, 40]
    group = np.repeat(np.arange(len(sizes)) * 10, sizes)  # labels 0, 10, 20, ...
    rng.shuffle(group)
    x, y = rng.uniform(0, 1, len(group)) + group, rng.uniform(0, 1, len(group))
    geoms = shapely.box(x, y, x + 0.3, y + 0.3)
    labels, unions = union_per_group(geoms, group)
    assert labels.tolist() == sorted(set(group.tolist()))
    for label, union in zip(labels, unions, strict=True):
        members = geoms[group == label]
        expected = members[0] if len(members) == 1 else shapely.union_all(members)
        assert union.area == pytest.approx(expected.area, rel=1e-12)
        assert shapely.equals(union, expected)


def test_first_per_site_is_the_first_row_of_a_sort():
    """Each site's nearest pair, ties to the concession first in the layer: the same rows
    as sorting by site, distance and concession and keeping the first of each site."""
    rng = np.random.default_rng(7)
    pairs = pd.DataFrame({
        "site": rng.integers(0, 300, 5000),
        "conc": rng.permutation(20000)[:5000],  # a site meets a concession once
        "dist_km": rng.integers(0, 40, 5000) / 4.0,  # many exact ties
    })
    rows = _first_per_site(pairs)
    ordered = pairs.sort_values(["site", "dist_km", "conc"])
    expected = ordered.drop_duplicates("site").index.to_numpy()
    assert rows.tolist() == expected.tolist()
    assert _first_per_site(pairs.iloc[:0]).size == 0


def test_box_gaps_are_distances_between_boxes():
    rng = np.random.default_rng(3)
    corners = rng.uniform(0, 100, (400, 2))
    sizes = rng.uniform(0, 20, (400, 2))
    boxes = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + sizes[:, 0],
                        corners[:, 1] + sizes[:, 1])
    a, b = boxes[:200], boxes[200:]
    gaps = _box_gaps(shapely.bounds(a), shapely.bounds(b))
    np.testing.assert_allclose(gaps, shapely.distance(a, b), rtol=1e-12, atol=1e-12)
    assert (gaps == 0).any()
    assert (gaps > 0).any()
