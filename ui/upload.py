"""Parsing an upload into a layer the user can inspect before it joins the workspace."""

from __future__ import annotations

import streamlit as st

from geo.i18n import N_
from geo.pipeline import Layer, load_layer
from geo.schema import LayerKind
from geo.validate import core_bounds
from ui.data import workspace

#: Largest upload accepted, in MB (the same number is in .streamlit/config.toml).
MAX_UPLOAD_MB = 50
#: File types the uploader offers.
UPLOAD_TYPES = ["zip", "geojson", "json", "gpkg", "kml", "kmz", "csv", "parquet", "geoparquet"]
#: Plain labels of the schema columns a user can map (English, marked; translated where shown).
FIELD_LABELS: dict[LayerKind, dict[str, str]] = {
    "concessions": {
        "conc_id": N_("Title number (identifier)"), "name": N_("Name"), "holder": N_("Holder"),
        "lic_type": N_("Licence type"), "status": N_("Status"), "expiry": N_("Expiry date"),
        "province": N_("Province"),
    },
    "sites": {
        "site_id": N_("Site identifier"), "name": N_("Name"),
        "workers": N_("Number of workers"), "mercury": N_("Mercury used (yes/no)"),
        "armed": N_("Armed actors present (yes/no)"), "child_lab": N_("Child labour (yes/no)"),
        "seen": N_("Date seen"), "gold": N_("Gold (yes/no)"), "province": N_("Province"),
    },
}


@st.cache_data(max_entries=8, show_spinner=False)
def parse_upload(
    data: bytes,
    filename: str,
    kind: LayerKind,
    crs: str | None,
    mapping: tuple[tuple[str, str], ...],
    reference_bounds: tuple[float, float, float, float] | None,
) -> Layer:
    """Read, normalise and validate an uploaded file (cached on its bytes and options).

    The caller shows a spinner. Errors are not cached, so their message is always in the
    language of the session that sees it.

    Raises
    ------
    GeoError
        The file cannot be used; the message says why and how to fix it.
    """
    return load_layer(data, kind, filename=filename, crs=crs or None,
                      mapping=dict(mapping) or None, reference_bounds=reference_bounds)


def reference_bounds(kind: LayerKind) -> tuple[float, float, float, float]:
    """Extent of the workspace's other layer, to catch swapped coordinates."""
    other: LayerKind = "concessions" if kind == "sites" else "sites"
    return core_bounds(workspace()[other].data)
