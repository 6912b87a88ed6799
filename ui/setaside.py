"""Cached set-aside scenarios of the current analysis (see :mod:`geo.setaside`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import streamlit as st

from geo.filters import filter_sites
from geo.pipeline import Analysis
from geo.setaside import SetAside, set_aside
from ui.data import current_filters, workspace


def current_sites() -> gpd.GeoDataFrame:
    """The sites layer the current analysis was computed on (the sidebar's filters applied),
    in the same order as its site table."""
    sites = workspace()["sites"].data
    filters = current_filters()
    return filter_sites(sites, filters) if filters.active else sites


def scenario(
    key: str, analysis: Analysis, *, area: Mapping[str, Any], conc_id: str | None
) -> SetAside:
    """The set-aside scenario of ``area`` on the current analysis (cached).

    Raises
    ------
    GeoError
        The area cannot be used; the page shows the message.
    """
    text = json.dumps(dict(area), sort_keys=True)
    return _scenario(key, text, conc_id, analysis, current_sites())


@st.cache_resource(max_entries=8, show_spinner=False)
def _scenario(
    key: str, area: str, conc_id: str | None, _analysis: Analysis, _sites: gpd.GeoDataFrame
) -> SetAside:
    overlaps = _analysis.overlaps
    return set_aside(overlaps.concessions, _sites, json.loads(area), conc_id=conc_id,
                     before=overlaps)
