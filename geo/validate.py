"""Validation and repair of a normalised layer, collected into one report.

Every problem found becomes one row of the report (rule, row, id, detail). Invalid geometry
is repaired with :func:`shapely.make_valid` (polygon parts kept) and counted; features that
cannot be used (null or empty geometry, wrong type, coordinates out of range) are left out
and counted; duplicate identifiers are made unique; features far from the rest of the layer
and a layer that looks like swapped latitude and longitude are reported.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Polygon, box
>>> bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
>>> layer = gpd.GeoDataFrame({"site_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), bowtie],
...                          crs=4326)
>>> clean, report = validate_layer(layer, "sites")
>>> report.n_repaired, len(clean)
(1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import CRSError, GeometryError
from geo.i18n import N_, _, ngettext
from geo.schema import ID_COLUMN, REPORT_COLUMNS, LayerKind

#: Report rules, with the plain sentence each stands for and whether the feature is kept.
#: The sentences are English, marked for extraction; :meth:`ValidationReport.sentences`
#: translates them when the report is shown.
RULES: dict[str, tuple[str, bool]] = {
    "invalid_geometry": (N_("geometry was invalid and has been repaired"), True),
    "crosses_antimeridian": (
        N_("polygon crosses the 180° meridian and has been split there"), True),
    "empty_geometry": (N_("geometry is missing or empty, so the feature was left out"), False),
    "wrong_geometry_type": (
        N_("geometry type cannot be used, so the feature was left out"), False),
    "out_of_range": (
        N_("coordinates are outside longitude/latitude range and were left out"), False),
    "swapped_lat_lon": (N_("latitude and longitude look swapped"), False),
    "duplicate_id": (N_("identifier was already used and has been made unique"), True),
    "far_outside": (N_("feature lies far outside the rest of the layer (kept; check it)"), True),
}

#: A feature farther than this many times the layer's 95th-percentile spread is reported.
OUTLIER_SPREAD_FACTOR = 3.0
#: ... or farther than this from any other feature of the layer (km).
OUTLIER_MIN_KM = 500.0
#: Kilometres per degree of latitude, for the rough distances of the outlier rule only.
KM_PER_DEGREE = 111.2

#: A missing geometry, for vectorised ``np.where`` choices.
NO_GEOMETRY = np.array(None, dtype=object)
_POLYGONAL = {"Polygon", "MultiPolygon"}
_PUNCTUAL = {"Point", "MultiPoint"}


@dataclass(frozen=True)
class ValidationReport:
    """What validation found in one layer.

    Attributes
    ----------
    kind : {"concessions", "sites"}
    issues : DataFrame
        One row per problem, columns :data:`geo.schema.REPORT_COLUMNS`; ``row`` is the
        feature's 1-based position in the file.
    n_input, n_kept, n_repaired, n_dropped : int
        Features read, kept, repaired (kept) and left out.
    """

    kind: LayerKind
    issues: pd.DataFrame = field(repr=False)
    n_input: int
    n_kept: int
    n_repaired: int
    n_dropped: int

    def counts(self) -> dict[str, int]:
        """Number of problems per rule, rules with none left out."""
        return {str(k): int(v) for k, v in self.issues["rule"].value_counts().items()}

    def sentences(self) -> list[str]:
        """The report in plain words, one sentence per rule that fired, in the current
        language (:mod:`geo.i18n`)."""
        return [
            ngettext("{count} feature: {problem}.", "{count} features: {problem}.", count).format(
                count=count, problem=_(RULES[rule][0]))
            for rule, count in self.counts().items()
        ]

    def to_dict(self) -> dict[str, object]:
        """Counts as a JSON-ready dict."""
        return {
            "features_read": self.n_input,
            "features_kept": self.n_kept,
            "repaired": self.n_repaired,
            "left_out": self.n_dropped,
            "problems": self.counts(),
        }


def validate_layer(
    layer: gpd.GeoDataFrame,
    kind: LayerKind,
    *,
    reference_bounds: tuple[float, float, float, float] | None = None,
) -> tuple[gpd.GeoDataFrame, ValidationReport]:
    """Check, repair and clean a normalised layer.

    Parameters
    ----------
    layer : GeoDataFrame
        A layer in EPSG:4326 normalised by :mod:`geo.schema` (it has the kind's id column).
    kind : {"concessions", "sites"}
        Concessions must be polygons; sites may be points or polygons.
    reference_bounds : tuple, optional
        ``(minx, miny, maxx, maxy)`` of the other layer: the usable features are checked
        against it last, with :func:`check_swapped`.

    Returns
    -------
    (GeoDataFrame, ValidationReport)
        The usable features (repaired, 2-D, unique ids, index reset) and the report.

    Raises
    ------
    CRSError
        Most coordinates are far outside longitude/latitude range (projected coordinates in
        a file that claims lon/lat), or the layer's latitude and longitude look swapped.
    GeometryError
        No usable feature is left.
    """
    id_column = ID_COLUMN[kind]
    ids = layer[id_column].astype(str).to_numpy()
    geoms = np.asarray(layer.geometry.values, dtype=object)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    found: list[pd.DataFrame] = []

    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    found.append(_issues("empty_geometry", empty, ids, "no geometry"))

    keep = ~empty
    keep &= _check_range(geoms, keep, ids, found)

    crossing = keep & _crosses_antimeridian(geoms)
    found.append(_issues("crosses_antimeridian", crossing, ids, _span_detail(geoms, crossing)))
    geoms = np.where(crossing, _split_at_antimeridian(np.where(crossing, geoms, NO_GEOMETRY)),
                     geoms)

    invalid = keep & ~shapely.is_valid(geoms)
    reasons = shapely.is_valid_reason(np.where(invalid, geoms, NO_GEOMETRY))
    found.append(_issues("invalid_geometry", invalid, ids, reasons))
    geoms = np.where(invalid, shapely.make_valid(np.where(invalid, geoms, NO_GEOMETRY)), geoms)

    geoms, wrong_type = _keep_usable_parts(geoms, keep, kind)
    found.append(_issues("wrong_geometry_type", wrong_type, ids, shapely.get_type_id(geoms)))
    keep &= ~wrong_type

    new_ids, duplicated = _unique_ids(ids)
    found.append(_issues("duplicate_id", duplicated & keep, ids, _renamed(ids, new_ids)))

    far = _far_outside(geoms, keep)
    found.append(_issues("far_outside", far, ids, _distance_detail(geoms, keep, far)))

    clean = layer.loc[keep].copy()
    clean[id_column] = new_ids[keep]
    clean = clean.set_geometry(gpd.GeoSeries(geoms[keep], index=clean.index, crs=layer.crs))
    clean = clean.reset_index(drop=True)
    issues = pd.concat(found, ignore_index=True).sort_values(["row", "rule"], kind="stable")
    report = ValidationReport(
        kind=kind,
        issues=issues.reset_index(drop=True),
        n_input=len(layer),
        n_kept=int(keep.sum()),
        n_repaired=int(((invalid | crossing) & keep).sum()),
        n_dropped=int((~keep).sum()),
    )
    if report.n_kept == 0:
        detail = " ".join(report.sentences()) or _("The layer has no features.")
        message = (
            _("No usable concessions are left in the file.")
            if kind == "concessions"
            else _("No usable sites are left in the file.")
        )
        raise GeometryError(f"{message} {detail}")
    if reference_bounds is not None:
        check_swapped(clean, reference_bounds)
    return clean, report


def _issues(rule: str, mask: np.ndarray, ids: np.ndarray, detail: object) -> pd.DataFrame:
    rows = np.flatnonzero(mask)
    details = np.broadcast_to(np.asarray(detail, dtype=object), mask.shape)[rows]
    if rule == "wrong_geometry_type":
        details = np.array(
            [f"geometry type {_TYPE_NAMES.get(int(t), 'unknown')}" for t in details], dtype=object
        )
    frame = pd.DataFrame(
        {"rule": rule, "row": rows + 1, "id": ids[rows], "detail": [str(d) for d in details]}
    )
    return frame[list(REPORT_COLUMNS)]


_TYPE_NAMES = {
    -1: "missing", 0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon",
    4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection",
}


def _check_range(
    geoms: np.ndarray, keep: np.ndarray, ids: np.ndarray, found: list[pd.DataFrame]
) -> np.ndarray:
    """Leave out features with non-finite or out-of-range coordinates; refuse projected data."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    bad_coord = ~np.isfinite(coords).all(axis=1)
    bad_coord |= (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    bad = np.zeros(len(geoms), dtype=bool)
    bad[owner[bad_coord]] = True
    bad &= keep
    if keep.sum() and bad.sum() > 0.5 * keep.sum() and np.nanmax(np.abs(coords)) > 1000:
        raise CRSError(_(
            "The coordinates look like metres in a projected coordinate system, but the "
            "file says longitude/latitude. Choose the CRS the coordinates are in."
        ))
    swapped = np.zeros(len(geoms), dtype=bool)
    swap_coord = bad_coord & (np.abs(coords[:, 1]) <= 180) & (np.abs(coords[:, 0]) <= 90)
    swapped[owner[swap_coord]] = True
    swapped &= bad
    first_bad = pd.Series(coords[bad_coord].tolist(), index=owner[bad_coord])
    first_bad = first_bad[~first_bad.index.duplicated()]
    detail = np.full(len(geoms), "", dtype=object)
    for row, (x, y) in zip(first_bad.index.to_numpy(), first_bad.to_numpy(), strict=True):
        detail[row] = f"longitude {x}, latitude {y}"
    detail[swapped] = [f"{d}: latitude and longitude look swapped" for d in detail[swapped]]
    found.append(_issues("out_of_range", bad, ids, detail))
    return ~bad


def _crosses_antimeridian(geoms: np.ndarray) -> np.ndarray:
    """Polygons with a part spanning over 180° of longitude: drawn from 179.9 to -179.9 the
    long way round, they would cover the whole world instead of a strip across the 180th
    meridian."""
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    whole = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):  # NaN bounds of empty geometry compare False
        polygonal &= whole[:, 2] - whole[:, 0] > 180  # a part this wide makes its owner as wide
    if not polygonal.any():
        return polygonal
    parts, owner = shapely.get_parts(np.where(polygonal, geoms, NO_GEOMETRY), return_index=True)
    bounds = shapely.bounds(parts)
    wide = (bounds[:, 2] - bounds[:, 0] > 180) & (bounds[:, 0] < 0) & (bounds[:, 2] > 0)
    crossing = np.zeros(len(geoms), dtype=bool)
    crossing[owner[wide]] = True
    return crossing


def _split_at_antimeridian(geoms: np.ndarray) -> np.ndarray:
    """Shift western longitudes by 360°, cut at 180° and shift the eastern piece back."""
    shifted = shapely.transform(
        geoms, lambda xy: np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360, xy[:, 0]),
                                           xy[:, 1]]))
    shifted = shapely.make_valid(shifted)
    west = shapely.intersection(shifted, shapely.box(-180, -90, 180, 90))
    east = shapely.intersection(shifted, shapely.box(180, -90, 540, 90))
    east = shapely.transform(east, lambda xy: xy - np.array([360.0, 0.0]))
    return shapely.union(west, east)


def _span_detail(geoms: np.ndarray, crossing: np.ndarray) -> np.ndarray:
    detail = np.full(len(geoms), "", dtype=object)
    if crossing.any():
        bounds = shapely.bounds(geoms[crossing])
        detail[crossing] = [f"longitudes from {w:g} to {e:g}" for w, e in bounds[:, [0, 2]]]
    return detail


def check_swapped(
    layer: gpd.GeoDataFrame | np.ndarray,
    reference_bounds: tuple[float, float, float, float],
) -> None:
    """Refuse a layer that misses the other layer's extent while its swapped coordinates
    meet it: latitude and longitude read the wrong way round.

    :func:`validate_layer` runs it last when given ``reference_bounds``; a caller that
    validates two layers at once runs it on the validated layer when the other's extent is
    known.

    Parameters
    ----------
    layer : GeoDataFrame or ndarray of geometries
        A validated layer in EPSG:4326, or its geometries.
    reference_bounds : tuple
        ``(minx, miny, maxx, maxy)`` of the other layer (see :func:`core_bounds`).

    Raises
    ------
    CRSError
        The layer's latitude and longitude look swapped.

    Examples
    --------
    >>> from shapely import box
    >>> check_swapped(np.array([box(28, -3, 28.1, -2.9)]), (27, -4, 30, -1))  # on it
    >>> check_swapped(np.array([box(-3, 28, -2.9, 28.1)]), (27, -4, 30, -1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geo.errors.CRSError: The layer's latitude and longitude look swapped: ...
    """
    geoms = (np.asarray(layer.geometry.values, dtype=object)
             if isinstance(layer, gpd.GeoDataFrame) else layer)
    if len(geoms) == 0:
        return
    reference = shapely.box(*reference_bounds)
    bounds = shapely.total_bounds(geoms)
    as_read = shapely.box(*bounds)
    swapped = shapely.box(bounds[1], bounds[0], bounds[3], bounds[2])
    if not as_read.intersects(reference) and swapped.intersects(reference):
        raise CRSError(_(
            "The layer's latitude and longitude look swapped: read as they are, the features "
            "lie far from the other layer, and swapped they fall on it. Swap the coordinate "
            "columns (longitude is x, latitude is y) and upload again."
        ))


def _keep_usable_parts(
    geoms: np.ndarray, keep: np.ndarray, kind: LayerKind
) -> tuple[np.ndarray, np.ndarray]:
    """Keep polygon parts (and point parts for sites); flag features with none."""
    types = shapely.get_type_id(geoms)
    collection = types == 7
    if collection.any():
        parts, owner = shapely.get_parts(geoms[collection], return_index=True)
        parts, sub_owner = shapely.get_parts(parts, return_index=True)
        owner = owner[sub_owner]
        polygonal = shapely.get_type_id(parts) == 3
        rebuilt = np.full(collection.sum(), None, dtype=object)
        if polygonal.any():
            owners, dense = np.unique(owner[polygonal], return_inverse=True)
            rebuilt[owners] = shapely.multipolygons(parts[polygonal], indices=dense)
        geoms = geoms.copy()
        geoms[np.flatnonzero(collection)] = rebuilt
    allowed = _POLYGONAL | (_PUNCTUAL if kind == "sites" else set())
    allowed_ids = [type_id for type_id, name in _TYPE_NAMES.items() if name in allowed]
    wrong = keep & ~np.isin(shapely.get_type_id(geoms), allowed_ids)
    return geoms, wrong


def _unique_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Append ``-2``, ``-3``... to repeated identifiers; mark the repeats."""
    series = pd.Series(ids)
    if not series.duplicated().any():
        return ids.astype(object), np.zeros(len(ids), dtype=bool)
    occurrence = series.groupby(series).cumcount().to_numpy()
    duplicated = occurrence > 0
    new_ids = ids.astype(object).copy()
    taken = set(ids)
    for row in np.flatnonzero(duplicated):
        k = occurrence[row] + 1
        while f"{ids[row]}-{k}" in taken:
            k += 1
        new_ids[row] = f"{ids[row]}-{k}"
        taken.add(new_ids[row])
    return new_ids, duplicated


def _renamed(ids: np.ndarray, new_ids: np.ndarray) -> np.ndarray:
    detail = np.full(len(ids), "", dtype=object)
    changed = np.flatnonzero(ids != new_ids)
    detail[changed] = [f"renamed {ids[row]} to {new_ids[row]}" for row in changed]
    return detail


def _far_outside(geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Features whose distance to the layer's median centre dwarfs the layer's spread."""
    far = np.zeros(len(geoms), dtype=bool)
    if keep.sum() < 10:
        return far
    x, y = first_vertices(np.where(keep, geoms, NO_GEOMETRY))
    distance = _centre_distance_km(x, y, keep)
    spread = np.nanpercentile(distance[keep], 95)
    far[keep] = distance[keep] > max(OUTLIER_SPREAD_FACTOR * spread, OUTLIER_MIN_KM)
    rows = np.flatnonzero(keep)
    far[_isolated(geoms, rows, np.column_stack([x[rows], y[rows]]))] = True
    return far


def first_vertices(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of each geometry's first vertex (NaN for none): a point on
    every feature, much cheaper than a point on its surface."""
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    x, y = np.full(len(geoms), np.nan), np.full(len(geoms), np.nan)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner
    x[owner[first]], y[owner[first]] = coords[first, 0], coords[first, 1]
    return x, y


def _isolated(
    geoms: np.ndarray, rows: np.ndarray, xy: np.ndarray | None = None
) -> np.ndarray:
    """Rows farther than :data:`OUTLIER_MIN_KM` from every other feature.

    The gap between points on the features is never smaller than the gap between the
    features, so only features whose points are isolated are checked on their geometry.
    Points sharing a grid cell whose diagonal is :data:`OUTLIER_MIN_KM` are not isolated;
    only the points alone in their cell are searched for their nearest neighbour.
    ``xy`` holds the coordinates of a point on each of ``geoms[rows]`` (default: their
    representative points).
    """
    if xy is None:
        xy = shapely.get_coordinates(shapely.point_on_surface(geoms[rows]))
    alone = np.flatnonzero(_alone_in_cell(xy, OUTLIER_MIN_KM / KM_PER_DEGREE / np.sqrt(2)))
    if len(alone) == 0:
        return rows[:0]
    points = shapely.points(xy)
    (source, _nearest), gap_deg = shapely.STRtree(points).query_nearest(
        points[alone], exclusive=True, all_matches=False, return_distance=True
    )
    candidates = rows[alone[source[gap_deg * KM_PER_DEGREE > OUTLIER_MIN_KM]]]
    if len(candidates) == 0:
        return candidates
    (source, _nearest), gap_deg = shapely.STRtree(geoms[rows]).query_nearest(
        geoms[candidates], exclusive=True, all_matches=False, return_distance=True
    )
    return candidates[source[gap_deg * KM_PER_DEGREE > OUTLIER_MIN_KM]]


def _alone_in_cell(xy: np.ndarray, cell_deg: float) -> np.ndarray:
    """True for the positions ``(n, 2)`` that share their ``cell_deg`` grid cell with no
    other."""
    cells = np.floor(xy / cell_deg).astype(np.int64)
    key = cells[:, 0] * (1 << 32) + cells[:, 1]  # |cell| < 2**31 for any lon/lat
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return counts[inverse] == 1


def _distance_to_centre_km(geoms: np.ndarray, keep: np.ndarray) -> np.ndarray:
    points = shapely.point_on_surface(np.where(keep, geoms, NO_GEOMETRY))
    return _centre_distance_km(shapely.get_x(points), shapely.get_y(points), keep)


def _centre_distance_km(x: np.ndarray, y: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Great-circle distance (km) of each position to the median centre of the kept ones."""
    lon0, lat0 = np.nanmedian(x[keep]), np.nanmedian(y[keep])
    lon, lat = np.radians(x), np.radians(y)
    dlat, dlon = lat - np.radians(lat0), lon - np.radians(lon0)
    a = np.sin(dlat / 2) ** 2 + np.cos(lat) * np.cos(np.radians(lat0)) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _distance_detail(geoms: np.ndarray, keep: np.ndarray, far: np.ndarray) -> np.ndarray:
    detail = np.full(len(geoms), "", dtype=object)
    if far.any():
        distance = _distance_to_centre_km(geoms, keep)
        points = shapely.point_on_surface(geoms[far])
        detail[far] = [
            f"about {d:,.0f} km from the layer's centre, at longitude {x:.2f}, latitude {y:.2f}"
            for d, x, y in zip(distance[far], shapely.get_x(points), shapely.get_y(points),
                               strict=True)
        ]
    return detail


def core_bounds(layer: gpd.GeoDataFrame, *, percentile: float = 2.0) -> tuple[
    float, float, float, float
]:
    """Extent of the bulk of a layer: the ``percentile`` to ``100 - percentile`` range of its
    features' first vertices, so a few far outliers do not stretch it.

    Returns
    -------
    tuple
        ``(minx, miny, maxx, maxy)`` in the layer's CRS.
    """
    geoms = np.asarray(layer.geometry.values, dtype=object)
    x, y = first_vertices(geoms)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0:
        raise GeometryError(_("The layer has no geometry to measure."))
    low, high = percentile, 100.0 - percentile
    return (float(np.percentile(x, low)), float(np.percentile(y, low)),
            float(np.percentile(x, high)), float(np.percentile(y, high)))
