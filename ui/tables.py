"""Column labels and formats for the tables the pages show."""

from __future__ import annotations

import pandas as pd
import streamlit as st

COLUMN_LABELS: dict[str, str] = {
    "conc_id": "Title", "name": "Name", "holder": "Holder", "lic_type": "Licence type",
    "status": "Status", "expiry": "Expiry", "area_ha": "Area (ha)",
    "overlap_ha": "Overlap (ha)", "overlap_pct": "Overlap (%)", "sites_in": "Sites inside",
    "workers_in": "Workers inside", "mercury_in": "Mercury (sites)",
    "armed_in": "Armed actors (sites)", "child_in": "Child labour (sites)",
    "concessions": "Concessions", "sites": "Sites", "share_in_pct": "Sites inside (%)",
    "workers": "Workers", "province": "Province", "country": "Country", "year": "Year",
    "sites_out": "Sites outside", "workers_out": "Workers outside",
}


def column_config(table: pd.DataFrame) -> dict[str, object]:
    """Labels and number formats for ``table``'s columns (rings labelled by position)."""
    config: dict[str, object] = {}
    for column in table.columns:
        label = COLUMN_LABELS.get(column)
        if column.startswith("sites_r"):
            label = f"Sites in ring {column.removeprefix('sites_r')}"
        if column.endswith(("_ha", "_pct")):
            config[column] = st.column_config.NumberColumn(label, format="%,.1f")
        elif label:
            config[column] = st.column_config.Column(label)
    return config


def search_rows(table: pd.DataFrame, query: str) -> pd.DataFrame:
    """Rows whose text columns contain ``query`` (case-insensitive; empty keeps all)."""
    query = (query or "").strip().lower()
    if not query:
        return table
    text = table.select_dtypes(exclude="number").astype(str)
    hit = text.apply(lambda column: column.str.lower().str.contains(query, regex=False))
    return table[hit.any(axis=1)]
