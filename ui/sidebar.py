"""The sidebar shared by every page: language, the workspace in one line, filters and options."""

from __future__ import annotations

import streamlit as st

from geo.i18n import _, label
from geo.schema import LIC_TYPE_LABELS, LIC_TYPES
from ui import language, state
from ui.data import DEFAULT_RINGS, filter_choices, source_label, workspace, year_bounds


def render() -> None:
    """Draw the sidebar; its widgets feed :func:`ui.data.current_filters`."""
    layers = workspace()
    options = filter_choices()
    with st.sidebar:
        language.picker()
        st.caption(
            _("**Concessions:** {source}").format(source=source_label(layers["concessions"]))
            + "  \n"
            + _("**Sites:** {source}").format(source=source_label(layers["sites"]))
        )
        st.subheader(_("Filters"))
        st.multiselect(_("Holder"), options["holder"], key=state.FILTER_HOLDERS,
                       placeholder=_("All holders"))
        st.multiselect(_("Licence type"), list(LIC_TYPES), key=state.FILTER_LIC_TYPES,
                       format_func=lambda code: label(LIC_TYPE_LABELS, code),
                       placeholder=_("All types"))
        st.multiselect(_("Status"), options["status"], key=state.FILTER_STATUSES,
                       placeholder=_("All statuses"))
        st.multiselect(_("Province (sites)"), options["province"],
                       key=state.FILTER_PROVINCES, placeholder=_("All provinces"))
        st.toggle(_("Gold sites only"), key=state.FILTER_GOLD)
        bounds = year_bounds()
        if bounds and bounds[0] < bounds[1]:
            st.slider(_("Year site last seen"), min_value=bounds[0], max_value=bounds[1],
                      value=bounds, key=state.FILTER_YEARS)
        with st.expander(_("Options")):
            st.text_input(_("Proximity rings (km)"), value=DEFAULT_RINGS, key=state.OPTION_RINGS,
                          help=_("Outer edges of the distance bands around each concession."))
            st.number_input(_("Footprint radius of point sites (m)"), min_value=0,
                            max_value=5000, value=0, step=50, key=state.OPTION_RADIUS,
                            help=_("0 counts points without area; a radius turns each point "
                                   "site into a circle that counts in overlap areas."))
