"""Company and province indicators: one ranked row per holder or per province.

Each row gathers the concessions of one holder (or of one province) and reports:

* ``concessions`` and ``area_ha``, the licensed area: the area of the union of the group's
  titles, so land under two of its titles is counted once;
* ``overlap_ha``: the union of the group's overlap zones, and ``overlap_pct``, its share of
  the licensed area;
* ``sites_in`` / ``workers_in``: artisanal sites inside at least one of the group's titles,
  and their workers (unknown counts as 0); ``sites_near`` / ``workers_near``: sites within
  the outer proximity ring of one of its titles but inside none of them. A site inside two
  titles of the same holder counts once for the holder;
* red flags: ``mercury_in``, ``armed_in``, ``child_in`` count the sites inside with mercury,
  armed actors, children under 15 working; ``flagged_in`` / ``flagged_near`` count the sites
  inside / near with at least one of the three;
* trend: ``sites_recent`` counts the sites inside or near whose ``first_seen`` falls in the
  last ``recent_years`` calendar years of the data (the years from ``latest - recent_years +
  1`` to ``latest``, where ``latest`` is the latest year of ``first_seen`` among all analysed
  sites); ``sites_earlier`` those first seen before; ``recent_pct`` is the recent share of
  the dated ones. Sites without ``first_seen`` count in neither.

Rows are ranked by overlap (ha), then sites inside, then name; ``rank`` numbers them.

Province of a concession: its own ``province`` value when the concession layer has one;
otherwise (the CAMI titles carry none) the province that most of the sites inside it or in
its rings report, ties broken alphabetically; ``(unknown)`` when no such site has a province.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame({"conc_id": ["A", "B"], "holder": ["H", "H"],
...                          "lic_type": ["exploitation", "exploration"]},
...                         geometry=[box(0, 0, 0.1, 0.1), box(0.05, 0, 0.15, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1"], "workers": [40], "province": ["P"]},
...                          geometry=[Point(0.07, 0.05)], crs=4326)
>>> table = indicators(compute_overlaps(conc, sites), "holder")
>>> table[["rank", "holder", "concessions", "sites_in", "workers_in"]]
   rank holder  concessions  sites_in  workers_in
0     1      H            2         1          40
>>> concession_provinces(compute_overlaps(conc, sites)).tolist()
['P', 'P']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from geo.errors import SchemaError
from geo.i18n import _
from geo.overlap import Overlaps
from geo.schema import RED_FLAGS, indicator_columns
from geo.stats import FLAG_COUNTS, percent, site_measures, union_area_by

IndicatorGroup = Literal["holder", "province"]
#: Name of the group of concessions without a holder or a province.
UNKNOWN = "(unknown)"
#: Default length of the "recent" period of the trend, in calendar years.
DEFAULT_RECENT_YEARS = 3


def indicators(
    overlaps: Overlaps,
    by: IndicatorGroup = "holder",
    *,
    recent_years: int = DEFAULT_RECENT_YEARS,
) -> pd.DataFrame:
    """Ranked indicators per holder or per province of the concessions.

    Parameters
    ----------
    overlaps : Overlaps
        The engine's result (:func:`geo.overlap.compute_overlaps`).
    by : {"holder", "province"}
        Group the concessions by holder, or by province (:func:`concession_provinces`).
    recent_years : int, keyword-only
        Length in calendar years of the trend's recent period (see the module's notes).

    Returns
    -------
    DataFrame
        Columns :func:`geo.schema.indicator_columns` (``rank``, the group, then
        :data:`geo.schema.INDICATOR_COLUMNS`), ranked by ``overlap_ha`` then ``sites_in``.

    Raises
    ------
    SchemaError
        When ``by`` is not a known grouping or ``recent_years`` is below 1.
    """
    start = trend_start_year(overlaps, recent_years)
    keys = group_keys(overlaps, by)
    table = _area_columns(overlaps, keys)
    rows = _group_sites(overlaps, keys, start)
    inside, near = rows[rows["inside"]], rows[~rows["inside"]]
    by_inside, by_near, by_all = (part.groupby("group") for part in (inside, near, rows))
    table["sites_in"] = by_inside.size()
    table["workers_in"] = by_inside["workers"].sum()
    table["sites_near"] = by_near.size()
    table["workers_near"] = by_near["workers"].sum()
    for flag, column in FLAG_COUNTS.items():
        table[column] = by_inside[flag].sum()
    table["flagged_in"] = by_inside["flagged"].sum()
    table["flagged_near"] = by_near["flagged"].sum()
    table["sites_recent"] = by_all["recent"].sum()
    table["sites_earlier"] = by_all["earlier"].sum()
    counts = [c for c in table.columns if c.startswith(("sites_", "workers_", "flagged_"))
              or c in FLAG_COUNTS.values()]
    table[counts] = table[counts].reindex(table.index).fillna(0).astype(int)
    dated = table["sites_recent"] + table["sites_earlier"]
    table["recent_pct"] = percent(table["sites_recent"], dated)
    return _ranked(table, by)


def concession_provinces(overlaps: Overlaps) -> pd.Series:
    """Province of each concession, aligned by position with ``overlaps.concessions``.

    A concession's own ``province`` when the layer gives one; otherwise the province most of
    the sites inside it or in its rings report (ties: alphabetical first); else
    :data:`UNKNOWN`.

    Returns
    -------
    Series
        Strings, index ``0 .. n-1`` (concession positions).
    """
    conc = overlaps.concessions
    n = len(conc)
    own = _clean_text(conc["province"] if "province" in conc else pd.Series([None] * n))
    pairs = overlaps.pairs
    votes = pd.DataFrame({
        "conc": pairs["conc"].to_numpy(dtype=int),
        "province": _clean_text(overlaps.sites["province"]).to_numpy()[
            pairs["site"].to_numpy(dtype=int)],
    }).dropna()
    tally = votes.groupby(["conc", "province"]).size().rename("n").reset_index()
    tally = tally.sort_values(["conc", "n", "province"], ascending=[True, False, True])
    winner = tally.drop_duplicates("conc").set_index("conc")["province"]
    derived = winner.reindex(range(n))
    result = pd.Series(own.to_numpy(), index=range(n)).fillna(derived).fillna(UNKNOWN)
    return result.astype(str)


def group_keys(overlaps: Overlaps, by: IndicatorGroup) -> np.ndarray:
    """The group of each concession (by position): its holder or its province, as text."""
    if by == "holder":
        holders = _clean_text(overlaps.concessions["holder"])
        return holders.fillna(UNKNOWN).astype(str).to_numpy(dtype=object)
    if by == "province":
        return concession_provinces(overlaps).to_numpy(dtype=object)
    raise SchemaError(
        _("Indicators are grouped by 'holder' or 'province', got {by}.").format(by=repr(by))
    )


def trend_start_year(overlaps: Overlaps, recent_years: int = DEFAULT_RECENT_YEARS) -> int | None:
    """First year of the trend's recent period: ``latest - recent_years + 1``, where
    ``latest`` is the latest year of ``first_seen`` among the sites; None without dates.

    Raises
    ------
    SchemaError
        When ``recent_years`` is below 1.
    """
    if int(recent_years) != recent_years or recent_years < 1:
        raise SchemaError(
            _("The recent period must be a whole number of years, 1 or more; got {years}.")
            .format(years=repr(recent_years))
        )
    years = _first_seen_years(overlaps).dropna()
    if years.empty:
        return None
    return int(years.max()) - int(recent_years) + 1


def indicator_note(by: IndicatorGroup, *, start_year: int | None,
                   rings_km: Sequence[float]) -> list[str]:
    """The lines of the method note specific to the indicator table, translated."""
    outer = f"{rings_km[-1]:g}" if len(rings_km) else "0"
    lines = [
        _("Licensed area: the union of the group's titles (land under two titles counted "
          "once); overlap: the union of its overlap zones; overlap share = overlap / "
          "licensed area."),
        _("Sites inside: inside at least one of the group's titles, counted once per group. "
          "Sites near: within {outer} km of one of its titles (the outer ring) but inside "
          "none of them. Unknown worker counts count as 0.").format(outer=outer),
        _("Red flags: sites inside (or near) with mercury use, armed actors or children "
          "under 15 working."),
    ]
    if start_year is None:
        lines.append(_("Trend: the sites carry no first-seen dates."))
    else:
        lines.append(_("Trend: sites inside or near first seen in {start} or later (recent) "
                       "versus before {start} (earlier), by the sites' first-seen date; "
                       "undated sites count in neither.").format(start=start_year))
    if by == "province":
        lines.append(_("Province of a title: its own province when the concession layer "
                       "gives one; otherwise the province most of the sites inside it or in "
                       "its rings report (ties: alphabetical), else (unknown)."))
    lines.append(_("Ranked by overlap (ha), then sites inside."))
    return lines


def _area_columns(overlaps: Overlaps, keys: np.ndarray) -> pd.DataFrame:
    """Per group: concessions, union area, union overlap and its share."""
    conc = overlaps.concessions
    table = pd.DataFrame({"concessions": pd.Series(keys).value_counts()})
    conc_geoms = np.asarray(conc.geometry.values, dtype=object)
    table["area_ha"] = union_area_by(conc_geoms, keys).reindex(table.index).fillna(0.0)
    zone_keys = pd.Series(keys, index=conc["conc_id"].astype(str).to_numpy())
    zones = overlaps.zones
    zone_groups = zone_keys.reindex(zones["conc_id"].astype(str)).to_numpy(dtype=object)
    overlap = union_area_by(np.asarray(zones.geometry.values, dtype=object), zone_groups)
    table["overlap_ha"] = overlap.reindex(table.index).fillna(0.0)
    table["overlap_pct"] = percent(table["overlap_ha"], table["area_ha"])
    return table


def _group_sites(overlaps: Overlaps, keys: np.ndarray, start_year: int | None) -> pd.DataFrame:
    """One row per (group, site) inside or near the group's titles: ``inside`` when inside
    one of them, with the site's workers, red flags and trend period."""
    pairs = overlaps.pairs
    rows = pd.DataFrame({
        "group": keys[pairs["conc"].to_numpy(dtype=int)],
        "site": pairs["site"].to_numpy(dtype=int),
        "inside": pairs["inside"].to_numpy(dtype=bool),
    })
    rows = rows.sort_values("inside", ascending=False, kind="stable")
    rows = rows.drop_duplicates(["group", "site"]).reset_index(drop=True)
    measures = site_measures(overlaps)
    measures["flagged"] = (measures[list(RED_FLAGS)].sum(axis=1) > 0).astype(int)
    years = _first_seen_years(overlaps)
    dated = years.notna().to_numpy()
    recent = dated & (years.fillna(0).to_numpy() >= (start_year or 0))
    measures["recent"] = recent.astype(int)
    measures["earlier"] = (dated & ~recent).astype(int)
    return rows.join(measures, on="site")


def _ranked(table: pd.DataFrame, by: str) -> pd.DataFrame:
    table = table.rename_axis(by).reset_index()
    table = table.sort_values(["overlap_ha", "sites_in", by], ascending=[False, False, True],
                              kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table[indicator_columns(by)]


def _first_seen_years(overlaps: Overlaps) -> pd.Series:
    sites = overlaps.sites
    column = sites["first_seen"] if "first_seen" in sites else sites["seen"]
    return pd.to_datetime(pd.Series(column.to_numpy()), errors="coerce").dt.year


def _clean_text(values: pd.Series) -> pd.Series:
    """Text values stripped, with empty and missing values as None."""
    text = pd.Series(values.to_numpy(dtype=object)).astype("string").str.strip()
    text = text.mask(text == "")
    return text.astype(object).where(text.notna(), None)

