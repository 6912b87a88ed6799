"""Overview: the workspace's headline numbers, each with what it means, and a small map."""

import altair as alt
import pandas as pd
import streamlit as st

from geo.format import count, hectares, percent, vega_locale
from geo.i18n import _, label
from geo.schema import TENURE_CLASSES, TENURE_LABELS
from ui.cluster import offer_cluster_run
from ui.data import analysis_or_stop, current_filters, small_map_html
from ui.router import require_router

require_router()

st.title(_("Where artisanal mining meets mining concessions"))
if offer_cluster_run():  # too large for this process: computed on the Dask cluster
    st.stop()
key, analysis = analysis_or_stop()
totals = analysis.totals
if current_filters().active:
    st.info(_("Filters are on: every number below counts only what the sidebar keeps."))

row = st.columns(4)
row[0].metric(_("Concessions"), count(totals["concessions"]),
              help=_("Mining titles in the workspace after filters."))
row[1].metric(_("Artisanal sites"), count(totals["sites"]),
              help=_("Artisanal and small-scale mining sites in the workspace after filters."))
row[2].metric(_("Sites inside concessions"), count(totals["sites_in"]),
              _("{share} of sites").format(share=percent(totals["sites_in_pct"])),
              delta_color="off", delta_arrow="off",
              help=_("Sites lying inside at least one title (a site in two titles counts "
                     "once)."))
points_only = totals["site_ha"] == 0
row[3].metric(_("Overlap area"),
              _("no area") if points_only else hectares(totals["overlap_ha"]),
              help=_("Land where artisanal site footprints and concessions overlap, on the "
                     "ellipsoid; overlapping sites and titles are counted once. Point sites "
                     "have no area unless a footprint radius is set in Options."))
st.caption(
    _("Concessions cover {area} (union of titles).").format(
        area=hectares(totals["concession_ha"]))
    + " "
    + (_("The sites are points, so they have no area: set a footprint radius under Options "
         "in the sidebar to estimate the land they cover.") if points_only else
       _("Artisanal site footprints cover {area}.").format(area=hectares(totals["site_ha"])))
)
row = st.columns(4)
row[0].metric(_("Workers at sites inside exploitation permits"),
              count(totals["workers_in_exploitation"]),
              help=_("Workers reported at artisanal sites that lie inside large-scale "
                     "exploitation permits or mining leases."))
row[1].metric(_("Sites inside using mercury"), count(totals["mercury_in"]),
              help=_("Sites inside concessions where mercury use was reported."))
row[2].metric(_("Sites inside with armed actors"), count(totals["armed_in"]),
              help=_("Sites inside concessions where armed actors were reported present."))
row[3].metric(_("Sites inside with child labour"), count(totals["child_in"]),
              help=_("Sites inside concessions where children under 15 were reported "
                     "working."))

left, right = st.columns([2, 3])
with left:
    st.subheader(_("Sites by tenure"))
    st.caption(_("Each site in one class: the first of these that it lies inside."))
    tenure = pd.DataFrame({
        "tenure": [label(TENURE_LABELS, t) for t in TENURE_CLASSES],
        "sites": [totals["tenure"][t] for t in TENURE_CLASSES],
        "order": range(len(TENURE_CLASSES)),
    })
    tenure["share"] = tenure["sites"] / max(int(tenure["sites"].sum()), 1)
    chart = alt.Chart(tenure).mark_bar().encode(
        x=alt.X("sites:Q", title=_("Sites")),
        y=alt.Y("tenure:N", sort=alt.SortField("order"), title=None,
                axis=alt.Axis(labelLimit=260)),
        tooltip=[alt.Tooltip("tenure:N", title=_("Tenure")),
                 alt.Tooltip("sites:Q", title=_("Sites")),
                 alt.Tooltip("share:Q", title=_("Share"), format=".1%")],
    ).configure(locale=vega_locale())
    st.altair_chart(chart, width="stretch")
with right:
    st.subheader(_("Map"))
    st.iframe(small_map_html(key, analysis), height=380)
