"""Which country each position lies in, from the bundled Natural Earth 1:110m countries.

Examples
--------
>>> country_of([28.0], [-3.0]).tolist()
['Dem. Rep. Congo']
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

#: Natural Earth 1:110m admin-0 countries (public domain), bundled with the project.
COUNTRIES_PATH = Path(__file__).resolve().parents[1] / "data" / "world" / (
    "ne_110m_admin_0_countries.geojson"
)
#: A position this close (degrees) to a coarse coastline still gets that country.
_COAST_TOLERANCE_DEG = 0.5


@lru_cache(maxsize=1)
def countries() -> gpd.GeoDataFrame:
    """The bundled countries layer (``iso_a3``, ``name``, geometry), read once."""
    layer = gpd.read_file(COUNTRIES_PATH, columns=["iso_a3", "name"])
    return layer.set_crs(4326, allow_override=True)


def country_of(lon: np.ndarray | list[float], lat: np.ndarray | list[float]) -> np.ndarray:
    """Name of the country containing each lon/lat position (nearest within 0.5 degrees).

    Returns
    -------
    ndarray of object
        Country names; ``None`` where no country is near (open sea, missing position).
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    names = countries()["name"].to_numpy()
    shapes, tree = _prepared_countries()
    result = np.full(len(x), None, dtype=object)
    valid = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    points = shapely.points(x[valid], y[valid])
    point, country = tree.query(points)
    within = shapely.contains_xy(shapes[country], x[valid][point], y[valid][point])
    result[valid[point[within]]] = names[country[within]]
    rest = valid[np.isin(np.arange(len(valid)), point[within], invert=True)]
    if len(rest):
        pt, country = tree.query_nearest(
            shapely.points(x[rest], y[rest]), max_distance=_COAST_TOLERANCE_DEG,
            all_matches=False,
        )
        result[rest[pt]] = names[country]
    return result


@lru_cache(maxsize=1)
def _prepared_countries() -> tuple[np.ndarray, shapely.STRtree]:
    """The countries' geometries, prepared for fast point tests, and their spatial index."""
    shapes = np.asarray(countries().geometry.values, dtype=object).copy()
    shapely.prepare(shapes)
    return shapes, shapely.STRtree(shapes)
