"""Statistics: tables and charts per concession, holder, licence type and region; by year."""

import altair as alt
import pandas as pd
import streamlit as st

from geo.schema import LIC_TYPE_LABELS
from ui import state
from ui.data import analysis_or_stop, grouped_table, years_table
from ui.router import require_router
from ui.tables import COLUMN_LABELS, column_config, search_rows

require_router()

st.title("Statistics")
key, analysis = analysis_or_stop()

VIEWS = {
    "Per concession": None,
    "Per holder": "holder",
    "Per licence type": "lic_type",
    "Per province": "province",
    "Per country": "country",
}
view = st.segmented_control("Table", list(VIEWS), key=state.STATS_TABLE, default="Per concession")
by = VIEWS[view or "Per concession"]
if by is None:
    table = analysis.concession_table.copy()
    label_column = "conc_id"
else:
    table = grouped_table(key, by, analysis).reset_index()
    label_column = by
if "lic_type" in table:
    table["lic_type"] = table["lic_type"].map(LIC_TYPE_LABELS).fillna(table["lic_type"])

query = st.text_input("Search", key=state.STATS_SEARCH, placeholder="Title, holder, province...")
shown = search_rows(table, query)
st.caption(f"{len(shown):,} of {len(table):,} rows. Click a column header to sort.")
st.dataframe(shown, hide_index=True, column_config=column_config(shown), height=420)

measure = "overlap_ha" if "overlap_ha" in shown and shown["overlap_ha"].sum() > 0 else "sites_in"
top = shown.nlargest(15, measure)
if len(top) and top[measure].sum() > 0:
    st.subheader(f"Top {len(top)} by {COLUMN_LABELS[measure].lower()}")
    labels = top[label_column].astype(str)
    if by is None:
        labels = labels + " · " + top["holder"].fillna("").astype(str).str.slice(0, 40)
    chart = alt.Chart(top.assign(label=labels.str.slice(0, 60))).mark_bar()
    chart = chart.encode(
        x=alt.X(f"{measure}:Q", title=COLUMN_LABELS[measure]),
        y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
        tooltip=[alt.Tooltip("label:N", title="Name"),
                 alt.Tooltip(f"{measure}:Q", title=COLUMN_LABELS[measure], format=",.1f")],
    )
    st.altair_chart(chart, width="stretch")

st.subheader("By year: inside versus outside concessions")
st.caption("Sites by the year they were last seen. A rising share inside concessions is a "
           "sign of in-migration onto titled land.")
years = years_table(key, analysis)
if years.empty:
    st.info("The sites carry no dates, so there is no trend to show.")
else:
    pick = st.radio("Count", ["Sites", "Workers"], horizontal=True, key=state.STATS_YEAR_MEASURE)
    prefix = "sites" if pick == "Sites" else "workers"
    long = pd.DataFrame({
        "year": list(years["year"]) * 2,
        "where": ["Inside concessions"] * len(years) + ["Outside concessions"] * len(years),
        "count": list(years[f"{prefix}_in"]) + list(years[f"{prefix}_out"]),
    })
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("year:O", title="Year"),
        y=alt.Y("count:Q", title=pick, stack=True),
        color=alt.Color("where:N", title=None,
                        scale=alt.Scale(range=["#D55E00", "#999999"])),
        tooltip=["year:O", "where:N", alt.Tooltip("count:Q", format=",")],
    )
    st.altair_chart(chart, width="stretch")
