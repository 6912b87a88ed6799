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
    "rank": N_("Rank"), "sites_near": N_("Sites near"), "workers_near": N_("Workers near"),
    "flagged_in": N_("Red-flag sites inside"), "flagged_near": N_("Red-flag sites near"),
    "sites_recent": N_("Sites first seen recently"),
    "sites_earlier": N_("Sites first seen earlier"), "recent_pct": N_("Recent sites (%)"),
    "years_left": N_("Years left"), "expiry_status": N_("Expiry status"),
    # Formalisation and due diligence.
    "site_id": N_("Site"), "tenure": N_("Tenure"), "seen": N_("Last seen"), "gold": N_("Gold"),
    "mercury": N_("Mercury"), "armed": N_("Armed actors"), "child_lab": N_("Child labour"),
    "lon": N_("Longitude"), "lat": N_("Latitude"), "flagged": N_("Red-flag sites"),
    "category": N_("Category"), "zone_id": N_("Nearest artisanal zone"),
    "zone_km": N_("Distance to the zone (km)"), "free_land_sites": N_("Free land: sites"),
    "free_land_workers": N_("Free land: workers"),
    "free_land_flagged": N_("Free land: red-flag sites"), "in_zone_sites": N_("In a zone: sites"),
    "in_zone_workers": N_("In a zone: workers"),
    "in_zone_flagged": N_("In a zone: red-flag sites"),
    "near_zone_sites": N_("Near a zone: sites"), "near_zone_workers": N_("Near a zone: workers"),
    "near_zone_flagged": N_("Near a zone: red-flag sites"), "qualification": N_("Qualification"),
    "green": N_("Green"), "yellow": N_("Yellow"), "red": N_("Red"),
    "not_qualified": N_("Not qualified"), "itsci": N_("ITSCI"),
    "itsci_pct": N_("ITSCI (%)"), "blocked": N_("Blocking red flag"),
    "blocked_pct": N_("Blocking red flag (%)"), "n_conc": N_("Titles"),
    # In-migration.
    "sites_before": N_("Sites before"), "new_in": N_("New sites inside"),
    "new_r1": N_("New sites in ring 1"), "new_sites": N_("New sites"),
    "growth_pct": N_("Growth (%)"), "workers_before": N_("Workers before"),
    "workers_added": N_("Workers added"), "workers_pct": N_("Workers growth (%)"),
    "change": N_("Change"), "moved_km": N_("Moved (km)"),
    "near_id": N_("Title (inside or nearest)"), "dist_km": N_("Distance (km)"), "ring": N_("Ring"),
    "red_flags": N_("Red flags"), "sites_known": N_("Sites known"),
    "sites_new": N_("New sites that year"), "sites_visited": N_("Sites visited"),
    "workers_visited": N_("Workers counted that year"),
    "workers_known": N_("Workers (latest count)"),
    # Set-aside scenario ("sites_before" and "workers_before" above serve it too).
    "tenure_before": N_("Tenure before"), "tenure_after": N_("Tenure after"),
    "conc_before": N_("Title before"), "conc_after": N_("Title after"),
    "area_before_ha": N_("Area before (ha)"), "ceded_ha": N_("Ceded (ha)"),
    "area_after_ha": N_("Area after (ha)"), "overlap_before_ha": N_("Overlap before (ha)"),
    "overlap_after_ha": N_("Overlap after (ha)"), "sites_after": N_("Sites after"),
    "workers_after": N_("Workers after"),
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
