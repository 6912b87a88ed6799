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
    points = shapely.points(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    layer = countries()
    names = layer["name"].to_numpy()
    result = np.full(len(points), None, dtype=object)
    tree = shapely.STRtree(np.asarray(layer.geometry.values, dtype=object))
    valid = np.flatnonzero(shapely.is_geometry(points) & ~shapely.is_empty(points))
    inside_pt, inside_country = tree.query(points[valid], predicate="within")
    result[valid[inside_pt]] = names[inside_country]
    rest = valid[np.isin(valid, valid[inside_pt], invert=True)]
    if len(rest):
        pt, country = tree.query_nearest(
            points[rest], max_distance=_COAST_TOLERANCE_DEG, all_matches=False
        )
        result[rest[pt]] = names[country]
    return result
