"""The floor: the least work that yields every concession's overlap area.

``python bench/floor.py CONCESSIONS SITES OUT.csv [--id licence_id]``

Read (GeoParquet with geopandas, anything else with pyogrio) -> ``shapely.make_valid`` ->
STRtree query (intersects) -> vectorised intersection -> union per concession -> geodesic
area (:func:`geo.measure.area_ha`). Writes ``conc_id,overlap_ha`` for every concession
(0 where no site polygon overlaps it). Point sites have no area and are skipped. No
validation report, no tenure, no rings, no statistics: what the engine costs beyond this is
the price of everything else it does.
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
from geo.measure import area_ha


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("concessions", type=Path)
    parser.add_argument("sites", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--id", default="licence_id", help="concession identifier column")
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
    pd.DataFrame({"conc_id": conc[args.id].astype(str), "overlap_ha": result}).to_csv(
        args.out, index=False, float_format="%.6f")
    print(" ".join(f"{k}={v:.2f}s" for k, v in timings.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
