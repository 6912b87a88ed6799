"""Map: concessions by licence type, artisanal sites, overlap zones; click a title for detail."""

import streamlit as st
from streamlit_folium import st_folium

from geo.i18n import N_, _
from ui import maps, state
from ui.data import analysis_or_stop, concession_rings, concessions_with_stats
from ui.detail import concession_detail
from ui.router import require_router

require_router()


def select_picked() -> None:
    """The title chosen in the list becomes the selected concession."""
    st.session_state[state.SELECTED_CONCESSION] = st.session_state[state.MAP_PICK] or None


st.title(_("Map"))
key, analysis = analysis_or_stop()
overlaps = analysis.overlaps
conc_ids = overlaps.concessions["conc_id"].astype(str).tolist()

selected = st.session_state.get(state.SELECTED_CONCESSION)
if selected not in conc_ids:
    selected = None
st.session_state[state.MAP_PICK] = selected or ""
controls = st.columns([2, 1, 1])
controls[0].selectbox(
    _("Concession"), ["", *sorted(conc_ids)], key=state.MAP_PICK,
    format_func=lambda c: c or _("Click a title on the map, or choose one here"),
    on_change=select_picked,
)
show_rings = controls[1].toggle(_("Proximity rings"), key=state.MAP_SHOW_RINGS,
                                help=_("Distance bands around the selected concession."))
# The backgrounds' English names are the widget's values; shown translated.
basemap = controls[2].selectbox(
    _("Background"), [N_("Outlines only (offline)"), "OpenStreetMap"], key=state.MAP_BASEMAP,
    format_func=_, help=_("Tiles need an internet connection; the outlines always work."),
)

rings = concession_rings(key, selected, analysis) if show_rings and selected else None
folium_map = maps.overlap_map(
    concessions_with_stats(analysis), overlaps.sites, overlaps.zones, footprints=overlaps.footprints, rings=rings,
    selected=selected, zoom_to_selected=selected is not None,
    tiles="OpenStreetMap" if basemap == "OpenStreetMap" else None,
)

left, right = st.columns([3, 2])
with left:
    returned = st_folium(folium_map, key=state.MAP_WIDGET, height=620,
                         returned_objects=["last_active_drawing"], use_container_width=True)
    clicked_id = maps.clicked_conc_id(returned)
    if clicked_id and str(clicked_id) != st.session_state.get(state.MAP_LAST_CLICK):
        st.session_state[state.MAP_LAST_CLICK] = str(clicked_id)
        if str(clicked_id) != selected:
            st.session_state[state.SELECTED_CONCESSION] = str(clicked_id)
            st.rerun()
with right:
    if selected:
        concession_detail(analysis, selected)
    else:
        st.info(_("Click a concession on the map (or choose one above) to see its overlap, "
                  "the sites inside and around it, workers and red flags."))
