"""Validation and repair (:func:`geo.validate.validate_layer`): one report, every problem."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely import LineString, MultiPolygon, Point, Polygon, box

from geo.errors import CRSError, GeometryError
from geo.schema import REPORT_COLUMNS, normalise_concessions
from geo.validate import check_swapped, validate_layer

GEOD = pyproj.Geod(ellps="WGS84")
CAMI = "data/drc/cami_titles_2016.geojson"
#: Eastern DR Congo, where the bundled layers are.
DRC_BOUNDS = (26.0, -9.0, 31.5, 4.0)


def geod_ha(geom) -> float:
    area, _ = GEOD.geometry_area_perimeter(shapely.orient_polygons(geom))
    return abs(area) / 10_000.0


def layer(ids, geoms, kind="concessions", crs=4326):
    column = "conc_id" if kind == "concessions" else "site_id"
    return gpd.GeoDataFrame({column: ids}, geometry=list(geoms), crs=crs)


def rules(report) -> list[tuple[str, int, str]]:
    return list(report.issues[["rule", "row", "id"]].itertuples(index=False, name=None))


def test_clean_layer_passes_unchanged():
    raw = layer(["a", "b"], [box(28, -2, 28.1, -1.9), box(28.2, -2, 28.3, -1.9)])
    clean, report = validate_layer(raw, "concessions")
    assert report.issues.columns.tolist() == list(REPORT_COLUMNS)
    assert report.issues.empty
    assert (report.n_input, report.n_kept, report.n_repaired, report.n_dropped) == (2, 2, 0, 0)
    assert clean.geometry.geom_equals(raw.geometry).all()
    assert report.sentences() == []


def test_bowtie_is_repaired_keeping_both_triangles():
    bowtie = Polygon([(28.0, -2.0), (28.1, -1.9), (28.1, -2.0), (28.0, -1.9)])
    assert not bowtie.is_valid
    raw = layer(["ok", "bowtie"], [box(28.2, -2, 28.3, -1.9), bowtie])
    clean, report = validate_layer(raw, "concessions")
    assert len(clean) == 2
    assert report.n_repaired == 1
    assert report.n_dropped == 0
    assert rules(report) == [("invalid_geometry", 2, "bowtie")]
    assert "Self-intersection" in report.issues["detail"].iloc[0]
    repaired = clean.geometry.iloc[1]
    assert repaired.is_valid
    assert isinstance(repaired, MultiPolygon)
    assert len(repaired.geoms) == 2
    # The two triangles either side of the crossing point (28.05, -1.95), built by hand.
    left = Polygon([(28.0, -2.0), (28.05, -1.95), (28.0, -1.9)])
    right = Polygon([(28.1, -2.0), (28.1, -1.9), (28.05, -1.95)])
    assert repaired.symmetric_difference(MultiPolygon([left, right])).area < 1e-15
    assert geod_ha(repaired) == pytest.approx(geod_ha(left) + geod_ha(right), rel=1e-9)
    assert geod_ha(repaired) > 0.49 * geod_ha(box(28.0, -2.0, 28.1, -1.9))


def test_self_touching_ring_repaired_not_dropped():
    # A ring that touches itself in one point (invalid in GEOS), as cadastre exports have.
    ring = Polygon([(0, 0), (2, 0), (1, 1), (2, 2), (0, 2), (1, 1), (0, 0)])
    raw = layer(["s"], [ring], kind="sites")
    clean, report = validate_layer(raw, "sites")
    assert report.n_repaired == 1
    assert len(clean) == 1
    assert clean.geometry.iloc[0].is_valid
    assert geod_ha(clean.geometry.iloc[0]) == pytest.approx(geod_ha(ring), rel=1e-6)


@pytest.mark.parametrize("missing", [None, Polygon(), shapely.from_wkt("POINT EMPTY")])
def test_empty_and_null_geometry_left_out_and_reported(missing):
    raw = layer(["a", "b", "c"], [box(0, 0, 1, 1), missing, box(2, 0, 3, 1)], kind="sites")
    clean, report = validate_layer(raw, "sites")
    assert clean["site_id"].tolist() == ["a", "c"]
    assert rules(report) == [("empty_geometry", 2, "b")]
    assert (report.n_kept, report.n_dropped, report.n_repaired) == (2, 1, 0)
    assert report.counts() == {"empty_geometry": 1}
    assert report.to_dict()["left_out"] == 1


@pytest.mark.parametrize(
    "geom", [LineString([(28, -2), (28.1, -1.9)]), Point(28.05, -1.95)], ids=["line", "point"]
)
def test_non_polygon_concession_is_wrong_geometry_type(geom):
    raw = layer(["a", "b"], [box(28, -2, 28.1, -1.9), geom])
    clean, report = validate_layer(raw, "concessions")
    assert clean["conc_id"].tolist() == ["a"]
    assert rules(report) == [("wrong_geometry_type", 2, "b")]
    assert geom.geom_type in report.issues["detail"].iloc[0]
    assert report.n_dropped == 1


def test_sites_may_be_points_and_polygons_but_not_lines():
    raw = layer(
        ["p", "poly", "line"],
        [Point(28, -2), box(28, -2, 28.1, -1.9), LineString([(28, -2), (28.1, -1.9)])],
        kind="sites",
    )
    clean, report = validate_layer(raw, "sites")
    assert clean["site_id"].tolist() == ["p", "poly"]
    assert rules(report) == [("wrong_geometry_type", 3, "line")]


def test_collection_keeps_polygon_parts():
    mixed = shapely.GeometryCollection([box(0, 0, 1, 1), LineString([(2, 2), (3, 3)])])
    clean, report = validate_layer(layer(["a"], [mixed]), "concessions")
    assert clean.geometry.iloc[0].geom_type == "MultiPolygon"
    assert clean.geometry.iloc[0].equals(box(0, 0, 1, 1))
    assert report.issues.empty


def test_three_d_coordinates_are_flattened():
    poly3d = Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 1, 5)])
    clean, _ = validate_layer(layer(["a"], [poly3d]), "concessions")
    assert not clean.geometry.iloc[0].has_z


def test_out_of_range_coordinates_reported_with_row():
    raw = layer(
        ["a", "b", "c", "d"],
        [Point(28, -2), Point(200.0, -2.0), Point(28.1, -2.1), Point(28.2, 95.0)],
        kind="sites",
    )
    clean, report = validate_layer(raw, "sites")
    assert clean["site_id"].tolist() == ["a", "c"]
    assert rules(report) == [("out_of_range", 2, "b"), ("out_of_range", 4, "d")]
    assert "longitude 200.0" in report.issues["detail"].iloc[0]
    assert "latitude 95.0" in report.issues["detail"].iloc[1]


def test_single_swapped_feature_is_flagged_in_its_detail():
    # latitude -2, longitude 100 read the wrong way round: y = 100 is out of range.
    raw = layer(["a", "b", "c"], [Point(28, -2), Point(-2.0, 100.0), Point(28.1, -2)],
                kind="sites")
    _, report = validate_layer(raw, "sites")
    assert rules(report) == [("out_of_range", 2, "b")]
    assert "swapped" in report.issues["detail"].iloc[0]


def test_swapped_layer_against_reference_bounds_is_refused():
    # DRC sites with x = latitude, y = longitude: in range, but nowhere near the titles.
    points = [Point(-2.0, 28.0), Point(-2.5, 28.7), Point(-1.2, 29.1)]
    raw = layer(["a", "b", "c"], points, kind="sites")
    clean, _ = validate_layer(raw, "sites")  # without a reference it cannot tell
    assert len(clean) == 3
    with pytest.raises(CRSError, match="latitude and longitude look swapped"):
        validate_layer(raw, "sites", reference_bounds=DRC_BOUNDS)


def test_check_swapped_takes_a_layer_or_its_geometries():
    points = [Point(-2.0, 28.0), Point(-2.5, 28.7), Point(-1.2, 29.1)]
    raw = layer(["a", "b", "c"], points, kind="sites")
    for given in (raw, np.asarray(raw.geometry.values, dtype=object)):
        with pytest.raises(CRSError, match="latitude and longitude look swapped"):
            check_swapped(given, DRC_BOUNDS)
    check_swapped(raw, (-3.0, 27.0, -1.0, 30.0))  # on that extent as read: not swapped
    check_swapped(raw.iloc[:0], DRC_BOUNDS)  # nothing to check


def test_layer_on_the_reference_is_not_called_swapped():
    raw = layer(["a"], [Point(28.0, -2.0)], kind="sites")
    clean, _ = validate_layer(raw, "sites", reference_bounds=DRC_BOUNDS)
    assert len(clean) == 1


def test_projected_coordinates_in_lon_lat_file_are_refused():
    # UTM 35S metres (EPSG:32735) labelled as EPSG:4326.
    utm = [box(500_000, 9_700_000, 510_000, 9_710_000), box(520_000, 9_720_000, 530_000,
                                                             9_730_000)]
    raw = layer(["a", "b"], utm)
    with pytest.raises(CRSError, match="metres in a projected coordinate system"):
        validate_layer(raw, "concessions")


def test_duplicate_ids_made_unique():
    raw = layer(["x", "x", "y", "x"], [box(i, 0, i + 0.5, 0.5) for i in range(4)])
    clean, report = validate_layer(raw, "concessions")
    assert clean["conc_id"].tolist() == ["x", "x-2", "y", "x-3"]
    assert rules(report) == [("duplicate_id", 2, "x"), ("duplicate_id", 4, "x")]
    assert report.issues["detail"].tolist() == ["renamed x to x-2", "renamed x to x-3"]
    assert report.n_dropped == 0


def test_duplicate_id_does_not_collide_with_existing_suffix():
    raw = layer(["x", "x-2", "x"], [box(i, 0, i + 0.5, 0.5) for i in range(3)])
    clean, _ = validate_layer(raw, "concessions")
    assert clean["conc_id"].is_unique
    assert clean["conc_id"].tolist()[:2] == ["x", "x-2"]


def test_far_outside_feature_is_reported_and_kept():
    geoms = [Point(28 + 0.05 * i, -2 - 0.03 * i) for i in range(12)] + [Point(-60.0, -10.0)]
    raw = layer([f"s{i}" for i in range(13)], geoms, kind="sites")
    clean, report = validate_layer(raw, "sites")
    assert len(clean) == 13
    assert rules(report) == [("far_outside", 13, "s12")]


def test_nothing_left_raises_geometry_error():
    raw = layer(["a", "b"], [None, LineString([(0, 0), (1, 1)])])
    with pytest.raises(GeometryError, match="No usable concessions are left"):
        validate_layer(raw, "concessions")


def test_input_is_not_mutated():
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    raw = layer(["x", "x"], [bowtie, box(2, 2, 3, 3)])
    before = raw.copy()
    validate_layer(raw, "concessions")
    assert raw["conc_id"].tolist() == before["conc_id"].tolist()
    assert raw.geometry.iloc[0].equals_exact(before.geometry.iloc[0], 0)
    assert not raw.geometry.iloc[0].is_valid


def test_all_problems_in_one_report():
    bowtie = Polygon([(28.0, -2.0), (28.1, -1.9), (28.1, -2.0), (28.0, -1.9)])
    raw = layer(
        ["a", "a", "c", "d", "e"],
        [box(28, -2, 28.1, -1.9), bowtie, None, LineString([(28, -2), (29, -1)]),
         box(190, 0, 191, 1)],
    )
    clean, report = validate_layer(raw, "concessions")
    assert clean["conc_id"].tolist() == ["a", "a-2"]
    assert rules(report) == [
        ("duplicate_id", 2, "a"), ("invalid_geometry", 2, "a"), ("empty_geometry", 3, "c"),
        ("wrong_geometry_type", 4, "d"), ("out_of_range", 5, "e"),
    ]
    assert (report.n_input, report.n_kept, report.n_repaired, report.n_dropped) == (5, 2, 1, 3)
    assert len(report.sentences()) == 5


# --- the real cadastre -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cami_validated():
    return validate_layer(normalise_concessions(gpd.read_file(CAMI)), "concessions")


def test_real_cami_report(cami_validated):
    clean, report = cami_validated
    counts = report.counts()
    assert counts == {"duplicate_id": 1, "far_outside": 1}
    duplicate = report.issues[report.issues["rule"] == "duplicate_id"].iloc[0]
    far = report.issues[report.issues["rule"] == "far_outside"].iloc[0]
    assert duplicate["id"] == "2791"
    assert far["id"] == "13214"
    assert (report.n_input, report.n_kept, report.n_dropped) == (2973, 2973, 0)
    assert clean["conc_id"].is_unique
    assert {"2791", "2791-2"} <= set(clean["conc_id"])


def test_real_cami_far_outside_is_really_far(cami_validated):
    clean, report = cami_validated
    far = report.issues[report.issues["rule"] == "far_outside"].iloc[0]
    geom = clean.geometry.iloc[int(far["row"]) - 1]
    others = np.asarray(clean.geometry.drop(index=int(far["row"]) - 1).values, dtype=object)
    centre = shapely.centroid(shapely.union_all(shapely.centroid(others)))
    point = geom.representative_point()
    _, _, metres = GEOD.inv(point.x, point.y, centre.x, centre.y)
    assert metres > 1_000_000
