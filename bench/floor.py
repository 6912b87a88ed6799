"""The floor: the least work that yields every concession's overlap area.

``python bench/floor.py CONCESSIONS SITES OUT.csv [--id licence_id] [--rings 1,5,10]``

Read (GeoParquet with geopandas, anything else with pyogrio) -> ``shapely.make_valid`` ->
STRtree query (intersects) -> vectorised intersection -> union per concession -> geodesic
area (:func:`geo.measure.area_ha`). Writes ``conc_id,overlap_ha`` for every concession
(0 where no site polygon overlaps it). Point sites have no area and are skipped. No
validation report, no tenure, no rings, no statistics: what the engine costs beyond this is
the price of everything else it does.

With ``--rings``, also the proximity rings the engine counts, done as plainly: the sites
inside each concession (STRtree ``intersects``, then ``contains`` for points and not
``touches`` for polygons), and per UTM zone of the sites, the titles within the outer ring
(STRtree ``dwithin`` in the zone's metres) measured geodesically with the engine's
:func:`geo.measure.nearest_points_km`. Adds ``sites_in`` and ``sites_r1``... to the CSV,
and writes ``OUT.sites.csv``: each site's distance to the nearest title within the outer
ring (0 inside, empty beyond).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from geo.measure import area_ha, nearest_points_km, to_crs, utm_groups


def read(path: Path) -> gpd.GeoDataFrame:
    if path.suffix == ".parquet":
        return gpd.read_parquet(path)
    return gpd.read_file(path, engine="pyogrio")


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Polygonal part of each geometry (make_valid may return collections)."""
    collection = shapely.get_type_id(geoms) == 7
    if not collection.any():
        return geoms
    parts, owner = shapely.get_parts(geoms[collection], return_index=True)
    keep = shapely.get_type_id(parts) == 3
    out = geoms.copy()
    rebuilt = np.full(collection.sum(), None, dtype=object)
    owners, dense = np.unique(owner[keep], return_inverse=True)
    rebuilt[owners] = shapely.multipolygons(parts[keep], indices=dense)
    out[np.flatnonzero(collection)] = rebuilt
    return out


def overlap_ha(conc: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Per concession, geodesic area (ha) of its intersection with the union of the sites."""
    tree = shapely.STRtree(conc)
    site_pos, conc_pos = tree.query(sites, predicate="intersects")
    pieces = shapely.intersection(conc[conc_pos], sites[site_pos])
    order = np.argsort(conc_pos, kind="stable")
    conc_pos, pieces = conc_pos[order], pieces[order]
    owners, start, count = np.unique(conc_pos, return_index=True, return_counts=True)
    merged = pieces[start].copy()
    for k in np.flatnonzero(count > 1):  # one small union per concession hit several times
        merged[k] = shapely.union_all(pieces[start[k]: start[k] + count[k]])
    result = np.zeros(len(conc))
    result[owners] = area_ha(polygonal(merged))
    return result


def inside_pairs(conc: np.ndarray, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(site, concession) positions of every site in a concession's interior."""
    site_pos, conc_pos = shapely.STRtree(conc).query(sites, predicate="intersects")
    is_point = shapely.get_type_id(sites[site_pos]) == 0
    inside = np.where(is_point, shapely.contains(conc[conc_pos], sites[site_pos]),
                      ~shapely.touches(conc[conc_pos], sites[site_pos]))
    return site_pos[inside], conc_pos[inside]


def ring_pairs(conc: np.ndarray, sites: np.ndarray,
               outer_km: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(site, concession, km) of every pair within ``outer_km``, per UTM zone of the sites."""
    tree = shapely.STRtree(conc)
    found = []
    for epsg, rows in utm_groups(sites):
        minx, miny, maxx, maxy = shapely.total_bounds(sites[rows])
        pad = 2.0 * outer_km / 111.0  # degrees, ample below 60 degrees of latitude
        near = tree.query(shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad))
        local_sites, local_conc = to_crs(sites[rows], epsg), to_crs(conc[near], epsg)
        s, c = shapely.STRtree(local_conc).query(local_sites, predicate="dwithin",
                                                 distance=outer_km * 1020.0)
        km = nearest_points_km(local_sites[s], local_conc[c], epsg)
        close = km <= outer_km
        found.append((rows[s[close]], near[c[close]], km[close]))
    site, title, km = zip(*found, strict=True)
    return np.concatenate(site), np.concatenate(title), np.concatenate(km)


def ring_counts(conc: np.ndarray, sites: np.ndarray,
                rings: list[float]) -> tuple[pd.DataFrame, np.ndarray]:
    """Per concession ``sites_in`` and ``sites_r1``...; per site the nearest title's km
    within the outer ring (0 inside, NaN beyond)."""
    in_site, in_conc = inside_pairs(conc, sites)
    site, title, km = ring_pairs(conc, sites, rings[-1])
    inside = np.zeros(len(sites), dtype=bool)
    inside[in_site] = True
    pair_inside = np.isin(site * len(conc) + title, in_site * len(conc) + in_conc)
    ring = np.searchsorted(np.asarray(rings), km, side="left") + 1
    counts = {"sites_in": np.bincount(in_conc, minlength=len(conc))}
    for k in range(1, len(rings) + 1):
        counts[f"sites_r{k}"] = np.bincount(title[(ring == k) & ~pair_inside],
                                            minlength=len(conc))
    nearest = np.full(len(sites), np.inf)
    np.minimum.at(nearest, site, km)
    nearest[inside] = 0.0
    return pd.DataFrame(counts), np.where(np.isinf(nearest), np.nan, nearest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("concessions", type=Path)
    parser.add_argument("sites", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--id", default="licence_id", help="concession identifier column")
    parser.add_argument("--rings", help="also count the sites in these rings (km), e.g. 1,5,10")
    args = parser.parse_args()
    timings: dict[str, float] = {}
    t = time.perf_counter()
    conc, sites = read(args.concessions), read(args.sites)
    timings["read"] = time.perf_counter() - t
    t = time.perf_counter()
    conc_geoms = polygonal(shapely.make_valid(np.asarray(conc.geometry.values, dtype=object)))
    site_geoms = np.asarray(sites.geometry.values, dtype=object)
    site_geoms = site_geoms[np.isin(shapely.get_type_id(site_geoms), (3, 6))]
    site_geoms = polygonal(shapely.make_valid(site_geoms))
    timings["make_valid"] = time.perf_counter() - t
    t = time.perf_counter()
    result = overlap_ha(conc_geoms, site_geoms)
    timings["overlap"] = time.perf_counter() - t
    table = pd.DataFrame({"conc_id": conc[args.id].astype(str), "overlap_ha": result})
    if args.rings:
        t = time.perf_counter()
        all_sites = polygonal(shapely.make_valid(np.asarray(sites.geometry.values, dtype=object)))
        counts, nearest = ring_counts(conc_geoms, all_sites,
                                      [float(r) for r in args.rings.split(",")])
        table = pd.concat([table, counts], axis=1)
        pd.DataFrame({"site_id": sites["site_id"].astype(str), "dist_km": nearest}).to_csv(
            args.out.with_suffix(".sites.csv"), index=False, float_format="%.4f")
        timings["rings"] = time.perf_counter() - t
    table.to_csv(args.out, index=False, float_format="%.6f")
    print(" ".join(f"{k}={v:.2f}s" for k, v in timings.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
