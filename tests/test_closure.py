"""Closure planning (:mod:`geo.closure`) on a hand-built case, its map, and its page.

Six titles along the equator, reference date 2020-01-01, 5-year window, rings 1, 5, 10 km
(0.01 degree of longitude there is about 1.11 km)::

    title  box                  expiry       years left            sites
    X      (0, 0, 0.1, 0.1)     2019-01-01   -365 d  -> -1.0       x1 inside: 10 workers, mercury
    Y      (1, 0, 1.1, 0.1)     2022-01-01   731 d   ->  2.0       y1 inside: 30 workers, armed
                                                                   y2 2.2 km out: 4 workers, child
    Z      (2, 0, 2.1, 0.1)     2030-01-01   3653 d  -> 10.0       z1 inside: 50 workers
    W      (3, 0, 3.1, 0.1)     2021-01-01   366 d   ->  1.0       none
    V      (4, 0, 4.1, 0.1)     none                               v1 inside
    U      (5, 0, 5.1, 0.1)     2025-01-01   1827 d  ->  5.0       u1 5.6 km out, workers unknown

Expected with the 5-year window: Y (expiring, 2.0) and U (expiring on the window's last day,
5.0), then X (expired). Z expires in 10 years, W has no site, V no expiry date.
"""

from __future__ import annotations

import datetime as dt
import re

import geopandas as gpd
import pandas as pd
import pytest
from app_runner import open_app
from shapely import Point, box

from geo.closure import (
    closure_note,
    closure_table,
    concerned_sites,
    concerned_totals,
    expiry_summary,
    site_counts,
    titles_without_expiry,
)
from geo.errors import SchemaError
from geo.format import count
from geo.i18n import language
from geo.overlap import compute_overlaps
from geo.pipeline import analyse, load_bundled
from geo.schema import CLOSURE_COLUMNS
from ui import state
from ui.maps import YEARS_LEFT_CLASSES, closure_map

AS_OF = dt.date(2020, 1, 1)
#: A script or stylesheet loaded from the network (the map must work offline).
NETWORK_ASSET = re.compile(
    r"<script[^>]*\bsrc\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|<link[^>]*\bhref\s*=\s*[\"']?\s*(?:https?:)?//",
    re.IGNORECASE,
)
NA = pd.NA


@pytest.fixture(scope="module")
def overlaps():
    conc = gpd.GeoDataFrame(
        {"conc_id": list("XYZWVU"),
         "holder": ["HX", "<b>H&Y</b>", "HZ", "HW", "HV", "HU"],
         "lic_type": ["exploitation", "exploitation", "exploration", "exploitation",
                      "small_scale", "other"],
         "status": ["Actif", "Actif-En Renouvellement", "Actif", "Actif", "Actif", "Actif"],
         "expiry": pd.to_datetime(["2019-01-01", "2022-01-01", "2030-01-01", "2021-01-01",
                                   None, "2025-01-01"])},
        geometry=[box(x, 0, x + 0.1, 0.1) for x in range(6)], crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {
            "site_id": ["x1", "y1", "y2", "z1", "v1", "u1"],
            "workers": pd.array([10, 30, 4, 50, 3, NA], dtype="Int64"),
            "mercury": pd.array([True, False, False, False, False, NA], dtype="boolean"),
            "armed": pd.array([False, True, False, False, False, NA], dtype="boolean"),
            "child_lab": pd.array([False, False, True, False, False, NA], dtype="boolean"),
            "province": ["PX", "PY", "PY", "PZ", "PV", "PU"],
        },
        geometry=[Point(0.05, 0.05), Point(1.05, 0.05), Point(1.12, 0.05), Point(2.05, 0.05),
                  Point(4.05, 0.05), Point(5.15, 0.05)],
        crs=4326,
    )
    return compute_overlaps(conc, sites, rings_km=(1, 5, 10))


def _ids(table: pd.DataFrame) -> list[str]:
    return table["conc_id"].tolist()


def test_expired_and_expiring_titles_by_hand(overlaps):
    table = closure_table(overlaps, within_years=5, as_of=AS_OF)
    assert list(table.columns) == list(CLOSURE_COLUMNS)
    assert _ids(table) == ["Y", "U", "X"]
    assert table["years_left"].tolist() == [2.0, 5.0, -1.0]
    assert table["expiry_status"].tolist() == ["expiring", "expiring", "expired"]
    assert table["province"].tolist() == ["PY", "PU", "PX"]
    counts = ["sites_in", "workers_in", "sites_near", "workers_near", "mercury_in",
              "armed_in", "child_in", "flagged_in", "flagged_near"]
    assert table.set_index("conc_id")[counts].to_dict("index") == {
        "Y": dict(zip(counts, [1, 30, 1, 4, 0, 1, 0, 1, 1], strict=True)),
        "U": dict(zip(counts, [0, 0, 1, 0, 0, 0, 0, 0, 0], strict=True)),
        "X": dict(zip(counts, [1, 10, 0, 0, 1, 0, 0, 1, 0], strict=True)),
    }


def test_years_left_is_days_over_365_25(overlaps):
    table = closure_table(overlaps, within_years=10, as_of=AS_OF)
    expected = {"X": -365, "Y": 731, "U": 1827, "Z": 3653}
    assert dict(zip(table["conc_id"], table["years_left"], strict=True)) == {
        key: round(days / 365.25, 2) for key, days in expected.items()}
    assert _ids(table) == ["Y", "U", "Z", "X"]  # the window's last day is included


def test_window_and_expired_options(overlaps):
    assert _ids(closure_table(overlaps, within_years=5, as_of=AS_OF,
                              include_expired=False)) == ["Y", "U"]
    assert _ids(closure_table(overlaps, within_years=1, as_of=AS_OF)) == ["X"]
    empty = closure_table(overlaps, within_years=1, as_of=AS_OF, include_expired=False)
    assert empty.empty
    assert list(empty.columns) == list(CLOSURE_COLUMNS)
    # A year later X is two years gone and Y one year from expiry.
    later = closure_table(overlaps, within_years=5, as_of=dt.date(2021, 1, 1))
    assert _ids(later) == ["Y", "U", "X"]
    assert later["years_left"].tolist() == [round(365 / 365.25, 2), round(1461 / 365.25, 2),
                                            round(-731 / 365.25, 2)]


def test_near_distance_choice(overlaps):
    table = closure_table(overlaps, within_years=5, as_of=AS_OF, near_km=5)
    assert _ids(table) == ["Y", "X"]  # u1 is 5.6 km from U
    assert table.loc[0, "sites_near"] == 1  # y2 is 2.2 km from Y
    table = closure_table(overlaps, within_years=5, as_of=AS_OF, near_km=1)
    assert _ids(table) == ["Y", "X"]
    assert (table.loc[0, "sites_near"], table.loc[0, "flagged_near"]) == (0, 0)


@pytest.mark.parametrize("near_km", [0, -1, 20, float("nan")])
def test_near_distance_beyond_the_rings_is_refused(overlaps, near_km):
    with pytest.raises(SchemaError, match="outer ring, 10 km"):
        closure_table(overlaps, as_of=AS_OF, near_km=near_km)


@pytest.mark.parametrize("years", [-1, 1.5])
def test_bad_window_is_refused(overlaps, years):
    with pytest.raises(SchemaError, match="whole number of years"):
        closure_table(overlaps, within_years=years, as_of=AS_OF)


def test_reference_date_defaults_to_today(overlaps):
    pd.testing.assert_frame_equal(closure_table(overlaps),
                                  closure_table(overlaps, as_of=dt.date.today()))


def test_sites_concerned_counted_once(overlaps):
    positions = concerned_sites(overlaps, ["X", "Y"])
    assert overlaps.sites["site_id"].iloc[positions].tolist() == ["x1", "y1", "y2"]
    assert concerned_totals(overlaps, ["X", "Y"]) == {"sites": 3, "workers": 44, "flagged": 3}
    assert concerned_totals(overlaps, ["X", "Y"], near_km=1) == {
        "sites": 2, "workers": 40, "flagged": 2}
    assert concerned_totals(overlaps, []) == {"sites": 0, "workers": 0, "flagged": 0}


def test_site_counts_per_title(overlaps):
    counts = site_counts(overlaps)
    assert counts["sites_in"].tolist() == [1, 1, 1, 0, 1, 0]
    assert counts["sites_near"].tolist() == [0, 1, 0, 0, 0, 1]


def test_titles_without_expiry_and_summary(overlaps):
    assert titles_without_expiry(overlaps) == 1  # V
    summary = expiry_summary(overlaps, as_of=AS_OF)
    assert {k: summary[k] for k in ("titles", "dated", "expired")} == {
        "titles": 6, "dated": 5, "expired": 1}
    assert (summary["first"], summary["last"]) == (pd.Timestamp("2019-01-01"),
                                                   pd.Timestamp("2030-01-01"))


def test_closure_note_names_the_choices():
    text = "\n".join(closure_note(within_years=5, as_of=AS_OF, near_km=5.0,
                                  include_expired=True))
    for part in ("2020-01-01", "5 years", "5 km"):
        assert part in text
    assert "Expired" in text


def test_closure_map_colours_titles_by_years_left(overlaps):
    table = closure_table(overlaps, within_years=5, as_of=AS_OF)
    shapes = overlaps.concessions[["conc_id", "geometry"]]
    titles = gpd.GeoDataFrame(table.merge(shapes, on="conc_id"), geometry="geometry",
                              crs=4326)
    positions = concerned_sites(overlaps, table["conc_id"])
    page = closure_map(titles, overlaps.sites.iloc[positions],
                       footprints=overlaps.footprints.iloc[positions]).get_root().render()
    used = {YEARS_LEFT_CLASSES[i][2] for i in (0, 3, 4)}  # expired, 2-5 years, 5 years
    assert all(colour in page for colour in used)
    assert "<b>H&Y</b>" not in page  # the holder is escaped
    for site_id in ("x1", "y1", "y2", "u1"):
        assert site_id in page
    assert not NETWORK_ASSET.search(page)


# --- the page ----------------------------------------------------------------------------





@pytest.fixture(scope="module")
def bundled():
    return analyse(load_bundled("concessions"), load_bundled("sites")).overlaps


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_closure_page_lists_expiring_and_expired_titles(lang, bundled):
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/closure.py").run()
        assert not at.exception, at.exception
        at.date_input(key=state.CLOSURE_AS_OF).set_value(dt.date(2016, 6, 1)).run()
        assert not at.exception, at.exception
        expected = closure_table(bundled, within_years=5, as_of=dt.date(2016, 6, 1))
        statuses = expected["expiry_status"].value_counts()
        values = [metric.value for metric in at.metric]
        assert values[:2] == [count(statuses["expiring"]), count(statuses["expired"])]
    shown = at.dataframe[0].value
    assert shown["conc_id"].tolist() == expected["conc_id"].tolist()


def test_closure_page_options_change_the_list(bundled):
    at = open_app()
    at.switch_page("pages/closure.py").run()
    at.date_input(key=state.CLOSURE_AS_OF).set_value(dt.date(2016, 6, 1)).run()
    at.toggle(key=state.CLOSURE_EXPIRED).set_value(False).run()
    at.slider(key=state.CLOSURE_YEARS).set_value(2).run()
    at.selectbox(key=state.CLOSURE_NEAR_KM).set_value(1.0).run()
    assert not at.exception, at.exception
    expected = closure_table(bundled, within_years=2, as_of=dt.date(2016, 6, 1), near_km=1,
                             include_expired=False)
    assert set(expected["expiry_status"]) == {"expiring"}
    assert at.dataframe[0].value["conc_id"].tolist() == expected["conc_id"].tolist()
    at.text_input(key=state.CLOSURE_SEARCH).set_value("KIBALI").run()
    assert not at.exception, at.exception
    assert all("KIBALI" in holder for holder in at.dataframe[0].value["holder"])
