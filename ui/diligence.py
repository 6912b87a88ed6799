"""Cached calls of the Due diligence page, keyed on the analysis."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.diligence import DiligenceView, diligence_table, sites_behind
from geo.pipeline import Analysis


@st.cache_data(max_entries=32, show_spinner=False)
def diligence_view(key: str, by: DiligenceView, _analysis: Analysis) -> pd.DataFrame:
    """Qualification, traceability and blocking flags per concession, holder or province."""
    return diligence_table(_analysis.overlaps, by)


@st.cache_data(max_entries=64, show_spinner=False)
def sites_of_row(key: str, by: DiligenceView, value: str, _analysis: Analysis) -> pd.DataFrame:
    """The sites behind one row of the due-diligence table."""
    return sites_behind(_analysis.overlaps, by, value)
