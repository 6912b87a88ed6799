"""Derive the bundled site layer from the IPIS visits: one point per site, its latest visit.

Recipe of ``data/drc/ipis_asm_sites.geojson`` (run from the project root):

    python data/make_drc_sites.py

Each IPIS site (``pcode``) keeps the columns in ``KEPT`` from its latest visit (ties: the
later row), plus ``first_seen`` (date of its first visit) and ``n_visits``. The status
columns in ``LATEST_KNOWN`` (official qualification, iTSCi traceability) are recorded by
separate status visits that carry little else, so each takes the site's latest non-empty
value over all its visits, and ``qualification_date`` the date of that visit. Coordinates are the latest
visit's ``longitude``/``latitude`` (WGS84). Nothing else is changed.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

HERE = Path(__file__).resolve().parent
VISITS = HERE / "drc" / "ipis_asm_visits.csv"
SITES = HERE / "drc" / "ipis_asm_sites.geojson"
#: Columns of the latest visit kept in the site layer.
KEPT = [
    "pcode", "name", "visit_date", "first_seen", "n_visits", "project", "province",
    "territoire", "collectivite", "groupement", "village", "workers_numb", "is_gold_mine",
    "is_3t_mine", "mineral1", "mineral2", "mineral3", "mercury", "presence", "armed_group1",
    "type_armed_group1", "armed_group2", "state_service1", "itsci", "traceability",
    "qualification", "qualification_date", "childunder15", "women", "location_origin",
    "longitude", "latitude",
]
#: Status columns taken as their latest non-empty value over all of a site's visits.
LATEST_KNOWN = ["qualification", "itsci", "traceability"]


def latest_visits(visits: pd.DataFrame) -> gpd.GeoDataFrame:
    """One row per ``pcode``: its latest visit, with ``first_seen`` and ``n_visits``."""
    visits = visits.assign(visit_date=pd.to_datetime(visits["visit_date"], errors="coerce"))
    ordered = visits.reset_index().sort_values(["pcode", "visit_date", "index"])
    history = ordered.groupby("pcode").agg(
        first_seen=("visit_date", "min"), n_visits=("visit_date", "size")
    )
    latest = ordered.drop_duplicates("pcode", keep="last").drop(columns=LATEST_KNOWN)
    known = ordered.groupby("pcode")[LATEST_KNOWN].last()  # last non-empty value
    qualified = ordered.dropna(subset=["qualification"]).drop_duplicates("pcode", keep="last")
    known["qualification_date"] = qualified.set_index("pcode")["visit_date"]
    latest = latest.merge(history, left_on="pcode", right_index=True)
    latest = latest.merge(known, left_on="pcode", right_index=True)[KEPT]
    for column in ("visit_date", "first_seen", "qualification_date"):
        latest[column] = latest[column].dt.strftime("%Y-%m-%d")
    geometry = gpd.points_from_xy(latest["longitude"], latest["latitude"], crs=4326)
    return gpd.GeoDataFrame(latest, geometry=geometry).reset_index(drop=True)


def main() -> None:
    """Write the derived site layer next to the visits file."""
    sites = latest_visits(pd.read_csv(VISITS, dtype={"pcode": str}, low_memory=False))
    sites.to_file(SITES, driver="GeoJSON", COORDINATE_PRECISION=6, WRITE_NAME=False)
    print(f"wrote {len(sites)} sites to {SITES.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
