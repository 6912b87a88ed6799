"""One benchmark run: the engine, the floor and PostGIS on the same synthetic layers.

``python bench/run.py --size 2k|20k|100k [--data DIR] [--no-postgis] [--no-engine] [--map
[--no-reruns] [--no-browser]] [--repeat N] [--results FILE]``

Generates the layers (``bench/generate.py``) into ``DIR/<size>`` unless they are there, then

(a) runs the engine end to end through its command line (``python -m geo overlap``) as a
    subprocess,
(b) runs ``bench/floor.py`` the same way,
(c) loads the layers into a private PostGIS server (started and stopped here, as
    ``tests/conftest.py`` does) and runs ``ST_Intersection`` / ``ST_Union`` /
    ``::geography`` area with GIST indexes,
(d) with ``--map``, measures the dashboard (``bench/dashboard.py``): the Map page's first
    map (bytes, build time) and zoomed views, filtered analyses, page reruns after a filter
    change and a 10,000-site upload (Streamlit's AppTest), the time to the first drawn map
    in headless Chromium, and a screenshot of the Map page (``bench/map_<size>.png``),

(a)-(c) run ``--repeat`` times (default 3), interleaved, and report the median wall time;
checks that the three agree on every concession's overlap area within 0.01%, and appends a
section to ``bench/RESULTS.md``. Wall time and peak RSS of (a) and (b) come from
``/usr/bin/time`` (or ``getrusage(RUSAGE_CHILDREN)`` when it is missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import pyproj
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' private PostgreSQL server
import dashboard  # noqa: E402
from pg_server import private_postgres  # noqa: E402

BENCH = ROOT / "bench"
PYTHON = sys.executable
TOLERANCE = 1e-4  # 0.01%
#: Both CSVs carry six decimals of hectares: differences below this are rounding.
ROUNDING_HA = 2e-6


# --------------------------------------------------------------------------- machine

def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kb / 1024 ** 2:.1f} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
        "GEOS": shapely.geos_version_string,
        "pyogrio": pyogrio.__version__,
        "GDAL": pyogrio.__gdal_version_string__,
        "pyproj": pyproj.__version__,
        "PROJ": pyproj.proj_version_str,
    }


# --------------------------------------------------------------------------- measuring

def measured(command: list[str], log: Path,
             env: dict[str, str] | None = None) -> dict[str, float]:
    """Run ``command`` (with ``env`` added to the environment); its wall time (s) and peak
    RSS (MiB)."""
    environment = {**os.environ, **(env or {})}
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    started = time.perf_counter()
    if timer:
        stats = log.with_suffix(".time")
        full = [timer, "-f", "%e %M", "-o", str(stats), *command]
        with log.open("w") as out:
            done = subprocess.run(full, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                  check=False, env=environment)
        wall = time.perf_counter() - started
        peak_kb = float(stats.read_text().split()[-1])
    else:
        with log.open("w") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                  check=False, env=environment)
        wall = time.perf_counter() - started
        # Largest child so far: exact when this is the largest child of the run.
        peak_kb = float(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed ({done.returncode}); see {log}:\n"
                           + log.read_text()[-2000:])
    return {"wall_s": wall, "peak_mib": peak_kb / 1024}


def engine(conc: Path, sites: Path, work: Path,
           threads: int | None = None) -> tuple[dict[str, float], pd.Series]:
    """The engine's command line; ``threads`` sets ``GEO_THREADS`` (default: every core)."""
    name = "engine" if threads is None else f"engine-{threads}"
    out = work / name
    env = {} if threads is None else {"GEO_THREADS": str(threads)}
    stats = measured([PYTHON, "-m", "geo", "overlap", str(conc), str(sites), "-o", str(out)],
                     work / f"{name}.log", env)
    table = pd.read_csv(out / "concessions.csv", dtype={"conc_id": str})
    return stats, table.set_index("conc_id")["overlap_ha"]


def floor(conc: Path, sites: Path, work: Path,
          rings: str | None = None) -> tuple[dict[str, float], pd.Series]:
    """``bench/floor.py``; with ``rings`` (``1,5,10``), its proximity rings too."""
    name = "floor" if rings is None else "floor-rings"
    out = work / f"{name}.csv"
    stats = measured([PYTHON, str(BENCH / "floor.py"), str(conc), str(sites), str(out),
                      *([] if rings is None else ["--rings", rings])], work / f"{name}.log")
    table = pd.read_csv(out, dtype={"conc_id": str})
    return stats, table.set_index("conc_id")["overlap_ha"]


def ring_agreement(work: Path) -> str:
    """How the floor's rings (``floor-rings.csv``) agree with the engine's outputs."""
    engine_table = pd.read_csv(work / "engine" / "concessions.csv", dtype={"conc_id": str})
    floor_table = pd.read_csv(work / "floor-rings.csv", dtype={"conc_id": str})
    columns = [c for c in floor_table.columns if c.startswith("sites_")]
    merged = engine_table.merge(floor_table, on="conc_id", suffixes=("", "_floor"))
    differ = sum((merged[c] != merged[f"{c}_floor"]).sum() for c in columns)
    equal = int((~np.any([merged[c] != merged[f"{c}_floor"] for c in columns], axis=0)).sum())
    engine_sites = pd.read_csv(work / "engine" / "sites.csv", dtype={"site_id": str})
    floor_sites = pd.read_csv(work / "floor-rings.sites.csv", dtype={"site_id": str})
    both = engine_sites.merge(floor_sites, on="site_id", suffixes=("", "_floor")).dropna(
        subset=["dist_km_floor"])
    gap = float((both["dist_km"] - both["dist_km_floor"]).abs().max())
    return (f"Floor with rings against the engine: {', '.join(columns)} equal on {equal:,} of "
            f"{len(merged):,} concessions ({differ} counts differ); the nearest title's "
            f"distance of the {len(both):,} sites with one within the outer ring agrees "
            f"within {gap:.4f} km (both written to 4 decimals).")


# --------------------------------------------------------------------------- PostGIS

#: Server options for the benchmark: memory for the query, no durability (data is scratch).
POSTGRES_SETTINGS = ("shared_buffers=1GB", "work_mem=256MB", "fsync=off",
                     "synchronous_commit=off")


@contextmanager
def postgis_server() -> Iterator[str | None]:
    """URL of a private PostgreSQL server (None, with a message, when none can start)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        yield os.environ["BENCH_DATABASE_URL"]
        return
    with ExitStack() as stack:
        try:
            url: str | None = stack.enter_context(private_postgres(POSTGRES_SETTINGS))
        except RuntimeError as err:
            print(f"PostGIS: {err}; skipped", file=sys.stderr)
            url = None
        yield url


def _backend_peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return float("nan")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def postgis(url: str, conc: Path, sites: Path) -> tuple[dict[str, float], pd.Series, str]:
    """Load, index and query; times of each step and the overlap per concession."""
    stats: dict[str, float] = {}
    started = time.perf_counter()
    conc_frame, site_frame = gpd.read_parquet(conc), gpd.read_parquet(sites)
    conc_wkb = shapely.to_wkb(shapely.set_srid(conc_frame.geometry.values, 4326), hex=True,
                              include_srid=True)
    site_wkb = shapely.to_wkb(shapely.set_srid(site_frame.geometry.values, 4326), hex=True,
                              include_srid=True)
    stats["read_s"] = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        version = db.execute("SELECT version(), postgis_full_version()").fetchone()
        assert version is not None
        versions = f"{version[0].split(',')[0]}; {version[1].split(' PROJ=')[0]}"
        db.execute("DROP TABLE IF EXISTS conc, sites, sites_valid")
        db.execute("CREATE TABLE conc (id int PRIMARY KEY, conc_id text, "
                   "geom geometry(Geometry, 4326))")
        db.execute("CREATE TABLE sites (id int PRIMARY KEY, geom geometry(Geometry, 4326))")
        t = time.perf_counter()
        with db.cursor() as cur:
            with cur.copy("COPY conc (id, conc_id, geom) FROM STDIN") as copy:
                for row in zip(range(len(conc_wkb)), conc_frame["licence_id"].astype(str),
                               conc_wkb, strict=True):
                    copy.write_row(row)
            with cur.copy("COPY sites (id, geom) FROM STDIN") as copy:
                for row in zip(range(len(site_wkb)), site_wkb, strict=True):
                    copy.write_row(row)
        stats["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        db.execute("CREATE TABLE sites_valid AS SELECT id, "
                   "ST_CollectionExtract(ST_MakeValid(geom), 3) AS geom FROM sites "
                   "WHERE ST_Dimension(geom) = 2")
        db.execute("CREATE INDEX ON conc USING gist (geom)")
        db.execute("CREATE INDEX ON sites_valid USING gist (geom)")
        db.execute("ANALYZE conc")
        db.execute("ANALYZE sites_valid")
        stats["make_valid_index_s"] = time.perf_counter() - t
        t = time.perf_counter()
        rows = db.execute(
            "SELECT c.conc_id, ST_Area(ST_Intersection(c.geom, ST_Union(s.geom))::geography)"
            " / 1e4 FROM conc c JOIN sites_valid s ON ST_Intersects(c.geom, s.geom) "
            "GROUP BY c.id, c.conc_id, c.geom"
        ).fetchall()
        stats["query_s"] = time.perf_counter() - t
        stats["backend_peak_mib"] = _backend_peak_mib(db.info.backend_pid)
    stats["wall_s"] = time.perf_counter() - started
    overlap = pd.Series({str(k): float(v) for k, v in rows}, name="overlap_ha", dtype=float)
    ids = conc_frame["licence_id"].astype(str)
    return stats, overlap.reindex(ids).fillna(0.0).rename_axis("conc_id"), versions


# --------------------------------------------------------------------------- agreement

def agreement(results: dict[str, pd.Series]) -> tuple[pd.DataFrame, list[str]]:
    """Max relative difference of each method against the engine, and the rows over 0.01%."""
    base = results["engine"]
    lines = []
    rows = []
    for name, other in results.items():
        if name == "engine":
            continue
        other = other.reindex(base.index)
        missing = int(other.isna().sum())
        diff = (base - other.fillna(0.0)).abs()
        scale = np.maximum(base.abs(), other.fillna(0.0).abs())
        rel = np.where(diff > ROUNDING_HA, diff / np.where(scale > 0, scale, 1.0), 0.0)
        rel = pd.Series(rel, index=base.index)
        bad = rel[rel > TOLERANCE]
        rows.append({"against": name, "concessions": len(base), "missing": missing,
                     "with_overlap": int((scale > 0).sum()),
                     "max_rel_diff": float(rel.max()), "max_abs_diff_ha": float(diff.max()),
                     "over_0.01%": len(bad)})
        for conc_id in bad.sort_values(ascending=False).index[:10]:
            lines.append(f"{name}: {conc_id} engine={base[conc_id]:.6f} "
                         f"{name}={other[conc_id]:.6f} rel={rel[conc_id]:.2e}")
    return pd.DataFrame(rows), lines


# --------------------------------------------------------------------------- dashboard

def dashboard_numbers(conc: Path, sites: Path, work: Path, size: str, *,
                      reruns: bool, browser: bool) -> dict[str, object]:
    """The dashboard's numbers (bench/dashboard.py): map, filters, reruns, upload, browser."""
    concessions, site_layer = dashboard.load(conc, sites)
    html = work / "map_first.html"
    numbers: dict[str, object] = {"map": dashboard.map_numbers(concessions, site_layer, html)}
    changes = dashboard.filter_changes(concessions, site_layer)
    basis = numbers["map"].pop("basis")  # type: ignore[union-attr]
    numbers["filters"] = dashboard.filter_numbers(basis, changes)
    del basis
    print("map", numbers["map"], file=sys.stderr)
    if browser:
        numbers["drawn_s"] = dashboard.drawn_seconds(html)
    if reruns or browser:
        workspace = dashboard.workspace_file(conc, sites, conc.parent)
    if reruns:
        numbers["reruns"] = dashboard.rerun_numbers(workspace, changes)
        numbers["upload"] = dashboard.upload_numbers(workspace, sites)
        print("reruns", numbers["reruns"], numbers["upload"], file=sys.stderr)
    if browser:
        png = BENCH / f"map_{size}.png"
        numbers["app_drawn_s"] = dashboard.app_screenshot(workspace, png)
        numbers["screenshot"] = png.relative_to(ROOT).as_posix()
    return numbers


# --------------------------------------------------------------------------- report

def _table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if np.isnan(value):
            return "-"
        return f"{value:.2e}" if 0 < abs(value) < 0.01 else f"{value:,.2f}"
    return str(value)


def _median_row(label: str, measured: list[dict[str, float]]) -> dict[str, object]:
    """One row of the timing table: the median wall time of the runs, every run's wall
    time, and the largest peak memory."""
    walls = [m["wall_s"] for m in measured]
    return {"method": label, "wall_s": float(np.median(walls)),
            "peak_mib": max(m["peak_mib"] for m in measured),
            "runs_s": " / ".join(f"{w:.2f}" for w in walls)}


def report(size: str, info: dict[str, object], timings: pd.DataFrame, agree: pd.DataFrame,
           lines: list[str], board: dict[str, object] | None, extra: list[str]) -> str:
    spec = info["machine"]
    assert isinstance(spec, dict)
    out = [f"## {size} — {dt.datetime.now().isoformat(timespec='seconds')}", "",
           "Machine: " + ", ".join(f"{k} {v}" for k, v in spec.items()), "",
           f"Data: {info['data']}", "", _table(timings), ""]
    if len(agree):
        out += [("Agreement with the engine (relative difference of each concession's "
                 f"overlap_ha; differences under {ROUNDING_HA} ha are CSV rounding):"), "",
                _table(agree), ""]
        out += [f"- {line}" for line in lines] or ["- every concession agrees within 0.01%"]
        out.append("")
    if board:
        out += dashboard.as_markdown(board)
    out += extra
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", required=True, choices=["2k", "20k", "100k"])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "geo-bench")
    parser.add_argument("--no-postgis", action="store_true")
    parser.add_argument("--no-engine", action="store_true")
    parser.add_argument("--map", action="store_true",
                        help="also measure the dashboard: map payload, reruns, upload, browser")
    parser.add_argument("--no-reruns", action="store_true",
                        help="with --map: skip the page reruns and the upload (AppTest)")
    parser.add_argument("--no-browser", action="store_true",
                        help="with --map: skip Chromium (drawing time, screenshot)")
    parser.add_argument("--results", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each method, interleaved; the table shows medians")
    args = parser.parse_args()

    folder = args.data / args.size
    conc, sites = folder / "concessions.parquet", folder / "sites.parquet"
    if not (conc.exists() and sites.exists()):
        subprocess.run([PYTHON, str(BENCH / "generate.py"), "--size", args.size,
                        "--out", str(folder)], check=True)
    work = Path(tempfile.mkdtemp(prefix=f"bench-{args.size}-"))
    results: dict[str, pd.Series] = {}
    runs: dict[str, list[dict[str, float]]] = {}
    extra: list[str] = []
    methods = {
        "engine (python -m geo overlap)": ("engine", lambda: engine(conc, sites, work)),
        "engine, one thread (GEO_THREADS=1)": (
            "engine, one thread", lambda: engine(conc, sites, work, threads=1)),
        "floor (bench/floor.py)": ("floor", lambda: floor(conc, sites, work)),
        "floor with rings (bench/floor.py --rings 1,5,10)": (
            "floor with rings", lambda: floor(conc, sites, work, rings="1,5,10")),
    }
    if args.no_engine:
        methods = {k: v for k, v in methods.items() if not k.startswith("engine")}
    with ExitStack() as stack:
        url = None if args.no_postgis else stack.enter_context(postgis_server())
        versions = ""
        for attempt in range(args.repeat):  # interleaved, so a slow spell hits every method
            for label, (name, run) in methods.items():
                stats, results[name] = run()
                runs.setdefault(label, []).append(stats)
                print(name, attempt + 1, stats, file=sys.stderr)
            if url is not None:
                stats, results["postgis"], versions = postgis(url, conc, sites)
                runs.setdefault("PostGIS (load+make_valid+index+query)", []).append(
                    {**stats, "peak_mib": stats["backend_peak_mib"]})
                print("postgis", attempt + 1, stats, file=sys.stderr)
    rows = [_median_row(label, measured) for label, measured in runs.items()]
    extra.append(f"Floor stages (last run): {(work / 'floor.log').read_text().strip()}")
    extra.append("Floor with rings, stages (last run): "
                 f"{(work / 'floor-rings.log').read_text().strip()}")
    if not args.no_engine:
        extra.append(ring_agreement(work))
    if versions:
        stages = runs["PostGIS (load+make_valid+index+query)"][-1]
        extra.append("PostGIS stages (last run): " + ", ".join(
            f"{k}={v:.2f}" for k, v in stages.items() if k != "peak_mib")
            + f" ({versions}; peak is the backend's VmHWM, parallel workers not included)")
    timings = pd.DataFrame(rows)
    if "engine" in results:
        engine_wall = timings.loc[0, "wall_s"]
        timings["x_engine"] = engine_wall / timings["wall_s"]
        by_method = timings.set_index("method")
        floor_row = by_method.loc["floor (bench/floor.py)"]
        extra.append(f"engine / floor (medians): {engine_wall / floor_row['wall_s']:.2f}x wall, "
                     f"{timings.loc[0, 'peak_mib'] / floor_row['peak_mib']:.2f}x peak memory "
                     f"(one thread: {timings.loc[1, 'wall_s'] / floor_row['wall_s']:.2f}x "
                     "wall; the floor runs on one thread)")
        rings_row = by_method.loc["floor with rings (bench/floor.py --rings 1,5,10)"]
        extra.append(f"engine / floor with rings (medians): "
                     f"{engine_wall / rings_row['wall_s']:.2f}x wall (one thread: "
                     f"{timings.loc[1, 'wall_s'] / rings_row['wall_s']:.2f}x)")
    agree, lines = agreement(results) if "engine" in results else (pd.DataFrame(), [])
    board = (dashboard_numbers(conc, sites, work, args.size, reruns=not args.no_reruns,
                               browser=not args.no_browser) if args.map else None)
    sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
    site_frame = gpd.read_parquet(sites, columns=["site_id", "geometry"])
    info = {"machine": machine(), "data": (
        f"{folder} (bench/generate.py --size {args.size}): "
        f"{len(results['floor'])} concessions, "
        f"{int((site_frame.geom_type != 'Point').sum())} site polygons, "
        f"{int((site_frame.geom_type == 'Point').sum())} site points; files "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))}
    text = report(args.size, info, timings, agree, lines, board, extra)
    if not args.results.exists():
        args.results.write_text("# Benchmark results\n\nAppended by `bench/run.py`; see "
                                "bench/README.md for what each number means.\n\n")
    with args.results.open("a") as out:
        out.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
