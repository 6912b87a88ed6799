"""Due diligence for market access: what a buyer or refiner checks before sourcing.

Per concession, per holder and per province: the artisanal sites counted there by official
qualification (the DRC's green / yellow / red validation; a site without one is not
qualified), the sites covered by a traceability scheme (``itsci`` True), and the sites where
a red flag that blocks responsible sourcing was recorded (armed actors, children under 15
working, mercury), each and any (``blocked``). The site-level table lists the sites behind
the numbers, and the pack (:func:`pack_bytes`) holds everything with the method note.

Which sites count:

* per concession: the sites inside it (a site inside two titles counts for both);
* per holder: the sites inside any of the holder's titles, each site once;
* per province: every site in the province (the site's ``province``), inside a title or not.

Unknown values count as not recorded: a site whose ``itsci`` is unknown is not covered, a
flag that is unknown does not block.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
...                         geometry=[box(0, 0, 1, 1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "qualification": ["green", None],
...                           "armed": [False, True]},
...                          geometry=[Point(0.5, 0.5), Point(0.2, 0.2)], crs=4326)
>>> table = diligence_table(compute_overlaps(conc, sites), "concession")
>>> table[["conc_id", "sites", "green", "not_qualified", "armed", "blocked"]].to_numpy().tolist()
[['A', 2, 1, 1, 1, 1]]
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geo.errors import SchemaError
from geo.export import csv_text, method_note
from geo.i18n import _
from geo.overlap import Overlaps
from geo.schema import (
    BLOCKING_FLAGS,
    DILIGENCE_LINK_COLUMNS,
    DILIGENCE_SITE_COLUMNS,
    DILIGENCE_VIEWS,
    QUALIFICATIONS,
    diligence_columns,
)
from geo.stats import site_measures

DiligenceView = Literal["concession", "holder", "province"]
#: Shown for a missing holder or province (as :mod:`geo.stats` groups them).
UNKNOWN = "(unknown)"
#: Name of the GeoPackage inside the pack.
PACK_GEOPACKAGE = "due_diligence.gpkg"
_COUNTED = ("workers", *QUALIFICATIONS, "not_qualified", "itsci", *BLOCKING_FLAGS, "blocked")


def diligence_table(overlaps: Overlaps, by: DiligenceView) -> pd.DataFrame:
    """Qualification, traceability coverage and blocking red flags per concession, holder or
    province.

    Parameters
    ----------
    overlaps : Overlaps
        The engine's result (:func:`geo.overlap.compute_overlaps`).
    by : {"concession", "holder", "province"}

    Returns
    -------
    DataFrame
        Columns :func:`geo.schema.diligence_columns` of ``by``: the row's key columns, then
        ``sites``, ``workers`` (unknown as 0), ``green``, ``yellow``, ``red``,
        ``not_qualified``, ``itsci`` (sites covered), ``itsci_pct`` (share of the sites),
        ``armed``, ``child_lab``, ``mercury`` (sites with the flag), ``blocked`` (sites with
        any of them) and ``blocked_pct``. Every concession or holder has a row, with or
        without sites; most sites first.
    """
    if by not in DILIGENCE_VIEWS:
        raise SchemaError(
            _("The due-diligence view must be one of {allowed}, got {view}.").format(
                allowed=", ".join(DILIGENCE_VIEWS), view=repr(by))
        )
    members = _members(overlaps, by)
    counts = _indicators(members, _site_flags(overlaps))
    conc = overlaps.concessions
    if by == "concession":
        keys = pd.DataFrame({
            column: conc[column].to_numpy() if column in conc else None
            for column in ("conc_id", "name", "holder", "lic_type", "status")
        })
        table = keys.join(counts.reindex(range(len(conc)), fill_value=0))
    elif by == "holder":
        holders = _holder_keys(overlaps)
        table = pd.DataFrame({"concessions": pd.Series(holders).value_counts()})
        table = table.join(counts).rename_axis("holder").reset_index()
    else:
        table = counts.rename_axis("province").reset_index()
    table = _with_shares(table.fillna(dict.fromkeys((*_COUNTED, "sites"), 0)))
    sort_key = diligence_columns(by)[0]
    table = table.sort_values(["sites", sort_key], ascending=[False, True], kind="stable")
    return table[diligence_columns(by)].reset_index(drop=True)


def diligence_sites(overlaps: Overlaps) -> pd.DataFrame:
    """The sites behind the numbers: one row per site.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.DILIGENCE_SITE_COLUMNS`, in the order of
        ``overlaps.sites``: ``conc_id`` and ``holder`` of the title that decided the site's
        tenure, ``n_conc`` titles it is inside, ``qualification``, ``itsci``, the blocking
        flags as recorded (unknown stays empty) and ``blocked`` (any of them recorded).
    """
    sites = overlaps.sites
    holders = _holder_of(overlaps)
    table = pd.DataFrame({
        column: sites[column].array for column in DILIGENCE_SITE_COLUMNS
        if column in sites and column not in ("holder", "blocked")
    })
    table["tenure"] = table["tenure"].astype(str)
    table["holder"] = table["conc_id"].map(holders)
    table["blocked"] = _site_flags(overlaps)["blocked"].astype(bool).to_numpy()
    return table[list(DILIGENCE_SITE_COLUMNS)]


def sites_behind(overlaps: Overlaps, by: DiligenceView, value: str) -> pd.DataFrame:
    """The sites counted in one row of :func:`diligence_table`.

    Parameters
    ----------
    overlaps : Overlaps
    by : {"concession", "holder", "province"}
    value : str
        The row's ``conc_id``, holder or province (``"(unknown)"`` for a missing one).

    Returns
    -------
    DataFrame
        Rows of :func:`diligence_sites`, blocked sites first, then most workers.
    """
    members = _members(overlaps, by)
    positions = members.loc[members["group"].astype(str) == str(value), "site"].to_numpy()
    table = diligence_sites(overlaps).iloc[np.unique(positions)]
    order = table.assign(_workers=table["workers"].fillna(-1))
    order = order.sort_values(["blocked", "_workers", "site_id"],
                              ascending=[False, False, True], kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def site_links(overlaps: Overlaps) -> pd.DataFrame:
    """Every (site, concession) pair where the site lies inside the concession.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.DILIGENCE_LINK_COLUMNS`, by site then title.
    """
    inside = overlaps.pairs[overlaps.pairs["inside"]]
    links = pd.DataFrame({
        "site_id": overlaps.sites["site_id"].to_numpy()[inside["site"].to_numpy(dtype=int)],
        "conc_id": overlaps.concessions["conc_id"].astype(str).to_numpy()[
            inside["conc"].to_numpy(dtype=int)],
    })
    links = links.sort_values(["site_id", "conc_id"])
    return links[list(DILIGENCE_LINK_COLUMNS)].reset_index(drop=True)


def diligence_note() -> str:
    """What the due-diligence numbers mean, in the current language."""
    lines = [
        _("Due diligence for market access"),
        _("Qualification: the site's official validation (green: qualified; yellow: "
          "qualified with conditions; red: not to be sourced from); a site without one is "
          "not qualified. In the IPIS data it is the latest value recorded over the site's "
          "visits."),
        _("Traceability: sites covered by a traceability scheme (ITSCI); unknown counts as "
          "not covered."),
        _("Blocking red flags: armed actors present, children under 15 working, mercury used, "
          "as recorded at the site's latest visit; a site is blocked when any of them was "
          "recorded. Unknown counts as not recorded."),
        _("Per concession: the sites inside it (a site inside two titles counts for both). "
          "Per holder: the sites inside any of its titles, each once. Per province: every "
          "site in the province, inside a title or not."),
        _("site_concessions.csv lists every site inside every title, so each count can be "
          "checked."),
    ]
    return "\n".join(lines) + "\n"


def pack_note(info: Mapping[str, object]) -> str:
    """The pack's method note: the engine's (:func:`geo.export.method_note`) and what the
    due-diligence numbers mean."""
    return method_note(info) + "\n" + diligence_note()


def pack_tables(overlaps: Overlaps) -> dict[str, pd.DataFrame]:
    """The pack's tables by file name (without ``.csv``)."""
    return {
        "concessions": diligence_table(overlaps, "concession"),
        "holders": diligence_table(overlaps, "holder"),
        "provinces": diligence_table(overlaps, "province"),
        "sites": diligence_sites(overlaps),
        "site_concessions": site_links(overlaps),
    }


def pack_bytes(overlaps: Overlaps, info: Mapping[str, object]) -> bytes:
    """The due-diligence pack, a zip archive a buyer or refiner can check.

    Parameters
    ----------
    overlaps : Overlaps
    info : dict
        The :func:`geo.export.summary` of the analysis (sources, options, versions).

    Returns
    -------
    bytes
        A zip holding ``concessions.csv``, ``holders.csv``, ``provinces.csv``, ``sites.csv``
        and ``site_concessions.csv`` (text that a spreadsheet would run as a formula is
        neutralised), ``due_diligence.gpkg`` (layers ``concessions`` with their indicators,
        ``sites`` as points with their qualification and flags, and a ``method`` table) and
        ``METHOD.txt``.
    """
    tables = pack_tables(overlaps)
    note = pack_note(info)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, table in tables.items():
            archive.writestr(f"{name}.csv", csv_text(table))
        archive.writestr(PACK_GEOPACKAGE, _geopackage(overlaps, tables, note))
        archive.writestr("METHOD.txt", note)
    return buffer.getvalue()


# --- helpers -----------------------------------------------------------------------------


def _site_flags(overlaps: Overlaps) -> pd.DataFrame:
    """Per site position, 0/1: workers (count), qualification, coverage, flags, blocked."""
    measures = site_measures(overlaps)
    qualification = overlaps.sites["qualification"].astype(object).to_numpy()
    for value in QUALIFICATIONS:
        measures[value] = (qualification == value).astype(int)
    measures["not_qualified"] = 1 - measures[list(QUALIFICATIONS)].sum(axis=1)
    itsci = pd.Series(overlaps.sites["itsci"].to_numpy(), dtype="boolean")
    measures["itsci"] = itsci.fillna(False).astype(int).to_numpy()
    measures["blocked"] = measures[list(BLOCKING_FLAGS)].max(axis=1)
    return measures[list(_COUNTED)]


def _holder_keys(overlaps: Overlaps) -> np.ndarray:
    holders = overlaps.concessions["holder"].astype(object)
    return holders.where(holders.notna(), UNKNOWN).astype(str).to_numpy()


def _holder_of(overlaps: Overlaps) -> pd.Series:
    """Holder by ``conc_id`` (first row of a repeated id)."""
    conc = overlaps.concessions
    holders = pd.Series(conc["holder"].to_numpy(), index=conc["conc_id"].astype(str).to_numpy())
    return holders[~holders.index.duplicated()]


def _members(overlaps: Overlaps, by: str) -> pd.DataFrame:
    """Rows (``group``, ``site`` position): the sites each group counts, each once."""
    if by == "province":
        province = overlaps.sites["province"].astype(object)
        groups = province.where(province.notna(), UNKNOWN).astype(str).to_numpy()
        return pd.DataFrame({"group": groups, "site": np.arange(len(groups))})
    inside = overlaps.pairs[overlaps.pairs["inside"]]
    conc = inside["conc"].to_numpy(dtype=int)
    if by == "concession":
        groups = overlaps.concessions["conc_id"].astype(str).to_numpy()[conc]
        members = pd.DataFrame({"group": groups, "conc": conc,
                                "site": inside["site"].to_numpy(dtype=int)})
        return members.drop_duplicates(["conc", "site"])
    members = pd.DataFrame({"group": _holder_keys(overlaps)[conc],
                            "site": inside["site"].to_numpy(dtype=int)})
    return members.drop_duplicates(["group", "site"])


def _indicators(members: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """Sums of ``flags`` over each group's sites; indexed by concession position for the
    concession view (column ``conc``), else by group."""
    key = "conc" if "conc" in members else "group"
    joined = members.join(flags, on="site")
    table = pd.DataFrame({"sites": joined.groupby(key).size()})
    return table.join(joined.groupby(key)[list(_COUNTED)].sum())


def _with_shares(table: pd.DataFrame) -> pd.DataFrame:
    counts = ["sites", *_COUNTED]
    table[counts] = table[counts].astype(int)
    sites = table["sites"].where(table["sites"] > 0)
    table["itsci_pct"] = (100.0 * table["itsci"] / sites).fillna(0.0).round(2)
    table["blocked_pct"] = (100.0 * table["blocked"] / sites).fillna(0.0).round(2)
    return table


def _geopackage(overlaps: Overlaps, tables: Mapping[str, pd.DataFrame], note: str) -> bytes:
    """Concessions with their indicators, sites as points, and the method as a table."""
    conc = overlaps.concessions
    indicators = tables["concessions"].drop(columns=["name", "holder", "lic_type", "status"])
    keep = [c for c in ("conc_id", "name", "holder", "lic_type", "status", "expiry")
            if c in conc]
    layer = pd.DataFrame(conc[keep]).reset_index(drop=True)
    if "expiry" in layer:
        layer["expiry"] = pd.to_datetime(layer["expiry"], errors="coerce").dt.strftime("%Y-%m-%d")
    layer["conc_id"] = layer["conc_id"].astype(str)
    layer = layer.merge(indicators, on="conc_id", how="left")
    concessions = gpd.GeoDataFrame(
        layer, geometry=np.asarray(conc.geometry.values, dtype=object), crs=conc.crs)
    sites = tables["sites"].assign(seen=tables["sites"]["seen"].astype("string"))
    points = gpd.GeoDataFrame(
        sites, geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / PACK_GEOPACKAGE
        concessions.to_file(path, layer="concessions", driver="GPKG")
        points.to_file(path, layer="sites", driver="GPKG")
        pyogrio.write_dataframe(pd.DataFrame({"line": note.splitlines()}), path,
                                layer="method", driver="GPKG")
        return path.read_bytes()
