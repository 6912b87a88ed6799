"""The engine end to end: file -> layer -> validated layer -> overlaps -> statistics.

One place where the steps are chained, used by the command line and the dashboard alike.

Examples
--------
>>> analysis = analyse(load_bundled("concessions"), load_bundled("sites"))
>>> analysis.totals["sites"]
2988
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd

from geo.errors import GeometryError
from geo.fence import read_layer_fenced
from geo.filters import Filters, filter_concessions, filter_sites
from geo.i18n import N_, _
from geo.io import read_layer
from geo.overlap import DEFAULT_RINGS_KM, Overlaps, compute_overlaps
from geo.parallel import side_by_side
from geo.schema import REPORT_COLUMNS, LayerKind, guess_mapping, known_source, normalise
from geo.stats import concession_stats, totals
from geo.store import Workspace, open_workspace
from geo.validate import ValidationReport, check_swapped, core_bounds, validate_layer

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
#: The bundled default workspace: real eastern DR Congo data (see data/README.md).
BUNDLED: dict[LayerKind, Path] = {
    "concessions": DATA_DIR / "drc" / "cami_titles_2016.geojson",
    "sites": DATA_DIR / "drc" / "ipis_asm_sites.geojson",
}
#: Descriptions of the bundled sources (English, marked; translated where shown).
BUNDLED_SOURCES: dict[LayerKind, str] = {
    "concessions": N_("DRC mining cadastre (CAMI) titles 2016, compiled by IPIS"),
    "sites": N_("IPIS artisanal mining site visits 2009-2020 (latest visit per site)"),
}


@dataclass(frozen=True)
class Layer:
    """A normalised, validated layer and where it came from.

    Attributes
    ----------
    kind : {"concessions", "sites"}
    data : GeoDataFrame
        Normalised (:mod:`geo.schema`) and validated (:mod:`geo.validate`), EPSG:4326.
    report : ValidationReport
    source : str
        File name or description of the source.
    mapping : dict
        ``schema column -> source column`` used for the import.
    known_source : str or None
        Name of the recognised source (e.g. "CAMI cadastre"), if any.
    fingerprint : str
        sha256 of the file's bytes, the import mapping and the CRS given: the layer's
        identity for caches.
    columns : tuple of str
        The source file's attribute columns, as read.
    sha256 : str
        sha256 of the file's bytes alone: the upload's identity in the workspace history.
    version : int or None
        The stored version this layer is, when it comes from a workspace.
    """

    kind: LayerKind
    data: gpd.GeoDataFrame
    report: ValidationReport
    source: str
    mapping: dict[str, str] = field(default_factory=dict)
    known_source: str | None = None
    fingerprint: str = ""
    columns: tuple[str, ...] = ()
    sha256: str = ""
    version: int | None = None


@dataclass(frozen=True)
class Analysis:
    """Overlaps of two layers with the per-concession table and headline totals."""

    overlaps: Overlaps
    concession_table: pd.DataFrame
    totals: dict[str, object]


def load_layer(
    source: str | os.PathLike[str] | bytes,
    kind: LayerKind,
    *,
    filename: str | None = None,
    crs: str | int | None = None,
    mapping: Mapping[str, str] | None = None,
    reference_bounds: tuple[float, float, float, float] | None = None,
    reader: Literal["in_process", "fenced"] = "in_process",
) -> Layer:
    """Read, normalise and validate one layer.

    Parameters
    ----------
    source : path or bytes
        Any supported file (see :mod:`geo.io`).
    kind : {"concessions", "sites"}
    filename : str, optional
        Name of an uploaded file given as bytes.
    crs : str or int, optional
        CRS of a file that has none.
    mapping : dict, optional
        ``schema column -> source column`` overriding the guessed import mapping.
    reference_bounds : tuple, optional
        Extent of the other layer, to catch swapped latitude/longitude.
    reader : {"in_process", "fenced"}
        ``"fenced"`` reads bytes in a worker process with time, memory, size, feature-count,
        driver and network limits (:func:`geo.fence.read_layer_fenced`): for uploads, which
        may be hostile. ``"in_process"`` reads with :func:`geo.io.read_layer`.

    Returns
    -------
    Layer

    Raises
    ------
    GeoError
        Any reason the file cannot be used, with a message for the user.
    """
    read = _read_normalised(source, kind, filename=filename, crs=crs, mapping=mapping,
                            reader=reader)
    return _validated(read, reference_bounds=reference_bounds)


def load_pair(
    concessions: str | os.PathLike[str],
    sites: str | os.PathLike[str],
    *,
    concessions_crs: str | int | None = None,
    sites_crs: str | int | None = None,
) -> tuple[Layer, Layer]:
    """:func:`load_layer` of a concession file and a site file, the sites read and
    validated in a second thread while the concessions are loaded; the sites are then
    checked against the concessions' extent (swapped latitude/longitude, see
    :func:`geo.validate.check_swapped`).

    Raises
    ------
    GeoError
        Any reason either file cannot be used (the concessions' reason first).
    """
    conc, site = side_by_side(
        lambda: load_layer(concessions, "concessions", crs=concessions_crs),
        lambda: load_layer(sites, "sites", crs=sites_crs),
    )
    check_swapped(site.data, core_bounds(conc.data))
    return conc, site


@dataclass(frozen=True)
class _Normalised:
    """A file read and normalised, not yet validated (see :func:`load_layer`)."""

    kind: LayerKind
    data: gpd.GeoDataFrame
    name: str
    content: bytes
    columns: list[str]
    used: dict[str, str]
    crs: str | int | None


def _read_normalised(
    source: str | os.PathLike[str] | bytes,
    kind: LayerKind,
    *,
    filename: str | None = None,
    crs: str | int | None = None,
    mapping: Mapping[str, str] | None = None,
    reader: Literal["in_process", "fenced"] = "in_process",
) -> _Normalised:
    if reader == "fenced":
        content = source if isinstance(source, bytes) else Path(source).read_bytes()
        raw = read_layer_fenced(content, filename=filename or _name(source), crs=crs)
    else:
        raw = read_layer(source, filename=filename, crs=crs)
    columns = [c for c in raw.columns if c != raw.geometry.name]
    merged = guess_mapping(columns, kind) | dict(mapping or {})
    used = {target: source for target, source in merged.items() if source}
    if isinstance(source, bytes):
        name, content = filename or "upload", source
    else:
        name, content = filename or _name(source), Path(source).read_bytes()
    return _Normalised(kind, normalise(raw, kind, mapping=mapping), name, content, columns,
                       used, crs)


def _validated(
    read: _Normalised, *, reference_bounds: tuple[float, float, float, float] | None
) -> Layer:
    data, report = validate_layer(read.data, read.kind, reference_bounds=reference_bounds)
    return Layer(
        read.kind, data, report, read.name, read.used, known_source(read.columns, read.kind),
        fingerprint=fingerprint(read.content, mapping=read.used, crs=read.crs),
        columns=tuple(read.columns), sha256=hashlib.sha256(read.content).hexdigest(),
    )


def _name(source: str | os.PathLike[str] | bytes) -> str:
    return "upload" if isinstance(source, bytes) else Path(os.fsdecode(source)).name


def fingerprint(
    content: bytes, *, mapping: Mapping[str, str] | None = None, crs: str | int | None = None
) -> str:
    """sha256 identity of a layer: its file's bytes plus how it was imported."""
    digest = hashlib.sha256(content)
    digest.update(json.dumps([sorted((mapping or {}).items()), str(crs)]).encode())
    return digest.hexdigest()


def load_bundled(kind: LayerKind) -> Layer:
    """The bundled eastern DR Congo layer of ``kind``."""
    layer = load_layer(BUNDLED[kind], kind)
    return replace(layer, source=BUNDLED_SOURCES[kind])


def analyse(
    concessions: Layer,
    sites: Layer,
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    filters: Filters | None = None,
) -> Analysis:
    """Overlaps, per-concession statistics and totals of two validated layers.

    Parameters
    ----------
    concessions, sites : Layer
    rings_km, radius_m
        See :func:`geo.overlap.compute_overlaps`.
    filters : Filters, optional
        Attribute filters applied to both layers first.

    Raises
    ------
    GeometryError
        The filters leave no concession or no site.
    """
    return analysis_of(overlaps_of(concessions, sites, rings_km=rings_km, radius_m=radius_m,
                                   filters=filters))


def overlaps_of(
    concessions: Layer,
    sites: Layer,
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    filters: Filters | None = None,
) -> Overlaps:
    """The overlaps of :func:`analyse`, before its statistics.

    Raises
    ------
    GeometryError
        The filters leave no concession or no site.
    """
    conc, site = concessions.data, sites.data
    if filters is not None and filters.active:
        conc, site = filter_concessions(conc, filters), filter_sites(site, filters)
    require_rows(len(conc), len(site))
    return compute_overlaps(conc, site, rings_km=rings_km, radius_m=radius_m)


def analysis_of(overlaps: Overlaps) -> Analysis:
    """The per-concession table and the headline totals of some overlaps."""
    return Analysis(overlaps, concession_stats(overlaps), totals(overlaps))


def require_rows(n_concessions: int, n_sites: int) -> None:
    """Raise :class:`GeometryError` when the filters leave no concession or no site."""
    if n_concessions == 0 or n_sites == 0:
        raise GeometryError(
            _("No concessions match the filters; widen the filters to see results.")
            if n_concessions == 0
            else _("No sites match the filters; widen the filters to see results.")
        )


def stored_layer(workspace: Workspace, kind: LayerKind) -> Layer:
    """The current version of a layer in a workspace, as a :class:`Layer`.

    Its fingerprint names the workspace and the version, so caches see a new upload at once.
    """
    history = workspace.history(kind)
    if history.empty:
        raise GeometryError(
            _("The workspace has no concessions yet; add a concessions file first.")
            if kind == "concessions"
            else _("The workspace has no sites yet; add a sites file first.")
        )
    latest = history.iloc[0]
    data = workspace.read(kind, int(latest["version"]))
    report = ValidationReport(
        kind=kind, issues=pd.DataFrame(columns=list(REPORT_COLUMNS)), n_input=len(data),
        n_kept=len(data), n_repaired=int(latest["repaired"]), n_dropped=int(latest["left_out"]),
    )
    version = int(latest["version"])
    return Layer(
        kind, data, report, str(latest["file"]),
        fingerprint=f"{workspace.identity}|{kind}|{version}",
        columns=tuple(c for c in data.columns if c != "geometry"), sha256=str(latest["sha256"]),
        version=version,
    )


def open_seeded_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace (see :func:`geo.store.open_workspace`), seeded with the bundled eastern
    DR Congo layers the first time it is opened."""
    workspace = open_workspace(path)
    missing = [kind for kind in BUNDLED if workspace.current_version(kind) is None]
    if missing:
        layers = {kind: load_bundled(kind) for kind in missing}
        workspace.seed({
            kind: (layer.data, BUNDLED_SOURCES[kind], layer.sha256)
            for kind, layer in layers.items()
        })
    return workspace
