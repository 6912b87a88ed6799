"""Folium maps of concessions, overlap zones and artisanal sites: plain functions.

The builders take the engine's frames (:mod:`geo.overlap`, :mod:`geo.stats`) and return a
:class:`ui.offline.OfflineMap`, which needs no internet; pages show it with
``st_folium(m, key=..., returned_objects=[...])`` and tests render it with
``m.get_root().render()``. Nothing here imports Streamlit.

What reaches the browser
------------------------
* Geometry simplified (``shapely.simplify``, :data:`SIMPLIFY_DEG`, topology preserved) and
  rounded to :data:`DECIMALS` decimals; only the properties shown or needed for clicks.
* Every property value and every label is HTML-escaped in Python (``html.escape``) before it
  goes into the GeoJSON or the site data: folium's ``GeoJsonTooltip`` / ``GeoJsonPopup`` and
  the site popups put them into the page with ``innerHTML``, where escaped text stays text.
  The JSON itself is embedded with Jinja's ``tojson`` (``<``, ``>``, ``&``, ``'`` as
  ``\\u00XX``), so no value can close the ``<script>`` it sits in.

Clicks
------
Every concession and overlap-zone feature carries ``conc_id`` (escaped, as shown) and
``kind`` (``"concession"``, ``"zone"``) in its properties; artisanal sites carry ``kind``
``"site"``, ``site_id`` and the ``conc_id`` of the title they sit in (null outside titles).
st_folium returns the clicked feature as ``last_active_drawing``; :func:`clicked_conc_id`
reads the concession back from it.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> conc = gpd.GeoDataFrame({"conc_id": ["PE 1"], "holder": ["A & B"],
...                          "lic_type": ["exploitation"]},
...                         geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "name": ["Mine"]},
...                          geometry=gpd.points_from_xy([28.05], [-2.95]), crs=4326)
>>> page = preview_map(conc, sites).get_root().render()
>>> "A &amp; B" in page.replace("\\\\u0026", "&")
True
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from folium.features import GeoJsonPopup, GeoJsonTooltip
from folium.plugins import FastMarkerCluster
from folium.template import Template

from geo import format as fmt
from geo.i18n import N_, _, get_language, label
from geo.schema import LIC_TYPE_LABELS, LIC_TYPES, RED_FLAGS, TENURE_CLASSES, TENURE_LABELS
from ui import lod
from ui.offline import OfflineMap, PlainGeoJson, add_pane, make_offline, offline_map

# --- look --------------------------------------------------------------------------------------

#: Okabe-Ito colours (colour-blind safe) of the licence types.
LIC_COLOURS: dict[str, str] = {
    "exploitation": "#0072B2",  # blue
    "exploration": "#56B4E9",  # sky blue
    "asm_zone": "#009E73",  # bluish green
    "small_scale": "#E69F00",  # orange
    "other": "#999999",  # grey
}
#: Fill of a site by tenure: the colour of the title it sits in; yellow on free land.
TENURE_COLOURS: dict[str, str] = {
    **{lic: LIC_COLOURS[lic] for lic in LIC_TYPES if lic != "other"},
    "other_title": LIC_COLOURS["other"],
    "unlicensed": "#F0E442",  # yellow
}
#: Fill of a site whose tenure is not computed yet (upload preview).
SITE_COLOUR = "#CC79A7"  # reddish purple
ZONE_COLOUR = "#D55E00"  # vermillion
SELECTED_COLOUR = "#000000"
RING_COLOUR = "#333333"

#: Names of the layers in the layer control (English, marked; translated when a map is built).
LAYER_CONCESSIONS = N_("Concessions")
LAYER_ZONES = N_("Overlap zones")
LAYER_SITES = N_("Artisanal sites")
LAYER_RINGS = N_("Proximity rings")

#: Simplification tolerance (degrees, about 55 m) and coordinate decimals sent to the browser.
SIMPLIFY_DEG = 0.0005
DECIMALS = 5
#: Coarser simplification (about 500 m) and rounding (about 100 m) of the overview thumbnail.
THUMBNAIL_SIMPLIFY_DEG = 0.005
THUMBNAIL_DECIMALS = 3
#: Outline width (px) of the polygons in images, drawn from this zoom on (below, the
#: polygons are a few pixels wide and fills alone read better).
IMAGE_LINE_PX = 0.6
IMAGE_OUTLINE_ZOOM = 8
#: Site polygons (at most a few hundred metres across) are drawn in images from this zoom
#: on; below, the site grid or markers show where the sites are.
SITE_IMAGE_ZOOM = 9
#: Size (px) of the overview thumbnail and of the upload preview, for their level of detail.
THUMBNAIL_PX = (600, 380)
PREVIEW_PX = (800, 420)
#: Share of outlying concessions left out of the initial view, at each end (percent).
FIT_PERCENTILE = 2.0
#: Shown for a missing value.
MISSING = "\u2014"

#: Leaflet panes, bottom to top (the countries pane, 250, is ui.offline's): a layer keeps its
#: place when it is switched off and on again in the layer control.
_PANES: tuple[tuple[str, int, bool], ...] = (
    ("concessions", 410, True),
    ("zones", 420, True),
    ("selected", 430, False),
    ("rings", 435, False),
    ("site_areas", 440, True),
    ("site_points", 450, True),
)

#: Labelled fields of the popups and tooltips: property -> label (English, marked; the
#: labels are translated when a map is built).
CONCESSION_FIELDS: dict[str, str] = {
    "conc_id": N_("Title"),
    "holder": N_("Holder"),
    "lic_type": N_("Licence type"),
    "status": N_("Status"),
    "expiry": N_("Expiry"),
    "area_ha": N_("Area (ha)"),
    "overlap": N_("Overlap (ha, %)"),
    "sites_in": N_("Sites inside"),
    "workers_in": N_("Workers inside"),
}
CONCESSION_TOOLTIP: tuple[str, ...] = ("conc_id", "holder", "lic_type")
ZONE_FIELDS: dict[str, str] = {
    "conc_id": N_("Title"),
    "area_ha": N_("Overlap zone (ha)"),
    "holder": N_("Holder"),
    "lic_type": N_("Licence type"),
}
SITE_FIELDS: dict[str, str] = {
    "site_id": N_("Site"),
    "name": N_("Name"),
    "tenure": N_("Tenure"),
    "concession": N_("Concession"),
    "dist_km": N_("Distance (km)"),
    "workers": N_("Workers"),
    "mercury": N_("Mercury"),
    "armed": N_("Armed actors"),
    "child_lab": N_("Child labour"),
    "seen": N_("Last seen"),
}
SITE_TOOLTIP: tuple[str, ...] = ("name", "tenure")

_TOOLTIP_STYLE = "font-size: 12px;"
#: Compact controls: the layer list and popups in the page's small-text size.
_CONTROL_CSS = (
    "<style>.leaflet-control-layers { font-size: 13px; }"
    " .leaflet-popup-content { font-size: 12px; }</style>"
)
_CLUSTER_OPTIONS: dict[str, Any] = {
    "showCoverageOnHover": False,
    "chunkedLoading": True,
    "maxClusterRadius": 50,
    "disableClusteringAtZoom": 12,
}


# --- public builders ---------------------------------------------------------------------------


def overlap_map(
    concessions: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    footprints: gpd.GeoSeries | None = None,
    rings: gpd.GeoDataFrame | None = None,
    selected: str | None = None,
    tiles: str | None = None,
    zoom_to_selected: bool = False,
    view: lod.View | None = None,
    index: lod.MapIndex | None = None,
) -> OfflineMap:
    """The main map: concessions by licence type, overlap zones, artisanal sites, rings.

    Parameters
    ----------
    concessions : GeoDataFrame
        Concessions in EPSG:4326 with their statistics (``conc_id``, ``holder``,
        ``lic_type``, ``status``, ``expiry``, ``area_ha``, ``overlap_ha``, ``overlap_pct``,
        ``sites_in``, ``workers_in``); missing statistics show as a dash.
    sites : DataFrame
        One row per site, :data:`geo.schema.SITE_RESULT_COLUMNS` (``lon``/``lat``).
    zones : GeoDataFrame
        Overlap zones, :data:`geo.schema.ZONE_COLUMNS`.
    footprints : GeoSeries, optional, keyword-only
        Site polygons aligned by position with ``sites`` (None for point sites).
    rings : GeoDataFrame, optional, keyword-only
        Proximity ring bands (``conc_id``, ``ring_km``, geometry), drawn as dashed outlines.
    selected : str, optional, keyword-only
        ``conc_id`` of the concession to outline.
    tiles : str, optional, keyword-only
        Basemap tiles (need a connection); default none, the country outlines only.
    zoom_to_selected : bool, keyword-only
        Fit the view to the selected concession instead of all of them.
    view : lod.View, optional, keyword-only
        The view the layers are chosen for (:mod:`ui.lod`); default the initial view.
    index : lod.MapIndex, optional, keyword-only
        :func:`map_index` of these layers, when it is kept between maps.

    Returns
    -------
    OfflineMap
        Layers "Countries", "Concessions", "Overlap zones", "Artisanal sites" and, when
        ``rings`` is given, "Proximity rings", with a layer control and a legend. Within
        :data:`ui.lod.MAX_PAYLOAD_BYTES`: large layers are sent for the view only, or as
        images and a grid of site counts (:mod:`ui.lod`).
    """
    return overlap_layers(
        concessions, sites, zones, footprints=footprints, rings=rings, selected=selected,
        tiles=tiles, zoom_to_selected=zoom_to_selected, view=view, index=index,
    ).assembled()


@dataclass
class MapLayers:
    """A map as streamlit-folium takes it: the map, and its layers for one view (passed as
    ``feature_group_to_add``, so that a new view replaces the layers, not the map).

    Attributes
    ----------
    map : OfflineMap
        Background, panes, legend and initial view.
    groups : list of folium.FeatureGroup
        The layers, each made offline.
    plan : lod.Plan
        What the layers send for the view.
    """

    map: OfflineMap
    groups: list[folium.FeatureGroup]
    plan: lod.Plan

    def layer_control(self) -> folium.LayerControl:
        """The layer control of the map and its layers."""
        return folium.LayerControl(collapsed=False, position="topright")

    def assembled(self) -> OfflineMap:
        """The map with its layers and layer control: a standalone map."""
        for group in self.groups:
            group.add_to(self.map)
        self.layer_control().add_to(self.map)
        return self.map


def overlap_layers(
    concessions: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    footprints: gpd.GeoSeries | None = None,
    rings: gpd.GeoDataFrame | None = None,
    selected: str | None = None,
    tiles: str | None = None,
    zoom_to_selected: bool = False,
    view: lod.View | None = None,
    index: lod.MapIndex | None = None,
) -> MapLayers:
    """:func:`overlap_map` as a map and its layers for ``view`` (see :class:`MapLayers`)."""
    if index is None:
        index = map_index(concessions, sites, zones, footprints)
    selected_rows = _selected_in(index, selected)
    bounds = initial_bounds(index, selected if zoom_to_selected else None)
    m = _base_map(bounds, tiles=tiles)
    lod.ClusterAssets().add_to(m)
    plan = lod.plan(index, view or lod.View.fitting(bounds))

    groups = [_lod_concessions(concessions, index, plan, popup=True),
              _lod_zones(zones, index, plan)]
    if rings is not None:
        groups.append(_ring_layer(rings))
    groups.append(_lod_sites(sites, footprints, index, plan))
    if selected_rows.any():
        outline = folium.FeatureGroup(name="Selected title", control=False)
        _outline_layer(index.geoms["concessions"][selected_rows]).add_to(outline)
        groups.append(outline)
    for group in groups:
        make_offline(group)

    legend = _legend_html(
        sites=True, zones=True, selected=bool(selected_rows.any()), rings=rings is not None,
    )
    Legend(legend).add_to(m)
    return MapLayers(m, groups, plan)


def initial_bounds(index: lod.MapIndex,
                   selected: str | None = None) -> list[list[float]] | None:
    """``[[south, west], [north, east]]`` the main map opens on: the concessions (far
    outliers left out), or the title ``selected``."""
    rows = _selected_in(index, selected)
    if rows.any():
        return _view_bounds(index.geoms["concessions"][rows], trim=False) or index.fit
    return index.fit


def _selected_in(index: lod.MapIndex, selected: str | None) -> np.ndarray:
    """Mask of the concession ``selected`` (by ``conc_id``) in ``index``."""
    if selected is None:
        return np.zeros(len(index.conc_ids), dtype=bool)
    return index.conc_ids == str(selected)


def map_index(
    concessions: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    footprints: gpd.GeoSeries | None = None,
) -> lod.MapIndex:
    """What :func:`overlap_map` and :func:`small_map` need to choose features by view
    (:class:`ui.lod.MapIndex`); worth keeping per analysis."""
    bounds = _view_bounds(_geometries(concessions))
    if bounds is None and len(sites):
        bounds = _point_bounds(sites)
    tenure = _site_style_index(sites) // 2
    return lod.MapIndex(
        concessions, sites, zones, footprints,
        groups={"concessions": _lic_codes(concessions), "zones": np.zeros(len(zones), int),
                "site_polygons": tenure},
        fit=bounds, finest=SIMPLIFY_DEG, decimals=DECIMALS,
    )


def derived_index(whole: lod.MapIndex, conc_keep: np.ndarray, site_keep: np.ndarray,
                  concessions: gpd.GeoDataFrame, sites: pd.DataFrame,
                  zones: gpd.GeoDataFrame) -> lod.MapIndex:
    """:func:`map_index` of a filtered analysis, derived from ``whole``, the index of the
    unfiltered one, with the masks of the concessions and sites kept; ``concessions``,
    ``sites`` and ``zones`` are the filtered analysis's."""
    if conc_keep.all() and whole.finite["concessions"].any():  # fitted on the titles
        fit = whole.fit
    else:
        fit = _fit_of_boxes(whole.bounds["concessions"][conc_keep]) or _point_bounds(sites)
    return whole.derived(conc_keep, site_keep, sites, zones,
                         site_groups=_site_style_index(sites) // 2, fit=fit)


def small_map(concessions: gpd.GeoDataFrame, sites: pd.DataFrame, *,
              index: lod.MapIndex | None = None) -> OfflineMap:
    """Overview thumbnail: concessions by licence type and sites as dots, tooltips only.

    Parameters
    ----------
    concessions : GeoDataFrame
        Concessions in EPSG:4326 (``conc_id``, ``holder``, ``lic_type``).
    sites : DataFrame
        Sites with ``lon``, ``lat`` and, when computed, ``tenure``.
    index : lod.MapIndex, optional, keyword-only
        :func:`map_index` of these layers, when it is kept between maps. When the layers do
        not fit :data:`ui.lod.MAX_PAYLOAD_BYTES`, the concessions are an image and the sites
        a grid of counts.
    """
    if index is None:
        empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
        index = map_index(concessions, sites, empty)
    m = _base_map(index.fit, tiles=None)
    plan = lod.plan(index, lod.View.fitting(index.fit, size=THUMBNAIL_PX))
    if plan.polygons == "all":
        _concession_layer(concessions, popup=False, tolerance=THUMBNAIL_SIMPLIFY_DEG,
                          decimals=THUMBNAIL_DECIMALS).add_to(m)
        _site_dots(sites).add_to(m)
    else:
        _lod_concessions(concessions, index, plan, popup=False).add_to(m)
        group = folium.FeatureGroup(name=_(LAYER_SITES))
        _site_grid(index, plan).add_to(group)
        group.add_to(m)
    Legend(_legend_html(sites=True, zones=False, selected=False, rings=False, compact=True),
           collapsed=True).add_to(m)
    return m


def preview_map(concessions: gpd.GeoDataFrame, sites: gpd.GeoDataFrame) -> OfflineMap:
    """A layer being imported, with the other layer: normalised layers, before any analysis.

    Parameters
    ----------
    concessions : GeoDataFrame
        Normalised concessions (:data:`geo.schema.CONCESSION_COLUMNS`), EPSG:4326.
    sites : GeoDataFrame
        Normalised sites (:data:`geo.schema.SITE_COLUMNS`), points and/or polygons.

    Layers too large for :data:`ui.lod.MAX_PAYLOAD_BYTES` are drawn as the main map draws
    them (an image, a grid of site counts).
    """
    site_geoms = _geometries(sites)
    points = shapely.point_on_surface(site_geoms)
    valid = shapely.is_geometry(points) & ~shapely.is_empty(points)
    table = pd.DataFrame(sites.drop(columns=sites.geometry.name))
    table["lon"] = np.where(valid, shapely.get_x(points), np.nan)
    table["lat"] = np.where(valid, shapely.get_y(points), np.nan)
    polygonal = np.isin(shapely.get_type_id(site_geoms), (3, 6))
    footprints = gpd.GeoSeries(np.where(polygonal, site_geoms, None), crs=4326)

    index = map_index(concessions, table, gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326)),
                      footprints)
    m = _base_map(index.fit, tiles=None)
    lod.ClusterAssets().add_to(m)
    plan = lod.plan(index, lod.View.fitting(index.fit, size=PREVIEW_PX))
    if plan.polygons == "all":
        _concession_layer(concessions, popup=True).add_to(m)
        _site_layer(table, footprints).add_to(m)
    else:  # a national layer: as the main map draws it (ui.lod)
        _lod_concessions(concessions, index, plan, popup=True).add_to(m)
        _lod_sites(table, footprints, index, plan).add_to(m)
    Legend(_legend_html(sites=True, zones=False, selected=False, rings=False,
                        tenure=False)).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def clicked_conc_id(returned: Mapping[str, Any] | None) -> str | None:
    """The ``conc_id`` of the feature clicked on a map, from st_folium's return value.

    Reads ``returned["last_active_drawing"]["properties"]["conc_id"]`` and undoes the HTML
    escaping it was sent with; None when nothing with a concession was clicked.

    Examples
    --------
    >>> clicked_conc_id({"last_active_drawing": {"properties": {"conc_id": "A &amp; B"}}})
    'A & B'
    >>> clicked_conc_id({"last_active_drawing": None}) is None
    True
    """
    drawing = (returned or {}).get("last_active_drawing") or {}
    value = (drawing.get("properties") or {}).get("conc_id")
    if value is None or value == "":
        return None
    return html.unescape(str(value))


def clicked_point(returned: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """``(lat, lon)`` of the last click on a map, from st_folium's return value
    (``last_clicked``), or None.

    Examples
    --------
    >>> clicked_point({"last_clicked": {"lat": -2.5, "lng": 28.25}})
    (-2.5, 28.25)
    >>> clicked_point({"last_clicked": None}) is None
    True
    """
    point = (returned or {}).get("last_clicked") or {}
    try:
        return float(point["lat"]), float(point["lng"])
    except (KeyError, TypeError, ValueError):
        return None


# --- the legend --------------------------------------------------------------------------------


class Legend(branca.element.MacroElement):
    """A Leaflet control in a corner holding static, already escaped legend HTML.

    Built in the map's script (not the page's HTML), so it also shows in streamlit-folium,
    which keeps only the map's script and asset links. It starts folded (a "Legend" button)
    when ``collapsed`` or when the map is smaller than :attr:`open_min_size` pixels.
    """

    #: Smallest map (width, height) in pixels on which the legend starts unfolded.
    open_min_size: tuple[int, int] = (640, 480)

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var legend = L.control({position: {{ this.position|tojson }}});
            legend.onAdd = function (map) {
                var div = L.DomUtil.create("div", "map-legend leaflet-bar");
                div.style.cssText = {{ this.box_style|tojson }};
                div.innerHTML = {{ this.content|tojson }};
                var size = map.getSize();
                if (size.x < {{ this.open_min_size[0] }} || size.y < {{ this.open_min_size[1] }}) {
                    div.firstChild.removeAttribute("open");
                }
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            legend.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
        """
    )

    def __init__(self, content: str, *, position: str = "bottomright",
                 collapsed: bool = False) -> None:
        super().__init__()
        self._name = "Legend"
        opening = "<details>" if collapsed else "<details open>"
        title = html.escape(_("Legend"))
        self.content = (
            f"{opening}<summary style=\"cursor:pointer;font-weight:600\">{title}</summary>"
            f"{content}</details>"
        )
        self.position = position
        self.box_style = (
            "background:rgba(255,255,255,0.92);padding:6px 8px;font:12px/1.35 sans-serif;"
            "color:#222;max-width:260px;"
        )


def _swatch(fill: str, *, stroke: str | None = None, opacity: float = 0.6,
            dashed: bool = False, circle: bool = False, weight: int = 1) -> str:
    border = f"{weight}px {'dashed' if dashed else 'solid'} {stroke or fill}"
    shape = ("width:10px;height:10px;border-radius:50%;" if circle
             else "width:16px;height:10px;")
    background = "transparent" if fill == "none" else _rgba(fill, opacity)
    return (
        f'<span style="display:inline-block;{shape}background:{background};'
        f'border:{border};margin-right:6px;vertical-align:middle"></span>'
    )


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _legend_html(*, sites: bool, zones: bool, selected: bool, rings: bool,
                 tenure: bool = True, compact: bool = False) -> str:
    def row(swatch: str, label: str) -> str:
        return f"<div>{swatch}{html.escape(label)}</div>"

    def heading(label: str) -> str:
        return f'<div style="font-weight:600;margin-top:4px">{html.escape(label)}</div>'

    parts = [heading(_("Concessions (licence type)"))]
    parts += [row(_swatch(LIC_COLOURS[lic], opacity=0.45), label(LIC_TYPE_LABELS, lic))
              for lic in LIC_TYPES]
    if selected:
        parts.append(row(_swatch("none", stroke=SELECTED_COLOUR, weight=2), _("Selected title")))
    if zones:
        parts.append(row(_swatch(ZONE_COLOUR, opacity=0.7),
                         _("Overlap zone (site polygons inside a title)")))
    if rings:
        parts.append(row(_swatch("none", stroke=RING_COLOUR, dashed=True),
                         _("Proximity ring around the selected title")))
    if sites:
        parts.append(heading(_("Artisanal sites")))
        if tenure:
            parts.append(row(_swatch(LIC_COLOURS["exploitation"], stroke="#000000",
                                     opacity=0.9, circle=True),
                             _("Inside a title (fill: its licence type)")))
            parts.append(row(_swatch(TENURE_COLOURS["unlicensed"], stroke="#000000",
                                     opacity=0.9, circle=True),
                             label(TENURE_LABELS, "unlicensed")))
        else:
            parts.append(row(_swatch(SITE_COLOUR, stroke="#000000", opacity=0.9, circle=True),
                             _("Artisanal site")))
        if not compact:
            flags = ", ".join(_(text).lower() for text in RED_FLAGS.values())
            parts.append(row(_swatch("#ffffff", stroke="#000000", opacity=0.9, circle=True,
                                     weight=3),
                             _("Red flag (thick outline): {flags}").format(flags=flags)))
            parts.append(row('<span style="display:inline-block;width:16px;height:16px;'
                             'border-radius:50%;background:rgba(110,204,57,0.7);'
                             'margin-right:6px;vertical-align:middle"></span>',
                             _("Cluster of sites (number inside)")))
    return "".join(parts)


# --- layers ------------------------------------------------------------------------------------


def _base_map(bounds: list[list[float]] | None, *, tiles: str | None) -> OfflineMap:
    if bounds is None:
        m = offline_map(location=(0.0, 20.0), zoom_start=3, tiles=tiles)
    else:
        (south, west), (north, east) = bounds
        m = offline_map(location=((south + north) / 2, (west + east) / 2), zoom_start=6,
                        bounds=bounds, tiles=tiles)
    for name, z_index, interactive in _PANES:
        add_pane(m, name, z_index, interactive=interactive)
    m.get_root().header.add_child(branca.element.Element(_CONTROL_CSS), name="map_controls_css")
    return m


def _concession_layer(concessions: gpd.GeoDataFrame, *, popup: bool,
                      tolerance: float = SIMPLIFY_DEG,
                      decimals: int = DECIMALS) -> folium.FeatureGroup:
    """Concessions coloured by licence type; with ``popup``, every field is sent and shown
    on click, else only the tooltip's (the overview thumbnail)."""
    group = folium.FeatureGroup(name=_(LAYER_CONCESSIONS), overlay=True, control=True)
    lic = _lic_codes(concessions)
    properties = _concession_properties(concessions)
    if not popup:
        properties = {key: properties[key] for key in ("kind", *CONCESSION_TOOLTIP)}
    collection, kept = _feature_collection(_geometries(concessions), properties,
                                           tolerance=tolerance, decimals=decimals)
    if not kept.size:
        return group
    colours = [LIC_COLOURS[code] for code in lic[kept]]

    def style(feature: dict) -> dict:
        colour = colours[feature["id"]]
        return {"color": colour, "weight": 1, "opacity": 0.9, "fillColor": colour,
                "fillOpacity": 0.35}

    def highlight(feature: dict) -> dict:
        return {"weight": 3, "fillOpacity": 0.55}

    PlainGeoJson(
        collection, name=_(LAYER_CONCESSIONS), control=False, style_function=style,
        highlight_function=highlight, pane="concessions",
        tooltip=_tooltip(CONCESSION_FIELDS, CONCESSION_TOOLTIP),
        popup=_popup(CONCESSION_FIELDS) if popup else None,
    ).add_to(group)
    return group


def _zone_layer(zones: gpd.GeoDataFrame, *, tolerance: float = SIMPLIFY_DEG,
                decimals: int = DECIMALS) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=_(LAYER_ZONES), overlay=True, control=True)
    properties = {
        "kind": ["zone"] * len(zones),
        "conc_id": _texts(_column(zones, "conc_id")),
        "area_ha": _hectares(_column(zones, "area_ha")),
        "holder": _texts(_column(zones, "holder")),
        "lic_type": _labels(_column(zones, "lic_type"), LIC_TYPE_LABELS),
    }
    collection, kept = _feature_collection(_geometries(zones), properties,
                                           tolerance=tolerance, decimals=decimals)
    if not kept.size:
        return group
    style = {"color": ZONE_COLOUR, "weight": 1, "opacity": 1.0, "fillColor": ZONE_COLOUR,
             "fillOpacity": 0.7}
    PlainGeoJson(
        collection, name=_(LAYER_ZONES), control=False, style_function=lambda _f: style,
        pane="zones", tooltip=_tooltip(ZONE_FIELDS, tuple(ZONE_FIELDS)),
        popup=_popup(ZONE_FIELDS),
    ).add_to(group)
    return group


def _outline_layer(geoms: np.ndarray) -> folium.GeoJson:
    collection, _kept = _feature_collection(geoms, {"kind": ["selected"] * len(geoms)})
    style = {"color": SELECTED_COLOUR, "weight": 3, "opacity": 1.0, "fill": False}
    return PlainGeoJson(collection, name="Selected title", control=False,
                          style_function=lambda _f: style, pane="selected",
                          interactive=False)


def _ring_layer(rings: gpd.GeoDataFrame) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=_(LAYER_RINGS), overlay=True, control=True)
    properties = {"kind": ["ring"] * len(rings),
                  "ring_km": _texts(_column(rings, "ring_km"))}
    collection, kept = _feature_collection(_geometries(rings), properties)
    if kept.size:
        style = {"color": RING_COLOUR, "weight": 1.5, "opacity": 0.9, "dashArray": "6 4",
                 "fill": False}
        PlainGeoJson(collection, name=_(LAYER_RINGS), control=False,
                       style_function=lambda _f: style, pane="rings",
                       interactive=False).add_to(group)
    return group


def _site_layer(
    sites: pd.DataFrame, footprints: gpd.GeoSeries | None, *,
    polygons: bool | np.ndarray = True, markers: bool | np.ndarray = True,
    tolerance: float = SIMPLIFY_DEG, decimals: int = DECIMALS,
) -> folium.FeatureGroup:
    """Sites as clustered CircleMarkers at lon/lat, and their polygons where they have one.

    ``polygons`` and ``markers`` (masks over ``sites``, or all/none) choose what is drawn.
    """
    group = folium.FeatureGroup(name=_(LAYER_SITES), overlay=True, control=True)
    values = _site_values(sites)
    fields = {key: label for key, label in SITE_FIELDS.items() if key in values}
    style_index = _site_style_index(sites)
    click_conc = _click_conc_ids(sites)

    if footprints is not None and len(footprints) == len(sites):
        geoms = np.asarray(footprints.values, dtype=object)
        drawn = shapely.is_geometry(geoms) & ~shapely.is_empty(geoms) & polygons
        is_polygon = _column(sites, "is_polygon").astype("boolean").fillna(True)
        is_polygon = is_polygon.to_numpy(dtype=bool)
        # The site's own polygon: every field, in a popup like the marker's.
        _site_area_layer(
            np.where(drawn & is_polygon, geoms, None), style_index, fields,
            {"kind": ["site"] * len(sites), **values, "conc_id": click_conc},
            popup=True, tolerance=tolerance, decimals=decimals,
        ).add_to(group)
        # A point site's footprint circle (radius option): dashed outline, tooltip only; the
        # marker at its centre has the popup.
        _site_area_layer(
            np.where(drawn & ~is_polygon, geoms, None), style_index, fields,
            {"kind": ["site"] * len(sites), "conc_id": click_conc,
             **{key: values[key] for key in ("site_id", *_site_tooltip_keys(values))}},
            popup=False, tolerance=tolerance, decimals=decimals,
        ).add_to(group)

    lon = pd.to_numeric(_column(sites, "lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(_column(sites, "lat"), errors="coerce").to_numpy(dtype=float)
    has_point = np.isfinite(lon) & np.isfinite(lat) & markers
    if has_point.any():
        columns = [values[key] for key in fields]
        rows = [
            [round(float(lat[i]), decimals), round(float(lon[i]), decimals),
             int(style_index[i]), [column[i] for column in columns], click_conc[i]]
            for i in np.flatnonzero(has_point)
        ]
        FastMarkerCluster(
            rows, callback=_marker_callback(list(fields.values()), list(fields)),
            name=_(LAYER_SITES), control=False, options=dict(_CLUSTER_OPTIONS),
        ).add_to(group)
    return group


def _site_area_layer(
    geoms: np.ndarray, style_index: np.ndarray, fields: Mapping[str, str],
    properties: Mapping[str, Sequence[Any]], *, popup: bool,
    tolerance: float = SIMPLIFY_DEG, decimals: int = DECIMALS,
) -> folium.GeoJson | folium.FeatureGroup:
    """Site polygons (None where a site has none), filled like the site markers.

    Without ``popup`` they are footprint circles of point sites: a dashed outline only, so
    the overlap zones they make stay visible under them.
    """
    collection, kept = _feature_collection(geoms, properties, tolerance=tolerance,
                                           decimals=decimals)
    if not kept.size:
        return folium.FeatureGroup(name=_(LAYER_SITES), control=False)
    styles = [_site_style(index) for index in style_index[kept]]

    def style(feature: dict) -> dict:
        fill, weight, _radius = styles[feature["id"]]
        if not popup:
            return {"color": "#333333", "weight": 1, "opacity": 0.9, "dashArray": "3 3",
                    "fillColor": fill, "fillOpacity": 0.0}
        return {"color": "#000000", "weight": weight, "opacity": 1.0, "fillColor": fill,
                "fillOpacity": 0.8}

    return PlainGeoJson(
        collection, name=_(LAYER_SITES), control=False, style_function=style,
        pane="site_areas", tooltip=_tooltip(fields, _site_tooltip_keys(fields)),
        popup=_popup(fields) if popup else None,
    )


def _lod_concessions(concessions: gpd.GeoDataFrame, index: lod.MapIndex, plan: lod.Plan, *,
                    popup: bool) -> folium.FeatureGroup:
    """The concessions as ``plan`` says: vector features (all, or those in its window) or
    an image of its window."""
    if plan.polygons == "image":
        group = folium.FeatureGroup(name=_(LAYER_CONCESSIONS), overlay=True, control=True)
        # Zoomed out, titles are a few pixels: fuller fills and no outlines read better.
        outlined = plan.zoom >= IMAGE_OUTLINE_ZOOM
        styles = {code: lod.Style(colour, 0.35 if outlined else 0.65, colour, 0.9,
                                  IMAGE_LINE_PX if outlined else 0.0)
                  for code, colour in LIC_COLOURS.items()}
        _image(index, "concessions", plan, styles, pane="concessions").add_to(group)
        return group
    rows = plan.rows["concessions"]
    return _concession_layer(concessions.iloc[rows], popup=popup, tolerance=plan.tolerance,
                             decimals=plan.decimals)


def _lod_zones(zones: gpd.GeoDataFrame, index: lod.MapIndex,
               plan: lod.Plan) -> folium.FeatureGroup:
    """The overlap zones as ``plan`` says (see :func:`_lod_concessions`)."""
    if plan.polygons == "image":
        group = folium.FeatureGroup(name=_(LAYER_ZONES), overlay=True, control=True)
        line = IMAGE_LINE_PX if plan.zoom >= IMAGE_OUTLINE_ZOOM else 0.0
        styles = {"0": lod.Style(ZONE_COLOUR, 0.7, ZONE_COLOUR, 1.0, line)}
        _image(index, "zones", plan, styles, pane="zones").add_to(group)
        return group
    return _zone_layer(zones.iloc[plan.rows["zones"]], tolerance=plan.tolerance,
                       decimals=plan.decimals)


def _lod_sites(sites: pd.DataFrame, footprints: gpd.GeoSeries | None, index: lod.MapIndex,
               plan: lod.Plan) -> folium.FeatureGroup:
    """The sites as ``plan`` says: their polygons as vector features or an image, their
    points as clustered markers or a grid of counts."""
    polygon_rows = plan.rows.get("site_polygons", np.zeros(0, dtype=int))
    marker_rows = plan.rows.get("sites", np.zeros(0, dtype=int))
    rows = np.union1d(polygon_rows, marker_rows).astype(int)
    shown = sites.iloc[rows].reset_index(drop=True)
    shown_footprints = None
    if footprints is not None and len(footprints) == len(sites):
        shown_footprints = footprints.iloc[rows].reset_index(drop=True)
    group = _site_layer(shown, shown_footprints, polygons=np.isin(rows, polygon_rows),
                        markers=np.isin(rows, marker_rows), tolerance=plan.tolerance,
                        decimals=plan.decimals)
    if plan.polygons == "image" and plan.zoom >= SITE_IMAGE_ZOOM:
        styles = {str(tenure): lod.Style(_site_style(2 * tenure)[0], 0.8, "#000000", 0.9,
                                         IMAGE_LINE_PX)
                  for tenure in range(len(_STYLE_CLASSES))}
        _image(index, "site_polygons", plan, styles, pane="site_areas").add_to(group)
    if plan.sites == "grid":
        _site_grid(index, plan).add_to(group)
    return group


def _image(index: lod.MapIndex, layer: str, plan: lod.Plan, styles: Mapping[str, lod.Style],
           *, pane: str) -> branca.element.Element:
    """An image of ``layer`` over the plan's window (nothing when the window is empty)."""
    url = index.image(layer, plan.window, plan.zoom, styles)
    if url is None:
        return branca.element.Element("")
    west, south, east, north = plan.window
    return lod.ImageLayer(url, [[south, west], [north, east]], pane=pane)


def _site_grid(index: lod.MapIndex, plan: lod.Plan) -> lod.SiteGrid:
    """The sites of the plan's window counted on a grid (:func:`ui.lod.site_grid`)."""
    key = ("site_grid", plan.window, plan.zoom, get_language())
    return lod.SiteGrid(index.remember(key, lambda: _site_grid_rows(index, plan)))


def _site_grid_rows(index: lod.MapIndex, plan: lod.Plan) -> list[list[Any]]:
    cells = lod.site_grid(index.lon[index.site_ok], index.lat[index.site_ok],
                          index.site_inside[index.site_ok], plan.window, plan.zoom)
    # Each count written once (cells share small counts).
    counts = {int(value): fmt.count(value)
              for value in np.unique(np.r_[cells["sites"], cells["inside"]])}
    template = _("{count} sites, {inside} inside concessions. Click to zoom in.")
    rows = []
    for cell in cells.itertuples(index=False):
        size = "small" if cell.sites < 10 else "medium" if cell.sites < 100 else "large"
        tooltip = template.format(count=counts[cell.sites], inside=counts[cell.inside])
        rows.append([round(float(cell.lat), 4), round(float(cell.lon), 4),
                     html.escape(counts[cell.sites]), size, html.escape(tooltip),
                     [[round(float(cell.south), 4), round(float(cell.west), 4)],
                      [round(float(cell.north), 4), round(float(cell.east), 4)]]])
    return rows


def _site_dots(sites: pd.DataFrame) -> folium.GeoJson | folium.FeatureGroup:
    """Sites as small dots (no clustering), for the overview thumbnail."""
    lon = pd.to_numeric(_column(sites, "lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(_column(sites, "lat"), errors="coerce").to_numpy(dtype=float)
    points = shapely.points(lon, lat)
    points[~(np.isfinite(lon) & np.isfinite(lat))] = None
    properties = {"name": _texts(_column(sites, "name"))}
    collection, kept = _feature_collection(points, properties, tolerance=0.0,
                                           decimals=THUMBNAIL_DECIMALS)
    if not kept.size:
        return folium.FeatureGroup(name=_(LAYER_SITES))
    styles = [_site_style(index) for index in _site_style_index(sites)[kept]]

    def style(feature: dict) -> dict:
        fill, _weight, _radius = styles[feature["id"]]
        return {"pane": "site_points", "color": "#222222", "weight": 0.4, "opacity": 0.8,
                "fill": True, "fillColor": fill, "fillOpacity": 0.9, "radius": 2.5}

    return PlainGeoJson(
        collection, name=_(LAYER_SITES), style_function=style,
        marker=folium.CircleMarker(radius=3),
        tooltip=GeoJsonTooltip(fields=["name"], aliases=[html.escape(_("Site"))], labels=False,
                               localize=False, style=_TOOLTIP_STYLE),
    )


def _marker_callback(labels: Sequence[str], keys: Sequence[str]) -> str:
    """JavaScript building one CircleMarker (with tooltip and popup) from one data row.

    A row is ``[lat, lon, style index, [escaped values in field order], conc_id or null]``.
    Values and labels are already HTML-escaped, so joining them into HTML is safe.
    """
    styles = [
        {"c": fill, "w": weight, "r": radius}
        for fill, weight, radius in (_site_style(i) for i in range(_n_site_styles()))
    ]
    tooltip_positions = [keys.index(key) for key in _site_tooltip_keys(keys)]
    site_position = keys.index("site_id") if "site_id" in keys else -1
    return f"""(function () {{
        var styles = {_js(styles)};
        var labels = {_js([html.escape(_(text)) for text in labels])};
        var tooltipFields = {_js(tooltip_positions)};
        var siteField = {site_position};
        return function (row) {{
            var style = styles[row[2]];
            var values = row[3];
            var marker = L.circleMarker([row[0], row[1]], {{
                pane: "site_points", radius: style.r, weight: style.w, color: "#000000",
                opacity: 1, fillColor: style.c, fillOpacity: 0.9
            }});
            marker.feature = {{type: "Feature", properties: {{
                kind: "site", site_id: siteField >= 0 ? values[siteField] : null,
                conc_id: row[4]
            }}}};
            marker.bindTooltip(tooltipFields.map(function (i) {{ return values[i]; }})
                .join("<br>"), {{sticky: true, className: "foliumtooltip"}});
            marker.bindPopup(function () {{
                return "<table>" + labels.map(function (label, i) {{
                    return "<tr><th style=\\"text-align:left;padding-right:8px\\">" + label +
                        "</th><td>" + values[i] + "</td></tr>";
                }}).join("") + "</table>";
            }}, {{maxWidth: 320}});
            return marker;
        }};
    }})()"""


def _js(value: object) -> str:
    """JSON that is safe inside a <script> element."""
    return (json.dumps(value, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _tooltip(fields: Mapping[str, str], keys: Sequence[str]) -> GeoJsonTooltip:
    """A tooltip of ``keys``, labelled with the (English) ``fields`` labels translated."""
    return GeoJsonTooltip(
        fields=list(keys), aliases=[html.escape(_(fields[key])) for key in keys],
        localize=False, sticky=True, labels=True, style=_TOOLTIP_STYLE,
    )


def _popup(fields: Mapping[str, str]) -> GeoJsonPopup:
    """A popup of every field, labelled with the (English) ``fields`` labels translated."""
    return GeoJsonPopup(
        fields=list(fields), aliases=[html.escape(_(text)) for text in fields.values()],
        localize=False, labels=True, max_width=360,
    )


def _site_tooltip_keys(available: Sequence[str] | Mapping[str, Any]) -> tuple[str, ...]:
    """The tooltip's fields among those a site layer has (at least its identifier)."""
    keys = tuple(key for key in SITE_TOOLTIP if key in available)
    return keys or ("site_id",)


# --- site styles -------------------------------------------------------------------------------

_STYLE_CLASSES: tuple[str, ...] = (*TENURE_CLASSES, "")  # "" = tenure unknown


def _n_site_styles() -> int:
    return 2 * len(_STYLE_CLASSES)


def _site_style(index: int) -> tuple[str, float, int]:
    """(fill colour, outline weight, radius) of style ``index`` = 2 * tenure + red flag."""
    tenure, flagged = divmod(int(index), 2)
    fill = TENURE_COLOURS.get(_STYLE_CLASSES[tenure], SITE_COLOUR)
    return (fill, 3.0, 7) if flagged else (fill, 1.0, 5)


def _site_style_index(sites: pd.DataFrame) -> np.ndarray:
    """Style of each site: 2 * its tenure class (the last for none or another) + 1 when a
    red flag is raised."""
    tenure_index = pd.Series(_style_classes(_column(sites, "tenure")))
    flagged = np.zeros(len(sites), dtype=bool)
    for flag in RED_FLAGS:
        flagged |= _column(sites, flag).astype("boolean").fillna(False).to_numpy(dtype=bool)
    return tenure_index.to_numpy(dtype=int) * 2 + flagged.astype(int)


def _style_classes(tenure: pd.Series) -> np.ndarray:
    """Position in :data:`_STYLE_CLASSES` of each tenure (the last for none or another),
    through the categories when the tenure is categorical."""
    last = len(_STYLE_CLASSES) - 1
    known = list(_STYLE_CLASSES[:-1])
    if isinstance(tenure.dtype, pd.CategoricalDtype):
        lookup = np.array([known.index(c) if c in known else last
                           for c in tenure.cat.categories] + [last], dtype=int)
        return lookup[tenure.cat.codes.to_numpy()]
    codes = pd.Categorical(tenure.astype(object), categories=known).codes
    return np.where(codes < 0, last, codes)


# --- properties --------------------------------------------------------------------------------


def _concession_properties(concessions: pd.DataFrame) -> dict[str, list[Any]]:
    overlap_ha = pd.to_numeric(_column(concessions, "overlap_ha"), errors="coerce")
    overlap_pct = pd.to_numeric(_column(concessions, "overlap_pct"), errors="coerce")
    overlap = [
        MISSING if pd.isna(ha) else
        f"{fmt.area(float(ha))} ({MISSING if pd.isna(pct) else fmt.percent(float(pct))})"
        for ha, pct in zip(overlap_ha, overlap_pct, strict=True)
    ]
    return {
        "kind": ["concession"] * len(concessions),
        "conc_id": _texts(_column(concessions, "conc_id")),
        "holder": _texts(_column(concessions, "holder")),
        "lic_type": [html.escape(label(LIC_TYPE_LABELS, code))
                     for code in _lic_codes(concessions)],
        "status": _texts(_column(concessions, "status")),
        "expiry": _dates(_column(concessions, "expiry")),
        "area_ha": _hectares(_column(concessions, "area_ha")),
        "overlap": overlap,
        "sites_in": _counts(_column(concessions, "sites_in")),
        "workers_in": _counts(_column(concessions, "workers_in")),
    }


def _site_values(sites: pd.DataFrame) -> dict[str, list[str]]:
    """Escaped display values of the site fields the frame has (all, for analysed sites)."""
    formats: dict[str, Callable[[pd.Series], list[str]]] = {
        "site_id": _texts,
        "name": _texts,
        "tenure": lambda s: _labels(s, TENURE_LABELS),
        "concession": _texts,
        "dist_km": lambda s: _numbers(s, 2),
        "workers": _counts,
        "mercury": _yes_no,
        "armed": _yes_no,
        "child_lab": _yes_no,
        "seen": _dates,
    }
    source = {"concession": "conc_id"}
    return {
        key: formatter(sites[source.get(key, key)])
        for key, formatter in formats.items()
        if source.get(key, key) in sites
    }


def _click_conc_ids(sites: pd.DataFrame) -> list[str | None]:
    """The concession a site is in, escaped, or None: the click property ``conc_id``."""
    values = _column(sites, "conc_id")
    return [None if _missing(v) or str(v) == "" else html.escape(str(v)) for v in values]


def _lic_codes(frame: pd.DataFrame) -> np.ndarray:
    codes = _column(frame, "lic_type").astype(object)
    known = codes.isin(list(LIC_COLOURS)).to_numpy(dtype=bool)
    return np.where(known, codes.to_numpy(dtype=object), "other").astype(object)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name].reset_index(drop=True)
    return pd.Series([None] * len(frame), dtype=object)


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _texts(values: pd.Series) -> list[str]:
    return [
        MISSING if _missing(v) or str(v).strip() == "" else html.escape(str(v).strip())
        for v in values
    ]


def _labels(values: pd.Series, labels: Mapping[str, str]) -> list[str]:
    """Normalised values as their translated labels (unknown values as they are), escaped."""
    return [
        MISSING if _missing(v) else html.escape(label(labels, v))
        for v in values.astype(object)
    ]


def _hectares(values: pd.Series) -> list[str]:
    numbers = pd.to_numeric(values, errors="coerce")
    return [MISSING if pd.isna(v) else fmt.area(float(v)) for v in numbers]


def _numbers(values: pd.Series, decimals: int) -> list[str]:
    numbers = pd.to_numeric(values, errors="coerce")
    return [MISSING if pd.isna(v) else fmt.number(float(v), decimals) for v in numbers]


def _counts(values: pd.Series) -> list[str]:
    numbers = pd.to_numeric(values, errors="coerce")
    return [MISSING if pd.isna(v) else fmt.count(round(float(v))) for v in numbers]


def _yes_no(values: pd.Series) -> list[str]:
    flags = values.astype("boolean")
    return [fmt.yes_no(None if pd.isna(v) else bool(v)) for v in flags]


def _dates(values: pd.Series) -> list[str]:
    """Dates formatted once per distinct day (a site layer has few)."""
    codes, days = pd.factorize(pd.to_datetime(values, errors="coerce"))
    shown = np.array([html.escape(fmt.date(day) or MISSING) for day in days] + [MISSING],
                     dtype=object)
    return shown[codes].tolist()  # code -1 (missing) takes the last entry


# --- geometry ----------------------------------------------------------------------------------


def _geometries(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
    series = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else frame
    if series.crs is not None and not series.crs.equals("EPSG:4326"):
        series = series.to_crs(4326)
    return np.asarray(series.values, dtype=object)


def _for_browser(geoms: np.ndarray, *, tolerance: float = SIMPLIFY_DEG,
                 decimals: int = DECIMALS) -> np.ndarray:
    """Simplified (topology kept) and rounded to ``decimals``, vectorised."""
    geoms = np.asarray(geoms, dtype=object)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))


def _feature_collection(
    geoms: np.ndarray, properties: Mapping[str, Sequence[Any]], *,
    tolerance: float = SIMPLIFY_DEG, decimals: int = DECIMALS,
) -> tuple[dict, np.ndarray]:
    """A FeatureCollection of the non-empty geometries; feature ``id`` = position in it.

    Returns the collection and the positions (in ``geoms``) of the features kept.
    """
    browser = _for_browser(geoms, tolerance=tolerance, decimals=decimals)
    kept = np.flatnonzero(shapely.is_geometry(browser) & ~shapely.is_empty(browser))
    texts = shapely.to_geojson(browser[kept])
    keys = list(properties)
    features = [
        {"type": "Feature", "id": feature_id,
         "properties": {key: properties[key][position] for key in keys},
         "geometry": json.loads(text)}
        for feature_id, (position, text) in enumerate(zip(kept, texts, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}, kept


def _view_bounds(geoms: np.ndarray, *, trim: bool = True) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the geometries, far outliers left out.

    Geometries whose bounding box's centre lies outside the 2nd-98th percentile of those
    centres' longitudes or latitudes are left out (``trim``); the rest are fitted whole.
    """
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[shapely.is_geometry(geoms) & ~shapely.is_empty(geoms)]
    if not len(geoms):
        return None
    return _fit_of_boxes(shapely.bounds(geoms), trim=trim)


def _fit_of_boxes(boxes: np.ndarray, *, trim: bool = True) -> list[list[float]] | None:
    """:func:`_view_bounds` of the bounding boxes ``boxes`` (minx, miny, maxx, maxy)."""
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    if trim and len(boxes) > 2:
        xy = (boxes[:, :2] + boxes[:, 2:]) / 2
        low = np.percentile(xy, FIT_PERCENTILE, axis=0, method="lower")
        high = np.percentile(xy, 100 - FIT_PERCENTILE, axis=0, method="higher")
        core = ((xy >= low) & (xy <= high)).all(axis=1)
        if core.any():
            boxes = boxes[core]
    west, south = boxes[:, 0].min(), boxes[:, 1].min()
    east, north = boxes[:, 2].max(), boxes[:, 3].max()
    return [[float(south), float(west)], [float(north), float(east)]]


def _point_bounds(sites: pd.DataFrame) -> list[list[float]] | None:
    lon = pd.to_numeric(_column(sites, "lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(_column(sites, "lat"), errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    return _view_bounds(shapely.points(lon[ok], lat[ok])) if ok.any() else None


# --- closure planning map ----------------------------------------------------------------------

#: Colours of the titles by years left before expiry: (lower bound in years, label, colour),
#: the last bound not above a title's years left wins; negative years left is "Expired".
YEARS_LEFT_CLASSES: tuple[tuple[float, str, str], ...] = (
    (-np.inf, N_("Expired"), "#4D4D4D"),  # dark grey
    (0.0, N_("Under 1 year left"), "#B2182B"),  # dark red: soonest
    (1.0, N_("1 to 2 years left"), "#E66101"),  # orange
    (2.0, N_("2 to 5 years left"), "#FDB863"),  # light orange
    (5.0, N_("5 years or more left"), "#4393C3"),  # blue: furthest
)
#: Fields of the closure map's title popups (English, marked; translated when built).
CLOSURE_FIELDS: dict[str, str] = {
    "conc_id": N_("Title"),
    "holder": N_("Holder"),
    "lic_type": N_("Licence type"),
    "status": N_("Status"),
    "expiry": N_("Expiry"),
    "years_left": N_("Years left"),
    "sites_in": N_("Sites inside"),
    "workers_in": N_("Workers inside"),
    "sites_near": N_("Sites near"),
    "workers_near": N_("Workers near"),
}
CLOSURE_TOOLTIP: tuple[str, ...] = ("conc_id", "holder", "expiry", "years_left")


def closure_map(
    concessions: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    *,
    footprints: gpd.GeoSeries | None = None,
    tiles: str | None = None,
) -> OfflineMap:
    """Titles expiring or expired, coloured by years left, with the sites inside or near.

    Parameters
    ----------
    concessions : GeoDataFrame
        The titles listed (:data:`geo.schema.CLOSURE_COLUMNS` and geometry), EPSG:4326.
    sites : DataFrame
        The sites they concern, :data:`geo.schema.SITE_RESULT_COLUMNS` (``lon``/``lat``).
    footprints : GeoSeries, optional, keyword-only
        Site polygons aligned by position with ``sites`` (None for point sites).
    tiles : str, optional, keyword-only
        Basemap tiles (need a connection); default none, the country outlines only.

    Returns
    -------
    OfflineMap
        Layers "Concessions" and "Artisanal sites", a layer control and a legend. The view
        fits the titles not yet expired when there are any (expired ones are drawn below
        them, lighter), else all of them.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> titles = gpd.GeoDataFrame({"conc_id": ["PE 1"], "years_left": [-2.5]},
    ...                           geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326)
    >>> page = closure_map(titles, pd.DataFrame()).get_root().render()
    >>> YEARS_LEFT_CLASSES[0][2] in page
    True
    """
    conc_geoms = _geometries(concessions)
    running = years_left_class(_column(concessions, "years_left")) > 0
    bounds = _view_bounds(conc_geoms[running]) if running.any() else None
    bounds = bounds or _view_bounds(conc_geoms)
    if bounds is None and len(sites):
        bounds = _point_bounds(sites)
    m = _base_map(bounds, tiles=tiles)
    _closure_title_layer(concessions).add_to(m)
    if len(sites):
        _site_layer(sites.reset_index(drop=True), footprints).add_to(m)
    Legend(_closure_legend_html()).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m


def years_left_class(years_left: pd.Series) -> np.ndarray:
    """Index in :data:`YEARS_LEFT_CLASSES` of each title's years left (missing: expired).

    Examples
    --------
    >>> years_left_class(pd.Series([-0.5, 0.0, 1.5, 4.99, 12.0])).tolist()
    [0, 1, 2, 3, 4]
    """
    bounds = np.array([lower for lower, _label, _colour in YEARS_LEFT_CLASSES[1:]])
    values = pd.to_numeric(years_left, errors="coerce").fillna(-1.0).to_numpy(dtype=float)
    return np.searchsorted(bounds, values, side="right")


def _closure_title_layer(concessions: gpd.GeoDataFrame) -> folium.FeatureGroup:
    group = folium.FeatureGroup(name=_(LAYER_CONCESSIONS), overlay=True, control=True)
    classes = years_left_class(_column(concessions, "years_left"))
    properties = {
        "kind": ["concession"] * len(concessions),
        "conc_id": _texts(_column(concessions, "conc_id")),
        "holder": _texts(_column(concessions, "holder")),
        "lic_type": [html.escape(label(LIC_TYPE_LABELS, code))
                     for code in _lic_codes(concessions)],
        "status": _texts(_column(concessions, "status")),
        "expiry": _dates(_column(concessions, "expiry")),
        "years_left": _numbers(_column(concessions, "years_left"), 1),
        **{key: _counts(_column(concessions, key))
           for key in ("sites_in", "workers_in", "sites_near", "workers_near")},
    }
    # Expired titles first, so the titles still running are drawn over them.
    order = np.argsort(classes, kind="stable")
    properties = {key: [values[i] for i in order] for key, values in properties.items()}
    collection, kept = _feature_collection(_geometries(concessions)[order], properties)
    if not kept.size:
        return group
    expired = classes[order][kept] == 0
    colours = [YEARS_LEFT_CLASSES[index][2] for index in classes[order][kept]]

    def style(feature: dict) -> dict:
        colour = colours[feature["id"]]
        if expired[feature["id"]]:  # in the background: still there, not shouting
            return {"color": colour, "weight": 0.5, "opacity": 0.7, "fillColor": colour,
                    "fillOpacity": 0.3}
        return {"color": "#000000", "weight": 1.5, "opacity": 0.9, "fillColor": colour,
                "fillOpacity": 0.75}

    PlainGeoJson(
        collection, name=_(LAYER_CONCESSIONS), control=False, style_function=style,
        highlight_function=lambda _f: {"weight": 3, "fillOpacity": 0.75},
        pane="concessions", tooltip=_tooltip(CLOSURE_FIELDS, CLOSURE_TOOLTIP),
        popup=_popup(CLOSURE_FIELDS),
    ).add_to(group)
    return group


def _closure_legend_html() -> str:
    def row(swatch: str, text: str) -> str:
        return f"<div>{swatch}{html.escape(text)}</div>"

    def heading(text: str) -> str:
        return f'<div style="font-weight:600;margin-top:4px">{html.escape(text)}</div>'

    flags = ", ".join(_(text).lower() for text in RED_FLAGS.values())
    return "".join([
        heading(_("Titles (years left before expiry)")),
        *(row(_swatch(colour, stroke="#000000" if lower >= 0 else colour,
                      opacity=0.75 if lower >= 0 else 0.3), _(text))
          for lower, text, colour in YEARS_LEFT_CLASSES),
        heading(_("Artisanal sites inside or near (fill: tenure)")),
        *(row(_swatch(TENURE_COLOURS[tenure], stroke="#000000", opacity=0.9, circle=True),
              label(TENURE_LABELS, tenure))
          for tenure in TENURE_CLASSES),
        row(_swatch("#ffffff", stroke="#000000", opacity=0.9, circle=True, weight=3),
            _("Red flag (thick outline): {flags}").format(flags=flags)),
    ])


def formalisation_map(
    zones: gpd.GeoDataFrame,
    sites: pd.DataFrame,
    *,
    labels: Mapping[str, str],
    tiles: str | None = None,
) -> OfflineMap:
    """Formalisation candidates: the artisanal zones and the sites by category.

    Parameters
    ----------
    zones : GeoDataFrame
        The artisanal zones (``conc_id``, ``holder``, geometry), EPSG:4326.
    sites : DataFrame
        The cadastre list (:data:`geo.schema.FORMALISATION_SITE_COLUMNS`): ``category``,
        ``lon``/``lat``, ``name``, the red flags.
    labels : dict, keyword-only
        ``category -> label`` (English, translated here), in the legend's order:
        ``free_land`` (yellow, as free land on the main map), ``in_zone`` (green, the
        artisanal-zone colour), ``near_zone`` (blue, the exploitation-permit colour).
    tiles : str, optional, keyword-only
        Basemap tiles (need a connection); default none, the country outlines only.

    Returns
    -------
    OfflineMap
        Layers "Artisanal zones" and "Artisanal sites", a layer control and a legend; the
        view fits the sites (the zones when there are none).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> zea = gpd.GeoDataFrame({"conc_id": ["ZEA <1>"], "holder": [None]},
    ...                        geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326)
    >>> listed = pd.DataFrame({"category": ["in_zone"], "name": ["Mine"],
    ...                        "lon": [28.05], "lat": [-2.95]})
    >>> page = formalisation_map(zea, listed, labels={"in_zone": "Inside a zone"})
    >>> "ZEA &lt;1&gt;" in page.get_root().render().replace("\\\\u0026", "&")
    True
    """
    colours = {"free_land": TENURE_COLOURS["unlicensed"], "in_zone": LIC_COLOURS["asm_zone"],
               "near_zone": LIC_COLOURS["exploitation"]}
    zone_geoms = _geometries(zones)
    bounds = _point_bounds(sites) if len(sites) else None
    m = _base_map(bounds or _view_bounds(zone_geoms), tiles=tiles)

    zone_group = folium.FeatureGroup(name=_("Artisanal zones"), overlay=True, control=True)
    zone_fields = {"conc_id": N_("Artisanal zone"), "holder": N_("Holder")}
    collection, kept = _feature_collection(zone_geoms, {
        "kind": ["zone"] * len(zones), "conc_id": _texts(_column(zones, "conc_id")),
        "holder": _texts(_column(zones, "holder"))})
    if kept.size:
        zone_style = {"color": colours["in_zone"], "weight": 1, "opacity": 0.9,
                      "fillColor": colours["in_zone"], "fillOpacity": 0.35}
        PlainGeoJson(collection, name=_("Artisanal zones"), control=False,
                       style_function=lambda _f: zone_style, pane="concessions",
                       tooltip=_tooltip(zone_fields, tuple(zone_fields))).add_to(zone_group)
    zone_group.add_to(m)

    lon = pd.to_numeric(_column(sites, "lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(_column(sites, "lat"), errors="coerce").to_numpy(dtype=float)
    points = shapely.points(lon, lat)
    points[~(np.isfinite(lon) & np.isfinite(lat))] = None
    category = _column(sites, "category").astype(object)
    flagged = np.zeros(len(sites), dtype=bool)
    for flag in RED_FLAGS:
        flagged |= _column(sites, flag).astype("boolean").fillna(False).to_numpy(dtype=bool)
    site_fields = {"name": N_("Site"), "category": N_("Category")}
    collection, kept = _feature_collection(points, {
        "kind": ["site"] * len(sites), "site_id": _texts(_column(sites, "site_id")),
        "name": _texts(_column(sites, "name")), "category": _labels(category, labels)},
        tolerance=0.0)
    fills = [colours.get(str(c), SITE_COLOUR) for c in category.to_numpy()[kept]]
    weights = [2.5 if f else 0.6 for f in flagged[kept]]
    site_group = folium.FeatureGroup(name=_(LAYER_SITES), overlay=True, control=True)
    if kept.size:
        PlainGeoJson(
            collection, name=_(LAYER_SITES), control=False,
            style_function=lambda f: {
                "pane": "site_points", "color": "#000000", "weight": weights[f["id"]],
                "opacity": 0.9, "fill": True, "fillColor": fills[f["id"]],
                "fillOpacity": 0.9, "radius": 4},
            marker=folium.CircleMarker(radius=4),
            tooltip=_tooltip(site_fields, tuple(site_fields)),
        ).add_to(site_group)
    site_group.add_to(m)

    def row(swatch: str, text: str) -> str:
        return f"<div>{swatch}{html.escape(text)}</div>"

    flags = ", ".join(_(text).lower() for text in RED_FLAGS.values())
    Legend("".join([
        row(_swatch(colours["in_zone"], opacity=0.35), _("Artisanal zone")),
        *(row(_swatch(colours.get(key, SITE_COLOUR), stroke="#000000", opacity=0.9,
                      circle=True), _(text)) for key, text in labels.items()),
        row(_swatch("#ffffff", stroke="#000000", opacity=0.9, circle=True, weight=3),
            _("Red flag (thick outline): {flags}").format(flags=flags)),
    ])).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    return m
