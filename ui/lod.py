"""Level of detail of the large maps: what a map sends for the part of the world in view.

A national cadastre (100,000 titles and as many sites) drawn as vector features is a 90 MB
page that stalls the browser. The main map, the Overview's thumbnail and the Upload preview
send instead, within a budget of :data:`MAX_PAYLOAD_BYTES` for the whole page:

* everything, as vector features with their tooltips and popups, when it all fits
  (the bundled DR Congo data: the map does not depend on the view);
* otherwise, for the part in view (:class:`View`, from st_folium's ``bounds`` and ``zoom``,
  widened to a :func:`window` so that small pans change nothing):

  - concessions, overlap zones and site polygons as vector features, simplified to half a
    screen pixel at that zoom, when those in the window fit; else as images
    (:func:`raster_png`: drawn here with matplotlib in Web Mercator, one
    ``L.imageOverlay`` per layer, :class:`ImageLayer`), where a click selects the title
    under the pointer (:meth:`MapIndex.concession_at`);
  - sites as clustered markers with popups when those in the window fit, else as a grid of
    counts (:func:`site_grid`, :class:`SiteGrid`) whose cells zoom in when clicked.

:class:`MapIndex` holds what this needs per analysis (bounds, paths for the images),
computed once; :func:`plan` decides, per view, what each layer sends. Nothing here imports
Streamlit.

Examples
--------
>>> view = View.fitting([[-5.0, 20.0], [5.0, 30.0]])
>>> view.zoom
6
>>> west, south, east, north = window(view, (20.0, -5.0, 30.0, 5.0))
>>> west <= 20.0 and east >= 30.0 and south <= -5.0 and north >= 5.0
True
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import branca.element
import folium.elements
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import MarkerCluster
from folium.template import Template
from jinja2.utils import htmlsafe_json_dumps
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.colors import to_rgba
from matplotlib.path import Path
from matplotlib.transforms import Affine2D, Bbox

from ui.offline import MAX_ZOOM, MIN_ZOOM

#: The most a page's map may weigh (HTML, scripts and data), in bytes.
MAX_PAYLOAD_BYTES = 3_000_000
#: What the map around the layers weighs (Leaflet and its plugins inlined, the country
#: outlines, the legend): the layers get the rest of :data:`MAX_PAYLOAD_BYTES`.
BASE_BYTES = 500_000
#: Estimated bytes per vector feature sent (its properties, tooltip and popup fields) and per
#: coordinate pair, measured on the maps of the bundled data.
FEATURE_BYTES: dict[str, int] = {"concessions": 400, "zones": 160, "site_polygons": 360,
                                 "site_markers": 190}
COORDINATE_BYTES = 20
#: Vector features considered at all before the byte estimate (a quick first cut).
MAX_VECTOR_FEATURES = 12_000
#: Widest image sent, in pixels per side.
MAX_IMAGE_PX = 2048
#: Size (px) of the map assumed before the browser reports its view: the Map page's map.
ASSUMED_MAP_PX: tuple[int, int] = (800, 620)
#: Side (px) of a cell of the site grid.
GRID_CELL_PX = 80
#: The window is the view widened by this share of its size on each side.
WINDOW_MARGIN = 0.5
#: Images kept (the last views of the last maps, for every session); also the site grids
#: kept per map index.
IMAGES_KEPT = 32
#: zlib level of the images (:func:`png_bytes`): fast; they are small next to the budget.
PNG_COMPRESSION = 1
#: Features smaller than this many pixels across are drawn as their bounding box.
BOX_PX = 2.0

#: A base64 ``data:`` URI: nothing in it to escape in JSON or HTML.
_PLAIN_DATA_URI = re.compile(r"data:[a-z]+/[a-z+.-]+;base64,[A-Za-z0-9+/=]*")

_IMAGES: OrderedDict[tuple[Any, ...], str | None] = OrderedDict()
_IMAGES_LOCK = threading.Lock()

Detail = Literal["all", "vector", "image"]
SiteDetail = Literal["all", "markers", "grid"]


# --- the view ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """What a map shows: its bounds (degrees) and zoom level."""

    south: float
    west: float
    north: float
    east: float
    zoom: int

    @classmethod
    def from_returned(cls, returned: Mapping[str, Any] | None) -> View | None:
        """The view in st_folium's return value (``bounds`` and ``zoom``), or None.

        Examples
        --------
        >>> View.from_returned({"zoom": 9, "bounds": {"_southWest": {"lat": -3, "lng": 28},
        ...                                           "_northEast": {"lat": -2, "lng": 29}}})
        View(south=-3.0, west=28.0, north=-2.0, east=29.0, zoom=9)
        >>> View.from_returned({"zoom": None, "bounds": None}) is None
        True
        """
        try:
            bounds = (returned or {})["bounds"]
            south, west = bounds["_southWest"]["lat"], bounds["_southWest"]["lng"]
            north, east = bounds["_northEast"]["lat"], bounds["_northEast"]["lng"]
            zoom = int((returned or {})["zoom"])
            values = [float(v) for v in (south, west, north, east)]
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) for v in values) or values[0] >= values[2]:
            return None
        south, west, north, east = values
        if east <= west:  # across the antimeridian: the whole width
            west, east = -180.0, 180.0
        return cls(max(south, -85.0), max(west, -180.0), min(north, 85.0), min(east, 180.0),
                   int(np.clip(zoom, MIN_ZOOM, MAX_ZOOM)))

    @classmethod
    def fitting(cls, bounds: Sequence[Sequence[float]] | None,
                size: tuple[int, int] = ASSUMED_MAP_PX) -> View:
        """The view Leaflet's ``fitBounds`` shows for ``[[south, west], [north, east]]`` on
        a map of ``size`` pixels (the whole world without bounds)."""
        if bounds is None:
            return cls(-60.0, -180.0, 75.0, 180.0, MIN_ZOOM)
        (south, west), (north, east) = bounds
        width = max((east - west) / 360.0 * 256.0, 1e-9)
        height = max((mercator(north) - mercator(south)) / 360.0 * 256.0, 1e-9)
        scale = min(size[0] / width, size[1] / height)
        zoom = int(np.clip(math.floor(math.log2(scale)), MIN_ZOOM, MAX_ZOOM))
        half_x = size[0] / 2 * degrees_per_pixel(zoom)
        half_y = size[1] / 2 * degrees_per_pixel(zoom)
        centre_x, centre_y = (west + east) / 2, (mercator(south) + mercator(north)) / 2
        return cls(float(inverse_mercator(centre_y - half_y)), centre_x - half_x,
                   float(inverse_mercator(centre_y + half_y)), centre_x + half_x, zoom)

    @property
    def pixel(self) -> float:
        """Degrees of longitude per screen pixel at this zoom."""
        return degrees_per_pixel(self.zoom)


def degrees_per_pixel(zoom: int) -> float:
    """Degrees of longitude (and of Mercator y) per pixel at ``zoom`` (256-pixel tiles)."""
    return 360.0 / (256.0 * 2.0 ** zoom)


def mercator(lat: Any) -> Any:
    """Web Mercator y of latitudes, in degrees (equal to longitude degrees on screen)."""
    clipped = np.clip(np.asarray(lat, dtype=float), -85.0511, 85.0511)
    return np.degrees(np.log(np.tan(np.pi / 4 + np.radians(clipped) / 2)))


def inverse_mercator(y: Any) -> Any:
    """Latitudes of Web Mercator y given in degrees."""
    return np.degrees(2 * np.arctan(np.exp(np.radians(np.asarray(y, dtype=float)))) - np.pi / 2)


Window = tuple[float, float, float, float]


def window(view: View, extent: Window | None) -> Window:
    """``(west, south, east, north)`` of what a map sends for ``view``.

    The whole data ``extent`` when it fits in :data:`MAX_IMAGE_PX` pixels at the view's
    zoom; else the view widened by :data:`WINDOW_MARGIN` on each side, cut to the extent.
    Edges are snapped to 256-pixel tiles: small pans, and filters that move the extent a
    little, keep the same window.
    """
    pixel = view.pixel
    tile = 256 * pixel
    data = None if extent is None else _snapped(extent, tile)
    if data is not None:
        wide = (data[2] - data[0]) / pixel
        tall = (mercator(data[3]) - mercator(data[1])) / pixel
        if wide <= MAX_IMAGE_PX and tall <= MAX_IMAGE_PX:
            return data
    bottom, top = float(mercator(view.south)), float(mercator(view.north))
    pad_x = (view.east - view.west) * WINDOW_MARGIN
    pad_y = (top - bottom) * WINDOW_MARGIN
    west, south, east, north = _snapped(
        (view.west - pad_x, float(inverse_mercator(bottom - pad_y)),
         view.east + pad_x, float(inverse_mercator(top + pad_y))), tile)
    if data is not None:
        west, south = max(west, data[0]), max(south, data[1])
        east, north = min(east, data[2]), min(north, data[3])
        if west >= east or south >= north:  # nothing of the data in view
            west, south, east, north = view.west, view.south, view.east, view.north
    return (float(west), float(south), float(east), float(north))


def _snapped(box: Window, tile: float) -> Window:
    """``box`` widened to the edges of ``tile``-wide tiles (Mercator y for latitudes)."""
    west, south, east, north = box
    low = math.floor(float(mercator(south)) / tile) * tile
    high = math.ceil(float(mercator(north)) / tile) * tile
    return (math.floor(west / tile) * tile, float(inverse_mercator(low)),
            math.ceil(east / tile) * tile, float(inverse_mercator(high)))


# --- what each layer sends ---------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a map sends for one view.

    Attributes
    ----------
    polygons : {"all", "vector", "image"}
        Concessions, overlap zones and site polygons: all of them as vector features, those
        in ``window`` as vector features, or images of ``window``.
    sites : {"all", "markers", "grid"}
        Site points: all as clustered markers, those in ``window`` as clustered markers, or
        a grid of counts over ``window``.
    window : (west, south, east, north)
    zoom : int
    tolerance : float
        Simplification (degrees) of the vector features.
    decimals : int
        Decimals of their coordinates.
    rows : dict
        Positions of the features sent per layer (``concessions``, ``zones``,
        ``site_polygons``, ``sites``), when vector.
    """

    polygons: Detail
    sites: SiteDetail
    window: Window
    zoom: int
    tolerance: float
    decimals: int
    rows: dict[str, np.ndarray] = field(default_factory=dict)


def precision(zoom: int, finest: float, decimals: int) -> tuple[float, int]:
    """Simplification tolerance (half a pixel, at least ``finest``) and coordinate decimals
    (a tenth of a pixel, at most ``decimals``) at ``zoom``.

    Examples
    --------
    >>> precision(6, 0.0005, 5)
    (0.011, 3)
    >>> precision(14, 0.0005, 5)
    (0.0005, 5)
    """
    pixel = degrees_per_pixel(zoom)
    tolerance = max(finest, round(pixel / 2, 4 if pixel / 2 < 0.01 else 3))
    needed = math.ceil(-math.log10(pixel / 10))
    return tolerance, int(min(decimals, max(needed, 1)))


class MapIndex:
    """What the maps of one analysis need to choose features by view, computed once.

    Parameters
    ----------
    concessions : GeoDataFrame
        Concessions (EPSG:4326) with ``conc_id``, ``lic_type`` and ``area_ha``.
    sites : DataFrame
        Sites with ``lon``, ``lat``, ``tenure``.
    zones : GeoDataFrame
        Overlap zones.
    footprints : GeoSeries, optional
        Site polygons aligned with ``sites``.
    groups : dict
        Per polygon layer (``concessions``, ``zones``, ``site_polygons``), the style group of
        each feature in the images (e.g. the licence type).
    fit : [[south, west], [north, east]] or None
        The map's initial view.
    finest : float
        The finest simplification sent (degrees).
    decimals : int
        The most coordinate decimals sent.
    """

    def __init__(self, concessions: gpd.GeoDataFrame, sites: pd.DataFrame,
                 zones: gpd.GeoDataFrame, footprints: gpd.GeoSeries | None, *,
                 groups: Mapping[str, np.ndarray], fit: list[list[float]] | None,
                 finest: float, decimals: int) -> None:
        self.finest, self.decimals, self.fit = finest, decimals, fit
        self.groups: dict[str, tuple[np.ndarray, np.ndarray]] = {
            layer: _factorized(values) for layer, values in groups.items()
        }
        self.geoms: dict[str, np.ndarray] = {
            "concessions": _lonlat(concessions),
            "zones": _lonlat(zones),
            "site_polygons": _site_polygons(sites, footprints),
        }
        self.bounds = {name: shapely.bounds(geoms) for name, geoms in self.geoms.items()}
        self.finite = {name: np.isfinite(bounds).all(axis=1)
                       for name, bounds in self.bounds.items()}
        self.lon = pd.to_numeric(_column(sites, "lon"), errors="coerce").to_numpy(float)
        self.lat = pd.to_numeric(_column(sites, "lat"), errors="coerce").to_numpy(float)
        self.site_ok = np.isfinite(self.lon) & np.isfinite(self.lat)
        self.site_inside = (pd.to_numeric(_column(sites, "n_conc"), errors="coerce")
                            .fillna(0).to_numpy() > 0)
        self.conc_ids = _column(concessions, "conc_id").astype(str).to_numpy()
        self.zone_title = _positions(self.conc_ids, zones)
        self.conc_area = pd.to_numeric(_column(concessions, "area_ha"),
                                       errors="coerce").fillna(np.inf).to_numpy(float)
        self.extent = _extent([b[self.finite[n]] for n, b in self.bounds.items()],
                              self.lon[self.site_ok], self.lat[self.site_ok])
        self._start()

    def _start(self) -> None:
        """What is kept as maps are made: the plan of everything, the layers' fingerprints,
        the site grids, the set of titles."""
        self._all: Plan | None = None
        self._fingerprints: dict[str, str] = {}
        self._kept: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._conc_id_set: frozenset[str] | None = None
        self._rings: dict[str, _Rings] = {}
        self._rings_lock = threading.Lock()

    @property
    def conc_id_set(self) -> frozenset[str]:
        """The titles' ``conc_id`` (made when first asked for)."""
        if self._conc_id_set is None:
            self._conc_id_set = frozenset(self.conc_ids)
        return self._conc_id_set

    def derived(self, conc_keep: np.ndarray, site_keep: np.ndarray, sites: pd.DataFrame,
                zones: gpd.GeoDataFrame, *, site_groups: np.ndarray,
                fit: list[list[float]] | None) -> MapIndex:
        """The index of a filtered analysis of the same layers: the concessions and sites
        ``conc_keep`` and ``site_keep`` (masks, in this index's order), with the filtered
        analysis's ``sites`` (their tenure and ``n_conc``) and ``zones``, without measuring
        the features again."""
        index = MapIndex.__new__(MapIndex)
        index.finest, index.decimals, index.fit = self.finest, self.decimals, fit
        titles, places = _Subset(conc_keep), _Subset(site_keep)
        zone_keep = self._zones_kept(conc_keep, site_keep, zones)
        codes, names = self.groups["concessions"]
        index.groups = {
            "concessions": (titles.of(codes), names),
            "zones": _factorized(np.zeros(len(zones), dtype=int)),
            "site_polygons": _factorized(site_groups),
        }
        index.geoms = {
            "concessions": titles.of(self.geoms["concessions"]),
            "zones": (_lonlat(zones) if zone_keep is None
                      else _Subset(zone_keep).of(self.geoms["zones"])),
            "site_polygons": places.of(self.geoms["site_polygons"]),
        }
        index.bounds = {
            "concessions": titles.of(self.bounds["concessions"]),
            "zones": (shapely.bounds(index.geoms["zones"]) if zone_keep is None
                      else _Subset(zone_keep).of(self.bounds["zones"])),
            "site_polygons": places.of(self.bounds["site_polygons"]),
        }
        index.finite = {
            "concessions": titles.of(self.finite["concessions"]),
            "zones": np.isfinite(index.bounds["zones"]).all(axis=1),
            "site_polygons": places.of(self.finite["site_polygons"]),
        }
        index.lon, index.lat = places.of(self.lon), places.of(self.lat)
        index.site_ok = places.of(self.site_ok)
        index.site_inside = (pd.to_numeric(_column(sites, "n_conc"), errors="coerce")
                             .fillna(0).to_numpy() > 0)
        index.conc_ids = titles.of(self.conc_ids)
        index.conc_area = titles.of(self.conc_area)
        index.zone_title = (_positions(index.conc_ids, zones) if zone_keep is None
                            else (np.cumsum(conc_keep) - 1)[self.zone_title[zone_keep]])
        index.extent = _extent([b[index.finite[n]] for n, b in index.bounds.items()],
                               index.lon[index.site_ok], index.lat[index.site_ok])
        index._start()
        self._lend(index, {"concessions": conc_keep, "site_polygons": site_keep,
                           "zones": zone_keep})
        return index

    def _zones_kept(self, conc_keep: np.ndarray, site_keep: np.ndarray,
                    zones: gpd.GeoDataFrame) -> np.ndarray | None:
        """Mask of this index's zones that are the filtered analysis's ``zones`` (those of
        the titles kept, when every site is kept), or None when its zones are others."""
        if not site_keep.all():
            return None
        keep = (self.zone_title >= 0) & conc_keep[np.maximum(self.zone_title, 0)]
        ids = _column(zones, "conc_id").astype(str).to_numpy()
        kept_ids = self.conc_ids[self.zone_title[keep]]
        return keep if len(ids) == len(kept_ids) and np.array_equal(ids, kept_ids) else None

    def _lend(self, index: MapIndex, kept: Mapping[str, np.ndarray | None]) -> None:
        """What a derived index takes from this one rather than measuring it again: the
        rings of the features kept, and the fingerprints of layers whose content is this
        one's less the features filtered out (the concessions, the zones of the titles kept
        when no site is filtered out)."""
        for layer, keep in kept.items():
            if keep is None:
                continue
            with self._rings_lock:
                index._rings[layer] = self.rings(layer).part(keep)
        for layer in ("concessions", "zones"):
            keep = kept[layer]
            if keep is not None:
                whole = self.fingerprint(layer)
                index._fingerprints[layer] = whole if keep.all() else hashlib.sha256(
                    (whole + "|").encode() + np.packbits(keep).tobytes()).hexdigest()

    def remember(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """What ``make`` returns, made once for ``key`` (the last :data:`IMAGES_KEPT`
        kept): e.g. the site grid of a view."""
        if key in self._kept:
            return self._kept[key]
        value = self._kept[key] = make()
        while len(self._kept) > IMAGES_KEPT:
            self._kept.popitem(last=False)
        return value

    def rows(self, layer: str, box: Window) -> np.ndarray:
        """Positions of the features of ``layer`` whose bounding box meets ``box``: every
        feature that intersects it, and a few beside it."""
        if layer == "sites":
            west, south, east, north = box
            inside = (self.site_ok & (self.lon >= west) & (self.lon <= east)
                      & (self.lat >= south) & (self.lat <= north))
            return np.flatnonzero(inside)
        bounds = self.bounds[layer]
        west, south, east, north = box
        meets = ((bounds[:, 0] <= east) & (bounds[:, 2] >= west)
                 & (bounds[:, 1] <= north) & (bounds[:, 3] >= south))
        return np.flatnonzero(meets)

    def vector_bytes(self, rows: Mapping[str, np.ndarray], tolerance: float) -> float:
        """Estimated bytes of the vector features ``rows`` simplified to ``tolerance``."""
        total = FEATURE_BYTES["site_markers"] * len(rows.get("sites", ()))
        for layer in ("concessions", "zones", "site_polygons"):
            chosen = self.geoms[layer][rows.get(layer, np.zeros(0, dtype=int))]
            chosen = chosen[shapely.is_geometry(chosen)]
            if not len(chosen):
                continue
            simple = shapely.simplify(chosen, tolerance, preserve_topology=True)
            total += FEATURE_BYTES[layer] * len(chosen)
            total += COORDINATE_BYTES * float(shapely.get_num_coordinates(simple).sum())
        return total

    def concession_at(self, lat: float, lon: float) -> str | None:
        """``conc_id`` of the concession under a point (the smallest when several overlap
        there), or None."""
        near = self.rows("concessions", (lon, lat, lon, lat))
        if not len(near):
            return None
        hit = near[shapely.contains_xy(self.geoms["concessions"][near], lon, lat)]
        if not len(hit):
            return None
        return str(self.conc_ids[hit[np.argmin(self.conc_area[hit])]])

    def image(self, layer: str, box: Window, zoom: int,
              styles: Mapping[str, Style]) -> str | None:
        """The ``data:`` URI of a PNG of ``layer`` over ``box`` at ``zoom``
        (:func:`raster_png`, ``styles`` per group), or None when nothing of it is there.

        Features under :data:`BOX_PX` pixels across are drawn as their bounding boxes,
        the others with their rings. The last :data:`IMAGES_KEPT` images are kept for
        every map, keyed on the layer's content: a filter on the sites does not draw the
        concessions again.
        """
        key = (self.fingerprint(layer), box, zoom, tuple(sorted(styles.items())))
        with _IMAGES_LOCK:
            if key in _IMAGES:
                _IMAGES.move_to_end(key)
                return _IMAGES[key]
        rows = self.rows(layer, box)
        bounds = self.bounds[layer][rows]
        size = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
        small = size < BOX_PX * degrees_per_pixel(zoom)
        codes, names = self.groups[layer]
        with self._rings_lock:  # rings are made once per feature, for every map of the index
            paths = self.rings(layer).paths(rows[~small], codes, bounds[small],
                                            codes[rows[small]])
        png = raster_png([(str(names[code]), xy, kinds) for code, xy, kinds in paths],
                         styles, box, zoom)
        url = None if png is None else png_uri(png)
        with _IMAGES_LOCK:
            _IMAGES[key] = url
            while len(_IMAGES) > IMAGES_KEPT:
                _IMAGES.popitem(last=False)
        return url

    def rings(self, layer: str) -> _Rings:
        """The rings of a polygon layer's features, as its images draw them (each made once,
        when an image first draws it with its rings; hold ``_rings_lock``)."""
        if layer not in self._rings:
            self._rings[layer] = _Rings(self.geoms[layer])
        return self._rings[layer]

    def fingerprint(self, layer: str) -> str:
        """A digest of a polygon layer's content as drawn: each feature's bounds, vertex
        count and style group."""
        if layer not in self._fingerprints:
            geoms = self.geoms[layer]
            digest = hashlib.sha256(np.ascontiguousarray(self.bounds[layer]).tobytes())
            digest.update(shapely.get_num_coordinates(geoms).astype(np.int64).tobytes())
            codes, names = self.groups[layer]
            digest.update(np.asarray(codes, dtype=np.int64).tobytes())
            digest.update("|".join(map(str, names)).encode())
            self._fingerprints[layer] = digest.hexdigest()
        return self._fingerprints[layer]


def plan(index: MapIndex, view: View, *,
         budget: float = MAX_PAYLOAD_BYTES - BASE_BYTES) -> Plan:
    """What the map sends for ``view`` within ``budget`` bytes: see the module's
    description."""
    everything = index._all
    if everything is None:
        everything = index._all = _plan_all(index, budget)
    if everything.polygons == "all":
        return everything
    box = window(view, index.extent)
    tolerance, decimals = precision(view.zoom, index.finest, index.decimals)
    site_rows = index.rows("sites", box)
    sites: SiteDetail = "markers"
    site_bytes = FEATURE_BYTES["site_markers"] * len(site_rows)
    if len(site_rows) > MAX_VECTOR_FEATURES or site_bytes > budget / 3:
        sites, site_bytes = "grid", 0.0
    rows = {layer: index.rows(layer, box) for layer in ("concessions", "zones",
                                                        "site_polygons")}
    polygons: Detail = "vector"
    if (sum(len(r) for r in rows.values()) > MAX_VECTOR_FEATURES
            or index.vector_bytes(rows, tolerance) + site_bytes > budget):
        polygons, rows = "image", {}
    if sites == "markers":
        rows["sites"] = site_rows
    return Plan(polygons, sites, box, view.zoom, tolerance, decimals, rows)


def _plan_all(index: MapIndex, budget: float) -> Plan:
    """Everything as vector features when it fits ``budget``; else a "not all" marker."""
    everything = {layer: np.flatnonzero(shapely.is_geometry(geoms))
                  for layer, geoms in index.geoms.items()}
    everything["sites"] = np.flatnonzero(index.site_ok)
    extent = index.extent or (-180.0, -85.0, 180.0, 85.0)
    count = sum(len(rows) for rows in everything.values())
    if count <= 2 * MAX_VECTOR_FEATURES and index.vector_bytes(everything,
                                                               index.finest) <= budget:
        return Plan("all", "all", extent, MIN_ZOOM, index.finest, index.decimals, everything)
    return Plan("image", "grid", extent, MIN_ZOOM, index.finest, index.decimals)


# --- images of polygon layers ------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """Fill and outline of one group of features in an image."""

    fill: str
    fill_opacity: float
    line: str
    line_opacity: float
    line_px: float


def raster_png(paths: Sequence[tuple[str, np.ndarray, np.ndarray]],
               styles: Mapping[str, Style], box: Window, zoom: int) -> bytes | None:
    """A PNG of ``paths`` (from :meth:`MapIndex.paths`) over ``box`` at ``zoom``, or None
    when nothing is drawn.

    The image's rows are even steps of Web Mercator y, as Leaflet stretches an
    ``imageOverlay`` between its corners; its width is at most :data:`MAX_IMAGE_PX`.
    """
    west, south, east, north = box
    bottom, top = float(mercator(south)), float(mercator(north))
    pixel = max(degrees_per_pixel(zoom), (east - west) / MAX_IMAGE_PX,
                (top - bottom) / MAX_IMAGE_PX)
    width = max(1, math.ceil((east - west) / pixel))
    height = max(1, math.ceil((top - bottom) / pixel))
    # Drawn straight on an Agg renderer: the same pixels as patches on full-size axes,
    # without building a figure and its axes for every image.
    renderer = RendererAgg(width, height, 72)
    transform = Affine2D().translate(-west, -bottom).scale(width / (east - west),
                                                           height / (top - bottom))
    clip = Bbox.from_bounds(0, 0, width, height)
    drawn = False
    for name, xy, codes in paths:
        style = styles.get(name)
        if style is None or not len(xy):
            continue
        _draw(renderer, Path(xy, codes), transform, clip, style)
        drawn = True
    if not drawn:
        return None
    return png_bytes(np.asarray(renderer.buffer_rgba()))


def png_bytes(rgba: np.ndarray) -> bytes:
    """A PNG of an RGBA image (rows, columns, 4 bytes): every row unfiltered, compressed
    with zlib at :data:`PNG_COMPRESSION`. Map layers are mostly flat fills and empty
    ground, which compress as well that way as with PNG's filters, in half the time."""
    height, width, _bands = rgba.shape
    raw = np.zeros((height, width * 4 + 1), dtype=np.uint8)  # filter byte 0: none
    raw[:, 1:] = rgba.reshape(height, width * 4)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", zlib.compress(raw.tobytes(), PNG_COMPRESSION)),
                     _png_chunk(b"IEND", b"")])


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _draw(renderer: RendererAgg, path: Path, transform: Affine2D, clip: Bbox,
          style: Style) -> None:
    """Fill and outline ``path`` as a matplotlib ``PathPatch`` with ``style`` draws it."""
    gc = renderer.new_gc()
    gc.set_foreground(to_rgba(style.line, style.line_opacity), isRGBA=True)
    gc.set_linewidth(style.line_px)
    gc.set_antialiased(True)
    gc.set_joinstyle("miter")
    gc.set_capstyle("butt")
    gc.set_clip_rectangle(clip)
    renderer.draw_path(gc, path, transform, to_rgba(style.fill, style.fill_opacity))
    gc.restore()


def png_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI (no request leaves the page)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


class _Text(branca.element.Element):
    """Script text already rendered, added to a page as it is.

    branca wraps each element's rendered script in an ``Element``, which compiles it as a
    Jinja template: for a script that carries data (an image, thousands of cells) that is
    most of the time a map takes to render, for nothing.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: Any) -> str:
        """The text."""
        return self.text


class _ScriptElement(branca.element.MacroElement):
    """A macro element with only a ``script`` macro, rendered without the compilation
    :class:`_Text` avoids."""

    def render(self, **kwargs: Any) -> None:
        """Add the rendered script to the page."""
        figure = self.get_root()
        script = self._template.module.__dict__["script"]
        figure.script.add_child(_Text(script(self, kwargs)), name=self.get_name())


class ImageLayer(_ScriptElement):
    """An image over ``bounds`` ``[[south, west], [north, east]]`` in a Leaflet pane, not
    clickable (clicks reach the map)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.imageOverlay({{ this.url_json() }}, {{ this.bounds|tojson }}, {
            opacity: {{ this.opacity|tojson }}, pane: {{ this.pane|tojson }},
            interactive: false
        }).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, url: str, bounds: list[list[float]], *, pane: str,
                 opacity: float = 1.0) -> None:
        super().__init__()
        self._name = "ImageLayer"
        self.url, self.bounds, self.pane, self.opacity = url, bounds, pane, opacity
        self._url_json: str | None = None

    def url_json(self) -> str:
        """The URL as a JSON string, as ``tojson`` writes it; a base64 ``data:`` URI needs
        no escaping, so its megabytes are escaped at most once (streamlit-folium renders
        the script again)."""
        if self._url_json is None:
            plain = _PLAIN_DATA_URI.fullmatch(self.url)
            self._url_json = f'"{self.url}"' if plain else str(htmlsafe_json_dumps(self.url))
        return self._url_json


class _Rings:
    """The rings of a layer's features as :func:`_compound_paths` draws them (vertices in
    longitude and Mercator y, path codes), made feature by feature as images need them and
    kept: feature ``f``'s vertices are ``start[f]:start[f] + count[f]`` (``start`` -1 until
    made). A derived index shares the vertices made so far (:meth:`part`).

    Parameters
    ----------
    geoms : ndarray of geometries
        The layer's features.
    """

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = geoms
        self.xy = np.zeros((0, 2))
        self.codes = np.zeros(0, dtype=np.uint8)
        self.start = np.full(len(geoms), -1, dtype=np.int64)
        self.count = np.zeros(len(geoms), dtype=np.int64)

    def part(self, keep: np.ndarray) -> _Rings:
        """The rings of the features ``keep`` (a mask), numbered among them, sharing the
        vertices made so far."""
        rings = _Rings(self.geoms[keep])
        rings.xy, rings.codes = self.xy, self.codes
        rings.start, rings.count = self.start[keep], self.count[keep]
        return rings

    def paths(self, rows: np.ndarray, groups: np.ndarray, boxes: np.ndarray,
              box_groups: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """:func:`_compound_paths` of the features ``rows`` (increasing) and ``boxes``."""
        self._make(rows[self.start[rows] < 0])
        counts = self.count[rows]
        first = np.repeat(self.start[rows] - np.cumsum(counts) + counts, counts)
        vertices = first + np.arange(int(counts.sum()))
        return _grouped_paths(self.xy[vertices], self.codes[vertices],
                              np.repeat(np.asarray(groups, dtype=int)[rows], counts),
                              boxes, box_groups)

    def _make(self, missing: np.ndarray) -> None:
        """Make the rings of the features ``missing`` (added after those made before)."""
        if not len(missing):
            return
        xy, codes, owner = _ring_vertices(self.geoms[missing])
        xy[:, 1] = mercator(xy[:, 1])
        counts = np.bincount(owner, minlength=len(missing))
        self.start[missing] = len(self.xy) + np.cumsum(counts) - counts
        self.count[missing] = counts
        self.xy = np.concatenate([self.xy, xy])
        self.codes = np.concatenate([self.codes, codes])


def _compound_paths(
    geoms: np.ndarray, groups: np.ndarray, *, boxes: np.ndarray | None = None,
    box_groups: np.ndarray | None = None,
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """One matplotlib compound path per group (integer ``groups``, one per feature): every
    ring of its features, exterior rings counter-clockwise and holes clockwise (so the
    non-zero rule leaves holes empty and fills overlaps once), and the rectangles ``boxes``
    (``minx, miny, maxx, maxy``, groups ``box_groups``); y in Mercator degrees."""
    xy, codes, owner = _ring_vertices(geoms)
    xy[:, 1] = mercator(xy[:, 1])
    return _grouped_paths(xy, codes, np.asarray(groups, dtype=int)[owner], boxes, box_groups)


def _grouped_paths(xy: np.ndarray, codes: np.ndarray, vertex_group: np.ndarray,
                   boxes: np.ndarray | None, box_groups: np.ndarray | None
                   ) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The rings' vertices (Mercator y) and the rectangles ``boxes`` as one path per
    group, in increasing group order: the group's rings, then its rectangles."""
    if boxes is None or box_groups is None:
        boxes, box_groups = np.zeros((0, 4)), np.zeros(0, dtype=int)
    box_groups = np.asarray(box_groups, dtype=int)
    # Rectangles by group (a stable sort of a few small integers), y in Mercator.
    order = np.argsort(box_groups.astype(np.int16 if len(box_groups) and
                                        box_groups.max() < 2**15 else np.int64),
                       kind="stable")
    sorted_groups = box_groups[order]
    west, east = boxes[order, 0], boxes[order, 2]
    south, north = mercator(boxes[order, 1]), mercator(boxes[order, 3])
    corners = np.stack([west, south, east, south, east, north, west, north, west, south],
                       axis=1).reshape(-1, 5, 2)
    corner_codes = np.array([Path.MOVETO, *[Path.LINETO] * 4], dtype=np.uint8)
    paths = []
    # A few style groups (licence types, tenure classes): a pass over the rings each.
    for value in np.union1d(np.unique(vertex_group), _distinct(sorted_groups)):
        mine = vertex_group == value
        low, high = np.searchsorted(sorted_groups, [value, value + 1])
        paths.append((int(value),
                      np.concatenate([xy[mine], corners[low:high].reshape(-1, 2)]),
                      np.concatenate([codes[mine], np.tile(corner_codes, high - low)])))
    return paths


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array."""
    if not len(ordered):
        return ordered
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]]


def _ring_vertices(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (lon, lat), path codes and feature (position in ``geoms``) of every ring of
    ``geoms``, exterior rings counter-clockwise and holes clockwise."""
    present = shapely.is_geometry(geoms) & ~shapely.is_empty(geoms)
    polygons, owner = shapely.get_parts(geoms[present], return_index=True)
    owner = np.flatnonzero(present)[owner]
    rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
    exterior = np.r_[True, ring_polygon[1:] != ring_polygon[:-1]]
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):
        return np.zeros((0, 2)), np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=int)
    starts = np.flatnonzero(np.r_[True, ring_of[1:] != ring_of[:-1]])
    ends = np.r_[starts[1:], len(xy)]
    # Signed area of each ring (shoelace): positive when counter-clockwise.
    following = np.roll(np.arange(len(xy)), -1)
    following[ends - 1] = starts
    cross = xy[:, 0] * xy[following, 1] - xy[following, 0] * xy[:, 1]
    signed = np.add.reduceat(cross, starts)
    flip = (signed > 0) != exterior[ring_of[starts]]
    order = np.arange(len(xy))
    flipped_vertex = np.repeat(flip, ends - starts)
    position = order - np.repeat(starts, ends - starts)
    reversed_order = np.repeat(ends - 1, ends - starts) - position
    order[flipped_vertex] = reversed_order[flipped_vertex]
    codes = np.full(len(xy), Path.LINETO, dtype=np.uint8)
    codes[starts] = Path.MOVETO
    return xy[order], codes, owner[ring_polygon[ring_of]]


# --- the site grid -----------------------------------------------------------------------------


def site_grid(lon: np.ndarray, lat: np.ndarray, inside: np.ndarray, box: Window,
              zoom: int) -> pd.DataFrame:
    """Sites counted on a grid of :data:`GRID_CELL_PX`-pixel cells over ``box``.

    Returns
    -------
    DataFrame
        One row per cell with sites: ``lat``, ``lon`` (the mean position of its sites),
        ``sites``, ``inside`` (of them, inside a concession) and the cell's ``south``,
        ``west``, ``north``, ``east``.
    """
    west, south, east, north = box
    keep = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    lon, lat, inside = lon[keep], lat[keep], inside[keep]
    cell = GRID_CELL_PX * degrees_per_pixel(zoom)
    bottom = float(mercator(south))
    column = np.floor((lon - west) / cell).astype(np.int64)
    row = np.floor((mercator(lat) - bottom) / cell).astype(np.int64)
    key = row * (int((east - west) / cell) + 2) + column
    cells, which = _cells_of(key)
    sites = np.bincount(which)
    first = np.zeros(len(cells), dtype=int)
    first[which[::-1]] = np.arange(len(which))[::-1]
    row, column = row[first], column[first]
    return pd.DataFrame({
        "lat": np.bincount(which, weights=lat) / sites,
        "lon": np.bincount(which, weights=lon) / sites,
        "sites": sites,
        "inside": np.bincount(which, weights=inside.astype(float)).astype(int),
        "south": inverse_mercator(bottom + row * cell),
        "west": west + column * cell,
        "north": inverse_mercator(bottom + (row + 1) * cell),
        "east": west + (column + 1) * cell,
    })


def _cells_of(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`numpy.unique` of the cells' keys with ``return_inverse``: counted on the
    grid's few cells rather than sorted, when the keys are small."""
    if not len(key) or key.min() < 0 or key.max() > 4 * len(key) + 100_000:
        return np.unique(key, return_inverse=True)
    present = np.bincount(key) > 0
    cells = np.flatnonzero(present)
    return cells, (np.cumsum(present) - 1)[key]


class SiteGrid(folium.elements.JSCSSMixin, _ScriptElement):
    """Cells of :func:`site_grid` as cluster icons (Leaflet.markercluster's look) with a
    tooltip; a click zooms to the cell.

    ``rows`` are ``[lat, lon, count label, size class, tooltip, [[s, w], [n, e]]]`` with
    the label and tooltip already HTML-escaped.
    """

    default_js = list(MarkerCluster.default_js)
    default_css = list(MarkerCluster.default_css)

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var layer = {{ this._parent.get_name() }};
            {{ this.rows|tojson }}.forEach(function (row) {
                var icon = L.divIcon({
                    html: "<div><span>" + row[2] + "</span></div>",
                    className: "marker-cluster marker-cluster-" + row[3],
                    iconSize: L.point(40, 40)
                });
                var marker = L.marker([row[0], row[1]], {icon: icon, pane: "site_points"});
                marker.bindTooltip(row[4], {className: "foliumtooltip"});
                marker.on("click", function () {
                    if (marker._map) { marker._map.fitBounds(row[5]); }
                });
                layer.addLayer(marker);
            });
        })();
        {% endmacro %}
        """
    )

    def __init__(self, rows: list[list[Any]]) -> None:
        super().__init__()
        self._name = "SiteGrid"
        self.rows = rows


class ClusterAssets(folium.elements.JSCSSMixin, branca.element.MacroElement):
    """Nothing drawn: makes a map load Leaflet.markercluster from the start, for the layers
    st_folium adds to it later (it loads scripts only when a map is first shown)."""

    default_js = SiteGrid.default_js
    default_css = SiteGrid.default_css
    _template = Template("{% macro script(this, kwargs) %}{% endmacro %}")


# --- helpers -----------------------------------------------------------------------------------


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name].reset_index(drop=True)
    return pd.Series([None] * len(frame), dtype=object)


def _lonlat(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if series.crs is not None and not series.crs.equals("EPSG:4326"):
        series = series.to_crs(4326)
    return np.asarray(series.values, dtype=object)


def _site_polygons(sites: pd.DataFrame, footprints: gpd.GeoSeries | None) -> np.ndarray:
    """The site polygons (and footprint circles) aligned with ``sites``; None elsewhere."""
    if footprints is None or len(footprints) != len(sites):
        return np.full(len(sites), None, dtype=object)
    return _lonlat(footprints)


def _extent(bounds: Sequence[np.ndarray], lon: np.ndarray,
            lat: np.ndarray) -> Window | None:
    """The box around the finite ``bounds`` (minx, miny, maxx, maxy) and the points."""
    lows = [(b[:, 0].min(), b[:, 1].min()) for b in bounds if len(b)]
    highs = [(b[:, 2].max(), b[:, 3].max()) for b in bounds if len(b)]
    if len(lon):
        lows.append((lon.min(), lat.min()))
        highs.append((lon.max(), lat.max()))
    if not lows:
        return None
    low, high = np.array(lows), np.array(highs)
    return (float(low[:, 0].min()), float(low[:, 1].min()),
            float(high[:, 0].max()), float(high[:, 1].max()))


def _positions(conc_ids: np.ndarray, zones: gpd.GeoDataFrame) -> np.ndarray:
    """Position among ``conc_ids`` of each zone's title (-1 for none)."""
    ids = _column(zones, "conc_id").astype(str).to_numpy()
    titles = pd.Index(conc_ids)
    if not len(ids) or not titles.is_unique:
        return np.full(len(ids), -1, dtype=np.int64)
    return titles.get_indexer(ids)


class _Subset:
    """Rows kept of a layer's arrays: the arrays themselves when every row is."""

    def __init__(self, keep: np.ndarray) -> None:
        self.keep, self.every = keep, bool(keep.all())

    def of(self, values: np.ndarray) -> np.ndarray:
        """The kept rows of ``values`` (not a copy when every row is kept)."""
        return values if self.every else values[self.keep]


def _factorized(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes and names (text) of a layer's style groups: :func:`pandas.factorize` of the
    values' text, without writing every value as text."""
    codes, uniques = pd.factorize(np.asarray(values), use_na_sentinel=False)
    return codes, np.array([str(value) for value in uniques], dtype=object)
