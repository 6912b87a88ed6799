"""The concession detail panel shown beside the map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.format import count, date, decimal, hectares, percent
from geo.i18n import N_, _, label
from geo.pipeline import Analysis
from geo.schema import LIC_TYPE_LABELS, RED_FLAGS, TENURE_LABELS, ring_columns
from geo.stats import sites_of_concession

#: Labels of the columns of the table of sites in and around a title (English, marked).
SITE_COLUMN_LABELS = {
    "site_id": N_("Site"), "name": N_("Name"), "where": N_("Where"),
    "dist_km": N_("Distance (km)"), "workers": N_("Workers"), **RED_FLAGS,
    "tenure": N_("Tenure"), "seen": N_("Last seen"),
}


def concession_detail(analysis: Analysis, conc_id: str) -> None:
    """Holder, licence, expiry, overlap, sites by ring, workers and red flags of one title."""
    table = analysis.concession_table
    rows = table[table["conc_id"].astype(str) == conc_id]
    if rows.empty:
        st.info(_("Concession {title} is not in the current selection.").format(title=conc_id))
        return
    row = rows.iloc[0]
    st.subheader(_("Title {title}").format(title=conc_id))
    # The dossier page shows the selected concession, which this title is.
    st.page_link("pages/dossier.py", label=_("Open the dossier"), icon=":material/description:",
                 help=_("This title on one page: map, sites by ring and tenure, red flags, "
                        "trend by year; download it as a PDF or HTML report."))
    lines = [
        _("**Holder:** {holder}").format(holder=_text(row["holder"])),
        _("**Licence:** {licence}").format(licence=label(LIC_TYPE_LABELS, row["lic_type"])),
        _("**Status:** {status}").format(status=_text(row["status"])),
        _("**Expiry:** {date}").format(date=date(row["expiry"]) or _("unknown")),
    ]
    st.markdown("  \n".join(lines))
    first, second = st.columns(2)
    first.metric(_("Area"), hectares(row["area_ha"]))
    second.metric(_("Overlap"), f"{hectares(row['overlap_ha'])} · {percent(row['overlap_pct'])}",
                  help=_("Land inside the title covered by artisanal site footprints (point "
                         "sites count only with a footprint radius, under Options)."))
    first.metric(_("Sites inside"), count(row["sites_in"]))
    second.metric(_("Workers inside"), count(row["workers_in"]))
    rings = ring_columns(len(analysis.overlaps.rings_km))
    edges = [0.0, *analysis.overlaps.rings_km]
    ring_text = ", ".join(
        _("{count} at {inner}-{outer} km").format(
            count=count(row[name]), inner=_km(edges[k]), outer=_km(edges[k + 1]))
        for k, name in enumerate(rings)
    )
    st.markdown(_("**Sites near:** {rings}").format(rings=ring_text))
    st.markdown(
        _("**Red flags inside:** mercury at {mercury} sites, armed actors at {armed}, child "
          "labour at {child}").format(mercury=count(row["mercury_in"]),
                                      armed=count(row["armed_in"]),
                                      child=count(row["child_in"]))
    )
    sites = sites_of_concession(analysis.overlaps, conc_id)
    if len(sites):
        st.dataframe(_site_table(sites, analysis.overlaps.rings_km), hide_index=True, height=260)


def _site_table(sites: pd.DataFrame, rings_km: tuple[float, ...]) -> pd.DataFrame:
    """The sites of a title as shown: places, tenure and dates in words, columns labelled."""
    where = {"inside": _("inside")}
    where.update({
        f"within {r:g} km": _("within {distance} km").format(distance=_km(r)) for r in rings_km
    })
    shown = sites.assign(
        where=sites["where"].map(lambda value: where.get(value, value)),
        tenure=sites["tenure"].map(lambda value: label(TENURE_LABELS, value)),
        seen=sites["seen"].map(date),
    )
    return shown.rename(columns={key: _(text) for key, text in SITE_COLUMN_LABELS.items()})


def _km(value: float) -> str:
    """A ring edge in km as typed: ``1``, ``2.5`` (``2,5`` in French)."""
    return decimal(value)


def _text(value: object) -> str:
    """Attribute text shown as text: markdown characters escaped, empty as 'unknown'."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value) == "":
        return _("unknown")
    text = str(value)
    for char in "\\`*_{}[]()#+-.!|<>~$":
        text = text.replace(char, "\\" + char)
    return text
