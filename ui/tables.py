"""Column labels and formats for the tables the pages show."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.i18n import N_, _

#: Labels of the table columns (English, marked; :func:`column_label` translates).
COLUMN_LABELS: dict[str, str] = {
    "conc_id": N_("Title"), "name": N_("Name"), "holder": N_("Holder"),
    "lic_type": N_("Licence type"), "status": N_("Status"), "expiry": N_("Expiry"),
    "area_ha": N_("Area (ha)"), "overlap_ha": N_("Overlap (ha)"),
    "overlap_pct": N_("Overlap (%)"), "sites_in": N_("Sites inside"),
    "workers_in": N_("Workers inside"), "mercury_in": N_("Mercury (sites)"),
    "armed_in": N_("Armed actors (sites)"), "child_in": N_("Child labour (sites)"),
    "concessions": N_("Concessions"), "sites": N_("Sites"),
    "share_in_pct": N_("Sites inside (%)"), "workers": N_("Workers"),
    "province": N_("Province"), "country": N_("Country"), "year": N_("Year"),
    "sites_out": N_("Sites outside"), "workers_out": N_("Workers outside"),
}


def column_label(column: str) -> str | None:
    """The translated label of a table column (rings labelled by position), or None."""
    if column.startswith("sites_r") and column.removeprefix("sites_r").isdigit():
        return _("Sites in ring {number}").format(number=column.removeprefix("sites_r"))
    label = COLUMN_LABELS.get(column)
    return _(label) if label else None


def column_config(table: pd.DataFrame) -> dict[str, object]:
    """Labels and number formats for ``table``'s columns (rings labelled by position)."""
    config: dict[str, object] = {}
    for column in table.columns:
        label = column_label(column)
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
