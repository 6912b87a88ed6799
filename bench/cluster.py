"""The Dask engine on a local cluster: time and peak memory per worker, 1 -> N workers.

``python bench/cluster.py --size 200k|1m [--workers 1,2] [--memory-limit 4GiB]``
``python bench/cluster.py --size 2k|20k|100k --compare``

Generates the layers (``bench/generate.py``) into ``DIR/<size>`` unless they are there, then
for each worker count starts a local cluster of that many worker processes (one thread each,
``--memory-limit`` each: Dask spills to disk past 60% of it and restarts a worker past 95%),
runs :func:`geo.distributed.overlap_on_cluster` from the inputs to the output folder, and
records the wall time, each worker's peak resident memory (``ru_maxrss`` of the worker
process) and this process's (the client's) peak. With ``--compare`` the single-machine
command line runs too, and every per-concession and per-site column of the two output
folders is compared. A section is appended to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from generate import SIZES, TILED  # noqa: E402
from run import _table, machine, measured  # noqa: E402

from geo.distributed import cluster_client, overlap_on_cluster  # noqa: E402

PYTHON = sys.executable
#: Columns compared with a relative tolerance; the others must be equal as text.
NUMERIC = ("area_ha", "overlap_ha", "overlap_pct", "dist_km", "lon", "lat")
TOLERANCE = 1e-9


def inputs(size: str, data: Path) -> tuple[Path, Path]:
    folder = data / size
    if size in TILED:
        conc, sites = folder / "concessions", folder / "sites"
    else:
        conc, sites = folder / "concessions.parquet", folder / "sites.parquet"
    if not (conc.exists() and sites.exists()):
        subprocess.run([PYTHON, str(ROOT / "bench" / "generate.py"), "--size", size,
                        "--out", str(folder)], check=True)
    return conc, sites


def _worker_usage() -> tuple[float, float]:
    """Peak resident memory (MiB) and CPU seconds of the calling (worker) process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def on_cluster(conc: Path, sites: Path, out: Path, workers: int, memory_limit: str,
               partition_rows: int) -> dict[str, object]:
    """One run on a fresh local cluster of ``workers`` processes."""
    with cluster_client(workers=workers, memory_limit=memory_limit) as client:
        started = time.perf_counter()
        result, _paths = overlap_on_cluster(client, conc, sites, out,
                                            partition_rows=partition_rows)
        wall = time.perf_counter() - started
        usage = client.run(_worker_usage)
    peaks = {w: usage[w][0] for w in usage}
    return {
        "workers": workers, "memory_limit": memory_limit, "wall_s": wall,
        "peak_mib_per_worker": " / ".join(f"{peaks[w]:,.0f}" for w in sorted(peaks)),
        "cpu_s_per_worker": " / ".join(f"{usage[w][1]:,.0f}" for w in sorted(usage)),
        "max_worker_peak_mib": max(peaks.values()),
        "client_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "partitions": f"{result.partitions['concessions']} + {result.partitions['sites']}",
    }


def compare(one: Path, cluster: Path) -> pd.DataFrame:
    """Per table and column: rows compared and rows that differ (beyond 1e-9 relative)."""
    rows = []
    for name, key in (("concessions", "conc_id"), ("sites", "site_id")):
        left = pd.read_csv(one / f"{name}.csv", dtype=str, keep_default_na=False)
        right = pd.read_csv(cluster / f"{name}.csv", dtype=str, keep_default_na=False)
        right = right.set_index(key).reindex(left[key]).reset_index()
        for column in left.columns:
            if column in NUMERIC:
                a = pd.to_numeric(left[column]).to_numpy(dtype=float)
                b = pd.to_numeric(right[column]).to_numpy(dtype=float)
                scale = np.maximum(np.abs(a), np.abs(b))
                rel = np.where(scale > 0, np.abs(a - b) / np.where(scale > 0, scale, 1), 0)
                rel = np.where(np.isnan(a) & np.isnan(b), 0, rel)
                differ = int((~(rel <= TOLERANCE)).sum())
                worst = float(np.nanmax(rel)) if len(rel) else 0.0
            else:
                differ = int((left[column] != right[column]).sum())
                worst = float("nan")
            rows.append({"table": name, "column": column, "rows": len(left),
                         "differ": differ, "max_rel_diff": worst})
    totals_one = json.loads((one / "summary.json").read_text())["totals"]
    totals_cluster = json.loads((cluster / "summary.json").read_text())["totals"]
    for key, value in totals_one.items():
        other = totals_cluster[key]
        if isinstance(value, float):
            rel = abs(value - other) / max(abs(value), abs(other), 1e-300)
            rows.append({"table": "summary totals", "column": key, "rows": 1,
                         "differ": int(rel > TOLERANCE), "max_rel_diff": rel})
        else:
            rows.append({"table": "summary totals", "column": key, "rows": 1,
                         "differ": int(value != other), "max_rel_diff": float("nan")})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", required=True, choices=list(SIZES))
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "geo-bench")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--memory-limit", default="4GiB", help="per worker")
    parser.add_argument("--partition-rows", type=int, default=20_000)
    parser.add_argument("--compare", action="store_true",
                        help="also run the single-machine engine and compare every column")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    conc, sites = inputs(args.size, args.data)
    work = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{args.size}-"))
    runs = []
    for workers in [int(w) for w in args.workers.split(",")]:
        run = on_cluster(conc, sites, work / f"cluster-{workers}", workers,
                         args.memory_limit, args.partition_rows)
        print(run, file=sys.stderr)
        runs.append(run)
    timings = pd.DataFrame(runs)
    timings["speed_up"] = timings["wall_s"].iloc[0] / timings["wall_s"]
    lines = [f"## {args.size} on a Dask cluster — {dt.datetime.now().isoformat(timespec='seconds')}",
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()), "",
             (f"Data: {conc} and {sites} (bench/generate.py --size {args.size}); "
              f"partition rows {args.partition_rows}; a local cluster of worker processes "
              "with one thread each, started per run (start-up not counted)."), "",
             _table(timings.drop(columns=["max_worker_peak_mib"])), ""]
    if args.compare:
        stats = measured([PYTHON, "-m", "geo", "overlap", str(conc), str(sites), "-o",
                          str(work / "one")], work / "one.log")
        agreement = compare(work / "one", work / f"cluster-{runs[-1]['workers']}")
        differing = agreement[agreement["differ"] > 0]
        lines += [(f"Single-machine engine: {stats['wall_s']:.2f} s, peak "
                   f"{stats['peak_mib']:,.0f} MiB."), "",
                  (f"Agreement with the single-machine engine ({len(agreement)} columns and "
                   f"totals compared; areas within {TOLERANCE} relative, the rest equal): "
                   + ("every value agrees." if differing.empty else "differences below.")), ""]
        if not differing.empty:
            lines += [_table(differing), ""]
        worst = agreement[agreement["max_rel_diff"].notna()]["max_rel_diff"].max()
        lines += [f"Largest relative difference of an area, distance or total: {worst:.1e}.", ""]
    text = "\n".join(lines) + "\n"
    with args.results.open("a") as out:
        out.write(text)
    print(text)


if __name__ == "__main__":
    main()
