"""The set-aside scenario's map: one title and its neighbourhood, with a drawing toolbar.

Built on :func:`ui.maps.overlap_map` (concessions, overlap zones, sites, the chosen title
outlined), plus:

* :class:`SetAsideDraw`, folium's ``Draw`` plugin (Leaflet.draw, inlined offline by
  :mod:`ui.offline`) limited to polygons and rectangles. It holds one area at a time: a new
  shape replaces the previous one, which keeps what st_folium returns
  (``all_drawings``, the shapes on the map) to the one area of the scenario. The current area
  is drawn into the toolbar's layer, so it can be edited or deleted there.
* The sites the scenario moves to another tenure, ringed (:data:`MAP_KEY` says so in words,
  for a caption under the map).

Nothing here imports Streamlit: pages show the map with
``st_folium(m, key=..., returned_objects=["all_drawings"])`` and read it back with
:func:`drawings`.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> conc = gpd.GeoDataFrame({"conc_id": ["PE 1"], "holder": ["A"],
...                          "lic_type": ["exploitation"]},
...                         geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "lon": [28.05], "lat": [-2.95]})
>>> page = setaside_map(conc, sites, conc.iloc[:0], conc_id="PE 1").get_root().render()
>>> "L.Control.Draw" in page and "cdnjs" not in page
True
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.plugins import Draw
from folium.template import Template
from shapely.geometry import shape

from geo.i18n import N_, _
from ui import maps
from ui.offline import OfflineMap, add_pane

#: Colour of the set-aside: the colour of artisanal zones on every map.
SET_ASIDE_COLOUR = maps.LIC_COLOURS["asm_zone"]
#: Ring around the sites whose tenure the scenario changes.
CHANGED_COLOUR = "#CC79A7"  # reddish purple (Okabe-Ito)
#: Name of the layer of sites changing tenure (English, marked; translated when drawn).
LAYER_CHANGED = N_("Sites changing tenure")
#: What the map's scenario marks mean, for a caption under it (English, marked).
MAP_KEY = N_("Green outline: the area ceded. Purple rings: the sites changing tenure. A new "
             "shape replaces the previous one; the two tools below the drawing tools edit or "
             "remove it.")
#: Decimals of the area's coordinates, as Leaflet returns them (``toGeoJSON`` precision).
AREA_DECIMALS = 6
#: Margin around the chosen title within which neighbours and sites are shown: this share
#: of the title's size, and at least :data:`MIN_MARGIN_DEG` degrees.
MARGIN_SHARE = 0.5
MIN_MARGIN_DEG = 0.1
#: Space around the area when the view is fitted to it: this share of its size, and at least
#: :data:`MIN_AREA_PADDING_DEG` degrees.
AREA_PADDING = 0.5
MIN_AREA_PADDING_DEG = 0.005

_SHAPE_STYLE = {"color": SET_ASIDE_COLOUR, "weight": 3, "opacity": 1.0,
                "fillColor": SET_ASIDE_COLOUR, "fillOpacity": 0.25}


class SetAsideDraw(Draw):
    """folium's ``Draw`` holding one polygon at a time, with translated toolbar texts.

    Keeps ``Draw``'s asset names (``leaflet_draw_js``, ``leaflet_draw_css``), which
    :mod:`ui.offline` serves inline, and its variable ``drawnItems_<name>``, which
    streamlit-folium reads back as ``all_drawings``. Add it to the map itself (not to a
    feature group): streamlit-folium finds the variable by its name.

    Parameters
    ----------
    initial : dict, optional
        A GeoJSON geometry put into the toolbar's layer (the scenario's current area).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function (texts) {
                function merge(target, source) {
                    Object.keys(source).forEach(function (key) {
                        if (source[key] && typeof source[key] === "object" && target[key]) {
                            merge(target[key], source[key]);
                        } else {
                            target[key] = source[key];
                        }
                    });
                }
                merge(L.drawLocal, texts);
            })({{ this.texts|tojson }});
            var drawnItems_{{ this.get_name() }} =
                new L.featureGroup().addTo({{ this._parent.get_name() }});
            {%- if this.initial %}
            L.geoJSON({{ this.initial|tojson }}, {
                style: function () { return {{ this.shape_style|tojson }}; }
            }).eachLayer(function (layer) { drawnItems_{{ this.get_name() }}.addLayer(layer); });
            {%- endif %}
            var {{ this.get_name() }} = new L.Control.Draw({
                position: {{ this.position|tojson }},
                draw: {{ this.draw_options|tojson }},
                edit: Object.assign({{ this.edit_options|tojson }},
                                    {featureGroup: drawnItems_{{ this.get_name() }}})
            }).addTo({{ this._parent.get_name() }});
            {{ this._parent.get_name() }}.on(L.Draw.Event.CREATED, function (e) {
                drawnItems_{{ this.get_name() }}.clearLayers();
                drawnItems_{{ this.get_name() }}.addLayer(e.layer);
            });
        {% endmacro %}
        """
    )

    def __init__(self, *, initial: Mapping[str, Any] | None = None) -> None:
        shape = {"allowIntersection": False, "showArea": False,
                 "shapeOptions": dict(_SHAPE_STYLE)}
        super().__init__(
            position="topleft", show_geometry_on_click=False,
            draw_options={
                "polygon": {**shape, "drawError": {"color": "#D55E00",
                                                   "message": _draw_error()}},
                "rectangle": {"showArea": False, "shapeOptions": dict(_SHAPE_STYLE)},
                "polyline": False, "circle": False, "marker": False, "circlemarker": False,
            },
            edit_options={"poly": {"allowIntersection": False}},
        )
        self.initial = dict(initial) if initial else None
        self.shape_style = dict(_SHAPE_STYLE)
        self.texts = draw_texts()


def _draw_error() -> str:
    return html.escape(_("The edges of the area cannot cross."), quote=False)


def draw_texts() -> dict[str, Any]:
    """Leaflet.draw's toolbar and tooltip texts used here, translated (``L.drawLocal``)."""
    def text(message: str) -> str:
        # Tooltips are HTML, button titles plain properties: escape <, > and & only, so that
        # an apostrophe shows as itself in both.
        return html.escape(message, quote=False)

    return {
        "draw": {
            "toolbar": {
                "actions": {"title": text(_("Cancel drawing")), "text": text(_("Cancel"))},
                "finish": {"title": text(_("Finish drawing")), "text": text(_("Finish"))},
                "undo": {"title": text(_("Delete the last corner drawn")),
                         "text": text(_("Delete last corner"))},
                "buttons": {"polygon": text(_("Draw the area ceded (polygon)")),
                            "rectangle": text(_("Draw the area ceded (rectangle)"))},
            },
            "handlers": {
                "polygon": {"tooltip": {
                    "start": text(_("Click to place the first corner of the area.")),
                    "cont": text(_("Click to place the next corner.")),
                    "end": text(_("Click the first corner to close the area.")),
                }},
                "rectangle": {"tooltip": {"start": text(_("Click and drag to draw the area."))}},
                "simpleshape": {"tooltip": {"end": text(_("Release the mouse to finish."))}},
            },
        },
        "edit": {
            "toolbar": {
                "actions": {
                    "save": {"title": text(_("Save changes")), "text": text(_("Save"))},
                    "cancel": {"title": text(_("Cancel editing, discard all changes")),
                               "text": text(_("Cancel"))},
                    "clearAll": {"title": text(_("Remove the area")), "text": text(_("Remove"))},
                },
                "buttons": {
                    "edit": text(_("Edit the area")), "editDisabled": text(_("No area to edit")),
                    "remove": text(_("Remove the area")),
                    "removeDisabled": text(_("No area to remove")),
                },
            },
            "handlers": {
                "edit": {"tooltip": {
                    "text": text(_("Drag the corners to change the area.")),
                    "subtext": text(_("Click Cancel to undo the changes.")),
                }},
                "remove": {"tooltip": {"text": text(_("Click the area to remove it."))}},
            },
        },
    }


def setaside_map(
    concessions: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    conc_id: str,
    footprints: gpd.GeoSeries | None = None,
    area: Mapping[str, Any] | None = None,
    changed: pd.DataFrame | None = None,
    tiles: str | None = None,
) -> OfflineMap:
    """The chosen title and its neighbourhood, with the drawing toolbar.

    Parameters
    ----------
    concessions : GeoDataFrame
        Concessions with their statistics (as for :func:`ui.maps.overlap_map`).
    sites : DataFrame
        Sites, :data:`geo.schema.SITE_RESULT_COLUMNS` (``lon``/``lat``).
    zones : GeoDataFrame
        Overlap zones.
    conc_id : str, keyword-only
        The chosen title: outlined, and the view fitted to it (to the area, when given).
    footprints : GeoSeries, optional, keyword-only
        Site polygons aligned with ``sites``.
    area : dict, optional, keyword-only
        The scenario's current area, a GeoJSON geometry, put into the toolbar's layer.
    changed : DataFrame, optional, keyword-only
        Sites changing tenure (``lon``, ``lat``, ``name``), ringed.
    tiles : str, optional, keyword-only
        Basemap tiles (need a connection).

    Returns
    -------
    OfflineMap
        Only the titles and sites near the chosen title are sent to the browser.
    """
    near_conc, near_sites = _neighbourhood(concessions, sites, conc_id)
    near_ids = set(concessions["conc_id"].astype(str).to_numpy()[near_conc])
    near_zones = zones[zones["conc_id"].astype(str).isin(near_ids)] if len(zones) else zones
    near_footprints = (gpd.GeoSeries(np.asarray(footprints.values)[near_sites], crs=4326)
                       if footprints is not None and len(footprints) == len(sites) else None)
    m = maps.overlap_map(
        concessions[near_conc], sites[near_sites].reset_index(drop=True), near_zones,
        footprints=near_footprints, selected=conc_id, zoom_to_selected=True, tiles=tiles,
    )
    if changed is not None and len(changed):
        _changed_layer(m, changed)
    SetAsideDraw(initial=area).add_to(m)
    if area:
        # The view the area was drawn at (the map is rebuilt with it): the area and around it.
        west, south, east, north = shape(area).bounds
        pad = max(AREA_PADDING * max(east - west, north - south), MIN_AREA_PADDING_DEG)
        m.fit_bounds([[south - pad, west - pad], [north + pad, east + pad]])
    return m


def _neighbourhood(
    concessions: gpd.GeoDataFrame, sites: pd.DataFrame, conc_id: str
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the titles and sites within the margin around the chosen title."""
    geoms = np.asarray(concessions.geometry.values, dtype=object)
    chosen = concessions["conc_id"].astype(str).to_numpy() == str(conc_id)
    if not chosen.any():
        return np.ones(len(concessions), dtype=bool), np.ones(len(sites), dtype=bool)
    west, south, east, north = shapely.total_bounds(geoms[chosen])
    margin = max(MIN_MARGIN_DEG, MARGIN_SHARE * max(east - west, north - south))
    window = shapely.box(west - margin, south - margin, east + margin, north + margin)
    near_conc = np.asarray(shapely.intersects(geoms, window), dtype=bool) | chosen
    lon = pd.to_numeric(sites["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(sites["lat"], errors="coerce").to_numpy(dtype=float)
    near_sites = ((lon >= west - margin) & (lon <= east + margin)
                  & (lat >= south - margin) & (lat <= north + margin))
    return near_conc, near_sites


def _changed_layer(m: OfflineMap, changed: pd.DataFrame) -> None:
    """Rings around the sites changing tenure, above the site markers, not clickable."""
    add_pane(m, "changed", 455, interactive=False)
    lon = pd.to_numeric(changed["lon"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(changed["lat"], errors="coerce").to_numpy(dtype=float)
    points = shapely.points(lon, lat)
    keep = np.isfinite(lon) & np.isfinite(lat)
    features = [
        {"type": "Feature", "id": i, "properties": {},
         "geometry": json.loads(text)}
        for i, text in enumerate(shapely.to_geojson(points[keep]))
    ]
    style = {"pane": "changed", "color": CHANGED_COLOUR, "weight": 3, "opacity": 1.0,
             "fill": False, "radius": 11}
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features}, name=_(LAYER_CHANGED),
        style_function=lambda _feature: style, marker=folium.CircleMarker(radius=11),
        interactive=False, control=False,  # the map's layer control is already rendered
    ).add_to(m)


# --- reading the map back --------------------------------------------------------------------


def drawings(returned: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The shapes on the map, from st_folium's return value.

    Returns
    -------
    list of dict or None
        The GeoJSON features of ``all_drawings`` (an empty list once the user removed the
        area); None while the map has reported nothing, so the current area stays.

    Examples
    --------
    >>> drawings({"all_drawings": None}) is None
    True
    >>> drawings({"all_drawings": []})
    []
    """
    features = (returned or {}).get("all_drawings")
    if features is None:
        return None
    return [dict(f) for f in features if isinstance(f, Mapping) and f.get("geometry")]


def area_geojson(geometry: Any) -> dict[str, Any]:
    """A geometry as a GeoJSON mapping with coordinates rounded as Leaflet returns them, so an
    area read back from the map compares equal to the one sent.

    Examples
    --------
    >>> from shapely import box
    >>> area_geojson(box(0, 0, 0.1234567, 1))["coordinates"][0][0]
    [0.123457, 0.0]
    """
    rounded = shapely.transform(geometry, lambda xy: np.round(xy, AREA_DECIMALS))
    return dict(json.loads(shapely.to_geojson(rounded)))


def same_area(first: Mapping[str, Any] | None, second: Mapping[str, Any] | None) -> bool:
    """True when two GeoJSON geometries are the same area (to Leaflet's precision)."""
    if first is None or second is None:
        return first is None and second is None
    a = shape(first)
    b = shape(second)
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b),
                                     tolerance=10.0 ** -AREA_DECIMALS))
