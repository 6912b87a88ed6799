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
import numpy as np
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


#: Columns of the concessions each filter keeps values of, in :class:`Filters`' order.
_CONCESSION_FILTERS = (("holder", "holders"), ("lic_type", "lic_types"), ("status", "statuses"))


@dataclass(frozen=True)
class FilterIndex:
    """The columns the filters look at, read once: masks of the rows any :class:`Filters`
    keeps in a few milliseconds, the same rows as :func:`filter_concessions` and
    :func:`filter_sites`.

    Attributes
    ----------
    n_concessions, n_sites : int
    codes : dict
        Per filtered column (``holder``, ``lic_type``, ``status``, ``province``), the code
        of each row's value and the values (:func:`pandas.factorize`; missing is -1).
    gold : ndarray of bool
        Sites known to produce gold.
    year : ndarray of float
        Year of each site's ``seen`` (NaN without a date).

    Examples
    --------
    >>> from shapely import box
    >>> conc = gpd.GeoDataFrame({"holder": ["A", "B"], "lic_type": ["exploitation", "other"],
    ...                          "status": ["Actif", "Actif"]},
    ...                         geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)], crs=4326)
    >>> sites = pd.DataFrame({"province": ["P", None], "seen": ["2015-01-01", None]})
    >>> conc_keep, site_keep = FilterIndex.of(conc, sites).masks(
    ...     Filters(holders=("B",), years=(2014, 2016)))
    >>> conc_keep.tolist(), site_keep.tolist()
    ([False, True], [True, False])
    """

    n_concessions: int
    n_sites: int
    codes: dict[str, tuple[np.ndarray, np.ndarray]]
    gold: np.ndarray
    year: np.ndarray

    @classmethod
    def of(cls, concessions: pd.DataFrame, sites: pd.DataFrame) -> FilterIndex:
        """Read the filtered columns of ``concessions`` and ``sites``."""
        codes = {column: _codes(concessions, column) for column, _name in _CONCESSION_FILTERS}
        codes["province"] = _codes(sites, "province")
        gold = (sites["gold"].fillna(False).astype(bool).to_numpy() if "gold" in sites
                else np.zeros(len(sites), dtype=bool))
        year = (pd.to_datetime(sites["seen"], errors="coerce").dt.year.to_numpy(dtype=float)
                if "seen" in sites else np.full(len(sites), np.nan))
        return cls(len(concessions), len(sites), codes, gold, year)

    def masks(self, filters: Filters) -> tuple[np.ndarray, np.ndarray]:
        """Masks of the concessions and of the sites ``filters`` keep."""
        conc_keep = np.ones(self.n_concessions, dtype=bool)
        for column, name in _CONCESSION_FILTERS:
            conc_keep &= self._isin(column, getattr(filters, name))
        site_keep = self._isin("province", filters.provinces)
        if filters.gold_only:
            site_keep &= self.gold
        if filters.years is not None:
            low, high = filters.years
            site_keep &= (self.year >= low) & (self.year <= high)
        return conc_keep, site_keep

    def _isin(self, column: str, chosen: tuple[str, ...]) -> np.ndarray:
        """Rows whose ``column`` is one of ``chosen`` (every row when nothing is chosen)."""
        codes, values = self.codes[column]
        if not chosen:
            return np.ones(len(codes), dtype=bool)
        wanted = np.flatnonzero(pd.Index(values).isin(list(chosen)))
        return np.isin(codes, wanted)


def _codes(frame: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pandas.factorize` of a column (every row missing when there is none)."""
    if column not in frame:
        return np.full(len(frame), -1, dtype=np.int64), np.array([], dtype=object)
    codes, values = pd.factorize(frame[column])
    return np.asarray(codes, dtype=np.int64), np.asarray(values, dtype=object)


def choices(values: pd.Series) -> list[str]:
    """Sorted distinct non-empty values of a column, for a filter's options."""
    return sorted(str(v) for v in values.dropna().unique() if str(v).strip())
