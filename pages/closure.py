"""Closure planning: titles expiring soon, or already expired, with artisanal sites."""

from datetime import date

import streamlit as st
from streamlit_folium import st_folium

from geo.closure import DEFAULT_WITHIN_YEARS, closure_note
from geo.export import method_note
from geo.format import count, kilometres
from geo.format import date as format_date
from geo.i18n import _, label
from geo.schema import EXPIRY_STATUS_LABELS, LIC_TYPE_LABELS
from ui import maps, state
from ui.closure import (
    closure_rows,
    closure_site_positions,
    closure_titles,
    concerned,
    expiries,
    undated_titles,
)
from ui.data import analysis_or_stop, export_info
from ui.downloads import table_downloads
from ui.router import require_router
from ui.tables import column_config, search_rows

require_router()

st.title(_("Closure planning"))
key, analysis = analysis_or_stop()
overlaps = analysis.overlaps
rings = [float(r) for r in overlaps.rings_km]
if st.session_state.get(state.CLOSURE_NEAR_KM) not in rings:  # the rings changed
    st.session_state[state.CLOSURE_NEAR_KM] = rings[-1]
st.session_state.setdefault(state.CLOSURE_AS_OF, date.today())

st.caption(_("Titles whose expiry falls within the years chosen from the reference date and "
             "that have artisanal sites inside or near: where closure or renewal will meet "
             "artisanal miners. Titles already expired with sites are listed apart, as "
             "Expired."))
controls = st.columns([1, 1, 1, 1])
as_of = controls[0].date_input(
    _("Reference date"), key=state.CLOSURE_AS_OF, min_value=date(1950, 1, 1),
    max_value=date(2100, 12, 31), format="YYYY-MM-DD",
    help=_("Years left are counted from this date; pick a past date to see the layer as "
           "it stood then."),
)
within_years = controls[1].slider(
    _("Expiring within (years)"), min_value=1, max_value=30, value=DEFAULT_WITHIN_YEARS,
    key=state.CLOSURE_YEARS,
)
near_km = controls[2].selectbox(
    _("Sites near: within"), rings, key=state.CLOSURE_NEAR_KM,
    format_func=lambda km: kilometres(km, 0 if float(km).is_integer() else 1),
    help=_("The proximity rings set in the sidebar's options."),
)
include_expired = controls[3].toggle(_("Include expired titles"), value=True,
                                     key=state.CLOSURE_EXPIRED)

glance = expiries(key, as_of, analysis)
if glance["dated"]:
    st.caption(_("Expiry dates in this layer run from {first} to {last}; {expired} of {dated} "
                 "dated titles had expired by {date}. Expiries are those recorded in the "
                 "layer: a title shown as expired may have been renewed since.").format(
                     first=format_date(glance["first"]), last=format_date(glance["last"]),
                     expired=count(glance["expired"]),  # type: ignore[arg-type]
                     dated=count(glance["dated"]),  # type: ignore[arg-type]
                     date=format_date(as_of)))
else:
    st.warning(_("The concession layer has no expiry dates, so there is nothing to plan."))
    st.stop()

table = closure_rows(key, within_years, as_of, near_km, include_expired, analysis)
conc_ids = tuple(table["conc_id"].astype(str))
totals = concerned(key, conc_ids, near_km, analysis)
statuses = table["expiry_status"].value_counts()
metrics = st.columns(4)
metrics[0].metric(_("Titles expiring"), count(statuses.get("expiring", 0)),
                  help=_("With sites inside or near, expiring within the window."))
metrics[1].metric(_("Titles expired"), count(statuses.get("expired", 0)) if include_expired
                  else "\u2014", help=_("With sites inside or near, expired before the date."))
metrics[2].metric(_("Sites concerned"), count(totals["sites"]),
                  help=_("Inside or near the titles listed, each counted once."))
metrics[3].metric(_("Workers at them"), count(totals["workers"]),
                  help=_("Unknown worker counts count as 0."))
undated = undated_titles(key, near_km, analysis)
if undated:
    st.caption(_("{count} titles with sites inside or near have no expiry date and are not "
                 "listed.").format(count=count(undated)))

if table.empty:
    st.info(_("No title with artisanal sites inside or within {km} of it expires within {years} "
              "years of {date}. Try a longer window or an earlier reference date.").format(
                  km=kilometres(near_km, 0), years=within_years, date=format_date(as_of)))
    st.stop()

positions = closure_site_positions(key, conc_ids, near_km, analysis)
folium_map = maps.closure_map(
    closure_titles(analysis, table), overlaps.sites.iloc[positions],
    footprints=overlaps.footprints.iloc[positions],
)
st_folium(folium_map, key=state.CLOSURE_MAP, height=560, returned_objects=[],
          use_container_width=True)

shown = table.assign(
    lic_type=table["lic_type"].map(lambda code: label(LIC_TYPE_LABELS, code)),
    expiry_status=table["expiry_status"].map(lambda code: label(EXPIRY_STATUS_LABELS, code)),
)
if table["name"].astype(str).equals(table["conc_id"].astype(str)):
    shown = shown.drop(columns=["name"])  # the layer names its titles by their id
query = st.text_input(_("Search"), key=state.CLOSURE_SEARCH,
                      placeholder=_("Title, holder, province, status..."))
shown = search_rows(shown, query)
st.caption(_("{shown} of {total} titles: expiring first (soonest first), then expired (most "
             "recent first); click a column header to re-sort.").format(
                 shown=count(len(shown)), total=count(len(table))))
config = column_config(shown)
config["years_left"] = st.column_config.NumberColumn(_("Years left"), format="%.2f")
config["expiry"] = st.column_config.DateColumn(_("Expiry"), format="YYYY-MM-DD")
st.dataframe(shown, hide_index=True, column_config=config, height=420)

info = export_info(analysis)
notes = closure_note(within_years=within_years, as_of=as_of, near_km=near_km,
                     include_expired=include_expired)
stem = f"closure_{as_of:%Y%m%d}_{within_years}y"
st.subheader(_("Download"))
note = method_note(info) + "\n".join(notes)
table_downloads({"closure": table}, note, stem=stem, key=state.CLOSURE_DOWNLOAD_PREFIX)
with st.expander(_("Method note")):
    st.code(note, language=None)
