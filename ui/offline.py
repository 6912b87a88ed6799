"""Maps that work with no internet: Leaflet and its plugins come from Python packages.

folium links Leaflet, jQuery, Bootstrap, Font Awesome and its plugins' files from public CDNs
(``default_js`` / ``default_css`` of every element); with no connection the map stays blank.
Every map of the dashboard is an :class:`OfflineMap` instead, which at render time rewrites
those links:

* Leaflet (``xstatic.pkg.leaflet``) and Leaflet.markercluster
  (``xstatic.pkg.leaflet_markercluster``) are served as base64 ``data:`` URIs. They work as a
  ``<script src>`` / ``<link href>`` in a standalone HTML page and in streamlit-folium, whose
  iframe loads exactly the ``default_js`` / ``default_css`` URLs of the map's elements (it
  drops ``<script src>`` tags from the header and injects the rest as ``innerHTML``, where an
  inline ``<script>`` would never run). The images Leaflet's CSS refers to (the layer
  control's icon, the default marker) are inlined into the CSS, and the default marker icon
  is pointed at ``data:`` images, so even a plain ``folium.Marker`` draws.
* Leaflet.draw (``folium.plugins.Draw``), which no Python package ships, is vendored in
  ``ui/vendor/leaflet.draw`` (version, origin and licence in its README) and inlined the same
  way, its toolbar sprites included.
* jQuery, Bootstrap, glyphicons, Font Awesome and awesome-markers are dropped: none of the
  dashboard's maps use them. An element that does need them (``folium.Popup`` and
  ``keep_in_front`` use jQuery, ``folium.Icon`` awesome-markers, branca colormaps make
  streamlit-folium fetch d3) raises :class:`OfflineAssetError` at render time instead of
  drawing a blank map in the field, and so does any other asset only a CDN serves.

Basemap tiles are optional; without them the map shows a light vector background, the
bundled Natural Earth country outlines (:data:`geo.regions.COUNTRIES_PATH`), in a layer
"Countries" under everything else.

Examples
--------
>>> m = offline_map(location=(-2.0, 28.0), zoom_start=6)
>>> page = m.get_root().render()
>>> "https://" in page
False
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import branca.colormap
import branca.element
import folium
import folium.elements
import numpy as np
import shapely
import xstatic.pkg.leaflet as xstatic_leaflet
import xstatic.pkg.leaflet_markercluster as xstatic_markercluster
from folium.template import Template

from geo.i18n import N_, _
from geo.regions import countries

#: Name of the background layer in the layer control (English, marked; translated when drawn).
COUNTRIES_LAYER = N_("Countries")
#: Leaflet pane of the background, above tiles (200) and below vector overlays (400).
COUNTRIES_PANE = "countries"
#: Colour of the map where there is no land (no tiles), of land and of borders.
SEA_COLOUR = "#dce8ef"
LAND_COLOUR = "#f5f3ee"
BORDER_COLOUR = "#9b9b9b"
#: Zoom range of the map (Leaflet.markercluster needs a maximum even without tiles).
MIN_ZOOM = 2
MAX_ZOOM = 18
#: Simplification (degrees) and rounding (decimals) of the country outlines sent.
_COUNTRY_TOLERANCE_DEG = 0.02
_COUNTRY_DECIMALS = 3

_LEAFLET_DIR = Path(xstatic_leaflet.BASE_DIR)
_MARKERCLUSTER_DIR = Path(xstatic_markercluster.BASE_DIR)
_LEAFLET_DRAW_DIR = Path(__file__).resolve().parent / "vendor" / "leaflet.draw"
#: folium's CDN assets that no map of the dashboard needs; dropped from every element.
_NOT_NEEDED: frozenset[str] = frozenset({
    "jquery", "bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css",
    "awesome_markers_font_css", "awesome_markers_css", "awesome_rotate_css",
})
_SOURCE_MAP = re.compile(rb"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_IMAGE = re.compile(r"url\((['\"]?)(images/[^'\")]+)\1\)")


class OfflineAssetError(RuntimeError):
    """A map element needs a script or stylesheet that only a CDN serves."""


# --- the assets -----------------------------------------------------------------------------


def data_uri(content: bytes, mime: str) -> str:
    """``content`` as a base64 ``data:`` URI of type ``mime``."""
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def _script(path: Path) -> str:
    return data_uri(_SOURCE_MAP.sub(b"", path.read_bytes()), "text/javascript")


def _image(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return data_uri(path.read_bytes(), mime)


def _stylesheet(path: Path) -> str:
    """A stylesheet as a data URI, with the images it refers to inlined."""
    css = path.read_text(encoding="utf-8")
    css = _CSS_IMAGE.sub(lambda m: f'url("{_image(path.parent / m.group(2))}")', css)
    return data_uri(css.encode("utf-8"), "text/css")


def _default_icon_script() -> str:
    """Point Leaflet's default marker icon at inlined images (it guesses a relative path)."""
    images = _LEAFLET_DIR / "images"
    options = {
        "iconUrl": _image(images / "marker-icon.png"),
        "iconRetinaUrl": _image(images / "marker-icon-2x.png"),
        "shadowUrl": _image(images / "marker-shadow.png"),
    }
    code = f"L.Icon.Default.imagePath = '';\nL.Icon.Default.mergeOptions({json.dumps(options)});\n"
    return data_uri(code.encode("ascii"), "text/javascript")


@lru_cache(maxsize=1)
def offline_js() -> dict[str, list[tuple[str, str]]]:
    """Offline replacements of folium's scripts: folium's link name -> ``(name, data URI)``."""
    return {
        "leaflet": [
            ("leaflet", _script(_LEAFLET_DIR / "leaflet.js")),
            ("leaflet_default_icon", _default_icon_script()),
        ],
        "markerclusterjs": [
            ("markerclusterjs", _script(_MARKERCLUSTER_DIR / "leaflet.markercluster.js")),
        ],
        "leaflet_draw_js": [("leaflet_draw_js", _script(_LEAFLET_DRAW_DIR / "leaflet.draw.js"))],
    }


@lru_cache(maxsize=1)
def offline_css() -> dict[str, list[tuple[str, str]]]:
    """Offline replacements of folium's stylesheets, as :func:`offline_js`."""
    return {
        "leaflet_css": [("leaflet_css", _stylesheet(_LEAFLET_DIR / "leaflet.css"))],
        "markerclustercss": [
            ("markerclustercss", _stylesheet(_MARKERCLUSTER_DIR / "MarkerCluster.css")),
        ],
        "markerclusterdefaultcss": [
            ("markerclusterdefaultcss",
             _stylesheet(_MARKERCLUSTER_DIR / "MarkerCluster.Default.css")),
        ],
        "leaflet_draw_css": [
            ("leaflet_draw_css", _stylesheet(_LEAFLET_DRAW_DIR / "leaflet.draw.css")),
        ],
    }


# --- making a map offline -------------------------------------------------------------------


def _walk(element: branca.element.Element) -> Iterator[branca.element.Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _replace(
    element: folium.elements.JSCSSMixin,
    links: Sequence[tuple[str, str]],
    offline: dict[str, list[tuple[str, str]]],
) -> list[tuple[str, str]]:
    result: dict[str, str] = {}
    for name, url in links:
        if url.startswith("data:"):
            result.setdefault(name, url)
        elif name in offline:
            for offline_name, offline_url in offline[name]:
                result.setdefault(offline_name, offline_url)
        elif name not in _NOT_NEEDED:
            raise OfflineAssetError(
                f"{type(element).__name__} loads {name!r} from {url}, which does not work "
                "offline; serve it from a Python package in ui/offline.py or use another element."
            )
    return list(result.items())


def make_offline(element: branca.element.Element) -> None:
    """Rewrite the asset links of ``element`` and everything under it to work offline.

    Raises
    ------
    OfflineAssetError
        An element needs a script or stylesheet that is only on a CDN, or needs jQuery,
        Bootstrap or awesome-markers, which are not served.
    """
    js, css = offline_js(), offline_css()
    for item in _walk(element):
        if isinstance(item, folium.Popup):
            raise OfflineAssetError(
                "folium.Popup needs jQuery, which offline maps do not load; bind a "
                "folium.GeoJsonPopup or build the popup in the layer's JavaScript."
            )
        if isinstance(item, folium.Icon):
            raise OfflineAssetError("folium.Icon needs awesome-markers; use CircleMarkers.")
        if isinstance(item, branca.colormap.ColorMap):
            raise OfflineAssetError("branca colormaps make streamlit-folium load d3 from a CDN.")
        if isinstance(item, folium.Map) and item.objects_to_stay_in_front:
            raise OfflineAssetError("Map.keep_in_front needs jQuery; order layers with panes.")
        if isinstance(item, folium.elements.JSCSSMixin):
            # Instance attributes: folium's class-level lists stay as they are.
            item.default_js = _replace(item, item.default_js, js)
            item.default_css = _replace(item, item.default_css, css)


class OfflineMap(folium.Map):
    """A :class:`folium.Map` whose scripts and stylesheets are inlined at render time.

    Elements added after the map is built are converted too, since the conversion runs when
    the map renders (``get_root().render()``, ``save``, ``st_folium``).
    """

    def render(self, **kwargs: object) -> None:
        """Make every element offline (:func:`make_offline`), then render as folium does."""
        make_offline(self)
        super().render(**kwargs)


# --- the background -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _countries_json() -> str:
    layer = countries()
    geoms = np.asarray(layer.geometry.values, dtype=object)
    geoms = shapely.simplify(geoms, _COUNTRY_TOLERANCE_DEG, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, _COUNTRY_DECIMALS))
    keep = shapely.is_geometry(geoms) & ~shapely.is_empty(geoms)
    features = [
        {"type": "Feature", "id": position, "properties": {},
         "geometry": json.loads(geometry)}
        for position, geometry in enumerate(shapely.to_geojson(geoms[keep]))
    ]
    return json.dumps({"type": "FeatureCollection", "features": features},
                      separators=(",", ":"))


def add_pane(m: folium.Map, name: str, z_index: int, *, interactive: bool) -> None:
    """A Leaflet pane at ``z_index``: layers keep their stacking when toggled on and off."""
    folium.map.CustomPane(name, z_index=z_index, pointer_events=interactive).add_to(m)


@lru_cache(maxsize=1)
def _countries_data() -> dict:
    """The outlines as GeoJSON, parsed once and shared by every map (read only)."""
    return json.loads(_countries_json())


@lru_cache(maxsize=1)
def _countries_bounds() -> list[list[float | None]]:
    """``[[south, west], [north, east]]`` of the outlines, as folium measures them."""
    return folium.utilities.get_bounds(_countries_data(), lonlat=True)


#: Stands for the layer's name in its script, which every map otherwise renders again.
_NAME_MARK = "__countries_layer__"
_COUNTRY_SCRIPTS: dict[bool, str] = {}


class _RenderedScript(branca.element.Element):
    """Script text already rendered, added to a page as it is (not compiled as a Jinja
    template, which for the outlines' data is most of what a map takes to render)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: object) -> str:
        """The text."""
        return self.text


class PlainGeoJson(folium.GeoJson):
    """A :class:`folium.GeoJson` whose script, data included, is made once and goes into the
    page as it is.

    folium compiles the text of every script it renders as a Jinja template, and
    streamlit-folium makes each script again; for a layer of a thousand titles that takes
    longer than building the layer. This layer's script is folium's (style maps, data,
    tooltip and popup as :meth:`folium.GeoJson.render` makes them), made the first time it
    is asked for and never compiled.
    """

    _template = Template(
        "{% macro script(this, kwargs) %}{{ this.script_text() }}{% endmacro %}")

    def script_text(self) -> str:
        """The layer's script, made by folium's :class:`folium.GeoJson` the first time."""
        made: str | None = getattr(self, "_script_text", None)
        if made is None:
            self.parent_map = folium.utilities.get_obj_in_upper_tree(self, folium.Map)
            if (self.style or self.highlight) and self.data["features"]:
                mapper = folium.features.GeoJsonStyleMapper(self.data,
                                                            self.feature_identifier, self)
                if self.style:
                    self.style_map = mapper.get_style_map(self.style_function)
                if self.highlight:
                    self.highlight_map = mapper.get_highlight_map(self.highlight_function)
            made = folium.GeoJson._template.module.__dict__["script"](self, {})
            self._script_text = made
        return made

    def render(self, **kwargs: object) -> None:
        """Add the script (not compiled as a template), the ``addTo`` call and the
        children."""
        if self.show:
            self.add_child(folium.map.ElementAddToElement(
                element_name=self.get_name(), element_parent_name=self._parent.get_name()),
                name=self.get_name() + "_add")
        self.get_root().script.add_child(_RenderedScript(self.script_text()),
                                         name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class CountriesLayer(PlainGeoJson):
    """The outlines as a :class:`PlainGeoJson` whose script is made once per process:
    every map adds the same script (its own name in it), and reports the same bounds
    without walking the coordinates again.

    Made by :func:`countries_layer` only: its script depends on ``filled`` alone.
    """

    def __init__(self, *, filled: bool, **kwargs: object) -> None:
        super().__init__(_countries_data(), **kwargs)  # type: ignore[arg-type]
        self.filled = filled

    def _get_self_bounds(self) -> list[list[float | None]]:
        return [list(corner) for corner in _countries_bounds()]

    def script_text(self) -> str:
        """The layer's script, made by folium's :class:`folium.GeoJson` the first time."""
        script = _COUNTRY_SCRIPTS.get(self.filled)
        if script is None:
            mapper = folium.features.GeoJsonStyleMapper(self.data, self.feature_identifier,
                                                        self)
            self.style_map = mapper.get_style_map(self.style_function)
            text = folium.GeoJson._template.module.__dict__["script"](self, {})
            script = _COUNTRY_SCRIPTS[self.filled] = text.replace(self.get_name(), _NAME_MARK)
        return script.replace(_NAME_MARK, self.get_name())


def countries_layer(*, filled: bool = True) -> folium.GeoJson:
    """The bundled country outlines as a non-interactive layer "Countries".

    ``filled`` paints the land (the map's background when there are no tiles); otherwise only
    the borders are drawn over the tiles.
    """
    style = {
        "color": BORDER_COLOUR, "weight": 0.8, "opacity": 1.0,
        "fillColor": LAND_COLOUR, "fillOpacity": 1.0 if filled else 0.0, "fill": filled,
    }
    return CountriesLayer(
        filled=filled, name=_(COUNTRIES_LAYER), overlay=True, control=True,
        style_function=lambda _feature: style, interactive=False, pane=COUNTRIES_PANE,
        smooth_factor=1.0,
    )


def offline_map(
    *,
    location: Sequence[float],
    zoom_start: int,
    bounds: Sequence[Sequence[float]] | None = None,
    tiles: str | None = None,
    attr: str | None = None,
) -> OfflineMap:
    """An empty map that needs no internet, with the country outlines as background.

    Parameters
    ----------
    location : (lat, lon)
        Initial centre.
    zoom_start : int
        Initial zoom level.
    bounds : ((south, west), (north, east)), optional
        Fit the view to these bounds once drawn.
    tiles : str, optional
        Basemap tiles (a folium/xyzservices name such as ``"OpenStreetMap"``, or a URL
        template); they need a connection. Default: none, the outlines alone.
    attr : str, optional
        Attribution of a tile URL template.

    Returns
    -------
    OfflineMap
        With the panes ``countries`` and the layer "Countries"; add a ``LayerControl`` last.
    """
    m = OfflineMap(
        location=list(location), zoom_start=zoom_start, tiles=None, control_scale=True,
        prefer_canvas=False, maxZoom=MAX_ZOOM, minZoom=MIN_ZOOM,
    )
    if tiles is not None:
        folium.TileLayer(tiles, attr=attr, name="Basemap", overlay=False,
                         control=False).add_to(m)
    else:
        background = branca.element.Element(
            f"<style>.leaflet-container {{ background: {SEA_COLOUR}; }}</style>"
        )
        m.get_root().header.add_child(background, name="offline_background")
    add_pane(m, COUNTRIES_PANE, 250, interactive=False)
    countries_layer(filled=tiles is None).add_to(m)
    if bounds is not None:
        (south, west), (north, east) = bounds
        m.fit_bounds([[float(south), float(west)], [float(north), float(east)]])
    return m
