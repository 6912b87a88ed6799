"""Schemas of every layer and table the engine produces, and the import mapping.

Each frame the engine returns has its columns defined once, here. Source layers are
normalised to the concession and site schemas by :func:`normalise_concessions` and
:func:`normalise_sites`, which map source columns to the schema's names (known sources: the
DRC mining cadastre, CAMI, and IPIS artisanal-site visits; any other source through a guesser
that picks the source's own identifier column) and keep the source's own columns.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> raw = gpd.GeoDataFrame({"licence_id": ["ML-1"], "type": ["Mining Lease"]},
...                        geometry=[box(0, 0, 1, 1)], crs=4326)
>>> normalise_concessions(raw)[["conc_id", "lic_type"]].iloc[0].tolist()
['ML-1', 'exploitation']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa

from geo.errors import SchemaError
from geo.i18n import N_, _

LayerKind = Literal["concessions", "sites"]

# --- normalised layers -------------------------------------------------------------------

#: Licence types, in the order a site's tenure class is decided (first match wins).
LIC_TYPES: tuple[str, ...] = ("exploitation", "exploration", "asm_zone", "small_scale", "other")

#: Tenure classes of a site, first match wins; ``unlicensed`` is land free of titles.
TENURE_CLASSES: tuple[str, ...] = (
    "exploitation",
    "exploration",
    "asm_zone",
    "small_scale",
    "other_title",
    "unlicensed",
)

#: Plain-language labels of the normalised values, for pages and exports. Stored in English,
#: marked for extraction with ``N_``; translate where shown (:func:`geo.i18n.label`).
LIC_TYPE_LABELS: dict[str, str] = {
    "exploitation": N_("Exploitation permit / mining lease"),
    "exploration": N_("Exploration permit"),
    "asm_zone": N_("Artisanal mining zone"),
    "small_scale": N_("Small-scale mining permit"),
    "other": N_("Other title"),
}
TENURE_LABELS: dict[str, str] = {
    "exploitation": N_("Inside an exploitation permit"),
    "exploration": N_("Inside an exploration permit"),
    "asm_zone": N_("Inside an artisanal mining zone"),
    "small_scale": N_("Inside a small-scale permit"),
    "other_title": N_("Inside another title"),
    "unlicensed": N_("On land free of titles"),
}

#: The two layer kinds in words (English, marked; translate where shown).
LAYER_KIND_LABELS: dict[LayerKind, str] = {
    "concessions": N_("concessions"),
    "sites": N_("sites"),
}

#: Red flags carried by sites, as ``column: label`` (English; translate where shown).
RED_FLAGS: dict[str, str] = {
    "mercury": N_("Mercury used"),
    "armed": N_("Armed actors present"),
    "child_lab": N_("Children under 15 working"),
}

CONCESSION_COLUMNS: tuple[str, ...] = (
    "conc_id", "name", "holder", "lic_type", "status", "expiry", "province",
)
SITE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "workers", "mercury", "armed", "child_lab", "seen", "gold", "province",
    "first_seen", "qualification", "itsci",
)

#: Official qualification of a site for responsible sourcing (the DRC's green/yellow/red
#: validation of artisanal sites); a site without one is not qualified.
QUALIFICATIONS: tuple[str, ...] = ("green", "yellow", "red")
QUALIFICATION_LABELS: dict[str, str] = {
    "green": N_("Green (qualified)"),
    "yellow": N_("Yellow (qualified with conditions)"),
    "red": N_("Red (not to be sourced from)"),
}
ID_COLUMN: dict[LayerKind, str] = {"concessions": "conc_id", "sites": "site_id"}

# --- engine outputs ----------------------------------------------------------------------

#: Overlap zones: one (multi)polygon per concession that artisanal site polygons overlap.
ZONE_COLUMNS: tuple[str, ...] = ("conc_id", "area_ha", "holder", "lic_type", "geometry")

#: One row per site: where it sits relative to the concessions.
SITE_RESULT_COLUMNS: tuple[str, ...] = (
    "site_id", "tenure", "conc_id", "dist_km", "near_id", "n_conc", "name", "workers",
    "mercury", "armed", "child_lab", "gold", "seen", "province", "country", "is_polygon",
    "area_ha", "first_seen", "qualification", "itsci",
    "lon", "lat",
)

#: One row per concession; the ``sites_r<k>`` columns (one per ring) follow ``sites_in``.
CONCESSION_STAT_HEAD: tuple[str, ...] = (
    "conc_id", "holder", "lic_type", "area_ha", "overlap_ha", "overlap_pct", "sites_in",
)
CONCESSION_STAT_TAIL: tuple[str, ...] = (
    "workers_in", "mercury_in", "armed_in", "child_in", "name", "status", "expiry",
)

#: Grouped statistics (per holder, licence type, province, country, year).
GROUP_STAT_COLUMNS: tuple[str, ...] = (
    "concessions", "area_ha", "overlap_ha", "overlap_pct", "sites_in", "workers_in",
    "mercury_in", "armed_in", "child_in",
)
REGION_STAT_COLUMNS: tuple[str, ...] = (
    "sites", "sites_in", "share_in_pct", "workers", "workers_in", "mercury_in", "armed_in",
    "child_in", "overlap_ha",
)
YEAR_STAT_COLUMNS: tuple[str, ...] = (
    "year", "sites_in", "sites_out", "workers_in", "workers_out",
)

#: The validation report: one row per problem found.
REPORT_COLUMNS: tuple[str, ...] = ("rule", "row", "id", "detail")


def ring_columns(n_rings: int) -> list[str]:
    """Names of the per-ring site-count columns, ``sites_r1`` ... ``sites_r<n>``."""
    return [f"sites_r{k}" for k in range(1, n_rings + 1)]


def concession_stat_columns(n_rings: int) -> list[str]:
    """All columns of the per-concession table for ``n_rings`` proximity rings."""
    return [*CONCESSION_STAT_HEAD, *ring_columns(n_rings), *CONCESSION_STAT_TAIL]


# --- concession dossier (geo.dossier) ----------------------------------------------------

#: Sites, workers and red-flagged sites per ring of one concession: ring 0 is inside, ring k
#: the k-th proximity ring, between ``inner_km`` and ``outer_km``.
DOSSIER_RING_COLUMNS: tuple[str, ...] = (
    "ring", "inner_km", "outer_km", "sites", "workers", "mercury", "armed", "child_lab",
)
#: Per red flag: sites inside and in the rings carrying it, their workers, and the sites of
#: the dossier where the flag is not recorded.
DOSSIER_FLAG_COLUMNS: tuple[str, ...] = (
    "flag", "sites_in", "sites_near", "workers_in", "workers_near", "not_recorded",
)
#: The sites behind each red flag: one row per flag and site, inside first, then nearest.
DOSSIER_FLAG_SITE_COLUMNS: tuple[str, ...] = (
    "flag", "site_id", "name", "ring", "dist_km", "workers",
)
#: The sites of one concession (:func:`geo.stats.sites_of_concession`) with their ring
#: number and the date they were first seen.
DOSSIER_SITE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "where", "ring", "dist_km", "workers", "mercury", "armed", "child_lab",
    "tenure", "first_seen", "seen",
)


def dossier_tenure_columns(n_rings: int) -> list[str]:
    """Columns of a dossier's sites per tenure class: sites inside and per ring, workers
    inside and in the rings."""
    return ["tenure", "sites_in", *ring_columns(n_rings), "workers_in", "workers_near"]


def dossier_year_columns(n_rings: int) -> list[str]:
    """Columns of a dossier's trend: per year first seen, sites inside and per ring, workers
    inside and in the rings."""
    return ["year", "sites_in", *ring_columns(n_rings), "workers_in", "workers_near"]


# --- import mapping ----------------------------------------------------------------------

#: DRC mining cadastre (CAMI) titles: schema column -> source column.
CAMI_MAPPING: dict[str, str] = {
    "conc_id": "name", "holder": "parties", "lic_type": "type", "status": "statut",
    "expiry": "date_de1",
}
#: CAMI artisanal-zone (ZEA) exports.
ZEA_MAPPING: dict[str, str] = {
    "conc_id": "Code", "holder": "Parties", "lic_type": "Licence_", "status": "Status",
}
#: IPIS artisanal-mining site visits (``cod_mines_curated_all_opendata_p_ipis``).
IPIS_MAPPING: dict[str, str] = {
    "site_id": "pcode", "name": "name", "workers": "workers_numb", "mercury": "mercury",
    "armed": "presence", "child_lab": "childunder15", "seen": "visit_date",
    "gold": "is_gold_mine", "province": "province", "first_seen": "first_seen",
    "qualification": "qualification", "itsci": "itsci",
}
KNOWN_MAPPINGS: dict[LayerKind, dict[str, dict[str, str]]] = {
    "concessions": {"CAMI cadastre": CAMI_MAPPING, "CAMI artisanal zones": ZEA_MAPPING},
    "sites": {"IPIS site visits": IPIS_MAPPING},
}

#: Source values of licence types: lower-cased source value -> ``lic_type``.
LIC_TYPE_VALUES: dict[str, str] = {
    "pe": "exploitation", "per": "exploitation", "pr (as)": "exploration",
    "pr (pp)": "exploration", "pr": "exploration", "zea": "asm_zone", "pepm": "small_scale",
    **{value: value for value in LIC_TYPES},
}
#: Keywords for licence types of other sources, tried in order on the lower-cased value.
_LIC_TYPE_KEYWORDS: tuple[tuple[str, str], ...] = (
    (r"artisan|\basm\b|garimp|zea\b|zone d.exploitation artisanale", "asm_zone"),
    (r"small|petite|pequeñ|pequen|\bpml\b|\bsml\b|small.scale", "small_scale"),
    (r"explor|prospect|reconnaiss|recherche|\bpl\b|\bel\b", "exploration"),
    (r"exploit|lease|\bml\b|mining licen[cs]e|concesi[oó]n minera|lavra|\bpe\b", "exploitation"),
)

#: Candidate source column names for each schema column, tried in order, case-insensitive.
_CANDIDATES: dict[LayerKind, dict[str, tuple[str, ...]]] = {
    "concessions": {
        "conc_id": ("conc_id", "licence_id", "license_id", "licence_no", "license_no",
                    "title_id", "permit_id", "permit_no", "tenement_id", "code", "id",
                    "numero", "number", "fid", "name"),
        "name": ("name", "nom", "nombre", "nome", "title_name", "permit_name"),
        "holder": ("holder", "parties", "company", "owner", "titulaire", "titular",
                   "titular_nome", "operator", "licensee"),
        "lic_type": ("lic_type", "licence_type", "license_type", "type", "licence",
                     "license", "licence_", "title_type", "category", "tipo", "group"),
        "status": ("status", "statut", "estado", "situacao", "state"),
        "expiry": ("expiry", "expiry_date", "expires", "date_expiry", "end_date",
                   "date_de1", "expiration", "vencimiento"),
        "province": ("province", "provincia", "region", "state_name", "uf", "departamen"),
    },
    "sites": {
        "site_id": ("site_id", "pcode", "code", "id", "fid", "site_code", "uid"),
        "name": ("name", "site_name", "nom", "nombre", "nome"),
        "workers": ("workers", "workers_numb", "n_workers", "miners", "creuseurs",
                    "travailleurs", "workforce"),
        "mercury": ("mercury", "mercure", "hg", "mercurio"),
        "armed": ("armed", "presence", "armed_actors", "armed_presence", "armed_group"),
        "child_lab": ("child_lab", "childunder15", "child_labour", "child_labor", "children"),
        "seen": ("seen", "visit_date", "date", "date_seen", "observed", "first_seen",
                 "last_seen", "year", "detected"),
        "gold": ("gold", "is_gold_mine", "is_gold", "or"),
        "province": ("province", "provincia", "region", "state_name", "uf"),
        "first_seen": ("first_seen", "first_visit", "first_detected", "date_first"),
        "qualification": ("qualification", "qualif", "validation", "site_status"),
        "itsci": ("itsci", "traceability", "tracability", "trace_scheme", "certified"),
    },
}

#: Columns a known source may lack and still be recognised by the rest.
_OPTIONAL_SOURCE_COLUMNS = {
    "date_de1", "childunder15", "mercury", "province", "first_seen", "qualification", "itsci",
}

_TRUE = {"1", "1.0", "true", "t", "yes", "y", "oui", "o", "si", "sí", "sim", "x"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "non", "nao", "não"}
#: Source values of qualifications (lower-cased), other values are "not qualified".
_QUALIFICATION_VALUES = {
    "vert": "green", "green": "green", "verde": "green",
    "jaune": "yellow", "yellow": "yellow", "amarillo": "yellow", "amarelo": "yellow",
    "rouge": "red", "red": "red", "rojo": "red", "vermelho": "red",
}
#: Words of a traceability scheme's status meaning covered / not covered (lower-cased).
_COVERED = {"actif", "active", "activo", "ativo", "itsci", "covered", "certified"}
_NOT_COVERED = {"suspendu", "suspended", "suspendido", "inactive", "inactif", "none"}
_GOLD_WORDS = re.compile(r"^\s*(?:or|gold|oro|ouro|au)\s*$", re.IGNORECASE)


def guess_mapping(columns: list[str], kind: LayerKind) -> dict[str, str]:
    """Guess which source column feeds each schema column.

    Parameters
    ----------
    columns : list of str
        The source layer's attribute columns.
    kind : {"concessions", "sites"}
        Which schema to map to.

    Returns
    -------
    dict
        ``schema column -> source column``; schema columns with no match are absent. A known
        source (CAMI, IPIS) is recognised by its columns and mapped by its own table.
    """
    source_name = known_source(columns, kind)
    if source_name is not None:
        table = KNOWN_MAPPINGS[kind][source_name]
        return {target: source for target, source in table.items() if source in columns}
    by_lower = {column.lower(): column for column in columns}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for target, candidates in _CANDIDATES[kind].items():
        for candidate in candidates:
            source = by_lower.get(candidate)
            if source is not None and source not in used:
                mapping[target] = source
                used.add(source)
                break
    return mapping


def known_source(columns: list[str], kind: LayerKind) -> str | None:
    """Name of the known source whose columns these are, or ``None``."""
    present = set(columns)
    for label, table in KNOWN_MAPPINGS[kind].items():
        if present >= set(table.values()) - _OPTIONAL_SOURCE_COLUMNS:
            return label
    return None


def normalise_concessions(
    layer: gpd.GeoDataFrame, *, mapping: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Map a concession layer to the concession schema, keeping its source columns.

    Parameters
    ----------
    layer : GeoDataFrame
        The layer as read.
    mapping : dict, optional
        ``schema column -> source column``; guessed with :func:`guess_mapping` when omitted.
        Entries given override the guess.

    Returns
    -------
    GeoDataFrame
        :data:`CONCESSION_COLUMNS` first (``conc_id`` str, ``name``, ``holder``,
        ``lic_type`` one of :data:`LIC_TYPES`, ``status``, ``expiry`` date or null,
        ``province``), then the source columns, then ``geometry``. Row order is kept.
    """
    table = _resolve_mapping(layer, "concessions", mapping)
    out = _start_frame(layer, "concessions", table)
    out["name"] = _text(layer, table.get("name")).fillna(out["conc_id"])
    out["holder"] = _text(layer, table.get("holder"))
    out["lic_type"] = normalise_lic_type(_text(layer, table.get("lic_type")))
    out["status"] = _text(layer, table.get("status"))
    out["expiry"] = _dates(layer, table.get("expiry"))
    out["province"] = _text(layer, table.get("province"))
    return _finish_frame(layer, out, CONCESSION_COLUMNS)


def normalise_sites(
    layer: gpd.GeoDataFrame, *, mapping: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Map an artisanal-site layer to the site schema, keeping its source columns.

    Parameters
    ----------
    layer : GeoDataFrame
        The layer as read (points, polygons or both).
    mapping : dict, optional
        ``schema column -> source column``; guessed with :func:`guess_mapping` when omitted.

    Returns
    -------
    GeoDataFrame
        :data:`SITE_COLUMNS` first (``site_id`` str, ``name``, ``workers`` Int64,
        ``mercury``/``armed``/``child_lab``/``gold`` nullable booleans, ``seen`` date,
        ``province``, ``first_seen`` date (``seen`` when the source has none),
        ``qualification`` one of :data:`QUALIFICATIONS` or null, ``itsci`` nullable boolean:
        covered by a traceability scheme), then the source columns, then ``geometry``.
    """
    table = _resolve_mapping(layer, "sites", mapping)
    out = _start_frame(layer, "sites", table)
    out["name"] = _text(layer, table.get("name")).fillna(out["site_id"])
    out["workers"] = _integers(layer, table.get("workers"))
    for flag in RED_FLAGS:
        out[flag] = _booleans(layer, table.get(flag))
    out["seen"] = _dates(layer, table.get("seen"))
    out["gold"] = _gold(layer, table.get("gold"))
    out["province"] = _text(layer, table.get("province"))
    out["first_seen"] = _dates(layer, table.get("first_seen")).fillna(out["seen"])
    out["qualification"] = _qualifications(layer, table.get("qualification"))
    out["itsci"] = _coverage(layer, table.get("itsci"))
    return _finish_frame(layer, out, SITE_COLUMNS)


def normalise(
    layer: gpd.GeoDataFrame, kind: LayerKind, *, mapping: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Normalise ``layer`` to the schema of ``kind``; see the two functions it calls."""
    if kind == "concessions":
        return normalise_concessions(layer, mapping=mapping)
    if kind == "sites":
        return normalise_sites(layer, mapping=mapping)
    raise SchemaError(
        _("kind must be 'concessions' or 'sites', got {kind}.").format(kind=repr(kind))
    )


def normalise_lic_type(values: pd.Series) -> pd.Series:
    """Map source licence-type values to :data:`LIC_TYPES` (unknown or empty -> ``other``).

    A column of text is mapped once per distinct value, then spread back to its rows.
    """
    return _per_value(values, _lic_types)


# --- helpers -----------------------------------------------------------------------------

#: The characters ``str.strip()`` removes: every one whose ``str.isspace()`` is true.
_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: Text ``pd.to_numeric`` may read as a number: after ASCII blanks and signs, a digit, a
#: point, ``inf`` or ``nan`` (any case); blank text too. Other text is read as missing.
_MAYBE_NUMBER = r"[\t\n\x0b\x0c\r +\-]*(?:[0-9.]|[iI][nN][fF]|[nN][aA][nN]|$)"
#: Kinds (``pd.api.types.infer_dtype``) of object columns ``pd.to_numeric`` reads as missing.
_NEVER_NUMBERS = frozenset({"empty", "date", "datetime", "datetime64"})


def _lic_types(values: pd.Series) -> pd.Series:
    """:func:`normalise_lic_type` row by row."""
    lowered = values.astype("string").str.strip().str.lower()
    result = lowered.map(LIC_TYPE_VALUES).astype(object)
    unknown = result.isna() & lowered.notna()
    for pattern, lic_type in _LIC_TYPE_KEYWORDS:
        hit = unknown & lowered.str.contains(pattern, regex=True).fillna(False).astype(bool)
        result[hit] = lic_type
        unknown &= ~hit
    return result.fillna("other").astype(str)


def _all_text(values: pd.Series) -> bool:
    """Whether every value present in ``values`` is a ``str``."""
    if isinstance(values.dtype, pd.StringDtype):
        return True
    return values.dtype == object and pd.api.types.infer_dtype(values) in ("string", "empty")


def _resolve_mapping(
    layer: gpd.GeoDataFrame, kind: LayerKind, mapping: Mapping[str, str] | None
) -> dict[str, str]:
    columns = [c for c in layer.columns if c != layer.geometry.name]
    table = guess_mapping(columns, kind)
    for target, source in (mapping or {}).items():
        if target not in _CANDIDATES[kind]:
            allowed = ", ".join(_CANDIDATES[kind])
            message = (
                _("Cannot map to {target}: the concessions columns are {allowed}.")
                if kind == "concessions"
                else _("Cannot map to {target}: the sites columns are {allowed}.")
            )
            raise SchemaError(message.format(target=repr(target), allowed=allowed))
        if source in (None, ""):
            table.pop(target, None)
        elif source not in columns:
            raise SchemaError(
                _("Column {source} chosen for {target} is not in the file; its columns are "
                  "{columns}.").format(source=repr(source), target=repr(target),
                                       columns=", ".join(map(str, columns)))
            )
        else:
            table[target] = source
    return table


def _start_frame(
    layer: gpd.GeoDataFrame, kind: LayerKind, table: dict[str, str]
) -> pd.DataFrame:
    id_column = ID_COLUMN[kind]
    ids = _text(layer, table.get(id_column))
    if ids.isna().any():
        prefix = "C" if kind == "concessions" else "S"
        numbers = pd.Series(np.arange(1, len(layer) + 1), index=layer.index).astype(str)
        ids = ids.fillna(prefix + numbers)
    out = pd.DataFrame(index=layer.index)
    out[id_column] = ids.astype(str)
    return out


def _finish_frame(
    layer: gpd.GeoDataFrame, out: pd.DataFrame, columns: tuple[str, ...]
) -> gpd.GeoDataFrame:
    geometry_name = layer.geometry.name
    kept = [c for c in layer.columns if c not in columns and c != geometry_name]
    frame = pd.concat([out[list(columns)], layer[kept]], axis=1)
    frame["geometry"] = layer.geometry.values
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=layer.crs).reset_index(drop=True)


def _column(layer: pd.DataFrame, source: str | None) -> pd.Series:
    if source is None:
        return pd.Series(pd.NA, index=layer.index, dtype=object)
    return layer[source]


def _text(layer: pd.DataFrame, source: str | None) -> pd.Series:
    """Values as stripped text, whole numbers without decimals, blank -> missing."""
    if source is None:
        return pd.Series(np.full(len(layer), None, dtype=object), index=layer.index)
    values = _column(layer, source)
    as_float = _numbers(values)
    is_whole = as_float.notna() & (as_float == np.floor(as_float.fillna(0)))
    text = _stripped(values)
    text[is_whole] = as_float[is_whole].astype("int64").astype(str)
    return text.where(text.notna() & (text != ""), None).astype(object)


def _stripped(values: pd.Series) -> pd.Series:
    """``str(value).strip()`` of each value present; a ``str`` column unless all missing.

    Parameters
    ----------
    values : Series

    Returns
    -------
    Series
        All missing: ``None`` in an object column. Else a ``str`` column.
    """
    present = values.notna()
    if not present.any():
        return values.astype(object).where(present, None)
    if isinstance(values.dtype, pd.StringDtype):
        return values.str.strip(_WHITESPACE).astype("str")
    text = values.astype(object).where(present, None)
    return text.map(lambda v: v if v is None else str(v).strip())


def _numbers(values: pd.Series) -> pd.Series:
    """``pd.to_numeric(values, errors="coerce")``, parsing only values that may be numbers.

    Text that cannot be a number comes out missing, as a missing value does, wherever it
    is: so parsing the other values with one missing value added gives each its number
    and the dtype the whole column gets.

    Parameters
    ----------
    values : Series

    Returns
    -------
    Series
        Numbers, with the index and name of ``values``.
    """
    maybe = _maybe_numbers(values)
    if maybe is None or maybe.all():
        return pd.to_numeric(values, errors="coerce")
    missing = pd.Series([None], dtype=values.dtype)
    probe = pd.concat([values[maybe], missing], ignore_index=True)
    parsed = pd.to_numeric(probe, errors="coerce")
    if isinstance(parsed.dtype, np.dtype) and parsed.dtype.kind != "f":
        return pd.to_numeric(values, errors="coerce")
    rows = np.full(len(values), -1, dtype=np.intp)
    rows[maybe] = np.arange(int(maybe.sum()))
    filled = parsed.array.take(rows, allow_fill=True)
    return pd.Series(filled, index=values.index, name=values.name, dtype=parsed.dtype)


def _maybe_numbers(values: pd.Series) -> np.ndarray | None:
    """Which values ``pd.to_numeric`` may read as a number; ``None`` when not known."""
    if isinstance(values.dtype, pd.StringDtype):
        return _may_be_number(values)
    if values.dtype != object:
        return None
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "string":
        return _may_be_number(values)
    if kind in _NEVER_NUMBERS:
        return np.zeros(len(values), dtype=bool)
    return None


def _may_be_number(text: pd.Series) -> np.ndarray:
    """Which values of a column of text may be numbers (see :data:`_MAYBE_NUMBER`)."""
    return text.str.match(_MAYBE_NUMBER).to_numpy(dtype=bool, na_value=False)


def _integers(layer: pd.DataFrame, source: str | None) -> pd.Series:
    values = pd.to_numeric(_column(layer, source), errors="coerce")
    values = values.where(values >= 0)
    return values.round().astype("Int64")


def _booleans(layer: pd.DataFrame, source: str | None) -> pd.Series:
    """Yes/no words and 1/0 as nullable booleans; other values missing."""
    return _per_value(_column(layer, source), _boolean_values)


def _boolean_values(values: pd.Series) -> pd.Series:
    """:func:`_booleans` of a column."""
    text = values.astype("string").str.strip().str.lower()
    result = pd.Series(pd.NA, index=values.index, dtype="boolean")
    result[text.isin(_TRUE).fillna(False).astype(bool)] = True
    result[text.isin(_FALSE).fillna(False).astype(bool)] = False
    return result


def _per_value(values: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``convert(values)``, for a ``convert`` that reads each value on its own.

    A column of text or booleans is converted once per distinct value (and once for a
    missing one), then spread back to its rows; other columns are converted whole.

    Parameters
    ----------
    values : Series
    convert : callable
        Series -> Series of the same length and index, each row from its own value only.

    Returns
    -------
    Series
        What ``convert(values)`` returns.
    """
    if not (_all_text(values) or values.dtype == bool
            or isinstance(values.dtype, pd.BooleanDtype)):
        return convert(values)
    codes, distinct = _distinct(values)
    probe = pd.concat([distinct, values.iloc[np.flatnonzero(codes == -1)[:1]]],
                      ignore_index=True)
    rows = np.where(codes == -1, len(distinct), codes)
    converted = convert(probe)
    return pd.Series(converted.array.take(rows), index=values.index, name=converted.name,
                     dtype=converted.dtype)


def _gold(layer: pd.DataFrame, source: str | None) -> pd.Series:
    if source is not None:
        return _booleans(layer, source)
    minerals = [c for c in layer.columns if str(c).lower().startswith(("mineral", "commodity"))]
    if not minerals:
        return pd.Series(pd.NA, index=layer.index, dtype="boolean")
    hits = pd.concat(
        [layer[c].astype("string").str.contains(_GOLD_WORDS).fillna(False) for c in minerals],
        axis=1,
    )
    return hits.any(axis=1).astype("boolean")


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``pd.factorize(values)``: each row's code (-1 when missing) and the distinct values,
    in the dtype and with the name of ``values``."""
    if values.isna().all():  # nothing to factorize
        return np.full(len(values), -1, dtype=np.intp), values.iloc[:0]
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques, dtype=values.dtype, name=values.name)


def _qualifications(layer: pd.DataFrame, source: str | None) -> pd.Series:
    """Official qualification (:data:`QUALIFICATIONS`) or ``None``."""
    return _per_value(_column(layer, source), _qualification_values)


def _qualification_values(values: pd.Series) -> pd.Series:
    """:func:`_qualifications` of a column."""
    text = values.astype("string").str.strip().str.lower()
    return text.map(_QUALIFICATION_VALUES).astype(object).where(lambda v: v.notna(), None)


def _coverage(layer: pd.DataFrame, source: str | None) -> pd.Series:
    """Traceability coverage: yes/no words, scheme status words (Actif, Suspendu)."""
    return _per_value(_column(layer, source), _coverage_values)


def _coverage_values(values: pd.Series) -> pd.Series:
    """:func:`_coverage` of a column."""
    text = values.astype("string").str.strip().str.lower()
    result = _boolean_values(values)
    covered = text.isin(_COVERED) | text.str.startswith("itsci").fillna(False)
    result[covered.fillna(False).astype(bool)] = True
    result[text.isin(_NOT_COVERED).fillna(False).astype(bool)] = False
    return result


def _dates(layer: pd.DataFrame, source: str | None) -> pd.Series:
    """Dates of a column of dates, date text or years (1900-2100); others missing."""
    values = _column(layer, source)
    if source is None:
        return pd.Series(pd.NaT, index=layer.index, dtype="datetime64[ms]")
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "date":
        return _calendar_dates(values)
    numeric = _numbers(values)
    years = numeric.where((numeric >= 1900) & (numeric <= 2100))
    text = values.astype("string").str.slice(0, 10)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    from_years = pd.to_datetime(years.astype("Int64").astype("string") + "-01-01", errors="coerce")
    return parsed.where(years.isna(), from_years).astype("datetime64[ms]")


def _calendar_dates(values: pd.Series) -> pd.Series:
    """Midnight of each ``datetime.date`` (of a ``datetime``: its own calendar day).

    Parameters
    ----------
    values : Series
        Object column whose values present are all ``datetime.date`` (or subclasses).

    Returns
    -------
    Series
        ``datetime64[ms]``, missing values ``NaT``: what :func:`_dates` makes of the text
        ``YYYY-MM-DD`` each value starts with.
    """
    cells = values.astype(object).where(values.notna(), None).to_numpy()
    days = pa.array(cells, type=pa.date32(), from_pandas=True)
    stamps = days.cast(pa.timestamp("ms")).to_numpy(zero_copy_only=False)
    return pd.Series(stamps, index=values.index, name=values.name, dtype="datetime64[ms]")


# --- indicators --------------------------------------------------------------------------

#: Ranked indicators per holder or province (:func:`geo.indicators.indicators`); the group
#: column (``holder`` or ``province``) follows ``rank``.
INDICATOR_COLUMNS: tuple[str, ...] = (
    "concessions", "area_ha", "overlap_ha", "overlap_pct", "sites_in", "workers_in",
    "sites_near", "workers_near", "mercury_in", "armed_in", "child_in", "flagged_in",
    "flagged_near", "sites_recent", "sites_earlier", "recent_pct",
)


def indicator_columns(by: str) -> list[str]:
    """All columns of the indicator table grouped ``by`` (``holder`` or ``province``)."""
    return ["rank", by, *INDICATOR_COLUMNS]


# --- closure -----------------------------------------------------------------------------

#: Where a title stands against the closure window (English, marked; translate where shown).
EXPIRY_STATUS_LABELS: dict[str, str] = {
    "expired": N_("Expired"),
    "expiring": N_("Expiring"),
}
#: Titles expiring (or expired) with artisanal sites inside or near
#: (:func:`geo.closure.closure_table`).
CLOSURE_COLUMNS: tuple[str, ...] = (
    "conc_id", "name", "expiry", "years_left", "expiry_status", "holder", "lic_type", "status",
    "province", "sites_in", "workers_in", "sites_near", "workers_near", "mercury_in",
    "armed_in", "child_in", "flagged_in", "flagged_near",
)


# --- formalisation -----------------------------------------------------------------------

#: Formalisation categories of a site, in the order shown (:mod:`geo.formalisation`). A site
#: inside an artisanal zone is ``in_zone`` whatever its tenure; else ``free_land`` on land
#: free of titles; else ``near_zone`` inside an exploitation permit within the chosen
#: distance of an artisanal zone. Other sites have no category.
FORMALISATION_CATEGORIES: tuple[str, ...] = ("free_land", "in_zone", "near_zone")
FORMALISATION_LABELS: dict[str, str] = {
    "free_land": N_("On land free of titles"),
    "in_zone": N_("Inside an artisanal zone"),
    "near_zone": N_("In an exploitation permit near an artisanal zone"),
}
#: The list for the cadastre office: one row per site in a category.
FORMALISATION_SITE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "province", "category", "tenure", "conc_id", "holder", "zone_id",
    "zone_km", "workers", "gold", "mercury", "armed", "child_lab", "seen", "lon", "lat",
)
#: Per category: sites, workers, sites with each red flag and with any (``flagged``).
FORMALISATION_CATEGORY_COLUMNS: tuple[str, ...] = (
    "category", "sites", "workers", "mercury", "armed", "child_lab", "flagged",
)
#: Per province: sites, workers and flagged sites of each category, then of all three.
FORMALISATION_PROVINCE_COLUMNS: tuple[str, ...] = (
    "province",
    *(f"{category}_{measure}" for category in FORMALISATION_CATEGORIES
      for measure in ("sites", "workers", "flagged")),
    "sites", "workers", "flagged",
)


# --- due diligence -----------------------------------------------------------------------

#: The red flags that block responsible sourcing, in the order shown (:mod:`geo.diligence`).
BLOCKING_FLAGS: tuple[str, ...] = ("armed", "child_lab", "mercury")
#: The groupings of the due-diligence view.
DILIGENCE_VIEWS: tuple[str, ...] = ("concession", "holder", "province")
#: Indicators of each row: sites and workers counted, sites per official qualification,
#: sites covered by a traceability scheme, sites with each blocking flag and with any.
DILIGENCE_INDICATORS: tuple[str, ...] = (
    "sites", "workers", "green", "yellow", "red", "not_qualified", "itsci", "itsci_pct",
    *BLOCKING_FLAGS, "blocked", "blocked_pct",
)
#: The columns naming a row of each view, before the indicators.
DILIGENCE_KEYS: dict[str, tuple[str, ...]] = {
    "concession": ("conc_id", "name", "holder", "lic_type", "status"),
    "holder": ("holder", "concessions"),
    "province": ("province",),
}
#: The sites behind the numbers: one row per site.
DILIGENCE_SITE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "province", "tenure", "conc_id", "holder", "n_conc", "qualification",
    "itsci", *BLOCKING_FLAGS, "blocked", "workers", "gold", "seen", "lon", "lat",
)
#: Every (site, concession) pair where the site lies inside the concession.
DILIGENCE_LINK_COLUMNS: tuple[str, ...] = ("site_id", "conc_id")


def diligence_columns(view: str) -> list[str]:
    """All columns of the due-diligence table of ``view`` (concession, holder, province)."""
    return [*DILIGENCE_KEYS[view], *DILIGENCE_INDICATORS]


# --- in-migration ------------------------------------------------------------------------

#: Visits of sites, one row per visit (:func:`geo.inmigration.load_visits`).
VISIT_COLUMNS: tuple[str, ...] = ("site_id", "date", "workers")
#: Source column names of each visit column, tried in order, case-insensitive.
VISIT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "site_id": ("site_id", "pcode", "code", "id", "site_code", "uid"),
    "date": ("date", "visit_date", "seen", "date_seen", "observed", "date_visit"),
    "workers": ("workers", "workers_numb", "n_workers", "miners", "creuseurs", "travailleurs",
                "workforce"),
}
#: Per site and year: known, new and visited, with the workers counted (``site_years``).
SITE_YEAR_COLUMNS: tuple[str, ...] = (
    "site_id", "year", "known", "new", "visited", "workers_visited", "workers_known",
)
#: The yearly measures of the in-migration view, summed over sites.
YEAR_MEASURES: tuple[str, ...] = (
    "sites_known", "sites_new", "sites_visited", "workers_visited", "workers_known",
)
#: Per concession, ring (0 = inside) and year.
YEAR_RING_COLUMNS: tuple[str, ...] = ("conc_id", "ring", "year", *YEAR_MEASURES)
#: Per ring and year over all concessions, each site once, at its nearest ring.
YEAR_RING_TOTAL_COLUMNS: tuple[str, ...] = ("ring", "year", *YEAR_MEASURES)
#: Growth per concession over a window of years, inside and in the first ring, ranked.
GROWTH_COLUMNS: tuple[str, ...] = (
    "rank", "conc_id", "holder", "lic_type", "new_sites", "growth_pct", "workers_added",
    "new_in", "new_r1", "sites_before", "workers_before", "workers_pct", "name",
)
#: Sites added or moved in the current version of the sites layer, where they fall.
CHANGED_SITE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "change", "ring", "near_id", "holder", "dist_km", "workers",
    "red_flags", "mercury", "armed", "child_lab", "tenure", "lic_type", "moved_km", "seen",
    "lon", "lat",
)

# --- set-aside ---------------------------------------------------------------------------

#: Licence type and identifier prefix of the artisanal zone a set-aside scenario creates.
SET_ASIDE_LIC_TYPE = "asm_zone"
SET_ASIDE_ID_PREFIX = "SET-ASIDE-"

#: One row per site whose tenure (class or deciding title) the set-aside changes.
SETASIDE_CHANGE_COLUMNS: tuple[str, ...] = (
    "site_id", "name", "tenure_before", "tenure_after", "conc_before", "conc_after", "workers",
    "mercury", "armed", "child_lab", "lon", "lat",
)
#: Every site with its tenure before and after (the scenario's ``sites`` layer).
SETASIDE_SITE_COLUMNS: tuple[str, ...] = (*SETASIDE_CHANGE_COLUMNS, "changed")
#: One row per title the set-aside changes: the titles ceded from, then the new zone.
SETASIDE_TITLE_COLUMNS: tuple[str, ...] = (
    "conc_id", "name", "holder", "lic_type", "area_before_ha", "ceded_ha", "area_after_ha",
    "overlap_before_ha", "overlap_after_ha", "sites_before", "sites_after", "workers_before",
    "workers_after",
)
#: Sites and workers per tenure class before and after (workers 0 when unknown).
SETASIDE_TENURE_COLUMNS: tuple[str, ...] = (
    "tenure", "sites_before", "sites_after", "workers_before", "workers_after",
)
#: The set-aside polygon layer of the scenario's export.
SETASIDE_ZONE_COLUMNS: tuple[str, ...] = (
    "conc_id", "lic_type", "ceded_from", "drawn_ha", "ceded_ha", "repaired", "geometry",
)
