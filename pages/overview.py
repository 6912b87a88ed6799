"""Overview: the workspace's headline numbers, each with what it means, and a small map."""

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.schema import TENURE_CLASSES, TENURE_LABELS
from ui import maps
from ui.data import analysis_or_stop, current_filters
from ui.format import count, hectares, percent
from ui.router import require_router

require_router()

st.title("Where artisanal mining meets mining concessions")
key, analysis = analysis_or_stop()
totals = analysis.totals
if current_filters().active:
    st.info("Filters are on: every number below counts only what the sidebar keeps.")

row = st.columns(4)
row[0].metric("Concessions", count(totals["concessions"]),
              help="Mining titles in the workspace after filters.")
row[1].metric("Artisanal sites", count(totals["sites"]),
              help="Artisanal and small-scale mining sites in the workspace after filters.")
row[2].metric("Sites inside concessions", count(totals["sites_in"]),
              f"{percent(totals['sites_in_pct'])} of sites", delta_color="off", delta_arrow="off",
              help="Sites lying inside at least one title (a site in two titles counts once).")
points_only = totals["site_ha"] == 0
row[3].metric("Overlap area", "no area" if points_only else hectares(totals["overlap_ha"]),
              help="Land where artisanal site footprints and concessions overlap, on the "
                   "ellipsoid; overlapping sites and titles are counted once. Point sites "
                   "have no area unless a footprint radius is set in Options.")
st.caption(
    f"Concessions cover {hectares(totals['concession_ha'])} (union of titles)."
    + (" The sites are points, so they have no area: set a footprint radius under Options "
       "in the sidebar to estimate the land they cover." if points_only else
       f" Artisanal site footprints cover {hectares(totals['site_ha'])}.")
)
row = st.columns(4)
row[0].metric("Workers at sites inside exploitation permits",
              count(totals["workers_in_exploitation"]),
              help="Workers reported at artisanal sites that lie inside large-scale "
                   "exploitation permits or mining leases.")
row[1].metric("Sites inside using mercury", count(totals["mercury_in"]),
              help="Sites inside concessions where mercury use was reported.")
row[2].metric("Sites inside with armed actors", count(totals["armed_in"]),
              help="Sites inside concessions where armed actors were reported present.")
row[3].metric("Sites inside with child labour", count(totals["child_in"]),
              help="Sites inside concessions where children under 15 were reported working.")

left, right = st.columns([2, 3])
with left:
    st.subheader("Sites by tenure")
    st.caption("Each site in one class: the first of these that it lies inside.")
    tenure = pd.DataFrame({
        "tenure": [TENURE_LABELS[t] for t in TENURE_CLASSES],
        "sites": [totals["tenure"][t] for t in TENURE_CLASSES],
        "order": range(len(TENURE_CLASSES)),
    })
    tenure["share"] = tenure["sites"] / max(int(tenure["sites"].sum()), 1)
    chart = alt.Chart(tenure).mark_bar().encode(
        x=alt.X("sites:Q", title="Sites"),
        y=alt.Y("tenure:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("tenure:N", title="Tenure"), alt.Tooltip("sites:Q", title="Sites"),
                 alt.Tooltip("share:Q", title="Share", format=".1%")],
    )
    st.altair_chart(chart, width="stretch")
with right:
    st.subheader("Map")
    small = maps.small_map(analysis.overlaps.concessions, analysis.overlaps.sites)
    st_folium(small, key="overview_map", height=380, returned_objects=[],
              use_container_width=True)
