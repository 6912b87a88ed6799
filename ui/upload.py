"""Parsing an upload into a layer the user can inspect before it joins the workspace."""

from __future__ import annotations

import streamlit as st

from geo import fence
from geo.format import count
from geo.i18n import N_, _
from geo.io import MAX_ARCHIVE_MEMBERS, MAX_UNZIPPED_MB
from geo.pipeline import Layer, load_layer
from geo.schema import LayerKind
from geo.validate import core_bounds
from ui.data import workspace

#: Largest upload accepted, in MB (the same number is in .streamlit/config.toml).
MAX_UPLOAD_MB = fence.MAX_UPLOAD_MB
#: Most features one upload may hold.
MAX_FEATURES = fence.MAX_FEATURES
#: Seconds the reading of one upload may take.
UPLOAD_TIMEOUT_S = fence.TIMEOUT_S
#: The upload limits in one sentence for the page (English, marked; see :func:`limits_text`).
LIMITS = N_(
    "Limits: {size} MB and {features} features per file; a zip at most {members} files and "
    "{unzipped} MB unzipped; reading stops after {seconds} seconds. Files that only point to "
    "other data (virtual files, web services) are refused."
)
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

    The file is read in a fenced worker process (:func:`geo.fence.read_layer_fenced`): an
    upload may be hostile.

    The caller shows a spinner. Errors are not cached, so their message is always in the
    language of the session that sees it.

    Raises
    ------
    GeoError
        The file cannot be used; the message says why and how to fix it.
    """
    return load_layer(data, kind, filename=filename, crs=crs or None,
                      mapping=dict(mapping) or None, reference_bounds=reference_bounds,
                      reader="fenced")


def limits_text() -> str:
    """:data:`LIMITS` in the current language, numbers filled in."""
    return _(LIMITS).format(
        size=count(MAX_UPLOAD_MB), features=count(MAX_FEATURES),
        members=count(MAX_ARCHIVE_MEMBERS), unzipped=count(MAX_UNZIPPED_MB),
        seconds=count(UPLOAD_TIMEOUT_S))


def reference_bounds(kind: LayerKind) -> tuple[float, float, float, float]:
    """Extent of the workspace's other layer, to catch swapped coordinates."""
    other: LayerKind = "concessions" if kind == "sites" else "sites"
    return core_bounds(workspace()[other].data)
