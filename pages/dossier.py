"""Concession dossier: one title's map, numbers, red flags and trend; HTML and PDF downloads."""

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import GeoError
from geo.format import count, date, decimal, hectares, percent, vega_locale
from geo.i18n import N_, _, get_language, label
from geo.report import ring_colour, ring_label
from geo.schema import LIC_TYPE_LABELS, RED_FLAGS, TENURE_LABELS
from ui import maps, state
from ui.data import analysis_or_stop, export_info
from ui.dossier import (
    dossier,
    file_stem,
    map_layers,
    map_view,
    markdown_text,
    report_files,
)
from ui.router import require_router
from ui.tables import column_config, column_label

require_router()


def follow_pick() -> None:
    """The title chosen here becomes the selected concession (the Map page shows it too)."""
    st.session_state[state.SELECTED_CONCESSION] = st.session_state[state.DOSSIER_PICK]


def table_config(frame: pd.DataFrame, labels: dict[str, str]) -> dict[str, object]:
    """The shared column labels and formats, with this page's own labels on top: distances
    with two decimals, red flags as ticks, dates as dates."""
    config = column_config(frame)
    for column in frame.columns:
        text = labels.get(column) or column_label(column) or column
        if column == "dist_km":
            config[column] = st.column_config.NumberColumn(text, format="%.2f")
        elif column in RED_FLAGS and not pd.api.types.is_integer_dtype(frame[column]):
            config[column] = st.column_config.CheckboxColumn(text)
        elif column in ("seen", "first_seen"):
            config[column] = st.column_config.DateColumn(text, format="YYYY-MM-DD")
        elif column in labels:
            config[column] = st.column_config.Column(text)
    return config


st.title(_("Concession dossier"))
key, analysis = analysis_or_stop()

# Titles with the most sites inside first; the box searches ids and holders as you type.
ordered = analysis.concession_table.sort_values(["sites_in", "conc_id"], ascending=[False, True])
conc_ids = ordered["conc_id"].astype(str).tolist()
holders = dict(zip(conc_ids, ordered["holder"].fillna("").astype(str), strict=True))
selected = st.session_state.get(state.SELECTED_CONCESSION)
chosen_on_map = selected in holders
if not chosen_on_map:
    selected = conc_ids[0]
st.session_state[state.DOSSIER_PICK] = selected
st.selectbox(
    _("Concession"), conc_ids, key=state.DOSSIER_PICK, on_change=follow_pick,
    format_func=lambda c: f"{c} · {holders[c]}" if holders.get(c) else c,
    help=_("Type part of a title's id or holder to search. Clicking a title on the Map page "
           "selects it here too."),
)
if not chosen_on_map:
    st.caption(_("Showing the title with the most artisanal sites inside. Choose another "
                 "above, or click a title on the Map page."))

try:
    with st.spinner(_("Gathering the dossier...")):
        current = dossier(key, selected, analysis)
except GeoError as err:
    st.warning(str(err))
    st.stop()
rings_km = current.rings_km
outer = decimal(rings_km[-1])

# --- header, downloads and key numbers ----------------------------------------------------------

header, downloads = st.columns([3, 1])
with header:
    st.subheader(_("Title {title}").format(title=current.conc_id))
    st.markdown("  \n".join([
        _("**Holder:** {holder}").format(holder=markdown_text(current.holder)),
        _("**Licence:** {licence}").format(licence=label(LIC_TYPE_LABELS, current.lic_type)),
        _("**Status:** {status}").format(status=markdown_text(current.status)),
        _("**Expiry:** {date}").format(date=date(current.expiry) or _("unknown")),
    ]))
with downloads, st.spinner(_("Preparing the report...")):
    html_file, pdf_file = report_files(key, current.conc_id, get_language(), current,
                                       export_info(analysis))
    stem = file_stem(current.conc_id)
    st.download_button(_("Download the report (PDF)"), pdf_file, file_name=f"{stem}.pdf",
                       mime="application/pdf", key=state.DOSSIER_DOWNLOAD_PDF,
                       icon=":material/picture_as_pdf:", width="stretch")
    st.download_button(_("Download the report (HTML)"), html_file, file_name=f"{stem}.html",
                       mime="text/html", key=state.DOSSIER_DOWNLOAD_HTML,
                       icon=":material/html:", width="stretch")
    st.caption(_("Map, tables and method note; the HTML file opens offline in any browser."))

metrics = [*st.columns(3), *st.columns(3)]
metrics[0].metric(_("Area"), hectares(current.area_ha))
metrics[1].metric(_("Overlap"), f"{hectares(current.overlap_ha)} · {percent(current.overlap_pct)}",
                  help=_("Land inside the title covered by artisanal site footprints (point "
                         "sites count only with a footprint radius, under Options)."))
metrics[2].metric(_("Sites inside"), count(current.sites_in))
metrics[3].metric(_("Workers inside"), count(current.workers_in))
metrics[4].metric(_("Sites within {distance} km").format(distance=outer),
                  count(current.sites_near),
                  help=_("Sites outside the title, in its proximity rings."))
metrics[5].metric(_("Red-flag sites inside"), count(current.flagged_in),
                  help=_("Sites inside with mercury use, armed actors or child labour "
                         "recorded."))

# --- map and where the sites are ------------------------------------------------------------------

left, right = st.columns([3, 2])
with left:
    titles, sites, footprints = map_layers(key, current.conc_id, analysis, current)
    folium_map = maps.overlap_map(titles, sites, current.zones, footprints=footprints,
                                  rings=current.rings, selected=current.conc_id,
                                  zoom_to_selected=True)
    centre, zoom = map_view(current, height_px=520)
    st_folium(folium_map, key=state.DOSSIER_MAP, height=520, returned_objects=[],
              use_container_width=True, center=centre, zoom=zoom)
with right:
    st.markdown(_("**Sites and workers by ring**"))
    by_ring = current.by_ring.assign(
        where=[ring_label(ring, rings_km) for ring in current.by_ring["ring"]])
    by_ring = by_ring[["where", "sites", "workers"]]  # red flags by ring: see below
    st.dataframe(by_ring, hide_index=True,
                 column_config=table_config(by_ring, {"where": _("Where")}))
    st.markdown(_("**Sites by tenure class**"))
    by_tenure = current.by_tenure
    site_columns = [c for c in by_tenure.columns if c.startswith("sites_")]
    by_tenure = by_tenure[by_tenure[site_columns].sum(axis=1) > 0].assign(
        tenure=lambda t: t["tenure"].map(lambda code: label(TENURE_LABELS, code)))
    by_tenure = by_tenure[["tenure", *site_columns]]
    st.dataframe(by_tenure, hide_index=True, column_config=table_config(by_tenure, {
        "tenure": _("Tenure class"),
        **{c: ring_label(k, rings_km) for k, c in enumerate(site_columns)},
    }))
    st.caption(_("A site in a ring may sit inside a neighbouring title or on land free of "
                 "titles. The report adds the workers of each class and the red flags of "
                 "each ring."))

# --- red flags ----------------------------------------------------------------------------------

st.subheader(_("Red flags"))
flags = current.flags.assign(flag=current.flags["flag"].map(lambda f: label(RED_FLAGS, f)))
near_label = _("within {distance} km").format(distance=outer)
st.dataframe(flags, hide_index=True, column_config=table_config(flags, {
    "flag": _("Red flag"), "sites_in": _("Sites inside"),
    "sites_near": _("Sites {near}").format(near=near_label),
    "workers_in": _("Workers inside"),
    "workers_near": _("Workers {near}").format(near=near_label),
    "not_recorded": _("Sites where not recorded"),
}))
flag_sites = current.flag_sites
if flag_sites.empty:
    st.info(_("No site inside or near this title has a red flag recorded."))
else:
    with st.expander(_("The sites behind the red flags ({count} entries)").format(
            count=count(len(flag_sites)))):
        shown = flag_sites.assign(
            flag=flag_sites["flag"].map(lambda f: label(RED_FLAGS, f)),
            ring=[ring_label(ring, rings_km) for ring in flag_sites["ring"]],
        )
        st.dataframe(shown, hide_index=True, column_config=table_config(shown, {
            "flag": _("Red flag"), "site_id": _("Site"), "ring": _("Where"),
            "dist_km": _("Distance (km)"),
        }))

# --- trend by year ------------------------------------------------------------------------------

st.subheader(_("Trend by year first seen"))
years = current.by_year
if years.empty:
    st.info(_("The sites carry no dates, so there is no trend to show."))
else:
    caption = _("Sites by the year they were first seen, inside the title and in each ring.")
    if current.undated:
        caption += " " + _("{count} sites have no date and are not counted here.").format(
            count=count(current.undated))
    st.caption(caption)
    # English values, shown translated (as on the Statistics page).
    pick = st.radio(_("Count"), [N_("Sites"), N_("Workers")], horizontal=True,
                    key=state.DOSSIER_YEAR_MEASURE, format_func=_)
    if pick == "Workers":
        bands = [_("Inside"), _("Within {distance} km").format(distance=outer)]
        columns, colours = ["workers_in", "workers_near"], [ring_colour(0), ring_colour(1)]
    else:
        columns = [c for c in years.columns if c.startswith("sites_")]
        bands = [ring_label(k, rings_km) for k in range(len(columns))]
        colours = [ring_colour(k) for k in range(len(columns))]
    long = pd.DataFrame({
        "year": list(years["year"]) * len(columns),
        "where": [band for band in bands for _year in years["year"]],
        "order": [k for k in range(len(columns)) for _year in years["year"]],
        "count": [value for column in columns for value in years[column]],
    })
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("year:O", title=_("Year"), axis=alt.Axis(labelAngle=0),
                scale=alt.Scale(domain=list(range(int(years["year"].min()),
                                                  int(years["year"].max()) + 1)))),
        y=alt.Y("count:Q", title=_(pick or "Sites"), stack=True),
        color=alt.Color("where:N", title=None, sort=bands,
                        scale=alt.Scale(domain=bands, range=colours)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip("year:O", title=_("Year")),
                 alt.Tooltip("where:N", title=_("Where")),
                 alt.Tooltip("count:Q", title=_(pick or "Sites"), format=",")],
    ).configure(locale=vega_locale())
    st.altair_chart(chart, width="stretch")

# --- the sites ----------------------------------------------------------------------------------

st.subheader(_("Sites inside and near the title"))
if current.sites.empty:
    st.info(_("No artisanal site lies inside this title or within {distance} km of it.").format(
        distance=outer))
else:
    sites_shown = current.sites.assign(
        where=[ring_label(ring, rings_km) for ring in current.sites["ring"]],
        tenure=current.sites["tenure"].map(lambda code: label(TENURE_LABELS, code)),
    ).drop(columns=["ring"])
    st.dataframe(sites_shown, hide_index=True, height=360, column_config=table_config(
        sites_shown, {
            "site_id": _("Site"), "where": _("Where"), "dist_km": _("Distance (km)"),
            **{flag: _(text) for flag, text in RED_FLAGS.items()}, "tenure": _("Tenure"),
            "first_seen": _("First seen"), "seen": _("Last seen"),
        }))
