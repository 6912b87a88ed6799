"""Cached concession dossiers, their map layers and their downloads, for the dossier page.

Each is keyed on the analysis key (layers, filters, options) and the concession's id; the
rendered files also on the language, since their text is translated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import geopandas as gpd
import pandas as pd
import streamlit as st

from geo.dossier import Dossier, concession_dossier
from geo.i18n import _
from geo.pipeline import Analysis
from geo.report import figures, html_report, pdf_report
from ui.data import concessions_with_stats


@st.cache_data(max_entries=32, show_spinner=False)
def dossier(key: str, conc_id: str, _analysis: Analysis) -> Dossier:
    """The dossier of one concession of the current analysis (cached).

    Raises
    ------
    NotFoundError
        The concession is not in the analysis (filtered out, or an unknown id).
    """
    return concession_dossier(_analysis, conc_id)


@st.cache_data(max_entries=16, show_spinner=False)
def report_files(
    key: str, conc_id: str, lang: str, _dossier: Dossier, _info: Mapping[str, object]
) -> tuple[bytes, bytes]:
    """The dossier as a standalone HTML page and as a PDF, in ``lang`` (cached)."""
    pictures = figures(_dossier)
    return (html_report(_dossier, _info, pictures=pictures).encode("utf-8"),
            pdf_report(_dossier, _info, pictures=pictures))


@st.cache_data(max_entries=32, show_spinner=False)
def map_layers(
    key: str, conc_id: str, _analysis: Analysis, _dossier: Dossier
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoSeries]:
    """What the dossier's interactive map draws: the title and its neighbours with their
    statistics, and its sites with their footprints (aligned by position)."""
    concessions = concessions_with_stats(_analysis)
    shown = [conc_id, *_dossier.neighbours["conc_id"]]
    concessions = concessions[concessions["conc_id"].astype(str).isin(shown)]
    overlaps = _analysis.overlaps
    positions = pd.Index(overlaps.sites["site_id"].astype(str)).get_indexer(
        pd.Index(_dossier.sites["site_id"].astype(str)))
    sites = overlaps.sites.iloc[positions].reset_index(drop=True)
    footprints = gpd.GeoSeries(overlaps.footprints.iloc[positions].to_numpy(), crs=4326)
    return concessions.reset_index(drop=True), sites, footprints


def file_stem(conc_id: str) -> str:
    """A download's file name (without suffix) for a title: ``dossier_PE_1234``.

    Examples
    --------
    >>> file_stem("PE 12/34")
    'dossier_PE_12_34'
    """
    return "dossier_" + (re.sub(r"[^0-9A-Za-z._-]+", "_", conc_id).strip("._") or "title")


def markdown_text(value: object) -> str:
    r"""Attribute text shown in Markdown as text: its Markdown characters escaped; empty as
    'unknown'.

    Examples
    --------
    >>> print(markdown_text("*A* <b>"))
    \*A\* \<b\>
    """
    if value is None or (isinstance(value, float) and pd.isna(value)) or str(value) == "":
        return _("unknown")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~$])", r"\\\1", str(value))


def map_view(dossier: Dossier, *, height_px: int, width_px: int = 600) -> tuple[
        tuple[float, float], int]:
    """Centre (lat, lon) and zoom level of a web map showing the title's outer ring whole in
    a map of about this size (Web Mercator tiles of 256 pixels)."""
    minx, miny, maxx, maxy = (float(v) for v in dossier.rings.total_bounds)
    stretch = 1.0 / max(math.cos(math.radians((miny + maxy) / 2)), 0.01)
    fit_x = math.log2(width_px * 360.0 / (256.0 * max(maxx - minx, 1e-6)))
    fit_y = math.log2(height_px * 360.0 / (256.0 * max(maxy - miny, 1e-6) * stretch))
    return ((miny + maxy) / 2, (minx + maxx) / 2), max(1, min(18, math.floor(min(fit_x, fit_y))))
