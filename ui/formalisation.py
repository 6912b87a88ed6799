"""Cached calls of the Formalisation page: the view per analysis, distance and zone layer."""

from __future__ import annotations

import streamlit as st

from geo.formalisation import Formalisation, ZoneSource, formalisation, load_zea_2020
from geo.pipeline import Analysis, Layer


@st.cache_resource(show_spinner=False, max_entries=1)
def zea_2020() -> Layer:
    """The bundled CAMI artisanal zones of 2020, read once per server."""
    return load_zea_2020()


@st.cache_data(max_entries=32, show_spinner=False)
def formalisation_view(
    key: str, distance_km: float, zone_source: ZoneSource, _analysis: Analysis
) -> Formalisation:
    """The formalisation view of the analysis ``key`` (cached per distance and zone layer).

    Raises
    ------
    GeoError
        The distance is not positive, or the zone layer cannot be read.
    """
    zones = zea_2020().data if zone_source == "zea_2020" else None
    return formalisation(_analysis.overlaps, distance_km=distance_km, zones=zones)
