"""Map: concessions by licence type, artisanal sites, overlap zones; click a title for detail.

The map itself (background, legend, initial view) changes only with the analysis and the
selection; its layers are chosen for the view st_folium reports (:mod:`ui.lod`) and replace
the previous ones in the browser without reloading the map.
"""

import json

import streamlit as st
from streamlit_folium import st_folium

from geo.format import count
from geo.i18n import N_, _
from ui import lod, maps, state
from ui.data import analysis_or_stop, concession_rings, map_concessions, map_index
from ui.detail import concession_detail
from ui.router import require_router

require_router()

#: Height of the map (px); ui.lod assumes it before the browser reports the view.
MAP_HEIGHT = lod.ASSUMED_MAP_PX[1]
#: Above this many titles, the title is typed rather than picked from a list.
MAX_PICK_OPTIONS = 5000


def select_picked() -> None:
    """The title chosen (or typed) becomes the selected concession."""
    st.session_state[state.SELECTED_CONCESSION] = (
        str(st.session_state[state.MAP_PICK]).strip() or None)


st.title(_("Map"))
key, analysis = analysis_or_stop()
overlaps = analysis.overlaps
index = map_index(key, analysis)
known = index.conc_id_set

selected = st.session_state.get(state.SELECTED_CONCESSION)
if selected not in known:
    selected = None
st.session_state[state.MAP_PICK] = selected or ""
controls = st.columns([2, 1, 1])
if len(known) <= MAX_PICK_OPTIONS:
    controls[0].selectbox(
        _("Concession"), ["", *sorted(known)], key=state.MAP_PICK,
        format_func=lambda c: c or _("Click a title on the map, or choose one here"),
        on_change=select_picked,
    )
else:
    controls[0].text_input(
        _("Concession"), key=state.MAP_PICK, on_change=select_picked,
        placeholder=_("Click a title on the map, or type its number here"),
    )
    typed = st.session_state.get(state.SELECTED_CONCESSION)
    if typed and typed not in known:
        controls[0].caption(_("No title with that number in the current selection."))
show_rings = controls[1].toggle(_("Proximity rings"), key=state.MAP_SHOW_RINGS,
                                help=_("Distance bands around the selected concession."))
# The backgrounds' English names are the widget's values; shown translated.
basemap = controls[2].selectbox(
    _("Background"), [N_("Outlines only (offline)"), "OpenStreetMap"], key=state.MAP_BASEMAP,
    format_func=_, help=_("Tiles need an internet connection; the outlines always work."),
)

# The view st_folium reported belongs to the map it was reported for: a new map (another
# initial view, selection or background) starts from its own initial view. A filter that
# leaves the initial view as it was keeps the map, and the view, as they are.
concessions = map_concessions(key, analysis)
shown = json.dumps([maps.initial_bounds(index, selected), selected,
                    bool(show_rings), basemap])
if st.session_state.get(state.MAP_VIEW_OF) != shown:
    st.session_state[state.MAP_VIEW_OF] = shown
    st.session_state.pop(state.MAP_WIDGET, None)
view = lod.View.from_returned(st.session_state.get(state.MAP_WIDGET))

rings = concession_rings(key, selected, analysis) if show_rings and selected else None
layers = maps.overlap_layers(
    concessions, overlaps.sites, overlaps.zones,
    footprints=overlaps.footprints, rings=rings, selected=selected,
    zoom_to_selected=selected is not None,
    tiles="OpenStreetMap" if basemap == "OpenStreetMap" else None, view=view, index=index,
)
plan = layers.plan

left, right = st.columns([3, 2])
with left:
    # render=False: st_folium renders the map itself as well; once is enough.
    returned = st_folium(
        layers.map, key=state.MAP_WIDGET, height=MAP_HEIGHT, use_container_width=True,
        returned_objects=["last_active_drawing", "last_clicked", "bounds", "zoom"],
        feature_group_to_add=layers.groups, layer_control=layers.layer_control(),
        render=False,
    )
    notes = []
    if plan.polygons == "image":
        notes.append(_("At this zoom the {count} titles here are drawn as an image: zoom in "
                       "to see their outlines and details, or click a title to select "
                       "it.").format(count=count(len(index.rows("concessions", plan.window)))))
    if plan.sites == "grid":
        notes.append(_("Sites are counted in squares: zoom in, or click a square, to see "
                       "each site."))
    if notes:
        st.caption(" ".join(notes))

    clicked_id = maps.clicked_conc_id(returned)
    new_click = bool(clicked_id) and str(clicked_id) != st.session_state.get(
        state.MAP_LAST_CLICK)
    point = maps.clicked_point(returned)
    new_point = point is not None and point != st.session_state.get(state.MAP_LAST_POINT)
    st.session_state[state.MAP_LAST_POINT] = point
    if new_click:
        st.session_state[state.MAP_LAST_CLICK] = str(clicked_id)
    elif new_point and plan.polygons == "image" and point is not None:
        # A title drawn in an image: the one under the pointer.
        clicked_id = index.concession_at(*point)
        new_click = clicked_id is not None
    if new_click and clicked_id and str(clicked_id) != selected:
        st.session_state[state.SELECTED_CONCESSION] = str(clicked_id)
        st.rerun()
with right:
    if selected:
        concession_detail(analysis, selected)
    else:
        st.info(_("Click a concession on the map (or choose one above) to see its overlap, "
                  "the sites inside and around it, workers and red flags."))
