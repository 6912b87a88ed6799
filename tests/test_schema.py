"""Import mapping of :mod:`geo.schema`: known sources, the guesser and the user's mapping."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import Point, box

from geo.errors import SchemaError
from geo.schema import (
    _WHITESPACE,
    CONCESSION_COLUMNS,
    LIC_TYPES,
    SITE_COLUMNS,
    _numbers,
    guess_mapping,
    known_source,
    normalise,
    normalise_concessions,
    normalise_lic_type,
    normalise_sites,
)

CAMI = "data/drc/cami_titles_2016.geojson"
IPIS = "data/drc/ipis_asm_sites.geojson"


def polygons(n: int) -> list:
    return [box(28 + i, -2, 28.5 + i, -1.5) for i in range(n)]


def points(n: int) -> list:
    return [Point(28 + 0.1 * i, -2) for i in range(n)]


@pytest.fixture
def cami_like():
    """Five CAMI titles as the cadastre exports them (the real columns, made-up rows)."""
    return gpd.GeoDataFrame(
        {
            "name": ["5", "1203", "77", "90", "14"],
            "type": ["PE", "PR (AS)", "ZEA", "PEPM", "AECP (Car)"],
            "parties": ["SAKIMA SARL", "Kibali Goldmines", None, "COOP A", "X"],
            "statut": ["Actif"] * 5,
            "date_de1": ["2016-07-04", "2030-01-31", None, "2019-12-01", "garbage"],
            "group": ["PE", "PR", "ZEA", "PE", "PE"],
        },
        geometry=polygons(5),
        crs=4326,
    )


@pytest.fixture
def ipis_like():
    """Four IPIS site visits with the real columns."""
    return gpd.GeoDataFrame(
        {
            "pcode": ["codmine00001", "codmine00002", "codmine00003", "codmine00004"],
            "name": ["Mayi-Tatu", "Mabanga", None, "Kamituga"],
            "visit_date": ["2013-03-27 00:00:00", "2019-06-01", None, "2020-11-30"],
            "workers_numb": [150.0, np.nan, 12.4, -3.0],
            "is_gold_mine": [1, 0, 1, 1],
            "mercury": [1.0, 0.0, np.nan, 1.0],
            "presence": [1.0, 0.0, np.nan, 1.0],
            "childunder15": [0.0, 1.0, np.nan, np.nan],
            "province": ["Ituri", "Ituri", "Sud-Kivu", None],
            "mineral1": ["Or", "Cassiterite", "Or", "Or"],
        },
        geometry=points(4),
        crs=4326,
    )


# --- CAMI --------------------------------------------------------------------------------


def test_cami_is_recognised(cami_like):
    columns = [c for c in cami_like.columns if c != "geometry"]
    assert known_source(columns, "concessions") == "CAMI cadastre"
    assert guess_mapping(columns, "concessions") == {
        "conc_id": "name", "holder": "parties", "lic_type": "type", "status": "statut",
        "expiry": "date_de1",
    }


def test_cami_licence_types(cami_like):
    out = normalise_concessions(cami_like)
    assert out["lic_type"].tolist() == [
        "exploitation", "exploration", "asm_zone", "small_scale", "other",
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("PE", "exploitation"), ("PER", "exploitation"), ("pe ", "exploitation"),
        ("PR (AS)", "exploration"), ("PR (PP)", "exploration"), ("ZEA", "asm_zone"),
        ("PEPM", "small_scale"), ("AECP (Car)", "other"), ("ARPC (Min)", "other"),
        ("C.U.P.", "other"), ("ZIN", "other"), (None, "other"), ("", "other"),
        ("Mining Lease", "exploitation"), ("Exploration Licence", "exploration"),
        ("Small Scale Mining Licence", "small_scale"), ("Artisanal zone", "asm_zone"),
        ("exploitation", "exploitation"), ("asm_zone", "asm_zone"),
    ],
)
def test_lic_type_values(source, expected):
    assert normalise_lic_type(pd.Series([source], dtype=object)).tolist() == [expected]


def test_cami_ids_holder_status_expiry(cami_like):
    out = normalise_concessions(cami_like)
    assert out["conc_id"].tolist() == ["5", "1203", "77", "90", "14"]
    holder = out["holder"]
    assert holder[holder.notna()].tolist() == ["SAKIMA SARL", "Kibali Goldmines", "COOP A", "X"]
    assert pd.isna(holder.iloc[2])
    assert out["status"].tolist() == ["Actif"] * 5
    expiry = out["expiry"]
    assert pd.api.types.is_datetime64_any_dtype(expiry)
    assert expiry.iloc[0] == pd.Timestamp("2016-07-04")
    assert expiry.iloc[1] == pd.Timestamp("2030-01-31")
    assert pd.isna(expiry.iloc[2])
    assert pd.isna(expiry.iloc[4])  # unparseable text becomes null, not an error


def test_numeric_title_numbers_become_plain_strings():
    raw = gpd.GeoDataFrame(
        {"name": [2791.0, 13214.0], "type": ["PE", "PR (AS)"], "parties": ["a", "b"],
         "statut": ["x", "y"]},
        geometry=polygons(2), crs=4326,
    )
    assert normalise_concessions(raw)["conc_id"].tolist() == ["2791", "13214"]


def test_schema_columns_first_source_columns_kept(cami_like):
    out = normalise_concessions(cami_like)
    columns = out.columns.tolist()
    assert columns[: len(CONCESSION_COLUMNS)] == list(CONCESSION_COLUMNS)
    for source in ("name", "type", "parties", "statut", "date_de1", "group"):
        assert source in columns
    assert columns[-1] == "geometry"
    assert out["type"].tolist() == cami_like["type"].tolist()  # untouched source values
    assert out.crs == cami_like.crs
    assert out.geometry.geom_equals(cami_like.geometry).all()


def test_input_is_not_mutated(cami_like):
    before = cami_like.copy()
    normalise_concessions(cami_like)
    pd.testing.assert_frame_equal(cami_like, before)


def test_real_cami_file():
    raw = gpd.read_file(CAMI)
    out = normalise_concessions(raw)
    counts = out["lic_type"].value_counts().to_dict()
    # PE 512 + PER 18; PR (AS) 947 + PR (PP) 554; ZEA 329; PEPM 163; the rest other.
    assert counts == {"exploitation": 530, "exploration": 1501, "asm_zone": 329,
                      "small_scale": 163, "other": 450}
    assert set(out["lic_type"]) <= set(LIC_TYPES)
    dated = raw["date_de1"].fillna("").str.strip() != ""
    assert dated.sum() == 2573  # 400 titles carry an empty date
    assert out.loc[~dated, "expiry"].isna().all()
    # "2016-07-04" and "2008-11-04 00:00:00+00" both give the calendar day
    expected = pd.to_datetime(raw.loc[dated, "date_de1"].str.slice(0, 10), format="%Y-%m-%d")
    assert (out.loc[dated, "expiry"] == expected).all()
    assert (out["conc_id"] == out["name"]).all()


# --- IPIS --------------------------------------------------------------------------------


def test_ipis_is_recognised(ipis_like):
    columns = [c for c in ipis_like.columns if c != "geometry"]
    assert known_source(columns, "sites") == "IPIS site visits"
    mapping = guess_mapping(columns, "sites")
    assert mapping["site_id"] == "pcode"
    assert mapping["workers"] == "workers_numb"
    assert mapping["armed"] == "presence"
    assert mapping["gold"] == "is_gold_mine"
    assert mapping["child_lab"] == "childunder15"


def test_ipis_values(ipis_like):
    out = normalise_sites(ipis_like)
    assert out.columns.tolist()[: len(SITE_COLUMNS)] == list(SITE_COLUMNS)
    assert out["site_id"].tolist() == ipis_like["pcode"].tolist()
    assert out["name"].tolist() == ["Mayi-Tatu", "Mabanga", "codmine00003", "Kamituga"]
    assert str(out["workers"].dtype) == "Int64"
    assert out["workers"].tolist()[0] == 150
    assert pd.isna(out["workers"].iloc[1])
    assert out["workers"].iloc[2] == 12
    assert pd.isna(out["workers"].iloc[3])  # a negative head count is not a count
    assert out["armed"].tolist() == [True, False, pd.NA, True]
    assert out["mercury"].tolist() == [True, False, pd.NA, True]
    assert out["child_lab"].tolist() == [False, True, pd.NA, pd.NA]
    assert out["gold"].tolist() == [True, False, True, True]
    assert out["seen"].iloc[0] == pd.Timestamp("2013-03-27")
    assert pd.isna(out["seen"].iloc[2])
    assert out["province"].iloc[:3].tolist() == ["Ituri", "Ituri", "Sud-Kivu"]
    assert pd.isna(out["province"].iloc[3])
    for source in ("pcode", "workers_numb", "presence", "mineral1"):
        assert source in out.columns


def test_real_ipis_file():
    raw = gpd.read_file(IPIS)
    out = normalise_sites(raw)
    assert len(out) == 2988
    assert out["site_id"].is_unique
    assert int(out["armed"].sum()) == int((raw["presence"] == 1).sum())
    assert int(out["gold"].sum()) == int((raw["is_gold_mine"] == 1).sum())
    assert int(out["workers"].sum()) == int(raw["workers_numb"].clip(lower=0).round().sum())


# --- other sources -----------------------------------------------------------------------


@pytest.mark.parametrize("id_column", ["licence_id", "LICENCE_ID", "code", "id"])
def test_guesser_picks_concession_id(id_column):
    raw = gpd.GeoDataFrame(
        {"area": [1.0, 2.0], id_column: ["ML-1", "ML-2"], "Holder": ["A", "B"],
         "type": ["Mining Lease", "Exploration Licence"]},
        geometry=polygons(2), crs=4326,
    )
    out = normalise_concessions(raw)
    assert out["conc_id"].tolist() == ["ML-1", "ML-2"]
    assert out["holder"].tolist() == ["A", "B"]
    assert out["lic_type"].tolist() == ["exploitation", "exploration"]
    assert out["name"].tolist() == ["ML-1", "ML-2"]  # no name column: the id


@pytest.mark.parametrize("id_column", ["site_id", "code", "id"])
def test_guesser_picks_site_id(id_column):
    raw = gpd.GeoDataFrame(
        {id_column: [101, 102, 103], "miners": [5, 6, 7]}, geometry=points(3), crs=4326
    )
    out = normalise_sites(raw)
    assert out["site_id"].tolist() == ["101", "102", "103"]
    assert out["workers"].tolist() == [5, 6, 7]


def test_guesser_prefers_licence_id_over_code_and_id():
    columns = ["id", "code", "licence_id", "name"]
    mapping = guess_mapping(columns, "concessions")
    assert mapping["conc_id"] == "licence_id"
    assert mapping["name"] == "name"


def test_user_mapping_overrides_guess():
    raw = gpd.GeoDataFrame(
        {"licence_id": ["a", "b"], "permit": ["P-1", "P-2"], "owner": ["X", "Y"],
         "firm": ["F1", "F2"]},
        geometry=polygons(2), crs=4326,
    )
    assert normalise_concessions(raw)["conc_id"].tolist() == ["a", "b"]
    out = normalise_concessions(raw, mapping={"conc_id": "permit", "holder": "firm"})
    assert out["conc_id"].tolist() == ["P-1", "P-2"]
    assert out["holder"].tolist() == ["F1", "F2"]
    assert "licence_id" in out.columns  # the overridden source column is still kept


def test_user_mapping_can_unmap_a_column():
    raw = gpd.GeoDataFrame(
        {"licence_id": ["a", "b"], "owner": ["X", "Y"]}, geometry=polygons(2), crs=4326
    )
    out = normalise_concessions(raw, mapping={"holder": None})
    assert out["holder"].isna().all()


def test_mapping_to_missing_column_raises():
    raw = gpd.GeoDataFrame({"licence_id": ["a"]}, geometry=polygons(1), crs=4326)
    with pytest.raises(SchemaError, match=r"'nope' chosen for 'holder' is not in the file"):
        normalise_concessions(raw, mapping={"holder": "nope"})


def test_mapping_to_unknown_schema_column_raises():
    raw = gpd.GeoDataFrame({"pcode": ["a"]}, geometry=points(1), crs=4326)
    with pytest.raises(SchemaError, match=r"Cannot map to 'colour'"):
        normalise_sites(raw, mapping={"colour": "pcode"})


def test_normalise_unknown_kind_raises():
    raw = gpd.GeoDataFrame({"pcode": ["a"]}, geometry=points(1), crs=4326)
    with pytest.raises(SchemaError, match="kind must be"):
        normalise(raw, "roads")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "geoms", "prefix"),
    [("concessions", polygons(3), "C"), ("sites", points(3), "S")],
)
def test_generated_ids_when_no_id_column(kind, geoms, prefix):
    raw = gpd.GeoDataFrame({"colour": ["red", "green", "blue"]}, geometry=geoms, crs=4326)
    out = normalise(raw, kind)
    id_column = "conc_id" if kind == "concessions" else "site_id"
    assert out[id_column].tolist() == [f"{prefix}1", f"{prefix}2", f"{prefix}3"]
    assert out["colour"].tolist() == ["red", "green", "blue"]


def test_missing_ids_are_filled_from_generated_ones():
    raw = gpd.GeoDataFrame({"site_id": ["a", None, ""]}, geometry=points(3), crs=4326)
    ids = normalise_sites(raw)["site_id"].tolist()
    assert ids[0] == "a"
    assert ids[1] == "S2"
    assert ids[2] == "S3"


def test_gold_from_mineral_columns_when_no_gold_column():
    raw = gpd.GeoDataFrame(
        {"site_id": ["a", "b", "c"], "mineral1": ["Or", "Coltan", None],
         "mineral2": [None, "gold", None]},
        geometry=points(3), crs=4326,
    )
    assert normalise_sites(raw)["gold"].tolist() == [True, True, False]


def test_years_as_numbers_become_dates():
    raw = gpd.GeoDataFrame({"site_id": ["a", "b"], "year": [2019, 2021]}, geometry=points(2),
                           crs=4326)
    seen = normalise_sites(raw)["seen"]
    assert seen.tolist() == [pd.Timestamp("2019-01-01"), pd.Timestamp("2021-01-01")]


def test_index_is_reset_and_order_kept():
    raw = gpd.GeoDataFrame({"code": ["z", "a", "m"]}, geometry=points(3), crs=4326,
                           index=[10, 5, 7])
    out = normalise_sites(raw)
    assert out.index.tolist() == [0, 1, 2]
    assert out["site_id"].tolist() == ["z", "a", "m"]


# --- the vectorised text helpers read values as the row-by-row code did -------------------

#: Text that pd.to_numeric reads (or not) in every way: blanks, signs, exponents, inf/nan,
#: non-ASCII digits and blanks, integers beyond float precision, words.
TRICKY_TEXT = [
    "12", " 12 ", "007", "1e3", "1.5", "-3", "+4", ".5", "5.", "inf", "-Infinity", " inf",
    "nan", "NaN", "", "  ", "\t7\n", "\x0b8", "\xa09", "9\xa0", "PR 1007", "\u0661\u0662",
    "\uff11\uff12", "0x1A", "1_000", "12abc", "1,5", "9007199254740993", "1e400", "\x00",
    "5\x00", "Nord-Kivu", "Ituri", "i", "n", "- 5", None,
]


def test_whitespace_is_what_str_strip_removes():
    every = (chr(code) for code in range(0x110000))
    assert set(_WHITESPACE) == {char for char in every if char.isspace()}


@pytest.mark.parametrize("dtype", ["str", "string", object])
@pytest.mark.parametrize("values", [TRICKY_TEXT, ["12", "007", "9007199254740993"],
                                    ["PR 1", None], [None, None]])
def test_numbers_are_to_numeric(dtype, values):
    column = pd.Series(values, dtype=dtype, name="x", index=[7] * len(values))
    expected = pd.to_numeric(column, errors="coerce")
    pd.testing.assert_series_equal(_numbers(column), expected, check_exact=True)


@pytest.mark.parametrize("dtype", ["str", "string", object])
def test_text_strips_like_str_strip(dtype):
    finite = [v for v in TRICKY_TEXT
              if v is None or ("inf" not in v.lower() and "e400" not in v)]
    raw = gpd.GeoDataFrame({"site_id": pd.Series(finite, dtype=dtype)},
                           geometry=points(len(finite)), crs=4326)
    ids = normalise_sites(raw)["site_id"].tolist()
    assert ids[finite.index("\t7\n")] == "7"
    assert ids[finite.index("9\xa0")] == "9\xa0".strip()
    assert ids[finite.index("007")] == "7"
    assert ids[finite.index("PR 1007")] == "PR 1007"


def test_date_objects_read_as_their_text():
    days = [dt.date(2019, 5, 1), None, dt.date(999, 12, 31), dt.datetime(2021, 3, 4, 23, 59)]
    as_objects = gpd.GeoDataFrame({"site_id": list("abcd"), "seen": pd.Series(days, dtype=object)},
                                  geometry=points(4), crs=4326)
    as_text = as_objects.assign(seen=[None if d is None else str(d)[:10] for d in days])
    pd.testing.assert_series_equal(normalise_sites(as_objects)["seen"],
                                   normalise_sites(as_text)["seen"], check_exact=True)
