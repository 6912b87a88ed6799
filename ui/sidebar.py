"""The sidebar shared by every page: the workspace in one line, filters and options."""

from __future__ import annotations

import streamlit as st

from geo.filters import choices
from geo.schema import LIC_TYPE_LABELS, LIC_TYPES
from ui import state
from ui.data import DEFAULT_RINGS, workspace, year_bounds


def render() -> None:
    """Draw the sidebar; its widgets feed :func:`ui.data.current_filters`."""
    layers = workspace()
    concessions, sites = layers["concessions"].data, layers["sites"].data
    with st.sidebar:
        st.caption(
            f"**Concessions:** {layers['concessions'].source}  \n"
            f"**Sites:** {layers['sites'].source}"
        )
        st.subheader("Filters")
        st.multiselect("Holder", choices(concessions["holder"]), key=state.FILTER_HOLDERS,
                       placeholder="All holders")
        st.multiselect("Licence type", list(LIC_TYPES), key=state.FILTER_LIC_TYPES,
                       format_func=LIC_TYPE_LABELS.__getitem__, placeholder="All types")
        st.multiselect("Status", choices(concessions["status"]), key=state.FILTER_STATUSES,
                       placeholder="All statuses")
        st.multiselect("Province (sites)", choices(sites["province"]),
                       key=state.FILTER_PROVINCES, placeholder="All provinces")
        st.toggle("Gold sites only", key=state.FILTER_GOLD)
        bounds = year_bounds()
        if bounds and bounds[0] < bounds[1]:
            st.slider("Year site last seen", min_value=bounds[0], max_value=bounds[1],
                      value=bounds, key=state.FILTER_YEARS)
        with st.expander("Options"):
            st.text_input("Proximity rings (km)", value=DEFAULT_RINGS, key=state.OPTION_RINGS,
                          help="Outer edges of the distance bands around each concession.")
            st.number_input("Footprint radius of point sites (m)", min_value=0, max_value=5000,
                            value=0, step=50, key=state.OPTION_RADIUS,
                            help="0 counts points without area; a radius turns each point "
                                 "site into a circle that counts in overlap areas.")
