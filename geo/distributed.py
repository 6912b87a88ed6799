"""The same engine on a Dask cluster, for layers beyond one machine.

:func:`overlap_on_cluster` computes what :func:`geo.pipeline.analyse` computes and writes what
:func:`geo.export.write_outputs` writes, with the work spread over the workers of a Dask
cluster (``distributed`` and ``dask-geopandas``). The per-partition work is the single-machine
engine itself (:func:`geo.validate.validate_layer`, :func:`geo.overlap.compute_overlaps`,
:func:`geo.stats.concession_stats`); this module only cuts the layers into partitions, hands
each partition the data it needs, and merges what depends on more than one partition with
the same rules as the single-machine engine.

How a run goes:

1. **Read and validate per partition.** Each input partition (a part of a GeoParquet dataset,
   a row group, or a slice of another file read on the client) is normalised and validated
   (repaired) where it lies. Rows keep their position in the whole layer (``_row``), so
   generated identifiers, duplicate renaming and report rows are those of the whole layer.
   Layer-wide checks (duplicate identifiers, features far outside the rest, swapped
   coordinates) run on small gathered columns: identifiers, representative points, bounds.
2. **Spatial partitions.** Both layers are sorted along a Hilbert curve
   (``dask_geopandas``'s Hilbert distance of the bounds' centres) and cut into partitions
   of about ``partition_rows`` features by Dask's ``set_index`` shuffle.
3. **Overlaps per concession partition.** Each concession partition meets only the site
   partitions whose bounds reach its own bounds grown by the outer ring (in degrees,
   conservative at the partition's most poleward latitude), and of those only the sites
   whose bounds do; :func:`geo.overlap.compute_overlaps` runs on that pair.
4. **Merge per site.** A site's tenure is the best rank over every partition (ties: smallest
   ``conc_id``), ``n_conc`` the sum, ``dist_km``/``near_id`` the minimum. A point on the
   boundary of titles in different partitions counts once, for the concession the
   single-machine rule picks; the others see it in their first ring at 0 km, as they do on
   one machine. Sites farther than the outer ring from every concession of the partitions
   that saw them look for their nearest concession in the partitions that could hold it.
5. **Tables and totals.** :func:`geo.stats.concession_stats` runs per concession partition
   on the merged relations; union-based areas merge overlapping features group by group
   (:func:`geo.stats.overlap_groups`), groups that cross partition edges on the client.
6. **Outputs.** The tables are put back in the layers' order by Dask's ``set_index`` shuffle
   on ``_row`` and written one partition at a time: ``zones.gpkg``, ``concessions.csv``,
   ``sites.csv`` and ``summary.json``, as one machine writes them, plus ``zones/`` as
   partitioned GeoParquet when there are many zones.

Without a scheduler address (argument or ``DASK_SCHEDULER_ADDRESS``) a local cluster of
worker processes is started; with one, that cluster is used: its workers need this package
and its dependencies, and read the inputs and nothing else from disk.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point, box
>>> conc = gpd.GeoDataFrame({"conc_id": ["A", "B"], "lic_type": ["exploitation", "PR"]},
...                         geometry=[box(0, 0, 0.1, 0.1), box(0.1, 0, 0.2, 0.1)], crs=4326)
>>> sites = gpd.GeoDataFrame({"site_id": ["s1"]}, geometry=[Point(0.1, 0.05)], crs=4326)
>>> with cluster_client(workers=1) as client:  # doctest: +SKIP
...     result = analyse_on_cluster(client, conc, sites, partition_rows=1)
>>> result.totals["tenure"]["exploitation"]  # doctest: +SKIP
1
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import dask
import dask.dataframe as dd
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from dask.utils import parse_timedelta
from dask_geopandas.hilbert_distance import _hilbert_distance
from distributed import Client, Future, LocalCluster, Variable, as_completed, wait, worker_client

from geo.errors import ClusterError, CRSError, GeometryError, LayerReadError
from geo.export import _json_default, csv_text, summary
from geo.i18n import _
from geo.io import read_layer
from geo.measure import area_ha
from geo.overlap import (
    _RANK_OF_LIC,
    DEFAULT_RINGS_KM,
    Overlaps,
    _check_options,
    _footprints,
    _is_point,
    _site_table,
    compute_overlaps,
)
from geo.pipeline import Analysis
from geo.schema import (
    ID_COLUMN,
    LIC_TYPES,
    RED_FLAGS,
    REPORT_COLUMNS,
    ZONE_COLUMNS,
    LayerKind,
    _text,
    guess_mapping,
    normalise,
)
from geo.stats import concession_stats, connected_labels, overlap_groups, totals
from geo.validate import (
    KM_PER_DEGREE,
    OUTLIER_MIN_KM,
    OUTLIER_SPREAD_FACTOR,
    ValidationReport,
    _distance_detail,
    _distance_to_centre_km,
    _isolated,
    _issues,
    _renamed,
    _unique_ids,
    check_swapped,
    core_bounds,
    validate_layer,
)

#: Environment variable naming the scheduler of an existing cluster (Dask's own name).
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: Features per spatial partition.
DEFAULT_PARTITION_ROWS = 20_000
#: Workers of a local cluster when none is asked for.
DEFAULT_LOCAL_WORKERS = 2
#: With more zones than this, ``zones/`` (partitioned GeoParquet) is written besides zones.gpkg.
LARGE_ZONE_COUNT = 20_000
#: The row of each feature in its whole layer (0-based), carried through every partition.
ROW = "_row"
#: Sort key of the spatial partitioning.
HILBERT = "_hilbert"
#: Kilometres per degree of latitude, rounded down (meridian degrees are 110.57-111.69 km),
#: and per degree of longitude at the equator, rounded down: search boxes drawn with them
#: are never too small.
_KM_PER_DEG_LAT = 110.5
_KM_PER_DEG_LON = 111.0
#: The search box is grown by this much beyond the outer ring (UTM scale and the 2% search
#: margin of geo.overlap).
_RING_MARGIN = 1.1
_GEOPARQUET_SUFFIXES = (".parquet", ".geoparquet")
#: Environment of local worker processes: one process per core, each engine on one thread
#: (:mod:`geo.parallel`).
_WORKER_ENV = {"GEO_THREADS": "1"}
#: Dask settings of a run: columns keep their pandas dtypes (no conversion to Arrow strings),
#: so that every table is written as one machine writes it.
_PANDAS_DTYPES = {"dataframe.convert-string": False}

#: ``progress(fraction, stage)`` callback: fraction of the run done (0-1) and a stage name.
Progress = Callable[[float, str], None]
Source: TypeAlias = str | os.PathLike[str] | gpd.GeoDataFrame


# --- connecting ---------------------------------------------------------------------------


@contextmanager
def cluster_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    memory_limit: str | None = None,
    timeout_s: float | None = None,
) -> Iterator[Client]:
    """A client of an existing Dask cluster, or of a local one started for the block.

    Parameters
    ----------
    scheduler : str, optional
        Scheduler address (``tcp://host:8786``); ``DASK_SCHEDULER_ADDRESS`` when omitted.
        With neither, a local cluster of worker processes is started and stopped.
    workers : int, optional, keyword-only
        Local cluster: its number of worker processes (default 2, one thread each).
        Existing cluster: wait until it has at least this many workers.
    memory_limit : str, optional, keyword-only
        Local cluster: memory limit of each worker (``"2GiB"``); Dask spills to disk past
        60% of it and restarts a worker past 95%.
    timeout_s : float, optional, keyword-only
        Seconds to wait for the scheduler (and for the workers asked for); by default Dask's
        ``distributed.comm.timeouts.connect`` (30 s unless configured, e.g. with
        ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).

    Raises
    ------
    ClusterError
        The scheduler cannot be reached, or the workers asked for do not come.
    """
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    if timeout_s is None:
        timeout_s = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))
    quiet = _quiet_dask_logs()
    if address is None:
        cluster = LocalCluster(
            n_workers=workers or DEFAULT_LOCAL_WORKERS, threads_per_worker=1, processes=True,
            memory_limit=memory_limit or "auto", dashboard_address=None, env=_WORKER_ENV,
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
            quiet.restore()
        return
    client = _connect(address, timeout_s)
    try:
        if workers:
            try:
                client.wait_for_workers(workers, timeout=timeout_s)
            except TimeoutError as err:
                raise ClusterError(
                    _("The Dask cluster at {address} has {count} workers, not the {wanted} "
                      "asked for; start more workers or ask for fewer.").format(
                        address=address, count=len(client.nthreads()),
                        wanted=workers)
                ) from err
        yield client
    finally:
        client.close()
        quiet.restore()


def start_client(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    timeout_s: float | None = None,
) -> Client:
    """A long-lived client (the dashboard's): of the cluster at ``scheduler`` (or
    ``DASK_SCHEDULER_ADDRESS``), else of a local cluster started for it, closed with the
    process. See :func:`cluster_client` for a client that lasts a ``with`` block.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached.
    """
    address = scheduler or os.environ.get(SCHEDULER_ENV) or None
    _quiet_dask_logs()
    if address is None:
        cluster = LocalCluster(n_workers=workers or DEFAULT_LOCAL_WORKERS, threads_per_worker=1,
                               processes=True, dashboard_address=None, env=_WORKER_ENV)
        return Client(cluster, set_as_default=False)
    if timeout_s is None:
        timeout_s = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))
    return _connect(address, timeout_s, default=False)


def _connect(address: str, timeout_s: float, *, default: bool = True) -> Client:
    try:
        return Client(address, timeout=timeout_s, set_as_default=default)
    except (OSError, TimeoutError, ValueError, TypeError) as err:
        raise ClusterError(
            _("Cannot reach the Dask scheduler at {address} within {seconds} s; check the "
              "address (like tcp://host:8786) and that the scheduler is running.").format(
                address=address, seconds=f"{timeout_s:g}")
        ) from err


@dataclass
class _QuietLogs:
    levels: dict[str, int]

    def restore(self) -> None:
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)


def _quiet_dask_logs() -> _QuietLogs:
    """Dask logs connection attempts and shuffle steps as warnings; keep stderr for errors."""
    names = ("distributed", "distributed.shuffle._scheduler_plugin", "distributed.scheduler",
             "distributed.worker", "distributed.nanny", "distributed.core",
             "distributed.comm", "distributed.client")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.ERROR)
    return _QuietLogs(levels)


# --- results ------------------------------------------------------------------------------


@dataclass
class ClusterResult:
    """What a cluster run computed: totals and reports on the client, tables on the cluster.

    Attributes
    ----------
    totals : dict
        As :func:`geo.stats.totals`.
    reports : dict
        ``layer kind -> ValidationReport`` merged over the partitions.
    rings_km, radius_m
        The options used.
    concession_tables, site_tables, zone_parts : list of Future
        Per spatial partition: the per-concession table, the per-site table and the zones,
        each with the ``_row`` of its concession or site.
    n_concessions, n_sites : int
        Rows of each input layer (before validation left any out).
    partitions : dict
        Number of spatial partitions of each layer.
    """

    totals: dict[str, object]
    reports: dict[str, ValidationReport]
    rings_km: tuple[float, ...]
    radius_m: float | None
    concession_tables: list[Future] = field(repr=False)
    site_tables: list[Future] = field(repr=False)
    zone_parts: list[Future] = field(repr=False)
    n_concessions: int = 0
    n_sites: int = 0
    partitions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Partitioned:
    """A layer on the cluster: spatial partitions with their bounds and rows."""

    parts: list[Future]
    bounds: np.ndarray  # (n, 4)
    rows: list[np.ndarray]
    n_rows: int
    report: ValidationReport
    points: np.ndarray  # representative point of each kept feature, in layer order


class _Steps:
    """Reports progress over weighted stages."""

    def __init__(self, progress: Progress | None, weights: dict[str, float]) -> None:
        self.progress = progress
        total = sum(weights.values())
        self.starts: dict[str, float] = {}
        self.spans: dict[str, float] = {}
        done = 0.0
        for name, weight in weights.items():
            self.starts[name] = done / total
            self.spans[name] = weight / total
            done += weight

    def at(self, stage: str, fraction: float = 0.0) -> None:
        if self.progress is not None:
            value = self.starts[stage] + self.spans[stage] * min(max(fraction, 0.0), 1.0)
            self.progress(round(value, 4), stage)

    def follow(self, stage: str, futures: Sequence[Future]) -> None:
        """Report as ``futures`` finish; raise the first error."""
        if not futures:
            self.at(stage, 1.0)
            return
        if self.progress is None:
            wait(list(futures))
        else:
            for count, _future in enumerate(as_completed(list(futures)), start=1):
                self.at(stage, count / len(futures))
        for future in futures:
            if future.status == "error":
                future.result()

    def done(self) -> None:
        if self.progress is not None:
            self.progress(1.0, "done")


_STAGES = {"read": 2.0, "validate": 2.0, "partition": 2.0, "overlap": 6.0, "merge": 1.0,
           "nearest": 1.0, "tables": 2.0, "totals": 2.0, "write": 2.0}


# --- the run ------------------------------------------------------------------------------


def analyse_on_cluster(
    client: Client,
    concessions: Source,
    sites: Source,
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    concessions_crs: str | int | None = None,
    sites_crs: str | int | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    progress: Progress | None = None,
) -> ClusterResult:
    """Overlaps, per-concession statistics and totals of two layers, on a Dask cluster.

    Parameters
    ----------
    client : distributed.Client
    concessions, sites : path or GeoDataFrame
        A GeoParquet file or dataset (a folder of parts, or a URL the workers can read),
        any other file :mod:`geo.io` reads (read on the client, then spread), or a
        GeoDataFrame already normalised and validated.
    rings_km, radius_m
        See :func:`geo.overlap.compute_overlaps`.
    concessions_crs, sites_crs : str or int, optional
        CRS of a file that has none.
    partition_rows : int
        Features per spatial partition.
    progress : callable, optional
        ``progress(fraction, stage)``, called as the run goes.

    Returns
    -------
    ClusterResult

    Raises
    ------
    GeoError
        Any reason the layers cannot be used, as one machine would say it.
    """
    rings = _check_options(rings_km, radius_m)
    steps = _Steps(progress, _STAGES)
    rows = max(int(partition_rows), 1)
    steps.at("read")
    conc = _prepare_layer(client, concessions, "concessions", concessions_crs, rows, steps,
                          reference=None)
    reference = core_bounds(gpd.GeoDataFrame(geometry=conc.points, crs=4326))
    site = _prepare_layer(client, sites, "sites", sites_crs, rows, steps, reference=reference)

    steps.at("overlap")
    results = _overlap_partitions(client, conc, site, rings, radius_m)
    steps.follow("overlap", results)
    steps.at("merge")
    facts = client.gather(client.map(_facts_of, results, pure=False))
    merged = _merge_facts(facts, site)
    steps.at("merge", 1.0)
    _nearest_for_far_sites(client, conc, site, merged, rings, radius_m, steps)

    steps.at("tables")
    demoted = _demoted_by_partition(merged, conc)
    conc_tables = client.map(_concession_table, results, demoted, pure=False)
    zone_parts = client.map(_zones_of, results, pure=False)
    site_tables = [
        client.submit(_site_partition_table, part, _site_decisions(merged, rows_of_part),
                      radius_m, pure=False)
        for part, rows_of_part in zip(site.parts, site.rows, strict=True)
    ]
    steps.follow("tables", [*conc_tables, *site_tables])
    del results

    steps.at("totals")
    result_totals = _totals(client, conc, site, zone_parts, site_tables, radius_m, steps)
    steps.at("totals", 1.0)
    return ClusterResult(
        totals=result_totals,
        reports={"concessions": conc.report, "sites": site.report},
        rings_km=rings, radius_m=radius_m,
        concession_tables=conc_tables, site_tables=site_tables, zone_parts=zone_parts,
        n_concessions=conc.n_rows, n_sites=site.n_rows,
        partitions={"concessions": len(conc.parts), "sites": len(site.parts)},
    )


def overlap_on_cluster(
    client: Client,
    concessions: Source,
    sites: Source,
    outdir: str | os.PathLike[str],
    *,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM,
    radius_m: float | None = None,
    concessions_crs: str | int | None = None,
    sites_crs: str | int | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    sources: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> tuple[ClusterResult, list[Path]]:
    """:func:`analyse_on_cluster`, then the command line's output folder.

    Returns
    -------
    (ClusterResult, list of Path)
        The result and the files written: ``zones.gpkg``, ``concessions.csv``,
        ``sites.csv``, ``summary.json`` and, with many zones, ``zones/``.
    """
    result = analyse_on_cluster(
        client, concessions, sites, rings_km=rings_km, radius_m=radius_m,
        concessions_crs=concessions_crs, sites_crs=sites_crs, partition_rows=partition_rows,
        progress=progress,
    )
    names = sources or {"concessions": _source_name(concessions),
                        "sites": _source_name(sites)}
    info = cluster_summary(result, sources=names, workers=len(client.nthreads()))
    steps = _Steps(progress, {"before": sum(_STAGES.values()) - _STAGES["write"],
                              "write": _STAGES["write"]})
    written = write_cluster_outputs(client, result, outdir, info, progress=steps)
    steps.done()
    return result, written


def _source_name(source: Source) -> str:
    if isinstance(source, gpd.GeoDataFrame):
        return "GeoDataFrame"
    return Path(os.fsdecode(source)).name or os.fsdecode(source)


def cluster_summary(
    result: ClusterResult, *, sources: dict[str, str], workers: int
) -> dict[str, object]:
    """The ``summary.json`` content (:func:`geo.export.summary`) with the cluster it ran on."""
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
    overlaps = Overlaps(
        concessions=empty, sites=pd.DataFrame(), zones=empty, pairs=pd.DataFrame(),
        footprints=gpd.GeoSeries([], crs=4326), rings_km=result.rings_km,
        radius_m=result.radius_m,
    )
    analysis = Analysis(overlaps, pd.DataFrame(), result.totals)
    info = summary(analysis, sources=sources, reports=result.reports)
    info["engine"] = {"name": "dask", "workers": workers, "partitions": result.partitions}
    return info


# --- step 1: reading, normalising and validating per partition ----------------------------


def _prepare_layer(
    client: Client, source: Source, kind: LayerKind, crs: str | int | None, rows: int,
    steps: _Steps, *, reference: tuple[float, float, float, float] | None,
) -> _Partitioned:
    raw = _raw_partitions(client, source, kind, crs, rows)
    lengths = client.gather(client.map(len, raw, pure=False))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
    normalised = client.map(_normalise_part, raw, offsets, kind=kind, crs=crs, pure=False)
    del raw
    steps.at("read", 1.0 if kind == "sites" else 0.5)
    ids = np.concatenate(client.gather(client.map(_ids_of, normalised, kind=kind, pure=False)))
    new_ids, duplicated = _unique_ids(ids)
    renames = {int(r): str(new_ids[r]) for r in np.flatnonzero(duplicated)}
    detail = _renamed(ids, new_ids)
    validated = []
    for part, offset, length in zip(normalised, offsets, lengths, strict=True):
        mine = _slice(renames, offset, length)
        validated.append(client.submit(_validate_part, part, kind, mine,
                                       {r: str(detail[r]) for r in mine}, pure=False))
    del normalised
    steps.follow("validate", validated)
    clean = client.map(_first, validated, pure=False)
    reports = client.map(_second, validated, pure=False)
    del validated
    report, points = _merged_report(client, clean, reports, kind, int(sum(lengths)),
                                    reference)
    steps.at("partition", 0.5 if kind == "concessions" else 0.9)
    spatial = _spatial_partitions(client, clean, rows)
    bounds = np.array(client.gather(client.map(_bounds_of, spatial, pure=False)), dtype=float)
    part_rows = client.gather(client.map(_rows_of, spatial, pure=False))
    return _Partitioned(spatial, bounds.reshape(-1, 4), part_rows, int(sum(lengths)), report,
                        points)


def _slice(renames: dict[int, str], offset: int, length: int) -> dict[int, str]:
    return {r: v for r, v in renames.items() if offset <= r < offset + length}


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


def _second(pair: tuple[Any, Any]) -> Any:
    return pair[1]


def _raw_partitions(
    client: Client, source: Source, kind: LayerKind, crs: str | int | None, rows: int
) -> list[Future]:
    """Futures of the layer's input partitions, in file order."""
    if isinstance(source, gpd.GeoDataFrame):
        return _scatter_frame(client, source, rows)
    text = os.fsdecode(source)
    is_url = "://" in text
    path = Path(text)
    if not is_url and not path.exists():
        raise LayerReadError(_("{path} does not exist.").format(path=text))
    if is_url or path.is_dir() or path.suffix.lower() in _GEOPARQUET_SUFFIXES:
        frame = _read_geoparquet(text)
        if frame.crs is None and crs is None:
            raise CRSError(
                _("{path} has no coordinate reference system; name the one its coordinates "
                  "are in (--concessions-crs or --sites-crs, e.g. EPSG:4326).").format(path=text)
            )
        return client.compute(frame.to_delayed())
    return _scatter_frame(client, read_layer(path, crs=crs), rows)


def _read_geoparquet(path: str) -> Any:
    try:
        return dask_geopandas.read_parquet(path)
    except (ValueError, OSError, TypeError, KeyError) as err:
        raise LayerReadError(
            _("{path} cannot be read as GeoParquet (a file, or a folder of parts sharing one "
              "schema with a geometry column): {reason}").format(path=path, reason=err)
        ) from err


def _scatter_frame(client: Client, frame: gpd.GeoDataFrame, rows: int) -> list[Future]:
    starts = range(0, max(len(frame), 1), rows)
    pieces = [frame.iloc[start:start + rows] for start in starts]
    return client.scatter(pieces)


def _to_wgs84(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    wgs84 = pyproj.CRS.from_epsg(4326)
    if frame.crs is None or frame.crs.equals(wgs84):
        return frame
    try:
        return frame.to_crs(wgs84)
    except (pyproj.exceptions.CRSError, ValueError) as err:
        raise CRSError(_("The layer's CRS {crs} cannot be converted to EPSG:4326.").format(
            crs=frame.crs)) from err


def _normalise_part(raw: gpd.GeoDataFrame, offset: int, *, kind: LayerKind,
                    crs: str | int | None = None) -> gpd.GeoDataFrame:
    """One partition normalised, with ``_row``; generated ids numbered in the whole layer."""
    frame = gpd.GeoDataFrame(raw).reset_index(drop=True)
    if frame.crs is None and crs is not None:
        frame = frame.set_crs(crs)
    frame = _to_wgs84(frame)
    out = normalise(frame, kind)
    rows = offset + np.arange(len(out))
    id_column = ID_COLUMN[kind]
    columns = [c for c in frame.columns if c != frame.geometry.name]
    source = guess_mapping(columns, kind).get(id_column)
    generated = _text(frame, source).isna().to_numpy()
    prefix = "C" if kind == "concessions" else "S"
    out.loc[generated, id_column] = [f"{prefix}{r + 1}" for r in rows[generated]]
    out[ROW] = rows
    return out


def _ids_of(frame: gpd.GeoDataFrame, *, kind: LayerKind) -> np.ndarray:
    return frame[ID_COLUMN[kind]].astype(str).to_numpy()


def _validate_part(
    frame: gpd.GeoDataFrame, kind: LayerKind, renames: dict[int, str], details: dict[int, str]
) -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    """Validate one partition; its report with rows of the whole layer.

    Layer-wide rules are left to the merge: duplicates are renamed beforehand (``renames``,
    reported here for the features kept), and ``far_outside`` is decided on the whole layer.
    """
    id_column = ID_COLUMN[kind]
    original = frame[id_column].astype(str).to_numpy()
    rows = frame[ROW].to_numpy()
    frame = frame.copy()
    if renames:
        renamed = np.isin(rows, list(renames))
        frame.loc[renamed, id_column] = [renames[int(r)] for r in rows[renamed]]
    try:
        clean, report = validate_layer(frame, kind)
    except GeometryError:  # nothing usable in this partition: other partitions may have some
        clean, report = _validate_unusable(frame, kind)
    issues = report.issues[report.issues["rule"] != "far_outside"].copy()
    issues["row"] = rows[issues["row"].to_numpy(dtype=int) - 1] + 1
    kept_rows = set(clean[ROW].tolist())
    duplicate = pd.DataFrame({
        "rule": "duplicate_id",
        "row": [r + 1 for r in renames if r in kept_rows],
        "id": [original[np.flatnonzero(rows == r)[0]] for r in renames if r in kept_rows],
        "detail": [details[r] for r in renames if r in kept_rows],
    }, columns=list(REPORT_COLUMNS))
    counts = {
        "issues": pd.concat([issues, duplicate], ignore_index=True)[list(REPORT_COLUMNS)],
        "n_input": report.n_input, "n_kept": report.n_kept,
        "n_repaired": report.n_repaired, "n_dropped": report.n_dropped,
        "points": _points(clean, id_column, original, rows),
    }
    return clean, counts


def _validate_unusable(
    frame: gpd.GeoDataFrame, kind: LayerKind
) -> tuple[gpd.GeoDataFrame, ValidationReport]:
    """A partition of which nothing is usable: its report, with one usable stand-in feature
    added and taken out again so that validation runs to its end."""
    stand_in = frame.iloc[:1].copy()
    stand_in[ID_COLUMN[kind]] = "\x00stand-in"
    stand_in[ROW] = -1
    stand_in = stand_in.set_geometry(gpd.GeoSeries([shapely.box(0, 0, 1e-4, 1e-4)],
                                                   index=stand_in.index, crs=frame.crs))
    padded = pd.concat([frame, stand_in], ignore_index=True)
    clean, report = validate_layer(gpd.GeoDataFrame(padded, crs=frame.crs), kind)
    issues = report.issues[report.issues["row"] <= len(frame)]
    return clean.iloc[:0], ValidationReport(
        kind=kind, issues=issues, n_input=len(frame), n_kept=0, n_repaired=0,
        n_dropped=len(frame))


def _points(
    clean: gpd.GeoDataFrame, id_column: str, original: np.ndarray, rows: np.ndarray
) -> pd.DataFrame:
    """Representative point and original id of each kept feature, for layer-wide checks."""
    points = shapely.point_on_surface(np.asarray(clean.geometry.values, dtype=object))
    position = pd.Series(np.arange(len(rows)), index=rows)
    ids = original[position.reindex(clean[ROW].to_numpy()).to_numpy(dtype=int)]
    return pd.DataFrame({ROW: clean[ROW].to_numpy(), "x": shapely.get_x(points),
                         "y": shapely.get_y(points), "id": ids})


def _merged_report(
    client: Client, clean: list[Future], reports: list[Future], kind: LayerKind, n_rows: int,
    reference: tuple[float, float, float, float] | None,
) -> tuple[ValidationReport, np.ndarray]:
    """Partition reports merged, with the layer-wide rules applied to the whole layer; and
    the representative points of the features kept."""
    parts: list[dict[str, Any]] = client.gather(reports)
    points = pd.concat([p["points"] for p in parts], ignore_index=True).sort_values(ROW)
    if len(points) == 0:
        detail = _("The layer has no features.")
        message = (_("No usable concessions are left in the file.") if kind == "concessions"
                   else _("No usable sites are left in the file."))
        raise GeometryError(f"{message} {detail}")
    geoms = shapely.points(points["x"].to_numpy(), points["y"].to_numpy())
    if reference is not None:
        bounds = np.array(client.gather(client.map(_bounds_of, clean, pure=False)), dtype=float)
        present = bounds[np.isfinite(bounds).all(axis=1)]
        total = shapely.box(present[:, 0].min(), present[:, 1].min(), present[:, 2].max(),
                            present[:, 3].max())
        check_swapped(np.array([total]), reference)
    far = _far_outside(client, clean, geoms, points)
    keep = np.ones(len(points), dtype=bool)
    far_issues = _issues("far_outside", far, points["id"].to_numpy(dtype=object),
                         _distance_detail(geoms, keep, far))
    far_issues["row"] = points[ROW].to_numpy()[far_issues["row"].to_numpy(dtype=int) - 1] + 1
    issues = pd.concat([*(p["issues"] for p in parts), far_issues], ignore_index=True)
    issues = issues.sort_values(["row", "rule"], kind="stable").reset_index(drop=True)
    return ValidationReport(
        kind=kind, issues=issues, n_input=n_rows,
        n_kept=int(sum(p["n_kept"] for p in parts)),
        n_repaired=int(sum(p["n_repaired"] for p in parts)),
        n_dropped=int(sum(p["n_dropped"] for p in parts)),
    ), geoms


def _far_outside(
    client: Client, clean: list[Future], points: np.ndarray, table: pd.DataFrame
) -> np.ndarray:
    """:func:`geo.validate._far_outside` on the whole layer from its representative points;
    isolation is confirmed on the geometries, partition by partition."""
    far = np.zeros(len(points), dtype=bool)
    if len(points) < 10:
        return far
    keep = np.ones(len(points), dtype=bool)
    distance = _distance_to_centre_km(points, keep)
    spread = np.nanpercentile(distance, 95)
    far |= distance > max(OUTLIER_SPREAD_FACTOR * spread, OUTLIER_MIN_KM)
    # Points are inside their features: a feature whose point is not isolated is not either.
    candidates = _isolated(points, np.arange(len(points)))
    if len(candidates):
        rows = table[ROW].to_numpy()[candidates]
        pieces = client.gather(client.map(_take_rows, clean, rows=rows, pure=False))
        found = pd.concat(pieces, ignore_index=True).set_index(ROW).loc[rows]
        geoms = np.asarray(found.geometry.values, dtype=object)
        gaps = client.gather(client.map(_nearest_gap_deg, clean, candidates=geoms, pure=False))
        gap = np.min(np.vstack(gaps), axis=0)
        far[candidates[gap * KM_PER_DEGREE > OUTLIER_MIN_KM]] = True
    return far


def _take_rows(frame: gpd.GeoDataFrame, *, rows: np.ndarray) -> gpd.GeoDataFrame:
    return frame[frame[ROW].isin(rows)]


def _nearest_gap_deg(frame: gpd.GeoDataFrame, *, candidates: np.ndarray) -> np.ndarray:
    """Per candidate, distance (degrees) to the nearest other feature of this partition."""
    gap = np.full(len(candidates), np.inf)
    if len(frame) == 0:
        return gap
    tree = shapely.STRtree(np.asarray(frame.geometry.values, dtype=object))
    (source, _nearest), distance = tree.query_nearest(
        candidates, exclusive=True, all_matches=False, return_distance=True)
    np.minimum.at(gap, source, distance)
    return gap


def _bounds_of(frame: gpd.GeoDataFrame) -> list[float]:
    if len(frame) == 0:
        return [np.nan] * 4
    return [float(v) for v in frame.total_bounds]


def _rows_of(frame: gpd.GeoDataFrame) -> np.ndarray:
    return frame[ROW].to_numpy(dtype=np.int64)


# --- step 2: spatial partitions -----------------------------------------------------------


def _spatial_partitions(client: Client, clean: list[Future], rows: int) -> list[Future]:
    """Hilbert-sorted partitions of about ``rows`` features (Dask's ``set_index`` shuffle)."""
    bounds = np.array(client.gather(client.map(_bounds_of, clean, pure=False)), dtype=float)
    present = bounds[np.isfinite(bounds).all(axis=1)]
    total = np.array([present[:, 0].min(), present[:, 1].min(), present[:, 2].max(),
                      present[:, 3].max()])
    keyed = client.map(_with_hilbert, clean, total_bounds=total, pure=False)
    distances = np.concatenate(client.gather(client.map(_hilbert_of, keyed, pure=False)))
    count = max(1, math.ceil(len(distances) / rows))
    cuts = np.unique(np.quantile(distances, np.linspace(0, 1, count + 1), method="lower"))
    divisions = [int(v) for v in cuts] if len(cuts) > 1 else [int(cuts[0]), int(cuts[0]) + 1]
    with dask.config.set(_PANDAS_DTYPES):
        frame = dd.from_delayed(keyed, meta=_meta(client, keyed), verify_meta=False)
        shuffled = frame.set_index(HILBERT, divisions=divisions)
        parts = client.compute(shuffled.to_delayed())
    sizes = client.gather(client.map(len, parts, pure=False))
    return [part for part, size in zip(parts, sizes, strict=True) if size > 0]


def _with_hilbert(frame: gpd.GeoDataFrame, *, total_bounds: np.ndarray) -> gpd.GeoDataFrame:
    distance = _hilbert_distance(frame, total_bounds, 16) if len(frame) else []
    return frame.assign(**{HILBERT: np.asarray(distance, dtype=np.int64)})


def _hilbert_of(frame: gpd.GeoDataFrame) -> np.ndarray:
    return frame[HILBERT].to_numpy()


def _empty_like(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.iloc[:0]


def _meta(client: Client, parts: list[Future]) -> Any:
    """An empty frame with the columns and dtypes of the first non-empty partition."""
    sizes = client.gather(client.map(len, parts, pure=False))
    first = next((p for p, size in zip(parts, sizes, strict=True) if size), parts[0])
    return client.submit(_empty_like, first, pure=False).result()


# --- step 3: overlaps per concession partition --------------------------------------------


def search_box(
    bounds: Sequence[float], distance_km: float
) -> tuple[float, float, float, float]:
    """``bounds`` grown by ``distance_km`` in every direction, in degrees, never too small.

    Latitude grows by ``distance / 110.5`` degrees; longitude by ``distance / (111.0 cos φ)``
    where φ is the most poleward latitude the grown box reaches (a geodesic's change of
    longitude per km is at most ``1 / (R cos φ)`` along it). Past 89.9° the box spans every
    longitude.

    Examples
    --------
    >>> [round(v, 3) for v in search_box((10, 0, 11, 1), 11.05)]
    [9.9, -0.1, 11.1, 1.1]
    """
    box = search_boxes(np.asarray([bounds], dtype=float), np.asarray([distance_km]))[0]
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def search_boxes(bounds: np.ndarray, distance_km: np.ndarray) -> np.ndarray:
    """:func:`search_box` of each row of ``bounds`` (n, 4) with its own distance (n,)."""
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    distance = np.broadcast_to(np.asarray(distance_km, dtype=float), (len(bounds),))
    dlat = distance / _KM_PER_DEG_LAT
    lat = np.maximum(np.abs(bounds[:, 1] - dlat), np.abs(bounds[:, 3] + dlat))
    polar = lat >= 89.9
    dlon = distance / (_KM_PER_DEG_LON * np.cos(np.radians(np.minimum(lat, 89.9))))
    boxes = np.column_stack([bounds[:, 0] - dlon, np.maximum(bounds[:, 1] - dlat, -90.0),
                             bounds[:, 2] + dlon, np.minimum(bounds[:, 3] + dlat, 90.0)])
    boxes[polar, 0], boxes[polar, 2] = -180.0, 180.0
    return boxes


def _meets(bounds: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Which rows of ``bounds`` (n, 4) meet ``box``."""
    minx, miny, maxx, maxy = box
    return ((bounds[:, 0] <= maxx) & (bounds[:, 2] >= minx) & (bounds[:, 1] <= maxy)
            & (bounds[:, 3] >= miny))


@dataclass
class _PartitionOverlaps:
    """One concession partition's overlaps, kept on its worker."""

    overlaps: Overlaps
    conc_rows: np.ndarray
    site_rows: np.ndarray
    facts: dict[str, pd.DataFrame]


def _overlap_partitions(
    client: Client, conc: _Partitioned, site: _Partitioned, rings: tuple[float, ...],
    radius_m: float | None,
) -> list[Future]:
    reach = rings[-1] * _RING_MARGIN
    futures = []
    for part, bounds in zip(conc.parts, conc.bounds, strict=True):
        box = search_box(bounds, reach)
        near = [p for p, hit in zip(site.parts, _meets(site.bounds, box), strict=True) if hit]
        futures.append(client.submit(_overlap_partition, part, box, rings, radius_m, *near,
                                     pure=False))
    return futures


def _near_sites(parts: Sequence[gpd.GeoDataFrame], box: Sequence[float]) -> gpd.GeoDataFrame:
    """The sites of ``parts`` whose bounds meet ``box``, in layer order."""
    frames = [p for p in parts if len(p)]
    if not frames:
        return parts[0].iloc[:0].reset_index(drop=True) if parts else gpd.GeoDataFrame(
            {"site_id": pd.Series(dtype=object), ROW: pd.Series(dtype=np.int64)},
            geometry=gpd.GeoSeries([], crs=4326), crs=4326)
    sites = pd.concat(frames)
    hits = sites.sindex.query(shapely.box(*box))
    return sites.iloc[np.sort(hits)].sort_values(ROW).reset_index(drop=True)


def _overlap_partition(
    conc: gpd.GeoDataFrame, box: Sequence[float], rings: tuple[float, ...],
    radius_m: float | None, *site_parts: gpd.GeoDataFrame,
) -> _PartitionOverlaps:
    """:func:`geo.overlap.compute_overlaps` of one concession partition and its near sites."""
    conc = conc.sort_values(ROW).reset_index(drop=True)
    sites = _near_sites(site_parts, box)
    overlaps = compute_overlaps(conc, sites, rings_km=rings, radius_m=radius_m)
    facts = _partition_facts(overlaps, conc, sites)
    light = Overlaps(
        concessions=pd.DataFrame(overlaps.concessions.drop(columns="geometry")),
        sites=overlaps.sites[["site_id", "workers", *RED_FLAGS]].copy(),
        zones=overlaps.zones, pairs=overlaps.pairs,
        footprints=gpd.GeoSeries([], crs=4326), rings_km=overlaps.rings_km,
        radius_m=overlaps.radius_m,
    )
    return _PartitionOverlaps(light, conc[ROW].to_numpy(), sites[ROW].to_numpy(), facts)


def _ranks(concessions: pd.DataFrame) -> np.ndarray:
    rank = concessions["lic_type"].map(_RANK_OF_LIC).fillna(len(LIC_TYPES) - 1)
    return rank.to_numpy(dtype=int)


def _partition_facts(
    overlaps: Overlaps, conc: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
) -> dict[str, pd.DataFrame]:
    """What the merge needs from a partition, keyed by layer rows.

    ``interior``: per site inside a concession's interior here, how many and the best
    (rank, conc_id); ``boundary``: the point sites this partition counted inside by the
    boundary rule, for the merge to decide once; ``nearest``: each other site's nearest
    concession here.
    """
    conc_rows, site_rows = conc[ROW].to_numpy(), sites[ROW].to_numpy()
    rank, ids = _ranks(conc), conc["conc_id"].astype(str).to_numpy()
    inside = overlaps.pairs[overlaps.pairs["inside"]]
    s, c = inside["site"].to_numpy(dtype=int), inside["conc"].to_numpy(dtype=int)
    site_geoms = np.asarray(sites.geometry.values, dtype=object)[s]
    conc_geoms = np.asarray(conc.geometry.values, dtype=object)[c]
    on_boundary = _is_point(site_geoms) & ~shapely.contains(conc_geoms, site_geoms)
    pairs = pd.DataFrame({"site_row": site_rows[s], "conc_row": conc_rows[c],
                          "rank": rank[c], "conc_id": ids[c]})
    interior = pairs[~on_boundary]
    counted = interior.groupby("site_row").size().rename("n")
    best = interior.sort_values(["site_row", "rank", "conc_id"]).drop_duplicates("site_row")
    best = best.set_index("site_row")[["rank", "conc_id"]].join(counted).reset_index()
    return {"interior": best, "boundary": pairs[on_boundary].reset_index(drop=True),
            "nearest": _partition_nearest(overlaps, conc_rows, site_rows)}


def _partition_nearest(
    overlaps: Overlaps, conc_rows: np.ndarray, site_rows: np.ndarray
) -> pd.DataFrame:
    """Nearest concession of this partition for each site inside none of it: from the ring
    pairs (unrounded distances, ties to the first concession in the layer) when it has any,
    else the single-machine nearest search."""
    table = overlaps.sites
    outside = (table["n_conc"] == 0).to_numpy()
    ring = overlaps.pairs[~overlaps.pairs["inside"]]
    ring = ring[outside[ring["site"].to_numpy(dtype=int)]]
    from_pairs = pd.DataFrame({
        "site_row": site_rows[ring["site"].to_numpy(dtype=int)],
        "dist_km": ring["dist_km"].to_numpy(dtype=float),
        "near_row": conc_rows[ring["conc"].to_numpy(dtype=int)],
    })
    row_of = pd.Series(conc_rows, index=overlaps.concessions["conc_id"].astype(str).to_numpy())
    searched = outside & ~np.isin(site_rows, from_pairs["site_row"].to_numpy())
    searched &= table["near_id"].notna().to_numpy()
    from_search = pd.DataFrame({
        "site_row": site_rows[searched],
        "dist_km": table["dist_km"].to_numpy(dtype=float)[searched],
        "near_row": row_of.reindex(table["near_id"].to_numpy()[searched]).to_numpy(),
    })
    nearest = pd.concat([from_pairs, from_search], ignore_index=True)
    nearest = nearest.sort_values(["site_row", "dist_km", "near_row"]).drop_duplicates(
        "site_row")
    ids = pd.Series(overlaps.concessions["conc_id"].astype(str).to_numpy(), index=conc_rows)
    return nearest.assign(near_id=ids.reindex(nearest["near_row"]).to_numpy()).astype(
        {"near_row": np.int64})


def _facts_of(result: _PartitionOverlaps) -> dict[str, pd.DataFrame]:
    return result.facts


# --- step 4: merging per site -------------------------------------------------------------


@dataclass
class _Merged:
    """Per site row: the deciding concession, n_conc and the nearest concession."""

    decided: pd.DataFrame  # index site_row: rank, conc_id, n_conc
    nearest: pd.DataFrame  # index site_row: dist_km, near_row, near_id
    demoted: pd.DataFrame  # site_row, conc_row: boundary pairs another concession won


def _merge_facts(facts: list[dict[str, pd.DataFrame]], site: _Partitioned) -> _Merged:
    interior = pd.concat([f["interior"] for f in facts], ignore_index=True)
    boundary = pd.concat([f["boundary"] for f in facts], ignore_index=True)
    nearest = pd.concat([f["nearest"] for f in facts], ignore_index=True)
    counts = interior.groupby("site_row")["n"].sum()
    best = interior.sort_values(["site_row", "rank", "conc_id"]).drop_duplicates("site_row")
    best = best.set_index("site_row")[["rank", "conc_id"]].assign(n_conc=counts)
    open_boundary = boundary[~boundary["site_row"].isin(counts.index)]
    chosen = open_boundary.sort_values(["site_row", "rank", "conc_id"]).drop_duplicates(
        "site_row")
    demoted = boundary.merge(chosen[["site_row", "conc_row"]], how="left", indicator=True)
    demoted = demoted.loc[demoted["_merge"] == "left_only", ["site_row", "conc_row"]]
    decided = pd.concat([
        best, chosen.set_index("site_row")[["rank", "conc_id"]].assign(n_conc=1),
    ])
    outside = nearest[~nearest["site_row"].isin(decided.index)]
    closest = outside.sort_values(["site_row", "dist_km", "near_row"]).drop_duplicates(
        "site_row").set_index("site_row")
    return _Merged(decided, closest[["dist_km", "near_row", "near_id"]],
                   demoted.reset_index(drop=True))


def _nearest_for_far_sites(
    client: Client, conc: _Partitioned, site: _Partitioned, merged: _Merged,
    rings: tuple[float, ...], radius_m: float | None, steps: _Steps,
) -> None:
    """Nearest concession of the sites that no partition saw within the outer ring.

    First in the concession partition whose bounds are closest, then in every partition
    whose bounds lie within that distance (:func:`search_box`); the minimum wins.
    """
    steps.at("nearest")
    all_rows = np.concatenate(site.rows) if site.rows else np.array([], dtype=np.int64)
    known = merged.nearest["dist_km"].reindex(all_rows).to_numpy()
    far_rows = all_rows[~np.isin(all_rows, merged.decided.index.to_numpy())
                        & ~(known <= rings[-1])]
    if len(far_rows) == 0:
        steps.at("nearest", 1.0)
        return
    pieces = client.gather(client.map(_take_rows, site.parts, rows=far_rows, pure=False))
    far = pd.concat(pieces, ignore_index=True).sort_values(ROW).reset_index(drop=True)
    bounds = np.asarray(shapely.bounds(np.asarray(far.geometry.values, dtype=object)))
    first = _closest_partition(bounds, conc.bounds)
    found = _nearest_in_partitions(client, conc, far, {i: first == i for i in set(first)},
                                   rings, radius_m)
    steps.at("nearest", 0.5)
    upper = found.set_index("site_row")["dist_km"].reindex(far[ROW]).to_numpy()
    boxes = search_boxes(bounds, upper)
    masks: dict[int, np.ndarray] = {}
    for i, part_bounds in enumerate(conc.bounds):
        reach = _meets(boxes, part_bounds) & (first != i)
        if reach.any():
            masks[i] = reach
    more = _nearest_in_partitions(client, conc, far, masks, rings, radius_m)
    candidates = pd.concat([merged.nearest.reset_index(), found, more], ignore_index=True)
    candidates = candidates[candidates["site_row"].isin(far_rows)]
    best = candidates.sort_values(["site_row", "dist_km", "near_row"]).drop_duplicates(
        "site_row").set_index("site_row")[["dist_km", "near_row", "near_id"]]
    merged.nearest = pd.concat([merged.nearest.drop(index=best.index, errors="ignore"), best])
    steps.at("nearest", 1.0)


def _closest_partition(bounds: np.ndarray, part_bounds: np.ndarray) -> np.ndarray:
    """Per feature bounds, the partition whose bounds are closest in degrees."""
    dx = np.maximum(0, np.maximum(part_bounds[None, :, 0] - bounds[:, None, 2],
                                  bounds[:, None, 0] - part_bounds[None, :, 2]))
    dy = np.maximum(0, np.maximum(part_bounds[None, :, 1] - bounds[:, None, 3],
                                  bounds[:, None, 1] - part_bounds[None, :, 3]))
    return np.argmin(np.hypot(dx, dy), axis=1)


def _nearest_in_partitions(
    client: Client, conc: _Partitioned, far: gpd.GeoDataFrame, masks: dict[int, np.ndarray],
    rings: tuple[float, ...], radius_m: float | None,
) -> pd.DataFrame:
    futures = [client.submit(_nearest_in, conc.parts[i], far[mask], rings, radius_m,
                             pure=False)
               for i, mask in masks.items()]
    frames = client.gather(futures)
    empty = pd.DataFrame({"site_row": pd.Series(dtype=np.int64),
                          "dist_km": pd.Series(dtype=float),
                          "near_row": pd.Series(dtype=np.int64),
                          "near_id": pd.Series(dtype=object)})
    return pd.concat([empty, *frames], ignore_index=True)


def _nearest_in(
    conc: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, rings: tuple[float, ...],
    radius_m: float | None,
) -> pd.DataFrame:
    """Each site's nearest concession of one partition (the single-machine search)."""
    conc = conc.sort_values(ROW).reset_index(drop=True)
    sites = sites.reset_index(drop=True)
    overlaps = compute_overlaps(conc, sites, rings_km=rings, radius_m=radius_m)
    return _partition_nearest(overlaps, conc[ROW].to_numpy(), sites[ROW].to_numpy())


# --- step 5: tables and totals ------------------------------------------------------------


def _demoted_by_partition(merged: _Merged, conc: _Partitioned) -> list[pd.DataFrame]:
    owner = pd.Series(
        np.concatenate([np.full(len(r), i) for i, r in enumerate(conc.rows)]),
        index=np.concatenate(conc.rows),
    )
    demoted = merged.demoted.assign(part=owner.reindex(merged.demoted["conc_row"]).to_numpy())
    return [demoted.loc[demoted["part"] == i, ["site_row", "conc_row"]]
            for i in range(len(conc.parts))]


def _concession_table(result: _PartitionOverlaps, demoted: pd.DataFrame) -> pd.DataFrame:
    """:func:`geo.stats.concession_stats` of one partition, with the merged boundary rule:
    a boundary point another concession won is in this one's first ring, at 0 km."""
    overlaps = result.overlaps
    pairs = overlaps.pairs.copy()
    if len(demoted):
        site_at = pd.Series(np.arange(len(result.site_rows)), index=result.site_rows)
        conc_at = pd.Series(np.arange(len(result.conc_rows)), index=result.conc_rows)
        keys = pd.MultiIndex.from_arrays([site_at.reindex(demoted["site_row"]).to_numpy(),
                                          conc_at.reindex(demoted["conc_row"]).to_numpy()])
        hit = pd.MultiIndex.from_arrays([pairs["site"], pairs["conc"]]).isin(keys)
        hit &= pairs["inside"].to_numpy()
        pairs.loc[hit, ["inside", "dist_km", "ring"]] = [False, 0.0, 1]
        pairs = pairs.astype({"inside": bool, "ring": int})
    table = concession_stats(Overlaps(
        concessions=overlaps.concessions, sites=overlaps.sites, zones=overlaps.zones,
        pairs=pairs, footprints=overlaps.footprints, rings_km=overlaps.rings_km,
        radius_m=overlaps.radius_m,
    ))
    return table.assign(**{ROW: result.conc_rows})


def _zones_of(result: _PartitionOverlaps) -> gpd.GeoDataFrame:
    zones = result.overlaps.zones
    row_of = pd.Series(result.conc_rows, index=result.overlaps.concessions["conc_id"].to_numpy())
    return zones.assign(**{ROW: row_of.reindex(zones["conc_id"]).to_numpy(dtype=np.int64)})


def _site_decisions(merged: _Merged, rows: np.ndarray) -> pd.DataFrame:
    """The merged relations of the sites of one partition (rows in that partition's order)."""
    decided = merged.decided.reindex(rows)
    nearest = merged.nearest.reindex(rows)
    return pd.DataFrame({
        "rank": decided["rank"].to_numpy(), "conc_id": decided["conc_id"].to_numpy(),
        "n_conc": decided["n_conc"].fillna(0).to_numpy(dtype=int),
        "dist_km": nearest["dist_km"].to_numpy(dtype=float),
        "near_id": nearest["near_id"].to_numpy(dtype=object),
    }, index=rows)


def _site_partition_table(
    sites: gpd.GeoDataFrame, decisions: pd.DataFrame, radius_m: float | None
) -> pd.DataFrame:
    """The per-site table (:data:`geo.schema.SITE_RESULT_COLUMNS`) of one site partition,
    built by the single-machine builder from the merged relations."""
    geoms = np.asarray(sites.geometry.values, dtype=object)
    inside = decisions["conc_id"].notna().to_numpy()
    ids = np.concatenate([decisions["conc_id"].to_numpy(dtype=object)[inside],
                          decisions["near_id"].dropna().to_numpy(dtype=object)])
    conc_ids, index = np.unique(ids.astype(str), return_inverse=True) if len(ids) else (
        np.array([], dtype=object), np.array([], dtype=int))
    rank = np.full(len(conc_ids), len(LIC_TYPES) - 1)
    rank[index[:inside.sum()]] = decisions["rank"].to_numpy()[inside].astype(int)
    deciding = pd.DataFrame({"site": np.flatnonzero(inside), "conc": index[:inside.sum()]})
    has_near = decisions["near_id"].notna().to_numpy()
    near = np.full(len(sites), -1)
    near[has_near] = index[inside.sum():]
    nearest = pd.DataFrame({"conc": near, "dist_km": np.where(
        inside, 0.0, decisions["dist_km"].to_numpy(dtype=float))})
    table = _site_table(sites, geoms, _footprints(geoms, radius_m), deciding, rank,
                        conc_ids.astype(object), nearest)
    table["n_conc"] = decisions["n_conc"].to_numpy(dtype=int)
    return table.assign(**{ROW: sites[ROW].to_numpy()})


def _totals(
    client: Client, conc: _Partitioned, site: _Partitioned, zone_parts: list[Future],
    site_tables: list[Future], radius_m: float | None, steps: _Steps,
) -> dict[str, object]:
    """:func:`geo.stats.totals` over the partitions: counts summed, union areas merged."""
    counted = client.gather(client.map(_site_counts, site_tables, pure=False))
    n_sites = int(sum(c["sites"] for c in counted))
    inside = int(sum(c["sites_in"] for c in counted))
    tenure = pd.DataFrame([c["tenure"] for c in counted]).sum()
    steps.at("totals", 0.2)
    conc_geoms = client.map(_geometries, conc.parts, pure=False)
    zone_geoms = client.map(_geometries, zone_parts, pure=False)
    footprints = client.map(_site_footprints, site.parts, radius_m=radius_m, pure=False)
    merged: dict[str, object] = {
        "concessions": int(sum(len(r) for r in conc.rows)),
        "sites": n_sites,
        "sites_in": inside,
        "sites_in_pct": round(100.0 * float(inside) / n_sites, 2) if n_sites else 0.0,
        "concession_ha": union_area_ha(client, conc_geoms),
        "overlap_ha": union_area_ha(client, zone_geoms),
        "site_ha": union_area_ha(client, footprints),
        "tenure": {str(k): int(v) for k, v in tenure.items()},
    }
    # The keys in the order geo.stats.totals gives them; the other counts are sums.
    return {key: merged[key] if key in merged else int(sum(c[key] for c in counted))
            for key in counted[0]}


def _site_counts(table: pd.DataFrame) -> dict[str, object]:
    """:func:`geo.stats.totals` of one partition of the site table (its areas are 0: the
    caller measures unions over all partitions)."""
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4326))
    overlaps = Overlaps(concessions=empty, sites=table.drop(columns=[ROW]),
                        zones=empty, pairs=pd.DataFrame(),
                        footprints=gpd.GeoSeries([], crs=4326), rings_km=(1.0,), radius_m=None)
    return totals(overlaps)


def _geometries(frame: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(frame.geometry.values, dtype=object)


def _site_footprints(sites: gpd.GeoDataFrame, *, radius_m: float | None) -> np.ndarray:
    return _footprints(np.asarray(sites.geometry.values, dtype=object), radius_m)


def union_area_ha(client: Client, parts: Sequence[Future]) -> float:
    """Area (ha) of the union of geometries spread over spatial partitions.

    As :func:`geo.stats.union_ha`: features whose interiors overlap (directly or through
    others) form a group measured once. Groups inside one partition are merged there;
    groups that cross partition edges are found from the overlapping pairs between
    partitions whose bounds meet, and merged on the client.

    Parameters
    ----------
    client : distributed.Client
    parts : list of Future
        Futures of object arrays of geometries (missing and empty ones are left out).
    """
    prepared = client.map(_union_prepare, parts, pure=False)
    bounds = np.array(client.gather(client.map(_prepared_bounds, prepared, pure=False)),
                      dtype=float).reshape(-1, 4)
    present = np.isfinite(bounds).all(axis=1)
    edges = []
    for i in np.flatnonzero(present):
        for j in np.flatnonzero(present):
            if j > i and _meets(bounds[j][None, :], bounds[i])[0]:
                # Only the features in the two partitions' common box can overlap.
                box = (*np.maximum(bounds[i][:2], bounds[j][:2]),
                       *np.minimum(bounds[i][2:], bounds[j][2:]))
                a = client.submit(_in_box, prepared[i], box, pure=False)
                b = client.submit(_in_box, prepared[j], box, pure=False)
                edges.append((i, j, client.submit(_cross_pairs, a, b, pure=False)))
    crossing = _crossing_groups([(int(i), int(j), f.result()) for i, j, f in edges])
    sums = client.gather([
        client.submit(_union_local, prepared[i], crossing.get(i, {}), pure=False)
        for i in range(len(prepared))
    ])
    total = float(sum(area for area, _members in sums))
    pieces = [members for _area, members in sums if len(members)]
    if pieces:
        spanning = pd.concat(pieces, ignore_index=True)
        merged = gpd.GeoDataFrame(spanning, geometry="geometry", crs=4326).dissolve(by="group")
        total += float(area_ha(merged.geometry.values).sum())
    return total


@dataclass
class _UnionPart:
    geoms: np.ndarray
    labels: np.ndarray


def _union_prepare(geoms: np.ndarray) -> _UnionPart:
    present = geoms[shapely.is_geometry(geoms) & ~shapely.is_empty(geoms)]
    labels = overlap_groups(present) if len(present) else np.array([], dtype=int)
    return _UnionPart(present, labels)


def _prepared_bounds(part: _UnionPart) -> list[float]:
    if len(part.geoms) == 0:
        return [np.nan] * 4
    return [float(v) for v in shapely.total_bounds(part.geoms)]


def _in_box(part: _UnionPart, box: Sequence[float]) -> _UnionPart:
    """The features of ``part`` whose bounds meet ``box``."""
    hits = np.flatnonzero(_meets(shapely.bounds(part.geoms), box))
    return _UnionPart(part.geoms[hits], part.labels[hits])


def _cross_pairs(a: _UnionPart, b: _UnionPart) -> np.ndarray:
    """Group labels (in ``a``, in ``b``) of features whose interiors overlap."""
    left, right = shapely.STRtree(b.geoms).query(a.geoms, predicate="intersects")
    overlapping = ~shapely.touches(a.geoms[left], b.geoms[right])
    pairs = np.column_stack([a.labels[left[overlapping]], b.labels[right[overlapping]]])
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def _crossing_groups(
    edges: list[tuple[int, int, np.ndarray]]
) -> dict[int, dict[int, int]]:
    """``partition -> {local group label: global group}`` for groups crossing partitions."""
    links = [pd.DataFrame({"part_a": i, "label_a": pairs[:, 0], "part_b": j,
                           "label_b": pairs[:, 1]})
             for i, j, pairs in edges if len(pairs)]
    if not links:
        return {}
    pairs = pd.concat(links, ignore_index=True)
    ends = [pairs[[f"part_{end}", f"label_{end}"]].set_axis(["part", "label"], axis=1)
            for end in ("a", "b")]
    nodes = pd.concat(ends).drop_duplicates().reset_index(drop=True)
    nodes["node"] = np.arange(len(nodes))
    left, right = (end.merge(nodes, how="left", on=["part", "label"])["node"].to_numpy()
                   for end in ends)
    labels = connected_labels(len(nodes), left, right)
    crossing: dict[int, dict[int, int]] = {}
    for part, label, group in zip(nodes["part"], nodes["label"], labels, strict=True):
        crossing.setdefault(int(part), {})[int(label)] = int(group)
    return crossing


def _union_local(part: _UnionPart, crossing: dict[int, int]) -> tuple[float, pd.DataFrame]:
    """Union area of the groups that stay in this partition, and the members of the others."""
    if len(part.geoms) == 0:
        return 0.0, pd.DataFrame()
    spans = np.isin(part.labels, list(crossing))
    geoms, labels = part.geoms[~spans], part.labels[~spans]
    sizes = pd.Series(labels).value_counts()
    alone = sizes.reindex(labels).to_numpy() == 1
    total = float(area_ha(geoms[alone]).sum())
    if (~alone).any():
        frame = gpd.GeoDataFrame({"group": labels[~alone]}, geometry=list(geoms[~alone]),
                                 crs=4326)
        total += float(area_ha(frame.dissolve(by="group").geometry.values).sum())
    spanning = pd.DataFrame({
        "group": [crossing[int(label)] for label in part.labels[spans]],
        "geometry": list(part.geoms[spans]),
    })
    return total, spanning


# --- step 6: writing ----------------------------------------------------------------------


def write_cluster_outputs(
    client: Client, result: ClusterResult, outdir: str | os.PathLike[str],
    info: dict[str, object], *, progress: _Steps | None = None,
) -> list[Path]:
    """Write the output folder of a cluster run, one partition at a time, in layer order.

    Returns
    -------
    list of Path
        ``zones.gpkg``, ``concessions.csv``, ``sites.csv``, ``summary.json`` and, with more
        than :data:`LARGE_ZONE_COUNT` zones, ``zones/`` (GeoParquet parts).
    """
    with dask.config.set(_PANDAS_DTYPES):
        return _write_outputs(client, result, Path(outdir), info, progress)


def _write_outputs(
    client: Client, result: ClusterResult, out: Path, info: dict[str, object],
    progress: _Steps | None,
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    zones_path = out / "zones.gpkg"
    zones_path.unlink(missing_ok=True)
    n_zones = sum(client.gather(client.map(len, result.zone_parts, pure=False)))
    parquet_dir = out / "zones"
    if n_zones > LARGE_ZONE_COUNT:
        parquet_dir.mkdir(exist_ok=True)
        for old in parquet_dir.glob("part.*.parquet"):
            old.unlink()
    jobs = [
        ("zones", result.zone_parts, result.n_concessions),
        ("concessions", result.concession_tables, result.n_concessions),
        ("sites", result.site_tables, result.n_sites),
    ]
    written: list[Path] = []
    for position, (name, parts, n_rows) in enumerate(jobs):
        ordered = _in_layer_order(client, parts, n_rows)
        if name == "zones":
            _write_zones(client, ordered, zones_path,
                         parquet_dir if n_zones > LARGE_ZONE_COUNT else None)
            written.append(zones_path)
        else:
            path = out / f"{name}.csv"
            _write_csv(client, ordered, path)
            written.append(path)
        if progress is not None:
            progress.at("write", (position + 1) / (len(jobs) + 1))
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(info, indent=2, default=_json_default), encoding="utf-8")
    written.append(summary_path)
    if n_zones > LARGE_ZONE_COUNT:
        written.append(parquet_dir)
    return written


def _in_layer_order(client: Client, parts: list[Future], n_rows: int) -> list[Any]:
    """The partitions' rows put back in layer order (``set_index`` on ``_row``)."""
    meta = _meta(client, parts)
    frame = dd.from_delayed(parts, meta=meta, verify_meta=False)
    count = max(1, len(parts))
    step = max(1, math.ceil(max(n_rows, 1) / count))
    divisions = [*range(0, max(n_rows, 1), step), max(n_rows, 1)]
    return list(frame.set_index(ROW, divisions=divisions).to_delayed())


def _computed_in_order(client: Client, ordered: list[Any]) -> Iterator[Any]:
    """Compute the sorted partitions (one shuffle), yield them in order, release each after.

    Only one partition at a time comes to the client; the others wait on the workers.
    """
    futures = client.compute(ordered)
    for position in range(len(futures)):
        future = futures[position]
        yield future.result()
        future.release()
        futures[position] = None


def _write_csv(client: Client, ordered: list[Any], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        first = True
        for part in _computed_in_order(client, ordered):
            text = csv_text(part.reset_index(drop=True))
            if first:
                out.write(text)
                first = False
            elif len(part):
                out.write(text.split("\n", 1)[1])


def _write_zones(client: Client, ordered: list[Any], path: Path, parquet_dir: Path | None) -> None:
    wrote = False
    for number, part in enumerate(_computed_in_order(client, ordered)):
        zones = gpd.GeoDataFrame(part.reset_index(drop=True), geometry="geometry", crs=4326)
        zones = zones[list(ZONE_COLUMNS)]
        zones["geometry"] = shapely.force_2d(np.asarray(zones.geometry.values, dtype=object))
        if len(zones) == 0 and wrote:
            continue
        pyogrio.write_dataframe(zones, path, layer="zones", driver="GPKG", append=wrote,
                                promote_to_multi=False)
        wrote = True
        if parquet_dir is not None and len(zones):
            zones.to_parquet(parquet_dir / f"part.{number:05d}.parquet", index=False)


# --- the dashboard's background run -------------------------------------------------------


def progress_variable(name: str) -> str:
    """Name of the Dask ``Variable`` a background run reports its progress in."""
    return f"geo-progress-{name}"


def background_run(
    concessions: str, sites: str, outdir: str, *, name: str,
    rings_km: tuple[float, ...] = DEFAULT_RINGS_KM, radius_m: float | None = None,
    partition_rows: int = DEFAULT_PARTITION_ROWS, sources: dict[str, str] | None = None,
) -> dict[str, object]:
    """A whole cluster run as one task (``client.submit(background_run, ...)``).

    The task drives the run from its worker (``distributed.worker_client``) and reports its
    progress as ``{"fraction", "stage"}`` in the Variable :func:`progress_variable` (name).

    Returns
    -------
    dict
        The summary written to ``outdir/summary.json``.
    """
    with worker_client() as client:
        variable = Variable(progress_variable(name), client=client)

        def report(fraction: float, stage: str) -> None:
            variable.set({"fraction": fraction, "stage": stage})

        result, _paths = overlap_on_cluster(
            client, concessions, sites, outdir, rings_km=rings_km, radius_m=radius_m,
            partition_rows=partition_rows, sources=sources, progress=report,
        )
        summary_path = Path(outdir) / "summary.json"
        info: dict[str, object] = json.loads(summary_path.read_text(encoding="utf-8"))
        del result
        return info


def read_progress(client: Client, name: str) -> dict[str, object]:
    """The last progress a background run reported (``fraction`` 0 before it starts)."""
    try:
        value = Variable(progress_variable(name), client=client).get(timeout=0.2)
    except TimeoutError:
        return {"fraction": 0.0, "stage": "waiting"}
    return dict(value) if isinstance(value, dict) else {"fraction": 0.0, "stage": "waiting"}


def write_partitioned(frame: gpd.GeoDataFrame, folder: str | os.PathLike[str],
                      *, partition_rows: int = DEFAULT_PARTITION_ROWS) -> Path:
    """Write a layer as a GeoParquet dataset (a folder of parts) for a cluster to read."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part.*.parquet"):
        old.unlink()
    for number, start in enumerate(range(0, max(len(frame), 1), partition_rows)):
        frame.iloc[start:start + partition_rows].to_parquet(
            out / f"part.{number:05d}.parquet", index=False)
    return out


__all__ = [
    "DEFAULT_PARTITION_ROWS",
    "SCHEDULER_ENV",
    "ClusterResult",
    "analyse_on_cluster",
    "background_run",
    "cluster_client",
    "cluster_summary",
    "overlap_on_cluster",
    "read_progress",
    "search_box",
    "start_client",
    "union_area_ha",
    "write_cluster_outputs",
    "write_partitioned",
]
