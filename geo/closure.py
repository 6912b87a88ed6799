"""Closure planning: titles expiring soon (or already expired) with artisanal sites.

A title is listed when it has an ``expiry`` date, has artisanal sites inside it or within
``near_km`` of it, and

* ``expiring``: its expiry falls from the reference date ``as_of`` (included) up to
  ``within_years`` calendar years later (included), or
* ``expired``: its expiry is before ``as_of`` (listed unless ``include_expired`` is False).

``years_left`` is ``(expiry - as_of)`` in days / 365.25, rounded to 2 decimals: negative for
expired titles. Per title: sites and workers inside (unknown worker counts as 0), sites and
workers near (within ``near_km``, not inside this title; such a site may be inside a
neighbouring title), the sites inside with mercury, armed actors or child labour, and the
sites inside / near with at least one of those red flags. The province is that of
:func:`geo.indicators.concession_provinces`.

Rows: expiring titles first, soonest first, then expired titles, most recently expired first.

Examples
--------
>>> import datetime as dt
>>> import geopandas as gpd
>>> import pandas as pd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame(
...     {"conc_id": ["A", "B"], "holder": ["H", "H"], "lic_type": ["exploitation"] * 2,
...      "expiry": pd.to_datetime(["2021-01-01", "2040-01-01"])},
...     geometry=[box(0, 0, 0.1, 0.1), box(1, 1, 1.1, 1.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1", "s2"], "workers": [40, 5]},
...                          geometry=[Point(0.05, 0.05), Point(1.05, 1.05)], crs=4326)
>>> table = closure_table(compute_overlaps(conc, sites), as_of=dt.date(2020, 1, 1))
>>> table[["conc_id", "years_left", "expiry_status", "sites_in", "workers_in"]]
  conc_id  years_left expiry_status  sites_in  workers_in
0       A         1.0      expiring         1          40
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo.errors import SchemaError
from geo.i18n import _
from geo.indicators import concession_provinces
from geo.overlap import Overlaps
from geo.schema import CLOSURE_COLUMNS, RED_FLAGS
from geo.stats import FLAG_COUNTS, site_measures

#: Default closure window, in years from the reference date.
DEFAULT_WITHIN_YEARS = 5
_DAYS_PER_YEAR = 365.25


def closure_table(
    overlaps: Overlaps,
    *,
    within_years: int = DEFAULT_WITHIN_YEARS,
    as_of: dt.date | None = None,
    near_km: float | None = None,
    include_expired: bool = True,
) -> pd.DataFrame:
    """Titles expiring within ``within_years`` of ``as_of`` (and expired ones) with sites.

    Parameters
    ----------
    overlaps : Overlaps
        The engine's result (:func:`geo.overlap.compute_overlaps`).
    within_years : int, keyword-only
        The closure window, in calendar years from ``as_of``.
    as_of : date, optional, keyword-only
        The reference date; today when omitted.
    near_km : float, optional, keyword-only
        Sites within this distance (km) of a title count as near it; at most the outer
        proximity ring; the outer ring when omitted.
    include_expired : bool, keyword-only
        List the titles already expired at ``as_of`` (``expiry_status`` ``"expired"``).

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.CLOSURE_COLUMNS`, one row per title listed.

    Raises
    ------
    SchemaError
        When ``within_years`` is negative or ``near_km`` is not within the outer ring.
    """
    reference = pd.Timestamp(as_of or dt.date.today())
    window = _check_window(within_years)
    conc = overlaps.concessions
    expiry = pd.to_datetime(pd.Series(conc["expiry"].to_numpy()), errors="coerce")
    days = (expiry - reference).dt.days
    expired = (days < 0).to_numpy()
    expiring = ~expired & (expiry <= reference + pd.DateOffset(years=window)).to_numpy()
    chosen = expiring | (expired & include_expired)
    counts = site_counts(overlaps, near_km=near_km)
    chosen &= (counts["sites_in"] + counts["sites_near"]).to_numpy() > 0
    table = pd.DataFrame({
        column: conc[column].to_numpy() if column in conc else None
        for column in ("conc_id", "name", "holder", "lic_type", "status")
    })
    table["province"] = concession_provinces(overlaps).to_numpy()
    table["expiry"] = expiry.to_numpy()
    table["years_left"] = (days / _DAYS_PER_YEAR).round(2).to_numpy()
    table["expiry_status"] = np.where(expired, "expired", "expiring")
    table = pd.concat([table, counts], axis=1)[chosen]
    order = np.lexsort((table["conc_id"].astype(str).to_numpy(),
                        table["years_left"].abs().to_numpy(),
                        table["expiry_status"].eq("expired").to_numpy()))
    return table.iloc[order].reset_index(drop=True)[list(CLOSURE_COLUMNS)]


def site_counts(overlaps: Overlaps, *, near_km: float | None = None) -> pd.DataFrame:
    """Per concession (by position): sites and workers inside and near, and red flags.

    Returns
    -------
    DataFrame
        Columns ``sites_in``, ``workers_in``, ``sites_near``, ``workers_near``,
        ``mercury_in``, ``armed_in``, ``child_in``, ``flagged_in``, ``flagged_near``;
        index ``0 .. n-1``.
    """
    n = len(overlaps.concessions)
    rows = _concerned_pairs(overlaps, near_km)
    measures = site_measures(overlaps)
    measures["flagged"] = (measures[list(RED_FLAGS)].sum(axis=1) > 0).astype(int)
    rows = rows.join(measures, on="site")
    inside, near = rows[rows["inside"]].groupby("conc"), rows[~rows["inside"]].groupby("conc")
    table = pd.DataFrame(index=range(n))
    table["sites_in"] = inside.size()
    table["workers_in"] = inside["workers"].sum()
    table["sites_near"] = near.size()
    table["workers_near"] = near["workers"].sum()
    for flag, column in FLAG_COUNTS.items():
        table[column] = inside[flag].sum()
    table["flagged_in"] = inside["flagged"].sum()
    table["flagged_near"] = near["flagged"].sum()
    return table.fillna(0).astype(int)


def concerned_sites(
    overlaps: Overlaps, conc_ids: Sequence[str], *, near_km: float | None = None
) -> np.ndarray:
    """Positions (in ``overlaps.sites``) of the sites inside or near the titles
    ``conc_ids``, sorted."""
    wanted = np.isin(overlaps.concessions["conc_id"].astype(str).to_numpy(),
                     [str(c) for c in conc_ids])
    rows = _concerned_pairs(overlaps, near_km)
    rows = rows[wanted[rows["conc"].to_numpy(dtype=int)]]
    return np.unique(rows["site"].to_numpy(dtype=int))


def concerned_totals(
    overlaps: Overlaps, conc_ids: Sequence[str], *, near_km: float | None = None
) -> dict[str, int]:
    """Sites inside or near the titles ``conc_ids``, each counted once: ``sites``,
    ``workers`` (unknown as 0) and ``flagged`` (with at least one red flag)."""
    positions = concerned_sites(overlaps, conc_ids, near_km=near_km)
    measures = site_measures(overlaps).iloc[positions]
    flagged = measures[list(RED_FLAGS)].sum(axis=1) > 0
    return {"sites": len(positions), "workers": int(measures["workers"].sum()),
            "flagged": int(flagged.sum())}


def expiry_summary(overlaps: Overlaps, *, as_of: dt.date | None = None) -> dict[str, object]:
    """The layer's expiry dates at a glance: ``titles``, ``dated`` (with an expiry),
    ``expired`` (before ``as_of``, today when omitted), ``first`` and ``last`` expiry
    (Timestamps, None without dates)."""
    reference = pd.Timestamp(as_of or dt.date.today())
    expiry = pd.to_datetime(pd.Series(overlaps.concessions["expiry"].to_numpy()),
                            errors="coerce").dropna()
    return {
        "titles": len(overlaps.concessions),
        "dated": len(expiry),
        "expired": int((expiry < reference).sum()),
        "first": expiry.min() if len(expiry) else None,
        "last": expiry.max() if len(expiry) else None,
    }


def titles_without_expiry(overlaps: Overlaps, *, near_km: float | None = None) -> int:
    """How many titles have sites inside or near but no expiry date (never listed)."""
    counts = site_counts(overlaps, near_km=near_km)
    with_sites = (counts["sites_in"] + counts["sites_near"]).to_numpy() > 0
    expiry = pd.to_datetime(pd.Series(overlaps.concessions["expiry"].to_numpy()),
                            errors="coerce")
    return int((with_sites & expiry.isna().to_numpy()).sum())


def closure_note(*, within_years: int, as_of: dt.date, near_km: float,
                 include_expired: bool) -> list[str]:
    """The lines of the method note specific to the closure table, translated."""
    lines = [
        _("Closure window: titles whose expiry falls from {date} up to {years} years later, "
          "with artisanal sites inside or within {km} km.").format(
              date=as_of.isoformat(), years=within_years, km=f"{near_km:g}"),
        _("Years left = (expiry - reference date) in days / 365.25; negative when expired."),
        _("Sites near: within the distance chosen of the title but not inside it (they may "
          "be inside a neighbouring title). Red flags: sites with mercury use, armed actors "
          "or children under 15 working; unknown worker counts count as 0."),
    ]
    if include_expired:
        lines.append(_("Titles already expired at the reference date are listed too, with the "
                       "status Expired."))
    return lines


# --- helpers -----------------------------------------------------------------------------


def _near_distance(overlaps: Overlaps, near_km: float | None) -> float:
    """``near_km`` checked against the rings (the outer ring when None)."""
    outer = float(overlaps.rings_km[-1]) if len(overlaps.rings_km) else 0.0
    if near_km is None:
        return outer
    if not (np.isfinite(near_km) and 0 < near_km <= outer):
        raise SchemaError(
            _("The distance for sites near a title must be above 0 and at most the outer "
              "ring, {outer} km; got {km}.").format(outer=f"{outer:g}", km=repr(near_km))
        )
    return float(near_km)


def _check_window(within_years: int) -> int:
    if int(within_years) != within_years or within_years < 0:
        raise SchemaError(
            _("The closure window must be a whole number of years, 0 or more; got {years}.")
            .format(years=repr(within_years))
        )
    return int(within_years)


def _concerned_pairs(overlaps: Overlaps, near_km: float | None) -> pd.DataFrame:
    """(site, concession) pairs inside, or near within ``near_km``."""
    distance = _near_distance(overlaps, near_km)
    pairs = overlaps.pairs
    kept = pairs["inside"].to_numpy(dtype=bool) | (pairs["dist_km"].to_numpy() <= distance)
    return pd.DataFrame({
        "site": pairs["site"].to_numpy(dtype=int)[kept],
        "conc": pairs["conc"].to_numpy(dtype=int)[kept],
        "inside": pairs["inside"].to_numpy(dtype=bool)[kept],
    })
