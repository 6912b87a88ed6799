"""Cached engine calls: the shared workspace, its analysis and derived tables.

Caches are keyed on content: a stored layer's fingerprint names the workspace and the
version, so a confirmed upload is seen at once by every session; filters and options complete
the key. An upload waiting for confirmation stays in its own session.

The engine runs once per pair of layers and options (:func:`geo.subset.prepare`); a filter
change derives the filtered analysis from that one (:func:`geo.subset.filtered`), which takes
a fraction of a second even at national scale.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict

import geopandas as gpd
import numpy as np
import pandas as pd
import streamlit as st

from geo.errors import GeoError, SchemaError
from geo.export import summary
from geo.filters import Filters, choices
from geo.i18n import _, get_language
from geo.overlap import ring_bands
from geo.pipeline import (
    BUNDLED_SOURCES,
    Analysis,
    Layer,
    open_seeded_workspace,
    stored_layer,
)
from geo.schema import LayerKind
from geo.stats import group_stats, region_stats, year_stats
from geo.store import AddResult, UploadMode, Workspace
from geo.subset import Basis, ConcessionCache, filtered, kept_rows, prepare
from ui import lod, maps, state

LAYER_KINDS: tuple[LayerKind, ...] = ("concessions", "sites")
DEFAULT_RINGS = "1, 5, 10"


def workspace_store() -> Workspace:
    """The shared workspace (GeoPackage, or PostGIS with ``DATABASE_URL``), opened once per
    server and per location; the first open stores the bundled DR Congo data."""
    location = os.environ.get("DATABASE_URL") or os.environ.get("GEO_WORKSPACE") or ""
    try:
        return _open_store(location)
    except GeoError as err:
        st.error(str(err))
        st.stop()
        raise  # unreachable: st.stop ends the run


@st.cache_resource(show_spinner=False, max_entries=4)
def _open_store(location: str) -> Workspace:
    with st.spinner(_("Opening the workspace...")):
        return open_seeded_workspace(None if location.startswith("postgres") else location or None)


def begin_run() -> None:
    """Start a script run: the layers' current versions are read again (once)."""
    st.session_state.pop(state.RUN_VERSIONS, None)


def workspace() -> dict[LayerKind, Layer]:
    """The workspace's current layers, read once per stored version; their versions are
    asked of the store once per script run (:func:`begin_run`)."""
    store = workspace_store()
    versions = _current_versions(store)
    return {kind: _stored(store.identity, kind, versions[kind], store) for kind in LAYER_KINDS}


def _current_versions(store: Workspace) -> dict[LayerKind, int | None]:
    """The layers' current versions, asked of ``store`` once per run."""
    known = st.session_state.get(state.RUN_VERSIONS)
    if known is None or known[0] != store.identity:
        known = (store.identity, {kind: store.current_version(kind) for kind in LAYER_KINDS})
        st.session_state[state.RUN_VERSIONS] = known
    return known[1]


@st.cache_resource(show_spinner=False, max_entries=8)
def _stored(identity: str, kind: LayerKind, version: int | None, _store: Workspace) -> Layer:
    return stored_layer(_store, kind)


def source_label(layer: Layer) -> str:
    """Where a layer comes from, as shown: the bundled sources' descriptions translated,
    with the stored version."""
    source = _(layer.source) if layer.source in BUNDLED_SOURCES.values() else layer.source
    if layer.version is None:
        return source
    return _("{source} (version {version})").format(source=source, version=layer.version)


def commit_upload(layer: Layer, mode: UploadMode) -> AddResult:
    """Store a confirmed upload as a new version of its layer (every session sees it)."""
    result = workspace_store().add(
        layer.kind, layer.data, file=layer.source, sha256=layer.sha256, mode=mode,
        repaired=layer.report.n_repaired, left_out=layer.report.n_dropped,
    )
    begin_run()  # this run shows the new version
    return result


def current_filters() -> Filters:
    """The sidebar's filters as the engine takes them."""
    years = st.session_state.get(state.FILTER_YEARS)
    bounds = year_bounds()
    return Filters(
        holders=tuple(st.session_state.get(state.FILTER_HOLDERS, ())),
        lic_types=tuple(st.session_state.get(state.FILTER_LIC_TYPES, ())),
        statuses=tuple(st.session_state.get(state.FILTER_STATUSES, ())),
        provinces=tuple(st.session_state.get(state.FILTER_PROVINCES, ())),
        gold_only=bool(st.session_state.get(state.FILTER_GOLD, False)),
        years=tuple(years) if years and bounds and tuple(years) != bounds else None,  # type: ignore[arg-type]
    )


def current_rings() -> tuple[float, ...]:
    """The proximity rings chosen in the sidebar, in km."""
    text = str(st.session_state.get(state.OPTION_RINGS, DEFAULT_RINGS))
    try:
        rings = tuple(float(part) for part in text.replace(";", ",").split(",") if part.strip())
    except ValueError as err:
        raise SchemaError(
            _("Rings must be kilometres separated by commas, like 1, 5, 10; got {text}.").format(
                text=repr(text))
        ) from err
    return rings


def current_radius() -> float | None:
    """The footprint radius (m) of point sites, or None."""
    radius = float(st.session_state.get(state.OPTION_RADIUS, 0) or 0)
    return radius if radius > 0 else None


def basis_key() -> str:
    """Content key of the unfiltered analysis: layers and options."""
    layers = workspace()
    parts = [layers[k].fingerprint for k in LAYER_KINDS]
    parts.append(json.dumps([st.session_state.get(state.OPTION_RINGS, DEFAULT_RINGS),
                             current_radius()]))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def analysis_key() -> str:
    """Content key of the current analysis: layers, filters and options."""
    return _key_of(basis_key(), current_filters())


def _key_of(basis: str, filters: Filters) -> str:
    parts = [basis, json.dumps(asdict(filters), default=str)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def current_analysis() -> Analysis:
    """The analysis of the session's workspace with its filters and options.

    Raises
    ------
    GeoError
        When the options are wrong or the filters leave nothing; pages show the message.
    """
    layers = workspace()
    known = _concession_cache(layers["concessions"].fingerprint, layers["concessions"])
    basis = _basis(basis_key(), layers["concessions"], layers["sites"], current_rings(),
                   current_radius(), known)
    return _analysis(analysis_key(), basis, current_filters())


def analysis_or_stop() -> tuple[str, Analysis]:
    """The current analysis and its key, or a plain message and the page stops."""
    try:
        with st.spinner(_("Computing overlaps...")):
            return analysis_key(), current_analysis()
    except GeoError as err:
        st.warning(str(err))
        st.stop()
        raise  # unreachable: st.stop ends the run


@st.cache_resource(max_entries=2, show_spinner=False)
def _concession_cache(fingerprint: str, _concessions: Layer) -> ConcessionCache:
    """What is measured of a concession layer alone: a new site layer (an upload) is
    analysed against it without measuring it again."""
    return ConcessionCache.of(_concessions)


@st.cache_resource(max_entries=4, show_spinner=False)
def _basis(
    key: str, _concessions: Layer, _sites: Layer, _rings: tuple[float, ...],
    _radius: float | None, _known: ConcessionCache,
) -> Basis:
    return prepare(_concessions, _sites, rings_km=_rings, radius_m=_radius, known=_known)


@st.cache_resource(max_entries=8, show_spinner=False)
def _analysis(key: str, _basis: Basis, _filters: Filters) -> Analysis:
    return filtered(_basis, _filters)


@st.cache_data(max_entries=64, show_spinner=False)
def grouped_table(key: str, by: str, _analysis: Analysis) -> pd.DataFrame:
    """Statistics per holder, licence type, province or country (cached per analysis)."""
    if by in ("province", "country"):
        return region_stats(_analysis.overlaps, by)  # type: ignore[arg-type]
    return group_stats(_analysis.overlaps, by)  # type: ignore[arg-type]


@st.cache_data(max_entries=16, show_spinner=False)
def years_table(key: str, _analysis: Analysis) -> pd.DataFrame:
    """Sites and workers inside versus outside concessions per year (cached)."""
    return year_stats(_analysis.overlaps)


def export_info(analysis: Analysis) -> dict[str, object]:
    """Summary with method note content for exports of the current workspace."""
    layers = workspace()
    return summary(
        analysis,
        sources={kind: source_label(layers[kind]) for kind in LAYER_KINDS},
        reports={kind: layers[kind].report for kind in LAYER_KINDS},
    )


@st.cache_data(max_entries=8, show_spinner=False)
def _year_bounds(fingerprint: str, _sites: Layer) -> tuple[int, int] | None:
    years = pd.to_datetime(_sites.data["seen"], errors="coerce").dt.year.dropna()
    if years.empty:
        return None
    return int(years.min()), int(years.max())


def filter_choices() -> dict[str, list[str]]:
    """The sidebar's options: the holders and statuses of the concessions, the provinces of
    the sites (read once per stored version)."""
    layers = workspace()
    return _filter_choices(layers["concessions"].fingerprint, layers["sites"].fingerprint,
                           layers["concessions"], layers["sites"])


@st.cache_resource(max_entries=8, show_spinner=False)
def _filter_choices(concessions_key: str, sites_key: str, _concessions: Layer,
                    _sites: Layer) -> dict[str, list[str]]:
    conc, sites = _concessions.data, _sites.data
    return {"holder": choices(conc["holder"]), "status": choices(conc["status"]),
            "province": choices(sites["province"])}


def year_bounds() -> tuple[int, int] | None:
    """First and last year of ``seen`` among the current sites, if any."""
    sites = workspace()["sites"]
    return _year_bounds(sites.fingerprint, sites)


@st.cache_data(max_entries=32, show_spinner=False)
def concession_rings(key: str, conc_id: str, _analysis: Analysis) -> gpd.GeoDataFrame:
    """Ring bands around one concession of the current analysis (cached)."""
    concessions = _analysis.overlaps.concessions
    one = concessions[concessions["conc_id"].astype(str) == conc_id]
    return ring_bands(one, _analysis.overlaps.rings_km)


def map_html(key: str, analysis: Analysis) -> bytes:
    """The full map of an analysis as a standalone, offline HTML page (within the map's
    budget: a national layer is drawn for its whole extent, :mod:`ui.lod`)."""
    overlaps = analysis.overlaps
    folium_map = maps.overlap_map(map_concessions(key, analysis), overlaps.sites,
                                  overlaps.zones, footprints=overlaps.footprints,
                                  index=map_index(key, analysis))
    return folium_map.get_root().render().encode("utf-8")


def small_map_html(key: str, analysis: Analysis) -> str:
    """The Overview's thumbnail map of the analysis ``key`` as a standalone, offline HTML
    page, rendered once per analysis and language (it is not interactive beyond Leaflet's
    own pan, zoom and tooltips)."""
    return _small_map_html(key, get_language(), analysis)


@st.cache_data(max_entries=8, show_spinner=False)
def _small_map_html(key: str, language: str, _analysis: Analysis) -> str:
    overlaps = _analysis.overlaps
    small = maps.small_map(overlaps.concessions, overlaps.sites, index=map_index(key, _analysis))
    return small.get_root().render()


@st.cache_resource(max_entries=8, show_spinner=False)  # as many as filtered analyses
def map_concessions(key: str, _analysis: Analysis) -> gpd.GeoDataFrame:
    """:func:`concessions_with_stats` of the analysis ``key`` (cached)."""
    return concessions_with_stats(_analysis)


def map_index(key: str, analysis: Analysis) -> lod.MapIndex:
    """What the maps of the analysis ``key`` need to choose features by view (cached).

    The index of the session's filtered analysis is derived from the unfiltered one's.
    """
    layers = workspace()
    filters = current_filters()
    if key == analysis_key() and filters.active:
        known = _concession_cache(layers["concessions"].fingerprint, layers["concessions"])
        basis = _basis(basis_key(), layers["concessions"], layers["sites"], current_rings(),
                       current_radius(), known)
        whole_key = _key_of(basis_key(), Filters())
        return _filtered_map_index(key, analysis, _map_index(whole_key, basis.analysis), basis,
                                   filters)
    return _map_index(key, analysis)


@st.cache_resource(max_entries=4, show_spinner=False)
def _map_index(key: str, _analysis: Analysis) -> lod.MapIndex:
    overlaps = _analysis.overlaps
    return maps.map_index(map_concessions(key, _analysis), overlaps.sites, overlaps.zones,
                          overlaps.footprints)


@st.cache_resource(max_entries=8, show_spinner=False)  # as many as filtered analyses
def _filtered_map_index(key: str, _analysis: Analysis, _whole: lod.MapIndex, _basis: Basis,
                        _filters: Filters) -> lod.MapIndex:
    conc_keep, site_keep = kept_rows(_basis, _filters)
    overlaps = _analysis.overlaps
    return maps.derived_index(_whole, conc_keep, site_keep, overlaps.concessions,
                              overlaps.sites, overlaps.zones)


def concessions_with_stats(analysis: Analysis) -> gpd.GeoDataFrame:
    """The analysed concessions with their per-concession statistics, for maps."""
    concessions = analysis.overlaps.concessions
    table = analysis.concession_table
    extra = [c for c in table.columns if c not in concessions]
    left = table["conc_id"].reset_index(drop=True)
    right = concessions["conc_id"].reset_index(drop=True)
    same_rows = len(left) == len(right) and (left.equals(right) or np.array_equal(
        left.to_numpy(dtype=object), right.to_numpy(dtype=object)))
    if same_rows:  # the table is in the concessions' order (geo.stats.concession_stats)
        extras = pd.DataFrame({column: table[column].array for column in extra},
                              index=concessions.index)
        return pd.concat([concessions, extras], axis=1)
    return concessions.join(table.set_index("conc_id")[extra], on="conc_id")
