"""Country of a position (geo.regions), against a plain loop over the countries."""

from __future__ import annotations

import numpy as np
import shapely

from geo.regions import countries, country_of


def plain_country(lon: float, lat: float) -> str | None:
    """The country whose interior holds the point, else the nearest within 0.5 degrees."""
    if not (np.isfinite(lon) and np.isfinite(lat)):
        return None
    point = shapely.Point(lon, lat)
    layer = countries()
    inside = [name for name, shape in zip(layer["name"], layer.geometry, strict=True)
              if shape.contains(point)]
    if inside:
        return inside[-1]
    distances = shapely.distance(np.asarray(layer.geometry.values, dtype=object), point)
    nearest = int(np.argmin(distances))
    return str(layer["name"].iloc[nearest]) if distances[nearest] <= 0.5 else None


def test_country_of_matches_a_plain_loop():
    rng = np.random.default_rng(11)
    lon = np.r_[rng.uniform(-20, 55, 400), rng.uniform(-180, 180, 200), [np.nan, 30.0, 39.6]]
    lat = np.r_[rng.uniform(-36, 38, 400), rng.uniform(-70, 80, 200), [1.0, np.nan, -5.0]]
    expected = [plain_country(x, y) for x, y in zip(lon, lat, strict=True)]
    found = country_of(lon, lat)
    assert found.tolist() == expected
    assert None in expected
    assert "Dem. Rep. Congo" in expected


def test_country_of_nothing():
    assert country_of([], []).size == 0
