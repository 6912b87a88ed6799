"""Cached closure-planning tables and the sites they concern (keyed on the analysis key)."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from geo.closure import (
    closure_table,
    concerned_sites,
    concerned_totals,
    expiry_summary,
    titles_without_expiry,
)
from geo.pipeline import Analysis


@st.cache_data(max_entries=32, show_spinner=False)
def closure_rows(key: str, within_years: int, as_of: dt.date, near_km: float,
                 include_expired: bool, _analysis: Analysis) -> pd.DataFrame:
    """The closure table of the analysis ``key`` (:func:`geo.closure.closure_table`)."""
    return closure_table(_analysis.overlaps, within_years=within_years, as_of=as_of,
                         near_km=near_km, include_expired=include_expired)


@st.cache_data(max_entries=32, show_spinner=False)
def closure_site_positions(key: str, conc_ids: tuple[str, ...], near_km: float,
                           _analysis: Analysis) -> np.ndarray:
    """Positions of the sites inside or near the titles listed."""
    return concerned_sites(_analysis.overlaps, conc_ids, near_km=near_km)


@st.cache_data(max_entries=16, show_spinner=False)
def undated_titles(key: str, near_km: float, _analysis: Analysis) -> int:
    """Titles with sites inside or near but no expiry date."""
    return titles_without_expiry(_analysis.overlaps, near_km=near_km)


@st.cache_data(max_entries=32, show_spinner=False)
def concerned(key: str, conc_ids: tuple[str, ...], near_km: float,
              _analysis: Analysis) -> dict[str, int]:
    """Sites, workers and red-flag sites inside or near the titles listed, each once."""
    return concerned_totals(_analysis.overlaps, conc_ids, near_km=near_km)


@st.cache_data(max_entries=16, show_spinner=False)
def expiries(key: str, as_of: dt.date, _analysis: Analysis) -> dict[str, object]:
    """The layer's expiry dates at a glance (:func:`geo.closure.expiry_summary`)."""
    return expiry_summary(_analysis.overlaps, as_of=as_of)


def closure_titles(analysis: Analysis, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """The titles of a closure table with their geometry, for the map."""
    shapes = analysis.overlaps.concessions[["conc_id", "geometry"]]
    shapes = shapes.assign(conc_id=shapes["conc_id"].astype(str))
    rows = table.assign(conc_id=table["conc_id"].astype(str))
    return gpd.GeoDataFrame(rows.merge(shapes, on="conc_id"), geometry="geometry", crs=4326)
