"""The concession dossier: everything about one concession, gathered from an analysis.

Its attributes, area and overlap, the sites and workers inside it and in each proximity ring
(by tenure class too), its red flags with the sites behind them, its trend by the year sites
were first seen, the table of its sites, and the shapes a map of it needs. Everything comes
from :class:`geo.pipeline.Analysis`; nothing is recomputed that the engine already holds.

A site counts in ring k of a concession when it is not inside that concession and its
geodesic distance to it falls in ring k (it may lie inside a neighbouring title). Workers
are 0 where unknown and a red flag counts where it is recorded as present
(:func:`geo.stats.site_measures`).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> from geo.pipeline import Analysis
>>> from geo.stats import concession_stats, totals
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
...                         geometry=[box(0, 0, 0.1, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "workers": [40, 15]},
...                          geometry=[Point(0.05, 0.05), Point(0.105, 0.05)], crs=4326)
>>> overlaps = compute_overlaps(conc, sites)
>>> dossier = concession_dossier(Analysis(overlaps, concession_stats(overlaps),
...                                       totals(overlaps)), "A")
>>> dossier.by_ring[["ring", "sites", "workers"]].values.tolist()
[[0, 1, 40], [1, 1, 15], [2, 0, 0], [3, 0, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import NotFoundError
from geo.i18n import _
from geo.overlap import ring_bands
from geo.pipeline import Analysis
from geo.schema import (
    DOSSIER_FLAG_COLUMNS,
    DOSSIER_FLAG_SITE_COLUMNS,
    DOSSIER_RING_COLUMNS,
    DOSSIER_SITE_COLUMNS,
    RED_FLAGS,
    TENURE_CLASSES,
    dossier_tenure_columns,
    dossier_year_columns,
    ring_columns,
)
from geo.stats import site_measures, sites_of_concession


@dataclass(frozen=True, eq=False)
class Dossier:
    """One concession and the artisanal sites inside and around it.

    Attributes
    ----------
    conc_id, name, holder, lic_type, status, province : str or None
        The concession's attributes, as the source wrote them (``lic_type`` normalised).
    expiry : Timestamp or None
    area_ha, overlap_ha, overlap_pct : float
        Geodesic area, overlap-zone area and its share of the concession (percent).
    rings_km : tuple of float
        Outer edges of the proximity rings.
    radius_m : float or None
        Footprint radius given to point sites (overlap areas count their circles).
    by_ring : DataFrame
        Columns :data:`geo.schema.DOSSIER_RING_COLUMNS`, one row per ring, inside first.
    by_tenure : DataFrame
        Columns :func:`geo.schema.dossier_tenure_columns`, one row per tenure class
        (:data:`geo.schema.TENURE_CLASSES`, all of them, in order).
    flags : DataFrame
        Columns :data:`geo.schema.DOSSIER_FLAG_COLUMNS`, one row per red flag.
    flag_sites : DataFrame
        Columns :data:`geo.schema.DOSSIER_FLAG_SITE_COLUMNS`: the sites behind each flag.
    by_year : DataFrame
        Columns :func:`geo.schema.dossier_year_columns`, one row per year in which a site
        of the dossier was first seen, sorted.
    sites : DataFrame
        Columns :data:`geo.schema.DOSSIER_SITE_COLUMNS`: inside first, then nearest.
    outline : GeoDataFrame
        The concession (``conc_id``, ``lic_type``, geometry).
    zones : GeoDataFrame
        Its overlap zones (:data:`geo.schema.ZONE_COLUMNS`).
    rings : GeoDataFrame
        Its ring bands (:func:`geo.overlap.ring_bands`).
    site_shapes : GeoDataFrame
        Per row of ``sites``: ``site_id``, ``ring``, ``flagged`` and the site's polygon, or
        its point for a point site.
    neighbours : GeoDataFrame
        Other concessions reaching into the outer ring (``conc_id``, ``lic_type``, geometry).
    """

    conc_id: str
    name: str | None
    holder: str | None
    lic_type: str
    status: str | None
    expiry: pd.Timestamp | None
    province: str | None
    area_ha: float
    overlap_ha: float
    overlap_pct: float
    rings_km: tuple[float, ...]
    radius_m: float | None
    by_ring: pd.DataFrame
    by_tenure: pd.DataFrame
    flags: pd.DataFrame
    flag_sites: pd.DataFrame
    by_year: pd.DataFrame
    sites: pd.DataFrame
    outline: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    rings: gpd.GeoDataFrame
    site_shapes: gpd.GeoDataFrame
    neighbours: gpd.GeoDataFrame

    @property
    def sites_in(self) -> int:
        """Sites inside the concession."""
        return int(self.by_ring["sites"].iloc[0])

    @property
    def sites_near(self) -> int:
        """Sites in its proximity rings (not inside it)."""
        return int(self.by_ring["sites"].iloc[1:].sum())

    @property
    def workers_in(self) -> int:
        """Workers at the sites inside (0 where unknown)."""
        return int(self.by_ring["workers"].iloc[0])

    @property
    def workers_near(self) -> int:
        """Workers at the sites in its rings (0 where unknown)."""
        return int(self.by_ring["workers"].iloc[1:].sum())

    @property
    def flagged_in(self) -> int:
        """Sites inside with at least one red flag."""
        inside = self.site_shapes["ring"].to_numpy() == 0
        return int((self.site_shapes["flagged"].to_numpy(dtype=bool) & inside).sum())

    @property
    def undated(self) -> int:
        """Sites of the dossier with no date first seen (left out of :attr:`by_year`)."""
        return int(self.sites["first_seen"].isna().sum())


def concession_dossier(analysis: Analysis, conc_id: str) -> Dossier:
    """Gather the dossier of one concession.

    Parameters
    ----------
    analysis : Analysis
        The overlaps and per-concession table (:func:`geo.pipeline.analyse`).
    conc_id : str
        The concession's id.

    Returns
    -------
    Dossier

    Raises
    ------
    NotFoundError
        No concession of the analysis has this id.
    """
    overlaps = analysis.overlaps
    concessions = overlaps.concessions
    matches = np.flatnonzero(concessions["conc_id"].astype(str).to_numpy() == str(conc_id))
    table = analysis.concession_table
    rows = table[table["conc_id"].astype(str) == str(conc_id)]
    if len(matches) == 0 or rows.empty:
        raise NotFoundError(
            _("There is no concession {title} among the concessions analysed; check the id "
              "(and the filters, if any).").format(title=repr(str(conc_id)))
        )
    concession, stats = concessions.iloc[matches[0]], rows.iloc[0]
    n_rings = len(overlaps.rings_km)
    sites, positions = _sites(analysis, str(conc_id))
    measures = site_measures(overlaps).iloc[positions].reset_index(drop=True)
    measures["ring"] = sites["ring"].to_numpy()
    outline = gpd.GeoDataFrame(
        {"conc_id": [str(conc_id)], "lic_type": [concession.get("lic_type")]},
        geometry=[concession.geometry], crs=concessions.crs,
    )
    rings = ring_bands(outline, overlaps.rings_km)
    return Dossier(
        conc_id=str(conc_id),
        name=_text(concession.get("name")),
        holder=_text(concession.get("holder")),
        lic_type=str(concession.get("lic_type")),
        status=_text(concession.get("status")),
        expiry=_date(concession.get("expiry")),
        province=_text(concession.get("province")),
        area_ha=float(stats["area_ha"]),
        overlap_ha=float(stats["overlap_ha"]),
        overlap_pct=float(stats["overlap_pct"]),
        rings_km=overlaps.rings_km,
        radius_m=overlaps.radius_m,
        by_ring=_by_ring(measures, overlaps.rings_km),
        by_tenure=_by_tenure(measures, sites["tenure"], n_rings),
        flags=_flags(measures, sites),
        flag_sites=_flag_sites(measures, sites),
        by_year=_by_year(measures, sites["first_seen"], n_rings),
        sites=sites,
        outline=outline,
        zones=overlaps.zones[overlaps.zones["conc_id"].astype(str) == str(conc_id)]
        .reset_index(drop=True),
        rings=rings,
        site_shapes=_site_shapes(analysis, sites, positions, measures),
        neighbours=_neighbours(concessions, matches, rings),
    )


# --- parts -------------------------------------------------------------------------------


def _sites(analysis: Analysis, conc_id: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The concession's sites (:func:`geo.stats.sites_of_concession`) with their ring and
    first date, and their positions in ``overlaps.sites``."""
    overlaps = analysis.overlaps
    table = sites_of_concession(overlaps, conc_id)
    edges = {"inside": 0, **{f"within {r:g} km": k
                             for k, r in enumerate(overlaps.rings_km, start=1)}}
    positions = pd.Index(overlaps.sites["site_id"].astype(str)).get_indexer(
        pd.Index(table["site_id"].astype(str)))
    table["ring"] = table["where"].map(edges).astype(int).to_numpy()
    table["first_seen"] = overlaps.sites["first_seen"].to_numpy()[positions]
    return table[list(DOSSIER_SITE_COLUMNS)], positions


def _by_ring(measures: pd.DataFrame, rings_km: tuple[float, ...]) -> pd.DataFrame:
    grouped = measures.groupby("ring").agg(
        sites=("workers", "size"), workers=("workers", "sum"),
        **{flag: (flag, "sum") for flag in RED_FLAGS},
    )
    table = grouped.reindex(range(len(rings_km) + 1), fill_value=0).astype(int)
    edges = np.array([0.0, 0.0, *rings_km])
    table.insert(0, "ring", table.index.to_numpy())
    table.insert(1, "inner_km", edges[:-1])
    table.insert(2, "outer_km", edges[1:])
    return table[list(DOSSIER_RING_COLUMNS)].reset_index(drop=True)


def _by_tenure(measures: pd.DataFrame, tenure: pd.Series, n_rings: int) -> pd.DataFrame:
    frame = measures.assign(tenure=tenure.astype(str).to_numpy())
    counts = pd.crosstab(frame["tenure"], frame["ring"]).reindex(
        index=list(TENURE_CLASSES), columns=range(n_rings + 1), fill_value=0)
    table = pd.DataFrame({"tenure": list(TENURE_CLASSES)})
    table["sites_in"] = counts[0].to_numpy()
    for k, name in enumerate(ring_columns(n_rings), start=1):
        table[name] = counts[k].to_numpy()
    near = frame["ring"] > 0
    summed = frame.groupby([frame["tenure"], near])["workers"].sum()
    workers = summed.unstack(fill_value=0).reindex(
        index=list(TENURE_CLASSES), columns=[False, True], fill_value=0)
    table["workers_in"] = workers[False].to_numpy()
    table["workers_near"] = workers[True].to_numpy()
    integer = [c for c in table.columns if c != "tenure"]
    table[integer] = table[integer].astype(int)
    return table[dossier_tenure_columns(n_rings)]


def _flags(measures: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    inside = measures["ring"].to_numpy() == 0
    workers = measures["workers"].to_numpy()
    flagged = measures[list(RED_FLAGS)].to_numpy(dtype=bool)
    recorded = sites[list(RED_FLAGS)].notna().to_numpy(dtype=bool)
    table = pd.DataFrame({
        "flag": list(RED_FLAGS),
        "sites_in": (flagged & inside[:, None]).sum(axis=0),
        "sites_near": (flagged & ~inside[:, None]).sum(axis=0),
        "workers_in": (flagged * (workers * inside)[:, None]).sum(axis=0),
        "workers_near": (flagged * (workers * ~inside)[:, None]).sum(axis=0),
        "not_recorded": (~recorded).sum(axis=0),
    })
    integer = [c for c in table.columns if c != "flag"]
    table[integer] = table[integer].astype(int)
    return table[list(DOSSIER_FLAG_COLUMNS)]


def _flag_sites(measures: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    """One row per (flag, site) where the flag is present, flags in their order, then the
    sites' order (inside first, then nearest)."""
    wide = sites[["site_id", "name", "ring", "dist_km", "workers"]].assign(
        order=np.arange(len(sites)), **{flag: measures[flag].to_numpy() for flag in RED_FLAGS})
    long = wide.melt(id_vars=["site_id", "name", "ring", "dist_km", "workers", "order"],
                     value_vars=list(RED_FLAGS), var_name="flag", value_name="present")
    long = long[long["present"].astype(bool)]
    long = long.assign(flag_order=long["flag"].map({f: i for i, f in enumerate(RED_FLAGS)}))
    long = long.sort_values(["flag_order", "order"])
    return long[list(DOSSIER_FLAG_SITE_COLUMNS)].reset_index(drop=True)


def _by_year(measures: pd.DataFrame, first_seen: pd.Series, n_rings: int) -> pd.DataFrame:
    years = pd.to_datetime(first_seen, errors="coerce").dt.year.to_numpy()
    frame = measures.assign(year=years).dropna(subset=["year"])
    columns = dossier_year_columns(n_rings)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=int) for c in columns})
    frame["year"] = frame["year"].astype(int)
    counts = pd.crosstab(frame["year"], frame["ring"]).reindex(
        columns=range(n_rings + 1), fill_value=0)
    table = pd.DataFrame({"year": counts.index.to_numpy()})
    table["sites_in"] = counts[0].to_numpy()
    for k, name in enumerate(ring_columns(n_rings), start=1):
        table[name] = counts[k].to_numpy()
    summed = frame.groupby(["year", frame["ring"] > 0])["workers"].sum()
    workers = summed.unstack(fill_value=0).reindex(
        index=counts.index, columns=[False, True], fill_value=0)
    table["workers_in"] = workers[False].to_numpy()
    table["workers_near"] = workers[True].to_numpy()
    return table[columns].astype(int)


def _site_shapes(
    analysis: Analysis, sites: pd.DataFrame, positions: np.ndarray, measures: pd.DataFrame
) -> gpd.GeoDataFrame:
    overlaps = analysis.overlaps
    table = overlaps.sites.iloc[positions]
    footprints = np.asarray(overlaps.footprints.values, dtype=object)[positions]
    points = shapely.points(table["lon"].to_numpy(dtype=float),
                            table["lat"].to_numpy(dtype=float))
    polygon = table["is_polygon"].to_numpy(dtype=bool) & shapely.is_geometry(footprints)
    geometry = np.where(polygon, footprints, points)
    return gpd.GeoDataFrame(
        {"site_id": sites["site_id"].to_numpy(), "ring": sites["ring"].to_numpy(),
         "flagged": measures[list(RED_FLAGS)].to_numpy().any(axis=1)},
        geometry=list(geometry), crs=4326,
    )


def _neighbours(
    concessions: gpd.GeoDataFrame, matches: np.ndarray, rings: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Other concessions that reach into the outer ring band's extent."""
    extent = shapely.box(*rings.total_bounds) if len(rings) else concessions.geometry.iloc[
        matches[0]].envelope
    found = concessions.sindex.query(extent, predicate="intersects")
    found = np.setdiff1d(found, matches)
    near = concessions.iloc[found]
    return gpd.GeoDataFrame(
        {"conc_id": near["conc_id"].astype(str).to_numpy(),
         "lic_type": near["lic_type"].to_numpy()},
        geometry=near.geometry.values, crs=concessions.crs,
    )


def _text(value: object) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _date(value: Any) -> pd.Timestamp | None:
    stamp = pd.to_datetime(value, errors="coerce")
    return None if pd.isna(stamp) else pd.Timestamp(stamp)
