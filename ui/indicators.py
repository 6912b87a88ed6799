"""Cached indicator tables per holder and per province (keyed on the analysis key)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.indicators import IndicatorGroup, indicators, trend_start_year
from geo.pipeline import Analysis


@st.cache_data(max_entries=32, show_spinner=False)
def indicator_table(key: str, by: IndicatorGroup, recent_years: int,
                    _analysis: Analysis) -> pd.DataFrame:
    """The ranked indicators of the analysis ``key`` (:func:`geo.indicators.indicators`)."""
    return indicators(_analysis.overlaps, by, recent_years=recent_years)


@st.cache_data(max_entries=32, show_spinner=False)
def trend_start(key: str, recent_years: int, _analysis: Analysis) -> int | None:
    """First year of the trend's recent period for the analysis ``key``."""
    return trend_start_year(_analysis.overlaps, recent_years)
