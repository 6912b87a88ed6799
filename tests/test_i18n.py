"""Translations: catalogues complete and current, fallback to English, locale formats, the
command line's language, and messages translated where they are shown, never stored."""

from __future__ import annotations

import ast
import datetime as dt
import html
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from shapely import Polygon, box

from geo import format as fmt
from geo import i18n
from geo.errors import LayerReadError
from geo.i18n import N_, _, bound, language, language_from_env, ngettext, normalise_language
from geo.io import read_layer
from geo.schema import LIC_TYPE_LABELS, RED_FLAGS, TENURE_LABELS
from geo.validate import RULES, validate_layer
from ui import maps

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
TEMPLATE = LOCALES / "messages.pot"
TRANSLATED = tuple(lang for lang in i18n.SUPPORTED_LANGUAGES if lang != i18n.DEFAULT_LANGUAGE)
#: Languages every message of the code must be translated into (the others fall back).
COMPLETE = ("fr",)
HOW_TO_FIX = (
    "Run `./run messages` (pybabel extract + update, see 'Adding a language' in README.md), "
    "then translate the new entries in locales/{lang}/LC_MESSAGES/messages.po."
)
PLACEHOLDER = re.compile(r"\{(\w*)\}")


# --- the catalogues ----------------------------------------------------------------------


def _code_messages() -> dict[str, str]:
    """Every message id the code marks (``_``, ``ngettext``, ``N_``...), as Babel extracts
    them with babel.cfg: msgid (the singular of a plural) -> where it is."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def _catalogue(path: Path, lang: str | None = None):
    with path.open("rb") as handle:
        return read_po(handle, locale=lang)


def _entries(catalogue) -> dict[str, object]:
    return {
        (m.id if isinstance(m.id, str) else m.id[0]): m for m in catalogue if m.id
    }


@pytest.fixture(scope="module")
def code_messages() -> dict[str, str]:
    return _code_messages()


def _python_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "geo").glob("*.py")),
            *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "ui").glob("*.py"))]


def test_messages_are_constant_and_extractable() -> None:
    """``_(f"...")`` has no constant id to translate, and a ``_("...")`` inside an f-string
    is invisible to the extraction: both would always show English."""
    marks = {"_", "N_", "gettext", "ngettext"}
    problems = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_fstring = {id(node) for joined in ast.walk(tree) if isinstance(joined, ast.JoinedStr)
                      for node in ast.walk(joined)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in marks and node.args):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            first = node.args[0]
            if isinstance(first, ast.JoinedStr):
                problems.append(f"{where}: an f-string as message; use _(...).format()")
            elif isinstance(first, ast.Constant) and id(node) in in_fstring:
                problems.append(f"{where}: {node.func.id}() inside an f-string")
    assert not problems, "\n".join(problems)


def test_the_extraction_finds_the_messages(code_messages: dict[str, str]) -> None:
    # Engine errors, validation sentences, labels, CLI help and page text are all marked.
    for msgid in ("Artisanal sites", "Where artisanal mining meets mining concessions",
                  "geometry was invalid and has been repaired", "On land free of titles",
                  "There is no file at {path}; check the path and the file name.",
                  "error: {message}", "compute overlap zones and statistics"):
        assert msgid in code_messages
    assert not any("tests/" in where for where in code_messages.values())


def test_the_template_is_current(code_messages: dict[str, str]) -> None:
    template = _entries(_catalogue(TEMPLATE))
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in code_messages.items()
                     if msgid not in template)
    gone = sorted(repr(msgid) for msgid in template if msgid not in code_messages)
    assert not missing, (
        "locales/messages.pot is stale; these messages are not in it:\n  "
        + "\n  ".join(missing) + "\n" + HOW_TO_FIX.format(lang="<lang>")
    )
    assert not gone, (
        "locales/messages.pot still lists messages the code no longer has:\n  "
        + "\n  ".join(gone) + "\n" + HOW_TO_FIX.format(lang="<lang>")
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_catalogue_follows_the_template(lang: str) -> None:
    template = _entries(_catalogue(TEMPLATE))
    catalogue = _entries(_catalogue(i18n.catalogue_path(lang), lang))
    missing = sorted(repr(msgid) for msgid in template if msgid not in catalogue)
    assert not missing, (
        f"locales/{lang}/LC_MESSAGES/messages.po lacks:\n  " + "\n  ".join(missing)
        + "\n" + HOW_TO_FIX.format(lang=lang)
    )


@pytest.mark.parametrize("lang", COMPLETE)
def test_every_message_is_translated(lang: str, code_messages: dict[str, str]) -> None:
    catalogue = _entries(_catalogue(i18n.catalogue_path(lang), lang))
    untranslated = []
    for msgid, where in sorted(code_messages.items()):
        entry = catalogue.get(msgid)
        strings = () if entry is None else (
            entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        )
        if entry is None or entry.fuzzy or not strings or not all(strings):
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, (
        f"{len(untranslated)} message(s) have no {lang} translation (missing, empty or "
        "fuzzy):\n  " + "\n  ".join(untranslated) + "\n" + HOW_TO_FIX.format(lang=lang)
    )


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_placeholders(lang: str) -> None:
    """A translation must use the ``{name}`` placeholders of its message, no more, no
    fewer: ``.format()`` would fail or lose a value."""
    catalogue = _catalogue(i18n.catalogue_path(lang), lang)
    wrong = []
    for entry in catalogue:
        if not entry.id:
            continue
        ids = entry.id if isinstance(entry.id, tuple | list) else (entry.id,)
        strings = entry.string if isinstance(entry.string, tuple | list) else (entry.string,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if text and set(PLACEHOLDER.findall(text)) != expected:
                wrong.append(f"{ids[0]!r} -> {text!r}")
    assert not wrong, f"{lang}: placeholders differ:\n  " + "\n  ".join(wrong)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_plural_forms_match_the_language(lang: str) -> None:
    catalogue = _catalogue(i18n.catalogue_path(lang), lang)
    for entry in catalogue:
        if entry.id and isinstance(entry.id, tuple | list) and any(entry.string):
            assert len(entry.string) == catalogue.num_plurals, entry.id


# --- looking messages up -------------------------------------------------------------------


def test_english_is_the_default_and_the_message_itself() -> None:
    assert i18n.get_language() == "en"
    assert _("Artisanal sites") == "Artisanal sites"
    assert ngettext("{count} feature: {problem}.", "{count} features: {problem}.", 2) == (
        "{count} features: {problem}."
    )


def test_french_messages() -> None:
    with language("fr"):
        assert _("Artisanal sites") == "Sites miniers artisanaux"
        assert _("Exploration permit") == "Permis de recherche"
        assert _(LIC_TYPE_LABELS["asm_zone"]) == "Zone d'exploitation artisanale (ZEA)"
        assert _("Overlap") == "Chevauchement"
        assert _("Workers") == "Creuseurs"
        one = ngettext("{count} feature: {problem}.", "{count} features: {problem}.", 1)
        many = ngettext("{count} feature: {problem}.", "{count} features: {problem}.", 5)
        assert one.startswith("{count} entité\u00a0:")
        assert many.startswith("{count} entités\u00a0:")


@pytest.mark.parametrize(("lang", "expected"), [("es", "Sitios de minería artesanal"),
                                                ("pt", "Locais de mineração artesanal")])
def test_spanish_and_portuguese_are_wired(lang: str, expected: str) -> None:
    with language(lang):
        assert _("Artisanal sites") == expected


@pytest.mark.parametrize("lang", ["es", "pt"])
def test_a_missing_translation_falls_back_to_english(lang: str) -> None:
    with language(lang):
        assert _("A message no catalogue has") == "A message no catalogue has"
        assert ngettext("{n} new thing", "{n} new things", 3) == "{n} new things"


@pytest.fixture
def sparse_catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Spanish catalogue with an empty, a fuzzy and a half-translated plural entry."""
    po = tmp_path / "es" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
        '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "Map"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Overview"\nmsgstr "Vista general"\n\n'
        'msgid "Statistics"\nmsgstr "Estadísticas"\n\n'
        'msgid "{n} site"\nmsgid_plural "{n} sites"\nmsgstr[0] "{n} sitio"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.catalogue.cache_clear()
    yield
    i18n.catalogue.cache_clear()


@pytest.mark.usefixtures("sparse_catalogue")
def test_empty_fuzzy_and_partial_entries_show_english() -> None:
    with language("es"):
        assert _("Statistics") == "Estadísticas"
        assert _("Map") == "Map"  # empty msgstr: English, never blank
        assert _("Overview") == "Overview"  # fuzzy: not trusted
        assert ngettext("{n} site", "{n} sites", 1) == "{n} site"  # a form is missing
        assert _("Upload") == "Upload"  # absent


def test_a_language_without_catalogue_is_english(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    i18n.catalogue.cache_clear()
    try:
        with language("pt"):
            assert _("Map") == "Map"
    finally:
        i18n.catalogue.cache_clear()


# --- choosing the language --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("fr", "fr"), ("FR", "fr"), ("fr_CD.UTF-8", "fr"), ("pt-BR", "pt"), ("es_ES", "es"),
    ("de", "en"), ("", "en"), (None, "en"), ("C.UTF-8", "en"),
])
def test_normalise_language(value: str | None, expected: str) -> None:
    assert normalise_language(value) == expected


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"),
    ({"GEO_LANG": "fr"}, "fr"),
    ({"GEO_LANG": "en", "LANG": "fr_FR.UTF-8"}, "en"),
    ({"LANGUAGE": "pt_BR:pt:en", "LANG": "fr_FR.UTF-8"}, "pt"),
    ({"LC_ALL": "es_ES.UTF-8", "LANG": "fr_FR.UTF-8"}, "es"),
    ({"LANG": "fr_CD.UTF-8"}, "fr"),
    ({"LANG": "C.UTF-8"}, "en"),
    ({"GEO_LANG": "", "LANG": "fr_FR.UTF-8"}, "fr"),
])
def test_language_from_env(environ: dict[str, str], expected: str) -> None:
    assert language_from_env(environ) == expected


def test_each_thread_has_its_own_language() -> None:
    """Two browser sessions run in two threads: one's French never leaks into the other."""
    seen: dict[str, str] = {}
    french_set = threading.Event()
    english_read = threading.Event()

    def french_session() -> None:
        i18n.set_language("fr")
        french_set.set()
        english_read.wait(5)
        seen["fr"] = _("Map")

    def english_session() -> None:
        french_set.wait(5)
        seen["en"] = _("Map")
        english_read.set()

    threads = [threading.Thread(target=french_session), threading.Thread(target=english_session)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"fr": "Carte", "en": "Map"}
    assert i18n.get_language() == "en"


def test_bound_work_keeps_its_language_in_another_thread() -> None:
    with language("fr"):
        later = bound(lambda: _("Method note"))
    result: list[str] = []
    thread = threading.Thread(target=lambda: result.append(later()))
    thread.start()
    thread.join(10)
    assert result == ["Note de méthode"]


# --- numbers and dates -----------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "decimal", "area", "share", "day"), [
    ("en", "1,234.5", "12,346\u00a0ha", "12.3%", "Jan 31, 2030"),
    ("fr", "1\u202f234,5", "12\u202f346\u00a0ha", "12,3\u00a0%", "31 janv. 2030"),
    ("es", "1.234,5", "12.346\u00a0ha", "12,3\u00a0%", "31 ene 2030"),
    ("pt", "1.234,5", "12.346\u00a0ha", "12,3%", "31 de jan. de 2030"),
])
def test_numbers_areas_and_dates_follow_the_language(
    lang: str, decimal: str, area: str, share: str, day: str
) -> None:
    with language(lang):
        assert fmt.number(1234.5, 1) == decimal
        assert fmt.hectares(12345.6) == area
        assert fmt.percent(12.34) == share
        assert fmt.date(dt.date(2030, 1, 31)) == day
        assert fmt.date(pd.Timestamp("2030-01-31")) == day
        assert fmt.date("2030-01-31") == day


def test_formats_of_small_and_missing_values() -> None:
    assert fmt.hectares(5.25) == "5.2\u00a0ha"  # one decimal below 10 ha
    assert fmt.count(2973.0) == "2,973"
    assert fmt.date(None) is None
    assert fmt.date(pd.NaT) is None
    assert fmt.date("not a date") is None
    with language("fr"):
        assert fmt.hectares(5.25) == "5,2\u00a0ha"
        assert fmt.count(2973.0) == "2\u202f973"
        assert fmt.kilometres(1.5) == "1,50\u00a0km"
        assert fmt.decimal(2.5) == "2,5"
        assert [fmt.yes_no(v) for v in (True, False, None)] == ["Oui", "Non", "Inconnu"]
        assert fmt.vega_locale()["number"] == {
            "decimal": ",", "thousands": "\u202f", "grouping": [3], "currency": ["", ""],
        }


# --- the engine's messages ---------------------------------------------------------------------


def test_engine_errors_are_raised_in_the_current_language(tmp_path: Path) -> None:
    missing = tmp_path / "missing.geojson"
    with language("fr"), pytest.raises(LayerReadError, match="Il n'y a pas de fichier"):
        read_layer(missing)
    with pytest.raises(LayerReadError, match="There is no file at"):
        read_layer(missing)


def test_labels_are_stored_in_english_and_translated_where_shown() -> None:
    with language("fr"):
        assert LIC_TYPE_LABELS["exploration"] == "Exploration permit"
        assert i18n.label(LIC_TYPE_LABELS, "exploration") == "Permis de recherche"
        assert i18n.label(TENURE_LABELS, "unlicensed") == "Sur un terrain libre de tout titre"
        assert _(RED_FLAGS["child_lab"]) == "Travail d'enfants de moins de 15 ans"
        assert i18n.label(LIC_TYPE_LABELS, "PE 1234") == "PE 1234"  # not ours: as it is
        assert RULES["invalid_geometry"][0] == "geometry was invalid and has been repaired"


def test_one_report_reads_in_every_language() -> None:
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    layer = gpd.GeoDataFrame({"site_id": ["a", "b"]}, geometry=[box(0, 0, 1, 1), bowtie],
                             crs=4326)
    _clean, report = validate_layer(layer, "sites")
    assert report.sentences() == ["1 feature: geometry was invalid and has been repaired."]
    with language("fr"):
        assert report.sentences() == [
            "1 entité\u00a0: la géométrie était invalide et a été réparée."
        ]
    with language("es"):
        assert report.sentences() == ["1 entidad: la geometría no era válida y se ha reparado."]
    assert report.issues["rule"].tolist() == ["invalid_geometry"]  # the report stores codes


def test_marked_labels_are_not_translated_at_import() -> None:
    with language("fr"):
        assert N_("Artisanal sites") == "Artisanal sites"


# --- the dashboard's maps ------------------------------------------------------------------------


def _page_text(page: str) -> str:
    """A rendered map as its reader sees the text: JSON escapes and HTML entities decoded."""
    decoded = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return html.unescape(decoded)


def test_maps_speak_the_language() -> None:
    concessions = gpd.GeoDataFrame(
        {"conc_id": ["PE 1"], "holder": ["A"], "lic_type": ["asm_zone"],
         "area_ha": [12345.6], "expiry": pd.to_datetime(["2030-01-31"])},
        geometry=[box(28.0, -3.0, 28.1, -2.9)], crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["s1"], "name": ["Mine"], "tenure": ["unlicensed"], "mercury": [True]},
        geometry=gpd.points_from_xy([28.05], [-2.95]), crs=4326,
    )
    with language("fr"):
        text = _page_text(maps.preview_map(concessions, sites).get_root().render())
    for french in ("Légende", "Concessions (type de titre)", "Sites miniers artisanaux",
                   "Pays", "Titulaire", "Zone d'exploitation artisanale (ZEA)", "12\u202f346",
                   "31 janv. 2030", "Signal d'alerte (contour épais)", "usage de mercure", "Mercure",
                   "Sur un terrain libre de tout titre", "Oui"):
        assert french in text, french
    english = _page_text(maps.preview_map(concessions, sites).get_root().render())
    assert "Légende" not in english
    assert "Artisanal mining zone" in english


# --- the command line ---------------------------------------------------------------------------


def _geo(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("GEO_LANG", "LANGUAGE", "LC_ALL", "LANG")}
    return subprocess.run([sys.executable, "-m", "geo", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False, env={**clean, **env})


def test_cli_errors_in_french(tmp_path: Path) -> None:
    proc = _geo("overlap", "missing.geojson", "x", "-o", str(tmp_path / "out"), GEO_LANG="fr")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == [(
        "erreur\u00a0: Il n'y a pas de fichier à l'emplacement missing.geojson\u00a0; "
        "vérifiez le chemin et le nom du fichier."
    )]
    assert not (tmp_path / "out").exists()


def test_cli_language_from_lang_and_default(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    spanish = _geo("overlap", "missing.geojson", "x", "-o", out, LANG="es_ES.UTF-8")
    assert spanish.stderr.startswith("error: No hay ningún archivo en missing.geojson")
    english = _geo("overlap", "missing.geojson", "x", "-o", out)
    assert english.stderr.startswith("error: There is no file at missing.geojson")
    portuguese_help = _geo("overlap", "--help", GEO_LANG="pt")
    assert "pasta onde gravar os resultados" in portuguese_help.stdout


def test_cli_validate_report_in_french() -> None:
    proc = _geo("validate", str(ROOT / "data" / "drc" / "cami_titles_2016.geojson"),
                GEO_LANG="fr")
    assert proc.returncode == 0, proc.stderr
    assert "2973 concessions lues, 2973 utilisables, 0 réparées, 0 écartées." in proc.stdout
    assert "l'identifiant était déjà utilisé et a été rendu unique" in proc.stdout
