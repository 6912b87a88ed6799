"""Statistics: tables and charts per concession, holder, licence type and region; by year."""

import altair as alt
import pandas as pd
import streamlit as st

from geo.format import count, vega_locale
from geo.i18n import N_, _, label
from geo.schema import LIC_TYPE_LABELS
from ui import state
from ui.data import analysis_or_stop, grouped_table, years_table
from ui.router import require_router
from ui.tables import column_config, column_label, search_rows

require_router()

#: Most rows listed in the table (the search still looks at every row).
MAX_LISTED_ROWS = 5000

st.title(_("Statistics"))
key, analysis = analysis_or_stop()

# The views' English names are the widget's values (stable across languages); shown translated.
VIEWS = {
    N_("Per concession"): None,
    N_("Per holder"): "holder",
    N_("Per licence type"): "lic_type",
    N_("Per province"): "province",
    N_("Per country"): "country",
}
view = st.segmented_control(_("Table"), list(VIEWS), key=state.STATS_TABLE,
                            default="Per concession", format_func=_)
by = VIEWS[view or "Per concession"]
if by is None:
    table = analysis.concession_table.copy()
    label_column = "conc_id"
else:
    table = grouped_table(key, by, analysis).reset_index()
    label_column = by
if "lic_type" in table:
    table["lic_type"] = table["lic_type"].map(
        {code: label(LIC_TYPE_LABELS, code) for code in table["lic_type"].unique()})

query = st.text_input(_("Search"), key=state.STATS_SEARCH,
                      placeholder=_("Title, holder, province..."))
shown = search_rows(table, query)
measure = "overlap_ha" if "overlap_ha" in shown and shown["overlap_ha"].sum() > 0 else "sites_in"
measure_label = column_label(measure) or measure
st.caption(_("{shown} of {total} rows. Click a column header to sort.").format(
    shown=count(len(shown)), total=count(len(table))))
listed = shown
if len(shown) > MAX_LISTED_ROWS:  # a national table would weigh megabytes in the browser
    listed = shown.nlargest(MAX_LISTED_ROWS, measure)
    st.caption(_("Listed: the {limit} rows with the largest {measure}. Search to find any "
                 "other; the Export page has every row.").format(
        limit=count(MAX_LISTED_ROWS), measure=measure_label.lower()))
st.dataframe(listed, hide_index=True, column_config=column_config(listed), height=420)

top = shown.nlargest(15, measure)
if len(top) and top[measure].sum() > 0:
    st.subheader(_("Top {count} by {measure}").format(count=len(top),
                                                      measure=measure_label.lower()))
    labels = top[label_column].astype(str)
    if by is None:
        labels = labels + " · " + top["holder"].fillna("").astype(str).str.slice(0, 40)
    chart = alt.Chart(top.assign(label=labels.str.slice(0, 60))).mark_bar()
    chart = chart.encode(
        x=alt.X(f"{measure}:Q", title=measure_label),
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
        tooltip=[alt.Tooltip("label:N", title=_("Name")),
                 alt.Tooltip(f"{measure}:Q", title=measure_label, format=",.1f")],
    ).configure(locale=vega_locale())
    st.altair_chart(chart, width="stretch")

st.subheader(_("By year: inside versus outside concessions"))
st.caption(_("Sites by the year they were last seen. A rising share inside concessions is a "
             "sign of in-migration onto titled land."))
years = years_table(key, analysis)
if years.empty:
    st.info(_("The sites carry no dates, so there is no trend to show."))
else:
    # As for the views: English values, shown translated.
    pick = st.radio(_("Count"), [N_("Sites"), N_("Workers")], horizontal=True,
                    key=state.STATS_YEAR_MEASURE, format_func=_)
    prefix = "sites" if pick == "Sites" else "workers"
    inside, outside = _("Inside concessions"), _("Outside concessions")
    long = pd.DataFrame({
        "year": list(years["year"]) * 2,
        "where": [inside] * len(years) + [outside] * len(years),
        "count": list(years[f"{prefix}_in"]) + list(years[f"{prefix}_out"]),
    })
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("year:O", title=_("Year")),
        y=alt.Y("count:Q", title=_(pick), stack=True),
        color=alt.Color("where:N", title=None, sort=[inside, outside],
                        scale=alt.Scale(domain=[inside, outside],
                                        range=["#D55E00", "#999999"])),
        tooltip=[alt.Tooltip("year:O", title=_("Year")),
                 alt.Tooltip("where:N", title=_("Where")),
                 alt.Tooltip("count:Q", title=_(pick), format=",")],
    ).configure(locale=vega_locale())
    st.altair_chart(chart, width="stretch")
