"""Due diligence: official qualification, traceability coverage and the red flags that block
responsible sourcing, per concession, holder and province; the sites behind each row and a
pack a buyer or refiner can check."""

from datetime import date

import streamlit as st

from geo.diligence import (
    UNKNOWN,
    pack_bytes,
    pack_note,
)
from geo.export import csv_bytes, tables_bytes
from geo.format import count, percent
from geo.i18n import N_, _, bound, label
from geo.schema import (
    DILIGENCE_INDICATORS,
    DILIGENCE_VIEWS,
    LIC_TYPE_LABELS,
    QUALIFICATION_LABELS,
    TENURE_LABELS,
)
from ui import state
from ui.data import analysis_or_stop, export_info
from ui.diligence import diligence_view, sites_of_row
from ui.router import require_router
from ui.tables import column_config, search_rows

require_router()

#: The views in words (English, marked; shown translated).
VIEW_LABELS = {
    "concession": N_("Per concession"),
    "holder": N_("Per holder"),
    "province": N_("Per province"),
}
#: What each view counts (English, marked; shown translated).
VIEW_SCOPE = {
    "concession": N_("Sites inside each title; a site inside two titles counts for both."),
    "holder": N_("Sites inside any of the holder's titles, each site once."),
    "province": N_("Every site in the province, inside a title or not."),
}

#: Columns shown first: the row's name, then the indicators; descriptive columns last.
FIRST_COLUMNS = {"concession": ["conc_id", "holder"], "holder": ["holder", "concessions"],
                 "province": ["province"]}
#: The sites' columns in the order shown: what a buyer checks first.
SITE_ORDER = ["site_id", "name", "qualification", "itsci", "armed", "child_lab", "mercury",
              "blocked", "workers", "gold", "province", "tenure", "conc_id", "holder", "n_conc",
              "seen", "lon", "lat"]

st.title(_("Due diligence"))
key, analysis = analysis_or_stop()
st.caption(_(
    "What a buyer or refiner checks before sourcing: the sites' official qualification "
    "(green, yellow, red), their coverage by a traceability scheme (ITSCI), and the red "
    "flags that block responsible sourcing: armed actors, child labour, mercury. Numbers "
    "follow the sidebar's filters."
))

everything = diligence_view(key, "province", analysis)
sites_total = int(everything["sites"].sum())
row = st.columns(5)
row[0].metric(_("Artisanal sites"), count(sites_total))
row[1].metric(_("Qualified green or yellow"),
              count(everything["green"].sum() + everything["yellow"].sum()),
              help=_("Sites validated for responsible sourcing (yellow: with conditions)."))
row[2].metric(_("Qualified red"), count(everything["red"].sum()),
              help=_("Sites not to be sourced from."))
row[3].metric(_("Covered by ITSCI"), count(everything["itsci"].sum()),
              _("{share} of sites").format(
                  share=percent(100.0 * everything["itsci"].sum() / max(sites_total, 1))),
              delta_color="off", delta_arrow="off",
              help=_("Sites covered by a traceability scheme."))
row[4].metric(_("With a blocking red flag"), count(everything["blocked"].sum()),
              _("{share} of sites").format(
                  share=percent(100.0 * everything["blocked"].sum() / max(sites_total, 1))),
              delta_color="off", delta_arrow="off",
              help=_("Armed actors, children under 15 working or mercury recorded at the "
                     "site's latest visit."))

controls = st.columns([2, 1])
by = controls[0].segmented_control(
    _("Table"), list(DILIGENCE_VIEWS), key=state.DILIGENCE_VIEW, default="concession",
    format_func=lambda view: _(VIEW_LABELS[view]),
) or "concession"
with_sites = controls[1].toggle(_("Only rows with sites"), value=True,
                                key=state.DILIGENCE_WITH_SITES)
st.caption(_(VIEW_SCOPE[by]))

table = diligence_view(key, by, analysis)
if with_sites:
    table = table[table["sites"] > 0]
query = st.text_input(_("Search"), key=state.DILIGENCE_SEARCH,
                      placeholder=_("Title, holder, province..."))
shown = search_rows(table, query)
first = FIRST_COLUMNS[by]
last = [c for c in shown.columns if c not in first and c not in DILIGENCE_INDICATORS]
if "name" in last and (shown["name"].astype(str) == shown["conc_id"].astype(str)).all():
    last.remove("name")  # the title's name is its number (as in the CAMI cadastre)
display = shown[[*first, *DILIGENCE_INDICATORS, *last]].copy()
if "lic_type" in display:
    display["lic_type"] = display["lic_type"].map(lambda code: label(LIC_TYPE_LABELS, code))
st.caption(_("{shown} of {total} rows, most sites first. Click a column header to "
             "sort.").format(shown=count(len(shown)), total=count(len(table))))
config = column_config(display)
if by == "concession":
    config["holder"] = st.column_config.Column(_("Holder"), width="medium")
st.dataframe(display, hide_index=True, column_config=config, height=380)

st.subheader(_("The sites behind a row"))
key_column = display.columns[0]
choices = shown[key_column].astype(str).tolist()
if not choices:
    st.info(_("No row to show: clear the search, or switch off \"Only rows with sites\"."))
    sites = None
else:
    counts = dict(zip(choices, shown["sites"].tolist(), strict=True))
    if st.session_state.get(state.DILIGENCE_PICK) not in counts:
        st.session_state[state.DILIGENCE_PICK] = choices[0]
    picked = st.selectbox(
        _("Row"), choices, key=state.DILIGENCE_PICK,
        format_func=lambda value: _("{row} · {sites} sites").format(
            row=_("unknown") if value == UNKNOWN else value, sites=count(counts[value])),
    )
    sites = sites_of_row(key, by, picked, analysis)
    listed = sites[SITE_ORDER].assign(
        tenure=sites["tenure"].map(lambda t: label(TENURE_LABELS, t)),
        qualification=sites["qualification"].map(
            lambda q: label(QUALIFICATION_LABELS, q) if isinstance(q, str)
            else _("Not qualified")),
    )
    st.caption(_("{sites} sites, those with a blocking red flag first.").format(
        sites=count(len(sites))))
    site_config = column_config(listed)
    site_config["holder"] = st.column_config.Column(_("Holder"), width="medium")
    st.dataframe(listed, hide_index=True, column_config=site_config, height=320)

st.subheader(_("Downloads"))
info = export_info(analysis)
stem = f"due_diligence_{date.today():%Y%m%d}"
downloads = st.columns(3)
# The downloads are built when clicked, outside this run: bound() keeps the language.
downloads[0].download_button(
    _("Due-diligence pack (zip)"), data=bound(lambda: pack_bytes(analysis.overlaps, info)),
    file_name=f"{stem}.zip", mime="application/zip", type="primary",
    key=f"{state.DILIGENCE_DOWNLOAD_PREFIX}pack", on_click="ignore", width="stretch",
    help=_("CSV tables per concession, holder and province, every site with its "
           "qualification and flags, the site-title pairs, a GeoPackage and the method note."),
)
downloads[1].download_button(
    _("This table (CSV)"), data=bound(lambda: csv_bytes(shown)),
    file_name=f"{stem}_{by}.csv", mime="text/csv",
    key=f"{state.DILIGENCE_DOWNLOAD_PREFIX}csv", on_click="ignore", width="stretch",
)
if sites is not None:
    downloads[2].download_button(
        _("This table and the sites shown (Excel)"),
        data=bound(lambda: tables_bytes({"table": shown, "sites": sites}, "xlsx",
                                       pack_note(info))),
        file_name=f"{stem}_{by}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key=f"{state.DILIGENCE_DOWNLOAD_PREFIX}xlsx", on_click="ignore", width="stretch",
    )

with st.expander(_("Method note")):
    st.code(pack_note(info), language=None)
