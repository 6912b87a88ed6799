"""The concession detail panel shown beside the map."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.pipeline import Analysis
from geo.schema import LIC_TYPE_LABELS, RED_FLAGS, ring_columns
from geo.stats import sites_of_concession
from ui.format import count, hectares, percent

SITE_COLUMN_LABELS = {
    "site_id": "Site", "name": "Name", "where": "Where", "dist_km": "Distance (km)",
    "workers": "Workers", **RED_FLAGS, "tenure": "Tenure", "seen": "Last seen",
}


def concession_detail(analysis: Analysis, conc_id: str) -> None:
    """Holder, licence, expiry, overlap, sites by ring, workers and red flags of one title."""
    table = analysis.concession_table
    rows = table[table["conc_id"].astype(str) == conc_id]
    if rows.empty:
        st.info(f"Concession {conc_id} is not in the current selection.")
        return
    row = rows.iloc[0]
    st.subheader(f"Title {conc_id}")
    expiry = pd.to_datetime(row["expiry"], errors="coerce")
    st.markdown(
        f"**Holder:** {_text(row['holder'])}  \n"
        f"**Licence:** {LIC_TYPE_LABELS.get(str(row['lic_type']), str(row['lic_type']))}  \n"
        f"**Status:** {_text(row['status'])}  \n"
        f"**Expiry:** {expiry.date() if pd.notna(expiry) else 'unknown'}"
    )
    first, second = st.columns(2)
    first.metric("Area", hectares(row["area_ha"]))
    second.metric("Overlap", f"{hectares(row['overlap_ha'])} · {percent(row['overlap_pct'])}",
                  help="Land inside the title covered by artisanal site footprints (point sites "
                       "count only with a footprint radius, under Options).")
    first.metric("Sites inside", count(row["sites_in"]))
    second.metric("Workers inside", count(row["workers_in"]))
    rings = ring_columns(len(analysis.overlaps.rings_km))
    edges = [0.0, *analysis.overlaps.rings_km]
    ring_text = ", ".join(
        f"{count(row[name])} at {edges[k]:g}-{edges[k + 1]:g} km" for k, name in enumerate(rings)
    )
    st.markdown(f"**Sites near:** {ring_text}")
    st.markdown(
        f"**Red flags inside:** mercury at {count(row['mercury_in'])} sites, armed actors at "
        f"{count(row['armed_in'])}, child labour at {count(row['child_in'])}"
    )
    sites = sites_of_concession(analysis.overlaps, conc_id)
    if len(sites):
        st.dataframe(sites.rename(columns=SITE_COLUMN_LABELS), hide_index=True, height=260)


def _text(value: object) -> str:
    """Attribute text shown as text: markdown characters escaped, empty as 'unknown'."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value) == "":
        return "unknown"
    text = str(value)
    for char in "\\`*_{}[]()#+-.!|<>~$":
        text = text.replace(char, "\\" + char)
    return text
