"""Formalisation: sites on free land, inside artisanal zones, and in exploitation permits near
one; counts by province and a list for the cadastre office."""

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import GeoError
from geo.export import csv_bytes, method_note, tables_bytes
from geo.formalisation import (
    DEFAULT_DISTANCE_KM,
    ZONE_SOURCE_LABELS,
    formalisation_note,
    workbook_tables,
)
from geo.format import count, vega_locale
from geo.i18n import N_, _, bound, label
from geo.schema import FORMALISATION_CATEGORIES, FORMALISATION_LABELS, TENURE_LABELS
from ui import maps, state
from ui.data import analysis_or_stop, current_filters, export_info
from ui.formalisation import formalisation_view
from ui.router import require_router
from ui.tables import column_config, search_rows

require_router()

#: Short names of the categories for table headers and the chart legend (English, marked).
SHORT_LABELS = {
    "free_land": N_("Free land"),
    "in_zone": N_("In an artisanal zone"),
    "near_zone": N_("In a permit near a zone"),
}

st.title(_("Formalisation"))
key, analysis = analysis_or_stop()
st.caption(_(
    "Candidates for formalising artisanal mining, each site in the first category it fits: "
    "inside an artisanal zone; on land free of titles; inside an exploitation permit within "
    "the chosen distance of an artisanal zone. Numbers follow the sidebar's filters."
))

controls = st.columns([1, 2])
distance_km = controls[0].number_input(
    _("Distance to an artisanal zone (km)"), min_value=0.5, max_value=200.0,
    value=DEFAULT_DISTANCE_KM, step=0.5, key=state.FORMALISATION_DISTANCE,
    help=_("Sites inside an exploitation permit count as near an artisanal zone when the "
           "geodesic distance to the zone's edge is at most this."),
)
# The sources' codes are the widget's values (stable across languages); shown translated.
zone_source = controls[1].radio(
    _("Artisanal zones"), list(ZONE_SOURCE_LABELS), key=state.FORMALISATION_ZONES,
    format_func=lambda code: label(ZONE_SOURCE_LABELS, code),
    help=_("The 2020 CAMI layer is more recent than the 2016 titles; it is not filtered by "
           "the sidebar."),
)
try:
    with st.spinner(_("Measuring distances to the artisanal zones...")):
        result = formalisation_view(key, float(distance_km), zone_source, analysis)
except GeoError as err:
    st.warning(str(err))
    st.stop()
filters = current_filters()
if filters.holders or filters.lic_types or filters.statuses:
    st.warning(_("The sidebar leaves some titles out (holder, licence type or status): sites "
                 "inside those titles count here as on land free of titles. Clear those "
                 "filters for the cadastre's view."))
if result.zones.empty:
    st.info(_("There are no artisanal zones in this selection (licence type artisanal zone); "
              "only sites on land free of titles can be listed."))

metrics = st.columns(len(FORMALISATION_CATEGORIES))
by_category = result.categories.set_index("category")
for column, category in zip(metrics, FORMALISATION_CATEGORIES, strict=True):
    row = by_category.loc[category]
    column.metric(label(FORMALISATION_LABELS, category), count(row["sites"]))
    column.caption(_("{workers} workers · {flagged} sites with a red flag").format(
        workers=count(row["workers"]), flagged=count(row["flagged"])))

st.subheader(_("By province"))
provinces = result.provinces
if provinces.empty:
    st.info(_("No site falls in any category."))
else:
    # The measures' English names are the widget's values; shown translated.
    MEASURES = {N_("Sites"): "sites", N_("Workers"): "workers",
                N_("Sites with a red flag"): "flagged"}
    measure_name = st.segmented_control(
        _("Count"), list(MEASURES), key=state.FORMALISATION_MEASURE, default="Sites",
        format_func=_) or "Sites"
    measure = MEASURES[measure_name]
    wide = pd.DataFrame({"province": provinces["province"]})
    for category in FORMALISATION_CATEGORIES:
        wide[category] = provinces[f"{category}_{measure}"]
    wide["total"] = provinces[measure]
    wide = wide.sort_values(["total", "province"], ascending=[False, True])
    config: dict[str, object] = {"province": st.column_config.Column(_("Province"))}
    for category in FORMALISATION_CATEGORIES:
        config[category] = st.column_config.NumberColumn(
            _(SHORT_LABELS[category]), help=label(FORMALISATION_LABELS, category))
    config["total"] = st.column_config.NumberColumn(_("All three"))
    height = 38 + 35 * min(len(wide), 14)
    left, right = st.columns([3, 2])
    left.dataframe(wide, hide_index=True, column_config=config, height=height)
    long = wide.drop(columns="total").melt(id_vars="province", var_name="category",
                                           value_name="count")
    long["order"] = long["category"].map(
        {c: i for i, c in enumerate(FORMALISATION_CATEGORIES)})
    long["category"] = long["category"].map(lambda c: _(SHORT_LABELS[c]))
    names = [_(SHORT_LABELS[c]) for c in FORMALISATION_CATEGORIES]
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("count:Q", title=_(measure_name), stack=True),
        y=alt.Y("province:N", sort=wide["province"].tolist(), title=None,
                axis=alt.Axis(labelLimit=200)),
        color=alt.Color("category:N", title=None, sort=names,
                        scale=alt.Scale(domain=names, range=["#E6C700", "#009E73", "#0072B2"]),
                        legend=alt.Legend(orient="top", direction="vertical",
                                          labelLimit=360)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("province:N", title=_("Province")),
                 alt.Tooltip("category:N", title=_("Category")),
                 alt.Tooltip("count:Q", title=_(measure_name), format=",")],
    ).configure(locale=vega_locale())
    right.altair_chart(chart, width="stretch", height=height)

st.subheader(_("List for the cadastre office"))
picked = st.multiselect(
    _("Categories"), list(FORMALISATION_CATEGORIES), default=list(FORMALISATION_CATEGORIES),
    key=state.FORMALISATION_CATEGORIES, format_func=lambda c: label(FORMALISATION_LABELS, c),
)
query = st.text_input(_("Search"), key=state.FORMALISATION_SEARCH,
                      placeholder=_("Site, name, province, title, holder, zone..."))
listed = result.sites[result.sites["category"].isin(picked)]
shown = search_rows(listed, query)
display = shown.assign(
    category=shown["category"].map(lambda c: _(SHORT_LABELS[c])),
    tenure=shown["tenure"].map(lambda t: label(TENURE_LABELS, t)),
    # A site on free land has no title or holder: an empty cell, not "None".
    conc_id=shown["conc_id"].fillna(""), holder=shown["holder"].fillna(""),
)
st.caption(_("{shown} of {total} sites. Distances are geodesic, to the nearest artisanal "
             "zone (0 inside one).").format(shown=count(len(shown)),
                                             total=count(len(result.sites))))
config = column_config(display)
config["zone_km"] = st.column_config.NumberColumn(_("Distance to the zone (km)"),
                                                  format="%.2f")
st.dataframe(display, hide_index=True, column_config=config, height=420)

note = method_note(export_info(analysis)) + "\n" + formalisation_note(
    result.distance_km, zone_source)
stem = f"formalisation_{date.today():%Y%m%d}"
downloads = st.columns(3)
# The downloads are built when clicked, outside this run: bound() keeps the language.
downloads[0].download_button(
    _("List (CSV)"), data=bound(lambda: csv_bytes(result.sites)), file_name=f"{stem}_sites.csv",
    mime="text/csv", key=f"{state.FORMALISATION_DOWNLOAD_PREFIX}csv", on_click="ignore",
    width="stretch",
)
downloads[1].download_button(
    _("List, provinces and method (Excel)"), data=bound(lambda: tables_bytes(workbook_tables(result), "xlsx", note)),
    file_name=f"{stem}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key=f"{state.FORMALISATION_DOWNLOAD_PREFIX}xlsx", on_click="ignore", width="stretch",
)
downloads[2].caption(_("The CSV holds the whole list; the workbook adds the counts by "
                       "category and province and the method note."))

st.subheader(_("Map"))
st.caption(_("The artisanal zones and the sites of the categories chosen above."))
folium_map = maps.formalisation_map(result.zones, listed, labels={
    c: FORMALISATION_LABELS[c] for c in FORMALISATION_CATEGORIES if c in picked})
st_folium(folium_map, key=state.FORMALISATION_MAP, height=520, returned_objects=[],
          use_container_width=True)

with st.expander(_("Method note")):
    st.code(note, language=None)
