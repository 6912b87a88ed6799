"""In-migration: artisanal sites and workers per year inside each concession and in its rings.

Two sources of time are used:

* the site layer: each site's ``first_seen`` (when it appeared), ``seen`` (its latest visit)
  and the ``workers`` counted then;
* repeated visits, where the data has them: a visits table (:func:`load_visits`; the bundled
  IPIS visits file is :data:`BUNDLED_VISITS`), joined to the site layer on ``site_id``.
  Visits of sites that are not in the layer are ignored; a site without visits falls back to
  one visit at its ``seen`` date with the layer's ``workers``.

Definitions, per calendar year ``Y``:

* a site's **first year** is the year of the earliest of its ``first_seen``, its ``seen``
  and its visits; a site with none of these dates is *undated* and left out;
* **sites known** in ``Y``: sites whose first year is ``Y`` or before;
* **new sites** in ``Y``: sites whose first year is ``Y``;
* **sites visited** in ``Y``: sites with a visit in ``Y``;
* **workers visited** in ``Y``: over the sites visited in ``Y``, the workers of each one's
  last visit that year that counted workers (a visit without a count adds nothing);
* **workers known** in ``Y``: over the sites known in ``Y``, each one's latest count at or
  before ``Y``; a site known but not yet counted takes its first later count (a site's
  workforce is taken as steady until counted), a site never counted adds 0.

Counts per concession and ring use :attr:`geo.overlap.Overlaps.pairs` (ring 0 = inside,
ring ``k`` = ring ``k``): a site counts in every (concession, ring) it relates to. Over all
concessions each site counts once, at its nearest ring (0 when inside any concession).

**Growth** of a concession over a window of years ``[first, last]`` looks at the sites inside
it and in its first ring: ``sites_before`` are those known in ``first - 1``, ``new_sites``
those first seen within the window (``new_in`` inside, ``new_r1`` in the first ring),
``growth_pct = 100 * new_sites / sites_before`` (empty when none were known before);
``workers_before`` and ``workers_added`` are the workers known in ``first - 1`` and their
change to ``last``. The default window is the last three years with data.

Examples
--------
>>> import geopandas as gpd
>>> import pandas as pd
>>> from shapely import Point, box
>>> from geo.overlap import compute_overlaps
>>> conc = gpd.GeoDataFrame({"conc_id": ["A"], "holder": ["H"], "lic_type": ["exploitation"]},
...                         geometry=[box(0, 0, 0.1, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame(
...     {"site_id": ["s1", "s2"], "workers": [30, 40],
...      "first_seen": pd.to_datetime(["2018-05-01", "2020-02-01"]),
...      "seen": pd.to_datetime(["2020-01-01", "2020-02-01"])},
...     geometry=[Point(0.05, 0.05), Point(0.02, 0.02)], crs=4326)
>>> table = year_table(compute_overlaps(conc, sites))
>>> table[["year", "sites_known", "sites_new", "workers_known"]].values.tolist()
[[2018, 1, 1, 30], [2019, 1, 0, 30], [2020, 2, 1, 70]]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from geo.errors import LayerReadError, SchemaError
from geo.i18n import _
from geo.measure import GEOD
from geo.overlap import Overlaps
from geo.pipeline import DATA_DIR
from geo.schema import (
    CHANGED_SITE_COLUMNS,
    GROWTH_COLUMNS,
    RED_FLAGS,
    SITE_YEAR_COLUMNS,
    VISIT_CANDIDATES,
    VISIT_COLUMNS,
    YEAR_MEASURES,
    YEAR_RING_COLUMNS,
    YEAR_RING_TOTAL_COLUMNS,
    _dates,
    _integers,
    _text,
)
from geo.store import Workspace

#: The bundled IPIS visits of artisanal mining sites (one row per visit; see data/README.md).
BUNDLED_VISITS = DATA_DIR / "drc" / "ipis_asm_visits.csv"
#: Years in the default growth window: the last this many years with data.
DEFAULT_WINDOW_YEARS = 3


# --- visits ------------------------------------------------------------------------------


def load_visits(path: str | os.PathLike[str] = BUNDLED_VISITS) -> pd.DataFrame:
    """Read a visits table (CSV, one row per visit) and normalise it.

    Parameters
    ----------
    path : path, default :data:`BUNDLED_VISITS`
        A CSV file with a site identifier, a visit date and (optionally) a worker count;
        the columns are recognised by name (:data:`geo.schema.VISIT_CANDIDATES`, e.g. IPIS
        ``pcode``, ``visit_date``, ``workers_numb``).

    Returns
    -------
    DataFrame
        See :func:`normalise_visits`.

    Raises
    ------
    LayerReadError
        The file cannot be read as a CSV table.
    SchemaError
        It has no site identifier or no date column.
    """
    try:
        header = pd.read_csv(path, nrows=0)
    except (OSError, ValueError) as err:
        raise _unreadable(path, err) from err
    mapping = _visit_mapping([str(c) for c in header.columns])
    try:
        raw = pd.read_csv(path, usecols=list(mapping.values()),
                          dtype={mapping["site_id"]: str}, low_memory=False)
    except (OSError, ValueError) as err:
        raise _unreadable(path, err) from err
    return normalise_visits(raw, mapping=mapping)


def normalise_visits(
    frame: pd.DataFrame, *, mapping: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A visits table in the schema :data:`geo.schema.VISIT_COLUMNS`.

    Parameters
    ----------
    frame : DataFrame
        One row per visit.
    mapping : dict, optional
        ``visit column -> source column``; guessed from the column names when omitted.

    Returns
    -------
    DataFrame
        ``site_id`` (str), ``date`` (datetime64), ``workers`` (Int64, null when not counted
        or negative), sorted by site and date (visits of the same day keep their order).
        Rows without an identifier or a readable date are left out.

    Raises
    ------
    SchemaError
        No site identifier or no date column.

    Examples
    --------
    >>> raw = pd.DataFrame({"pcode": ["b", "a"], "visit_date": ["2015-03-01", "2014"],
    ...                     "workers_numb": [12, None]})
    >>> visits = normalise_visits(raw)
    >>> visits["site_id"].tolist(), visits["date"].dt.year.tolist(), visits["workers"].tolist()
    (['a', 'b'], [2014, 2015], [<NA>, 12])
    """
    table = dict(mapping) if mapping is not None else _visit_mapping(
        [str(c) for c in frame.columns])
    visits = pd.DataFrame({
        "site_id": _text(frame, table["site_id"]),
        "date": _dates(frame, table["date"]),
        "workers": _integers(frame, table.get("workers")),
    })
    visits = visits[visits["site_id"].notna() & visits["date"].notna()]
    visits = visits.assign(site_id=visits["site_id"].astype(str))
    visits = visits.sort_values(["site_id", "date"], kind="stable", ignore_index=True)
    return visits[list(VISIT_COLUMNS)]


def visit_coverage(sites: pd.DataFrame, visits: pd.DataFrame | None) -> dict[str, int]:
    """How many sites the visits reach.

    Returns
    -------
    dict
        ``sites`` (in the layer), ``with_visits`` (whose ``site_id`` has visits),
        ``repeated`` (with more than one visit), ``visits`` (visits of the layer's sites)
        and ``undated`` (sites with no date at all, left out of the yearly counts).
    """
    ids = sites["site_id"].astype(str)
    if visits is None or visits.empty:
        per_site = pd.Series(dtype=int)
    else:
        matched = visits[visits["site_id"].isin(ids)]
        per_site = matched.groupby("site_id").size()
    years = _site_years(sites, visits)
    return {
        "sites": len(sites),
        "with_visits": len(per_site),
        "repeated": int((per_site > 1).sum()),
        "visits": int(per_site.sum()),
        "undated": int((~years.dated).sum()),
    }


# --- yearly counts -----------------------------------------------------------------------


@dataclass(frozen=True)
class _SiteYears:
    """Per site position (rows) and year (columns): the yearly measures as arrays."""

    years: np.ndarray
    dated: np.ndarray
    known: np.ndarray
    new: np.ndarray
    visited: np.ndarray
    workers_visited: np.ndarray
    workers_known: np.ndarray

    def measures(self) -> dict[str, np.ndarray]:
        """The arrays summed into :data:`geo.schema.YEAR_MEASURES`, by measure name."""
        return {
            "sites_known": self.known, "sites_new": self.new, "sites_visited": self.visited,
            "workers_visited": self.workers_visited, "workers_known": self.workers_known,
        }


def site_years(sites: pd.DataFrame, visits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per site and year: known, new, visited and the workers counted.

    Parameters
    ----------
    sites : DataFrame
        Sites with ``site_id``, ``first_seen``, ``seen`` and ``workers`` (a normalised site
        layer, or :attr:`geo.overlap.Overlaps.sites`).
    visits : DataFrame, optional
        Visits in the schema of :func:`normalise_visits`.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.SITE_YEAR_COLUMNS`, one row per site and year from its
        first year to the last year of the data (see the module docstring for each measure).
    """
    years = _site_years(sites, visits)
    rows, cols = np.nonzero(years.known | years.visited)
    ids = sites["site_id"].astype(str).to_numpy()
    table = pd.DataFrame({"site_id": ids[rows], "year": years.years[cols]})
    for name, values in zip(SITE_YEAR_COLUMNS[2:], (
        years.known, years.new, years.visited, years.workers_visited, years.workers_known,
    ), strict=True):
        table[name] = values[rows, cols]
    return table[list(SITE_YEAR_COLUMNS)]


def year_table(overlaps: Overlaps, visits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sites and workers per year inside each concession and in each of its rings.

    Parameters
    ----------
    overlaps : Overlaps
    visits : DataFrame, optional
        Visits in the schema of :func:`normalise_visits`, joined on ``site_id``.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.YEAR_RING_COLUMNS`: one row per year (every year from the
        first to the last of the data) for each (concession, ring) with at least one site,
        ring 0 being inside; sorted by concession position, ring and year.
    """
    years = _site_years(overlaps.sites, visits)
    pairs = overlaps.pairs
    width = len(overlaps.rings_km) + 1
    cell = pairs["conc"].to_numpy(dtype=int) * width + pairs["ring"].to_numpy(dtype=int)
    cells, group = np.unique(cell, return_inverse=True)
    sums = _sum_by_group(years, pairs["site"].to_numpy(dtype=int), group, len(cells))
    conc_ids = overlaps.concessions["conc_id"].astype(str).to_numpy()
    keys = pd.DataFrame({"conc_id": conc_ids[cells // width], "ring": cells % width})
    return _long(keys, years.years, sums)[list(YEAR_RING_COLUMNS)]


def year_totals(overlaps: Overlaps, visits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sites and workers per year inside concessions and in each ring, over all concessions.

    Each site counts once, at its nearest ring: 0 when it is inside any concession, else the
    ring of the nearest one; sites beyond the outer ring are left out.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.YEAR_RING_TOTAL_COLUMNS`, one row per ring and year.
    """
    years = _site_years(overlaps.sites, visits)
    nearest = overlaps.pairs.groupby("site")["ring"].min()
    ring = nearest.to_numpy(dtype=int)
    sums = _sum_by_group(years, nearest.index.to_numpy(dtype=int), ring,
                         len(overlaps.rings_km) + 1)
    present = np.unique(ring)
    table = _long(pd.DataFrame({"ring": present}), years.years,
                  {name: values[present] for name, values in sums.items()})
    return table[list(YEAR_RING_TOTAL_COLUMNS)]


def data_years(overlaps: Overlaps, visits: pd.DataFrame | None = None) -> list[int]:
    """The years in which some site of the analysis was first seen or visited."""
    years = _site_years(overlaps.sites, visits)
    with_data = years.new.any(axis=0) | years.visited.any(axis=0)
    return [int(y) for y in years.years[with_data]]


def default_window(
    overlaps: Overlaps, visits: pd.DataFrame | None = None
) -> tuple[int, int] | None:
    """The last :data:`DEFAULT_WINDOW_YEARS` years with data, as ``(first, last)``, or
    None when the sites carry no dates."""
    years = data_years(overlaps, visits)
    if not years:
        return None
    return years[-DEFAULT_WINDOW_YEARS:][0], years[-1]


# --- growth ------------------------------------------------------------------------------


def growth_table(
    overlaps: Overlaps,
    visits: pd.DataFrame | None = None,
    *,
    window: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Growth of each concession over a window of years, fastest-growing first.

    Parameters
    ----------
    overlaps : Overlaps
    visits : DataFrame, optional
        Visits in the schema of :func:`normalise_visits`.
    window : (int, int), optional, keyword-only
        First and last year, inclusive; default :func:`default_window`.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.GROWTH_COLUMNS`, one row per concession with a site inside or in its first ring known by the window's
        last year (definitions in the module docstring). Ranked by new sites, then growth
        (a concession with new sites where none were known before ranks as the fastest),
        then workers added, then ``conc_id``; ``rank`` starts at 1.

    Raises
    ------
    SchemaError
        ``window`` is not two years, first before or equal to last.
    """
    years = _site_years(overlaps.sites, visits)
    first, last = _check_window(window if window is not None
                                else default_window(overlaps, visits) or (0, 0))
    pairs = overlaps.pairs[overlaps.pairs["ring"] <= 1]
    site = pairs["site"].to_numpy(dtype=int)
    conc = pairs["conc"].to_numpy(dtype=int)
    inside = pairs["ring"].to_numpy() == 0
    n = len(overlaps.concessions)

    def per_conc(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        keep = np.ones(len(site), dtype=bool) if mask is None else mask
        return np.bincount(conc[keep], weights=values[site][keep], minlength=n)

    known_before = _at_year(years, years.known, first - 1)
    known_after = _at_year(years, years.known, last)
    added = known_after - known_before
    workers_before = per_conc(_at_year(years, years.workers_known, first - 1))
    workers_after = per_conc(_at_year(years, years.workers_known, last))
    concessions = overlaps.concessions
    table = pd.DataFrame({
        "conc_id": concessions["conc_id"].astype(str).to_numpy(),
        "name": _column(concessions, "name"),
        "holder": _column(concessions, "holder"),
        "lic_type": _column(concessions, "lic_type"),
        "sites_before": per_conc(known_before),
        "new_in": per_conc(added, inside),
        "new_r1": per_conc(added, ~inside),
        "workers_before": workers_before,
        "workers_added": workers_after - workers_before,
        "known_after": per_conc(known_after),
    })
    table = table[table["known_after"] > 0]
    table["new_sites"] = table["new_in"] + table["new_r1"]
    table["growth_pct"] = _growth_pct(table["new_sites"], table["sites_before"])
    table["workers_pct"] = _growth_pct(table["workers_added"], table["workers_before"])
    counts = ["sites_before", "new_in", "new_r1", "new_sites", "workers_before",
              "workers_added"]
    table[counts] = table[counts].astype(int)
    order = table.assign(_growth=table["growth_pct"].fillna(np.inf)).sort_values(
        ["new_sites", "_growth", "workers_added", "conc_id"],
        ascending=[False, False, False, True], kind="stable",
    )
    order["rank"] = np.arange(1, len(order) + 1)
    return order[list(GROWTH_COLUMNS)].reset_index(drop=True)


# --- new since the previous upload -------------------------------------------------------


@dataclass(frozen=True)
class UploadChanges:
    """The sites added or moved in the current version of the sites layer.

    Attributes
    ----------
    previous, current : int or None
        The versions compared; ``previous`` is None when the layer has a single version.
    sites : DataFrame
        Columns :data:`geo.schema.CHANGED_SITE_COLUMNS` (see :func:`changed_sites`).
    removed : int
        Sites of the previous version that the current one no longer has.
    hidden : int
        Sites added or moved that the analysis leaves out (its filters).
    """

    previous: int | None
    current: int | None
    sites: pd.DataFrame
    removed: int
    hidden: int


def upload_changes(workspace: Workspace, overlaps: Overlaps) -> UploadChanges:
    """What the current version of the sites layer added or moved, and where it falls.

    Parameters
    ----------
    workspace : Workspace
        The store whose sites history is compared (:meth:`geo.store.Workspace.diff`).
    overlaps : Overlaps
        Computed on the current version of the sites layer.

    Returns
    -------
    UploadChanges
        With an empty ``sites`` table and ``previous`` None when the layer has one version.
    """
    versions = workspace.history("sites")["version"].astype(int).tolist()
    if len(versions) < 2:
        current = versions[0] if versions else None
        return UploadChanges(None, current, _empty_changes(), 0, 0)
    current, previous = versions[0], versions[1]
    changes = workspace.diff("sites", previous, current)
    moved = changes["change"] == "moved"
    before = workspace.read("sites", previous) if moved.any() else None
    table = changed_sites(overlaps, changes, previous=before)
    listed = changes["change"].isin(["added", "moved"])
    return UploadChanges(
        previous, current, table, removed=int((changes["change"] == "removed").sum()),
        hidden=int(listed.sum()) - len(table),
    )


def changed_sites(
    overlaps: Overlaps, changes: pd.DataFrame, *, previous: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The added and moved sites of a version diff, each with where it falls: an action list.

    Parameters
    ----------
    overlaps : Overlaps
        Computed on the newer version.
    changes : DataFrame
        :meth:`geo.store.Workspace.diff` output (``id``, ``change``).
    previous : GeoDataFrame, optional, keyword-only
        The older version, to measure how far moved sites moved.

    Returns
    -------
    DataFrame
        Columns :data:`geo.schema.CHANGED_SITE_COLUMNS`: ``change`` ("added" or "moved"),
        ``moved_km`` (geodesic distance between the old and new positions, null for added
        sites), ``tenure``, ``near_id`` (the concession the site is in, else the nearest)
        with its ``holder`` and ``lic_type``, ``dist_km`` (0 inside), ``ring`` (0 inside,
        ``k`` in ring ``k``, null beyond the outer ring), ``workers``, the red flags and
        their count ``red_flags``. Sites the analysis left out are not listed. Sorted for
        action: nearest ring first, then most red flags, most workers, ``site_id``.
    """
    listed = changes[changes["change"].isin(["added", "moved"])]
    sites = overlaps.sites
    position = pd.Series(np.arange(len(sites)), index=sites["site_id"].astype(str).to_numpy())
    found = listed.assign(site=listed["id"].astype(str).map(position)).dropna(subset=["site"])
    rows = sites.iloc[found["site"].to_numpy(dtype=int)].reset_index(drop=True)
    if rows.empty:
        return _empty_changes()
    concessions = overlaps.concessions.assign(
        conc_id=overlaps.concessions["conc_id"].astype(str)
    ).drop_duplicates("conc_id").set_index("conc_id")
    near = rows["near_id"].astype(object)
    flags = pd.DataFrame({f: pd.Series(rows[f].to_numpy(), dtype="boolean") for f in RED_FLAGS})
    table = pd.DataFrame({
        "site_id": rows["site_id"].astype(str),
        "name": rows["name"],
        "change": found["change"].to_numpy(),
        "moved_km": _moved_km(rows, found["change"].to_numpy(), previous),
        "tenure": rows["tenure"].astype(str),
        "near_id": near,
        "holder": near.map(_lookup(concessions, "holder")),
        "lic_type": near.map(_lookup(concessions, "lic_type")),
        "dist_km": rows["dist_km"],
        "ring": _site_ring(rows, overlaps.rings_km),
        "workers": pd.Series(rows["workers"].to_numpy(), dtype="Int64"),
        **{flag: flags[flag] for flag in RED_FLAGS},
        "red_flags": flags.fillna(False).astype(int).sum(axis=1),
        "seen": rows["seen"],
        "lon": rows["lon"],
        "lat": rows["lat"],
    })
    table = table.sort_values(
        ["ring", "red_flags", "workers", "site_id"], ascending=[True, False, False, True],
        na_position="last", kind="stable",
    )
    return table[list(CHANGED_SITE_COLUMNS)].reset_index(drop=True)


# --- downloads ---------------------------------------------------------------------------


def definitions() -> str:
    """The in-migration measures in plain words, in the current language (one per line)."""
    lines = [
        _("In-migration: a site's first year is the year of the earliest of its first-seen "
          "date, its latest visit and its recorded visits."),
        _("Sites known in a year: first seen in or before it. New sites: first seen in it. "
          "Sites visited: with a visit that year."),
        _("Workers visited in a year: per site visited, the workers of its last visit that "
          "year that counted them. Workers known: per known site, its latest count at or "
          "before the year (its first count if not yet counted)."),
        _("Growth over a window of years: sites inside a concession and in its first ring "
          "first seen within the window, against those known the year before; workers: "
          "workers known at the end of the window minus the year before."),
        _("Ring 0 is inside the concession; ring k is the k-th proximity ring."),
    ]
    return "\n".join(lines) + "\n"


# --- helpers -----------------------------------------------------------------------------


def _visit_mapping(columns: list[str]) -> dict[str, str]:
    by_lower = {column.lower(): column for column in columns}
    mapping: dict[str, str] = {}
    for target, candidates in VISIT_CANDIDATES.items():
        found = next((by_lower[c] for c in candidates if c in by_lower), None)
        if found is not None and found not in mapping.values():
            mapping[target] = found
    for required in ("site_id", "date"):
        if required not in mapping:
            raise SchemaError(
                _("The visits table has no {column} column; its columns are {columns}. "
                  "Name one {names}.").format(
                    column=required, columns=", ".join(columns) or "-",
                    names=" / ".join(VISIT_CANDIDATES[required][:3]))
            )
    return mapping


def _unreadable(path: str | os.PathLike[str], err: Exception) -> LayerReadError:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return LayerReadError(
        _("Cannot read the visits file {name} as a CSV table: {reason}").format(
            name=Path(os.fspath(path)).name, reason=reason))


def _site_years(sites: pd.DataFrame, visits: pd.DataFrame | None) -> _SiteYears:
    """The yearly measures of every site (rows: site positions, columns: years)."""
    n = len(sites)
    observations = _observations(sites, visits)
    first = pd.DataFrame({
        "first_seen": _years_of(sites, "first_seen"),
        "seen": _years_of(sites, "seen"),
        "visits": observations.groupby("site")["year"].min().reindex(range(n)).to_numpy(
            dtype=float),
    }).min(axis=1).to_numpy()
    dated = ~np.isnan(first)
    if not dated.any():
        empty = np.zeros((n, 0))
        return _SiteYears(np.zeros(0, dtype=int), dated, empty.astype(bool),
                          empty.astype(bool), empty.astype(bool), empty, empty)
    last = max(np.nanmax(first), observations["year"].max() if len(observations) else -np.inf)
    years = np.arange(int(np.nanmin(first)), int(last) + 1)
    column = observations["year"].to_numpy(dtype=int) - years[0]
    row = observations["site"].to_numpy(dtype=int)
    visited = np.zeros((n, len(years)), dtype=bool)
    visited[row, column] = True
    counted = observations[observations["workers"].notna()]
    counted = counted.drop_duplicates(["site", "year"], keep="last")
    count = np.full((n, len(years)), np.nan)
    count[counted["site"].to_numpy(dtype=int), counted["year"].to_numpy(dtype=int) - years[0]] = (
        counted["workers"].to_numpy(dtype=float))
    known = years[None, :] >= np.where(dated, first, np.inf)[:, None]
    latest = pd.DataFrame(count).ffill(axis=1).bfill(axis=1).fillna(0.0).to_numpy()
    return _SiteYears(
        years=years, dated=dated, known=known, new=years[None, :] == first[:, None],
        visited=visited, workers_visited=np.nan_to_num(count).astype(np.int64),
        workers_known=np.where(known, latest, 0.0).astype(np.int64),
    )


def _observations(sites: pd.DataFrame, visits: pd.DataFrame | None) -> pd.DataFrame:
    """Every dated visit of the layer's sites (site position, date, year, workers), ordered;
    a site without visits gets one at its ``seen`` date with the layer's ``workers``."""
    ids = sites["site_id"].astype(str).to_numpy()
    position = pd.Series(np.arange(len(sites)), index=ids)
    if visits is not None and len(visits):
        joined = visits.assign(site=visits["site_id"].astype(str).map(position))
        joined = joined.dropna(subset=["site", "date"])
    else:
        joined = pd.DataFrame({"site": [], "date": [], "workers": []})
    has_visits = np.zeros(len(sites), dtype=bool)
    has_visits[joined["site"].to_numpy(dtype=int)] = True
    seen = pd.to_datetime(_values(sites, "seen"), errors="coerce").to_numpy()
    fallback = ~has_visits & ~pd.isna(seen)
    workers = pd.to_numeric(_values(sites, "workers"), errors="coerce").to_numpy(dtype=float)
    frame = pd.concat([
        pd.DataFrame({
            "site": joined["site"].to_numpy(dtype=int),
            "date": pd.to_datetime(joined["date"]).to_numpy(),
            "workers": pd.to_numeric(joined["workers"], errors="coerce").to_numpy(dtype=float),
        }),
        pd.DataFrame({"site": np.flatnonzero(fallback), "date": seen[fallback],
                      "workers": workers[fallback]}),
    ], ignore_index=True)
    frame["date"] = pd.to_datetime(frame["date"])
    frame["year"] = frame["date"].dt.year
    return frame.sort_values(["site", "date"], kind="stable", ignore_index=True)


def _values(sites: pd.DataFrame, column: str) -> pd.Series:
    """A column's values by position (nulls when the column is absent)."""
    if column not in sites:
        return pd.Series([None] * len(sites), dtype=object)
    return pd.Series(sites[column].to_numpy())


def _years_of(sites: pd.DataFrame, column: str) -> np.ndarray:
    """Year of a date column per site (NaN when missing or absent)."""
    if column not in sites:
        return np.full(len(sites), np.nan)
    dates = pd.to_datetime(pd.Series(sites[column].to_numpy()), errors="coerce")
    return dates.dt.year.to_numpy(dtype=float)


def _sum_by_group(
    years: _SiteYears, site: np.ndarray, group: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    """Per measure, a (group x year) array: the sum over (site, group) rows."""
    width = len(years.years)
    index = (group[:, None] * width + np.arange(width)[None, :]).ravel()
    return {
        name: np.bincount(index, weights=values[site].astype(float).ravel(),
                          minlength=n_groups * width).reshape(n_groups, width).astype(np.int64)
        for name, values in years.measures().items()
    }


def _long(keys: pd.DataFrame, years: np.ndarray, sums: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per key and year, the measures as columns."""
    table = keys.loc[keys.index.repeat(len(years))].reset_index(drop=True)
    table["year"] = np.tile(years, len(keys)).astype(int)
    for name in YEAR_MEASURES:
        table[name] = np.asarray(sums[name]).reshape(-1).astype(int)
    return table


def _at_year(years: _SiteYears, values: np.ndarray, year: int) -> np.ndarray:
    """Per site, ``values`` in ``year``: 0 before the data starts, the last year's after."""
    if len(years.years) == 0 or year < years.years[0]:
        return np.zeros(len(values), dtype=float)
    column = min(int(year - years.years[0]), len(years.years) - 1)
    return values[:, column].astype(float)


def _check_window(window: tuple[int, int]) -> tuple[int, int]:
    try:
        first, last = (int(year) for year in window)
    except (TypeError, ValueError) as err:
        raise SchemaError(
            _("The window must be two years, first and last, like (2018, 2020); got "
              "{window}.").format(window=repr(window))) from err
    if first > last:
        raise SchemaError(
            _("The window's first year {first} comes after its last year {last}.").format(
                first=first, last=last))
    return first, last


def _growth_pct(added: pd.Series, before: pd.Series) -> pd.Series:
    before = before.astype(float)
    return (100.0 * added.astype(float) / before.where(before > 0)).round(1)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy(dtype=object)
    return np.full(len(frame), None, dtype=object)


def _lookup(concessions: pd.DataFrame, column: str) -> pd.Series:
    """``conc_id -> column`` of the concessions (empty when they lack the column)."""
    if column not in concessions:
        return pd.Series(dtype=object)
    return concessions[column].astype(object)


def _site_ring(sites: pd.DataFrame, rings_km: tuple[float, ...]) -> pd.Series:
    """0 inside a concession, ``k`` in ring ``k`` of the nearest one, null beyond."""
    dist = sites["dist_km"].to_numpy(dtype=float)
    ring = np.searchsorted(np.asarray(rings_km), dist, side="left") + 1
    ring = np.where(sites["n_conc"].to_numpy() > 0, 0, ring)
    beyond = np.isnan(dist) | ((sites["n_conc"].to_numpy() == 0) & (dist > rings_km[-1]))
    return pd.Series(ring, dtype="Int64").mask(beyond)


def _moved_km(
    rows: pd.DataFrame, change: np.ndarray, previous: pd.DataFrame | None
) -> np.ndarray:
    """Geodesic km between each moved site's old and new position (NaN for the others)."""
    out = np.full(len(rows), np.nan)
    moved = change == "moved"
    if previous is None or not moved.any():
        return out
    old = previous.set_index(previous["site_id"].astype(str))
    old = old[~old.index.duplicated()]
    ids = rows["site_id"].astype(str).to_numpy()[moved]
    present = np.isin(ids, old.index)
    points = shapely.point_on_surface(
        np.asarray(old.geometry.loc[ids[present]].values, dtype=object))
    lon = rows["lon"].to_numpy(dtype=float)[moved][present]
    lat = rows["lat"].to_numpy(dtype=float)[moved][present]
    metres = GEOD.inv(shapely.get_x(points), shapely.get_y(points), lon, lat)[2]
    where = np.flatnonzero(moved)[present]
    out[where] = np.round(np.asarray(metres) / 1000.0, 4)
    return out


def _empty_changes() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype=object) for column in CHANGED_SITE_COLUMNS})
