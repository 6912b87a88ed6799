"""Attribute filters applied to both layers before the overlap is computed.

Filtering the inputs (rather than the results) keeps every number consistent: a site's
tenure, the rings and the union-based totals all refer to the concessions kept.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> conc = gpd.GeoDataFrame({"holder": ["A", "B"], "lic_type": ["exploitation", "other"],
...                          "status": ["Actif", "Actif"]},
...                         geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)], crs=4326)
>>> len(filter_concessions(conc, Filters(holders=("A",))))
1
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd


@dataclass(frozen=True)
class Filters:
    """What to keep; an empty selection keeps everything.

    Attributes
    ----------
    holders, lic_types, statuses : tuple of str
        Concession holders, licence types (:data:`geo.schema.LIC_TYPES`) and statuses.
    provinces : tuple of str
        Site provinces.
    gold_only : bool
        Keep only sites known to produce gold.
    years : (int, int) or None
        Keep sites whose ``seen`` year lies in this closed range (sites with no date are
        left out when a range is set).
    """

    holders: tuple[str, ...] = ()
    lic_types: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    provinces: tuple[str, ...] = ()
    gold_only: bool = False
    years: tuple[int, int] | None = None

    @property
    def active(self) -> bool:
        """True when the filters leave anything out."""
        return self != Filters()


def filter_concessions(concessions: gpd.GeoDataFrame, filters: Filters) -> gpd.GeoDataFrame:
    """The concessions that pass ``filters`` (holder, licence type, status)."""
    keep = pd.Series(True, index=concessions.index)
    for column, chosen in (("holder", filters.holders), ("lic_type", filters.lic_types),
                           ("status", filters.statuses)):
        if chosen:
            keep &= concessions[column].isin(chosen)
    return concessions[keep]


def filter_sites(sites: gpd.GeoDataFrame, filters: Filters) -> gpd.GeoDataFrame:
    """The sites that pass ``filters`` (province, gold, year seen)."""
    keep = pd.Series(True, index=sites.index)
    if filters.provinces:
        keep &= sites["province"].isin(filters.provinces)
    if filters.gold_only:
        keep &= sites["gold"].fillna(False).astype(bool)
    if filters.years is not None:
        year = pd.to_datetime(sites["seen"], errors="coerce").dt.year
        keep &= year.between(*filters.years).fillna(False).astype(bool)
    return sites[keep]


def choices(values: pd.Series) -> list[str]:
    """Sorted distinct non-empty values of a column, for a filter's options."""
    return sorted(str(v) for v in values.dropna().unique() if str(v).strip())
