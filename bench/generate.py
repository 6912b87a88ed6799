"""Seeded synthetic concession and artisanal-site layers for the national-scale benchmark.

``python bench/generate.py --size 2k|20k|100k --out DIR [--seed N]`` writes, in EPSG:4326,
``DIR/concessions.parquet`` and ``DIR/sites.parquet`` (GeoParquet), and for the 2k set also
``concessions.gpkg`` and ``sites.gpkg``.

``--size 200k|1m`` (the cluster benchmark, ``bench/cluster.py``) writes GeoParquet datasets
instead, ``DIR/concessions/part.NNNNN.parquet`` and ``DIR/sites/part.NNNNN.parquet``: the
region is cut into square tiles of about 10,000 titles, each generated and written alone, so
the whole layer is never in memory. Titles and sites stay inside their tile (no title crosses
a tile edge); identifiers are numbered across the whole layer.

What the layers look like (all vectorised numpy/shapely; the same seed gives the same files):

* **Concessions**: axis-aligned rectangles snapped to a cadastral grid (0.0025 degrees,
  about 280 m), area log-uniform in 0.5-100 km2, aspect ratio 1-3. They are placed at random
  in a square region east of 20E around 5S (its side grows with the count so that the titles
  cover about 30% of it); a newer title is carved around the older ones it hits (notches),
  except for about 3% of the overlapping pairs, which are kept overlapping as in real
  cadastres (an exploration permit over an artisanal zone). About 12% get an extra corner
  notch. Columns ``licence_id``, ``holder`` (300 holders, Zipf-like), ``type`` (CAMI codes:
  PE, PER, PR (AS), PR (PP), ZEA, PEPM, AECP (Car), AR), ``status``, ``expiry``.
* **Sites**: polygons of 0.5-40 ha (log-uniform), irregular star-shaped outlines, clustered
  along river-like random-walk lines, overlapping each other here and there; about 1% are
  self-intersecting bow-ties (invalid, as in real field data). Point sites follow the same
  rivers, a tenth of them scattered. Columns ``site_id``, ``workers``, ``mercury``,
  ``presence`` (armed actors), ``visit_date``, ``province``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

#: (concessions, site polygons, site points) of each named size.
SIZES: dict[str, tuple[int, int, int]] = {
    "2k": (2_000, 2_000, 1_000),
    "20k": (20_000, 20_000, 10_000),
    "100k": (100_000, 50_000, 50_000),
    "200k": (200_000, 100_000, 0),
    "1m": (1_000_000, 500_000, 0),
}
#: Sizes written tile by tile as GeoParquet datasets (folders of parts).
TILED = ("200k", "1m")
#: Titles per tile of a tiled size.
TILE_TITLES = 10_000
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON_EQ = 111.320
WEST, MID_LAT = 20.0, -5.0
GRID_DEG = 0.0025
COVERAGE = 0.30
CONC_KM2 = (0.5, 100.0)
SITE_HA = (0.5, 40.0)
#: CAMI-style licence codes and their shares (the engine maps them, see geo.schema).
LICENCE_TYPES = {
    "PR (AS)": 0.38, "PE": 0.20, "PER": 0.04, "PR (PP)": 0.06, "ZEA": 0.07, "PEPM": 0.08,
    "AECP (Car)": 0.12, "AR": 0.05,
}
STATUSES = {"Valide": 0.62, "Octroyé": 0.10, "En instance": 0.12, "Expiré": 0.12,
            "Renoncé": 0.04}
PROVINCES = ("Sud-Kivu", "Nord-Kivu", "Maniema", "Ituri", "Tshopo", "Haut-Uele",
             "Tanganyika", "Haut-Katanga", "Lualaba", "Haut-Lomami", "Sankuru", "Kasai",
             "Lomami", "Bas-Uele", "Kasai-Oriental", "Kasai-Central")
N_HOLDERS = 300
KEEP_OVERLAP_SHARE = 0.03
NOTCH_SHARE = 0.12
BOWTIE_SHARE = 0.01


def log_uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    """``n`` values log-uniform in ``[low, high]``."""
    return np.exp(rng.uniform(np.log(low), np.log(high), n))


def region_for(n_conc: int) -> tuple[float, float, float, float]:
    """Square region (degrees) that ``n_conc`` titles cover to about :data:`COVERAGE`."""
    low, high = CONC_KM2
    mean_km2 = (high - low) / np.log(high / low)
    side_km = np.sqrt(n_conc * mean_km2 / COVERAGE)
    height = side_km / KM_PER_DEG_LAT
    width = side_km / (KM_PER_DEG_LON_EQ * np.cos(np.radians(MID_LAT)))
    return WEST, MID_LAT - height / 2, WEST + width, MID_LAT + height / 2


def _snap(values: np.ndarray) -> np.ndarray:
    return np.round(values / GRID_DEG) * GRID_DEG


def concession_geometries(rng: np.random.Generator, n: int,
                          region: tuple[float, float, float, float]) -> np.ndarray:
    """``n`` cadastral-grid titles, carved around older ones, a few left overlapping."""
    minx, miny, maxx, maxy = region
    # Draw extra candidates: carving and dropping the badly carved loses some.
    m = int(n * 1.25) + 10
    area_km2 = log_uniform(rng, *CONC_KM2, m)
    aspect = rng.uniform(1.0, 3.0, m)
    cy = rng.uniform(miny, maxy, m)
    km_lon = KM_PER_DEG_LON_EQ * np.cos(np.radians(cy))
    w_km = np.sqrt(area_km2 * aspect)
    h_km = area_km2 / w_km
    swap = rng.random(m) < 0.5
    w_km, h_km = np.where(swap, h_km, w_km), np.where(swap, w_km, h_km)
    w = np.maximum(_snap(w_km / km_lon), GRID_DEG)
    h = np.maximum(_snap(h_km / KM_PER_DEG_LAT), GRID_DEG)
    x0 = _snap(rng.uniform(minx, maxx - w))
    y0 = _snap(rng.uniform(miny, maxy - h))
    boxes = shapely.box(x0, y0, x0 + w, y0 + h)

    # Corner notches on some titles (a carved-out older claim, a village, a river bank).
    notch = rng.random(m) < NOTCH_SHARE
    nx = np.maximum(_snap(w * rng.uniform(0.2, 0.5, m)), GRID_DEG)
    ny = np.maximum(_snap(h * rng.uniform(0.2, 0.5, m)), GRID_DEG)
    corner_x = np.where(rng.random(m) < 0.5, x0, x0 + w - nx)
    corner_y = np.where(rng.random(m) < 0.5, y0, y0 + h - ny)
    cut = shapely.box(corner_x, corner_y, corner_x + nx, corner_y + ny)
    geoms = boxes.copy()
    geoms[notch] = shapely.difference(boxes[notch], cut[notch])

    # Newer titles (higher index) are carved around the older ones they overlap, round by
    # round over each title's k-th older neighbour, except a few pairs left overlapping.
    tree = shapely.STRtree(boxes)
    newer, older = tree.query(boxes, predicate="intersects")
    pairs = (older < newer) & (shapely.area(shapely.intersection(boxes[newer], boxes[older]))
                               > 0)
    newer, older = newer[pairs], older[pairs]
    keep = rng.random(len(newer)) < KEEP_OVERLAP_SHARE
    newer, older = newer[~keep], older[~keep]
    order = np.argsort(newer, kind="stable")
    newer, older = newer[order], older[order]
    rank = np.arange(len(newer)) - np.searchsorted(newer, newer, side="left")
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        rows = rank == k
        geoms[newer[rows]] = shapely.difference(geoms[newer[rows]], boxes[older[rows]])

    # Keep titles that stayed one polygon and kept most of their area.
    kept_share = shapely.area(geoms) / shapely.area(boxes)
    good = (shapely.get_type_id(geoms) == 3) & (kept_share > 0.6) & shapely.is_valid(geoms)
    chosen = np.flatnonzero(good)
    if len(chosen) < n:
        raise RuntimeError(f"only {len(chosen)} usable titles of {n}; raise the oversampling")
    return shapely.normalize(geoms[chosen[:n]])


def concessions(rng: np.random.Generator, n: int,
                region: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    geoms = concession_geometries(rng, n, region)
    types = rng.choice(list(LICENCE_TYPES), n, p=list(LICENCE_TYPES.values()))
    weights = 1.0 / np.arange(1, N_HOLDERS + 1) ** 1.1
    holder_no = rng.choice(N_HOLDERS, n, p=weights / weights.sum())
    holders = np.array([f"Holder {k:03d} SARL" for k in range(N_HOLDERS)], dtype=object)
    statuses = rng.choice(list(STATUSES), n, p=list(STATUSES.values()))
    expiry = pd.to_datetime("2008-01-01") + pd.to_timedelta(rng.integers(0, 37 * 365, n),
                                                             unit="D")
    expiry = pd.Series(expiry).where(rng.random(n) > 0.05)
    prefix = pd.Series(types).str.extract(r"^([A-Z]+)")[0].to_numpy(dtype=object)
    ids = prefix + " " + pd.Series(np.arange(1, n + 1) * 7 + 1000).astype(str).to_numpy()
    return gpd.GeoDataFrame({
        "licence_id": ids, "holder": holders[holder_no], "type": types,
        "status": statuses, "expiry": expiry.dt.date.to_numpy(),
    }, geometry=geoms, crs=4326)


def rivers(rng: np.random.Generator, n_rivers: int, steps: int,
           region: tuple[float, float, float, float]) -> np.ndarray:
    """``(n_rivers, steps + 1, 2)`` vertices of meandering random walks in the region."""
    minx, miny, maxx, maxy = region
    step_deg = rng.uniform(0.01, 0.03, (n_rivers, 1))  # 1-3 km per step
    heading = rng.uniform(0, 2 * np.pi, (n_rivers, 1)) + np.cumsum(
        rng.normal(0, 0.35, (n_rivers, steps)), axis=1)
    start = np.column_stack([rng.uniform(minx, maxx, n_rivers), rng.uniform(miny, maxy, n_rivers)])
    dxy = np.stack([np.cos(heading), np.sin(heading)], axis=-1) * step_deg[..., None]
    path = start[:, None, :] + np.concatenate([np.zeros((n_rivers, 1, 2)),
                                               np.cumsum(dxy, axis=1)], axis=1)
    # Reflect into the region so every river stays on the map.
    low, high = np.array([minx, miny]), np.array([maxx, maxy])
    span = high - low
    folded = np.mod(path - low, 2 * span)
    return low + np.where(folded > span, 2 * span - folded, folded)


def _along(rng: np.random.Generator, paths: np.ndarray, n: int, spread_deg: float) -> np.ndarray:
    """``n`` positions near random points of random rivers (``spread_deg`` normal jitter)."""
    river = rng.integers(0, len(paths), n)
    # Mining clusters: sites crowd a few stretches of each river.
    steps = paths.shape[1] - 1
    hotspot = rng.integers(0, steps, (len(paths), 4))
    centre = hotspot[river, rng.integers(0, 4, n)] + rng.normal(0, 2.0, n)
    t = np.clip(centre, 0, steps - 1e-9)
    i = t.astype(int)
    frac = (t - i)[:, None]
    xy = paths[river, i] * (1 - frac) + paths[river, i + 1] * frac
    return xy + rng.normal(0, spread_deg, (n, 2))


def site_polygons(rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Irregular star-shaped polygons of 0.5-40 ha, about 1% bow-ties (invalid)."""
    n = len(centres)
    area_m2 = log_uniform(rng, *SITE_HA, n) * 1e4
    k = 9
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, k)), axis=1)
    radii = rng.uniform(0.6, 1.3, (n, k))
    # Scale to the wanted area: area of the star polygon in units of the radius.
    unit = 0.5 * np.sum(radii * np.roll(radii, -1, axis=1)
                        * np.sin(np.mod(np.roll(angles, -1, axis=1) - angles, 2 * np.pi)),
                        axis=1)
    radius_m = np.sqrt(area_m2 / np.abs(unit))
    m_per_deg_x = KM_PER_DEG_LON_EQ * 1000 * np.cos(np.radians(centres[:, 1]))
    dx = (radii * radius_m[:, None] * np.cos(angles)) / m_per_deg_x[:, None]
    dy = (radii * radius_m[:, None] * np.sin(angles)) / (KM_PER_DEG_LAT * 1000)
    ring = np.stack([centres[:, :1] + dx, centres[:, 1:] + dy], axis=-1)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    geoms = shapely.polygons(np.round(ring, 7))
    bowtie = np.flatnonzero(rng.random(n) < BOWTIE_SHARE)
    a = (np.sqrt(area_m2[bowtie]) / m_per_deg_x[bowtie])[:, None]
    b = (np.sqrt(area_m2[bowtie]) / (KM_PER_DEG_LAT * 1000))[:, None]
    cx, cy = centres[bowtie, :1], centres[bowtie, 1:]
    tie = np.stack([np.hstack([cx - a, cx + a, cx + a, cx - a, cx - a]),
                    np.hstack([cy - b, cy + b, cy - b, cy + b, cy - b])], axis=-1)
    geoms[bowtie] = shapely.polygons(np.round(tie, 7))
    return geoms


def sites(rng: np.random.Generator, n_poly: int, n_point: int,
          region: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = region
    n_rivers = max(10, (n_poly + n_point) // 60)
    paths = rivers(rng, n_rivers, 60, region)
    poly_centres = _along(rng, paths, n_poly, 0.004)
    polys = site_polygons(rng, poly_centres)
    scattered = rng.random(n_point) < 0.1
    point_xy = _along(rng, paths, n_point, 0.006)
    point_xy[scattered] = np.column_stack([rng.uniform(minx, maxx, scattered.sum()),
                                           rng.uniform(miny, maxy, scattered.sum())])
    points = shapely.points(np.round(point_xy, 6))
    n = n_poly + n_point
    order = rng.permutation(n)  # polygons and points interleaved, as in a merged inventory
    geoms = np.concatenate([polys, points])[order]
    ids = np.concatenate([
        np.char.add("SP", np.char.zfill(np.arange(1, n_poly + 1).astype(str), 6)),
        np.array([f"SX{k:06d}" for k in range(1, n_point + 1)], dtype="<U8"),
    ])[order]
    workers = pd.array(np.round(log_uniform(rng, 5, 3000, n)).astype(int), dtype="Int64")
    workers[rng.random(n) < 0.08] = pd.NA
    mercury = pd.array(rng.random(n) < 0.35, dtype="boolean")
    mercury[rng.random(n) < 0.15] = pd.NA
    presence = pd.array(rng.random(n) < 0.2, dtype="boolean")
    presence[rng.random(n) < 0.1] = pd.NA
    visit = pd.to_datetime("2009-01-01") + pd.to_timedelta(rng.integers(0, 15 * 365, n),
                                                            unit="D")
    # Provinces: a 4 x 4 grid over the region.
    x = shapely.get_x(shapely.centroid(geoms))
    y = shapely.get_y(shapely.centroid(geoms))
    col = np.clip(((x - minx) / (maxx - minx) * 4).astype(int), 0, 3)
    row = np.clip(((y - miny) / (maxy - miny) * 4).astype(int), 0, 3)
    province = np.asarray(PROVINCES, dtype=object)[row * 4 + col]
    return gpd.GeoDataFrame({
        "site_id": ids.astype(object), "workers": workers, "mercury": mercury,
        "presence": presence, "visit_date": pd.Series(visit).dt.date.to_numpy(),
        "province": province,
    }, geometry=geoms, crs=4326)


def generate(size: str, out: Path, seed: int = 6) -> dict[str, object]:
    """Write the layers of ``size`` into ``out``; return a description of what was written."""
    n_conc, n_poly, n_point = SIZES[size]
    rng = np.random.default_rng([seed, n_conc])
    region = region_for(n_conc)
    started = time.perf_counter()
    conc = concessions(rng, n_conc, region)
    site = sites(rng, n_poly, n_point, region)
    out.mkdir(parents=True, exist_ok=True)
    conc.to_parquet(out / "concessions.parquet", index=False)
    site.to_parquet(out / "sites.parquet", index=False)
    if size == "2k":
        conc.to_file(out / "concessions.gpkg", driver="GPKG", engine="pyogrio")
        site.to_file(out / "sites.gpkg", driver="GPKG", engine="pyogrio",
                     geometry_type="Unknown")
    valid = shapely.is_valid(site.geometry.values)
    return {
        "size": size, "seed": seed, "region": tuple(round(float(v), 3) for v in region),
        "concessions": len(conc), "site_polygons": n_poly, "site_points": n_point,
        "invalid_sites": int((~valid).sum()),
        "conc_union_share": float(shapely.area(shapely.union_all(conc.geometry.values))
                                  / shapely.area(shapely.box(*region))),
        "seconds": round(time.perf_counter() - started, 1),
    }


def tiles(size: str) -> list[tuple[float, float, float, float]]:
    """The square tiles a tiled size is generated in, row by row."""
    n_conc = SIZES[size][0]
    minx, miny, maxx, maxy = region_for(n_conc)
    side = int(np.ceil(np.sqrt(n_conc / TILE_TITLES)))
    xs, ys = np.linspace(minx, maxx, side + 1), np.linspace(miny, maxy, side + 1)
    return [(float(xs[i]), float(ys[j]), float(xs[i + 1]), float(ys[j + 1]))
            for j in range(side) for i in range(side)]


def generate_tiled(size: str, out: Path, seed: int = 6) -> dict[str, object]:
    """Write a tiled size as two GeoParquet datasets, one part per tile."""
    n_conc, n_poly, _n_point = SIZES[size]
    boxes = tiles(size)
    started = time.perf_counter()
    # Counts in proportion to each tile's area on the ground (a degree of longitude shrinks
    # with latitude), so that titles cover about the same share of every tile.
    weight = np.cos(np.radians([(b[1] + b[3]) / 2 for b in boxes]))
    share = np.concatenate([[0.0], np.cumsum(weight) / weight.sum()])
    conc_counts = np.diff((share * n_conc).round().astype(int))
    site_counts = np.diff((share * n_poly).round().astype(int))
    for kind in ("concessions", "sites"):
        (out / kind).mkdir(parents=True, exist_ok=True)
        for old in (out / kind).glob("part.*.parquet"):
            old.unlink()
    invalid = 0
    conc_done = site_done = 0
    for number, (box, n_c, n_s) in enumerate(zip(boxes, conc_counts, site_counts,
                                                 strict=True)):
        rng = np.random.default_rng([seed, n_conc, number])
        conc = concessions(rng, int(n_c), box)
        prefix = conc["licence_id"].str.extract(r"^([A-Z]+)")[0]
        numbers = np.arange(conc_done + 1, conc_done + n_c + 1) * 7 + 1000
        conc["licence_id"] = prefix + " " + pd.Series(numbers).astype(str).to_numpy()
        site = sites(rng, int(n_s), 0, box)
        site["site_id"] = np.char.add(
            "SP", np.char.zfill(np.arange(site_done + 1, site_done + n_s + 1).astype(str), 6)
        ).astype(object)
        conc.to_parquet(out / "concessions" / f"part.{number:05d}.parquet", index=False)
        site.to_parquet(out / "sites" / f"part.{number:05d}.parquet", index=False)
        invalid += int((~shapely.is_valid(site.geometry.values)).sum())
        conc_done += int(n_c)
        site_done += int(n_s)
    return {
        "size": size, "seed": seed, "region": tuple(round(float(v), 3)
                                                   for v in region_for(n_conc)),
        "tiles": len(boxes), "concessions": conc_done, "site_polygons": site_done,
        "invalid_sites": invalid, "seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(SIZES), required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    if args.size in TILED:
        print(generate_tiled(args.size, args.out, args.seed))
    else:
        print(generate(args.size, args.out, args.seed))


if __name__ == "__main__":
    main()
