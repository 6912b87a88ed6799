"""Companies and provinces: ranked indicators per holder or per province, exportable."""

from datetime import date

import altair as alt
import streamlit as st

from geo.export import method_note
from geo.format import count, vega_locale
from geo.i18n import N_, _
from geo.indicators import DEFAULT_RECENT_YEARS, indicator_note
from ui import state
from ui.data import analysis_or_stop, export_info
from ui.downloads import table_downloads
from ui.indicators import indicator_table, trend_start
from ui.router import require_router
from ui.tables import column_config, column_label, search_rows

require_router()

st.title(_("Companies and provinces"))
key, analysis = analysis_or_stop()

# The views' and measures' English names are the widgets' values; shown translated.
VIEWS = {N_("Per holder"): "holder", N_("Per province"): "province"}
#: Chart measures: name -> (column inside, column near or None).
MEASURES = {
    N_("Sites"): ("sites_in", "sites_near"),
    N_("Workers"): ("workers_in", "workers_near"),
    N_("Red-flag sites"): ("flagged_in", "flagged_near"),
    N_("Overlap (ha)"): ("overlap_ha", None),
}
TOP = 15

left, right = st.columns([1, 1])
view = left.segmented_control(_("Group the titles"), list(VIEWS), key=state.INDICATORS_BY,
                              default="Per holder", format_func=_)
by = VIEWS[view or "Per holder"]
recent_years = right.slider(
    _("Recent period (years)"), min_value=1, max_value=10, value=DEFAULT_RECENT_YEARS,
    key=state.INDICATORS_RECENT_YEARS,
    help=_("Sites first seen in the last years of the data count as recent; the trend "
           "compares them with the sites first seen before."),
)
table = indicator_table(key, by, recent_years, analysis)
start = trend_start(key, recent_years, analysis)

st.caption(_("Ranked by overlap (ha), then sites inside; click a column header to re-sort. "
             "Sites near: within {km} km of a title (the outer ring) but inside none of the "
             "group's titles. A site inside two titles of one holder counts once.").format(
                 km=f"{analysis.overlaps.rings_km[-1]:g}"))
if by == "province":
    st.caption(_("Province of a title: its own province when the concession layer gives one. "
                 "The CAMI titles give none, so a title takes the province most of the sites "
                 "inside it or in its rings report (ties: alphabetical); titles with no such "
                 "site are under (unknown)."))
if not (table["overlap_ha"] > 0).any():
    st.caption(_("Overlap areas are 0: the sites are points without a footprint, so the ranking "
                 "follows sites inside. Set a footprint radius in the sidebar's options to "
                 "estimate the land they cover."))
if start is not None:
    st.caption(_("Trend: sites inside or near first seen in {start} or later (recent) versus "
                 "before {start} (earlier).").format(start=start))

query = st.text_input(_("Search"), key=state.INDICATORS_SEARCH,
                      placeholder=_("Holder or province..."))
shown = search_rows(table, query)
st.caption(_("{shown} of {total} rows.").format(shown=count(len(shown)),
                                                 total=count(len(table))))
config = column_config(shown)
if start is not None:
    config["sites_recent"] = st.column_config.NumberColumn(
        _("Sites first seen {start} or later").format(start=start))
    config["sites_earlier"] = st.column_config.NumberColumn(
        _("Sites first seen before {start}").format(start=start))
st.dataframe(shown, hide_index=True, column_config=config, height=460)

measure = st.segmented_control(_("Chart"), list(MEASURES), key=state.INDICATORS_CHART,
                               default="Sites", format_func=_) or "Sites"
inside_column, near_column = MEASURES[measure]
columns = [inside_column] if near_column is None else [inside_column, near_column]
top = shown.assign(total=shown[columns].sum(axis=1)).nlargest(TOP, "total")
top = top[top["total"] > 0]
if top.empty:
    if measure == "Overlap (ha)":
        st.info(_("No overlap area: the sites are points. Set a footprint radius in the "
                  "sidebar's options to estimate the land they cover."))
    else:
        st.info(_("Nothing to chart for these rows."))
else:
    st.subheader(_("Top {count} by {measure}").format(count=len(top),
                                                      measure=_(measure).lower()))
    names = {column: column_label(column) or column for column in columns}
    long = top.assign(label=top[by].astype(str).str.slice(0, 60)).melt(
        id_vars=["label", "total"], value_vars=columns, var_name="where", value_name="value")
    long["where"] = long["where"].map(names)
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("value:Q", title=_(measure), stack=True),
        y=alt.Y("label:N", sort=alt.EncodingSortField("total", order="descending"),
                title=None, axis=alt.Axis(labelLimit=360)),
        color=alt.Color("where:N", title=None, sort=list(names.values()),
                        scale=alt.Scale(domain=list(names.values()),
                                        range=["#D55E00", "#E69F00"][:len(columns)])),
        tooltip=[alt.Tooltip("label:N", title=column_label(by) or by),
                 alt.Tooltip("where:N", title=_("Where")),
                 alt.Tooltip("value:Q", title=_(measure), format=",.0f")],
    ).configure(locale=vega_locale())
    st.altair_chart(chart, width="stretch")

info = export_info(analysis)
notes = indicator_note(by, start_year=start, rings_km=analysis.overlaps.rings_km)
sheet = "holders" if by == "holder" else "provinces"
stem = f"{sheet}_{date.today():%Y%m%d}"
st.subheader(_("Download"))
note = method_note(info) + "\n".join(notes)
table_downloads({sheet: table}, note, stem=stem, key=state.INDICATORS_DOWNLOAD_PREFIX)
st.caption(_("The downloads hold every row (the search does not filter them) and follow the "
             "sidebar's filters and options."))
with st.expander(_("Method note")):
    st.code(note, language=None)
