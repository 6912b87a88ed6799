"""Every page of the dashboard, driven with Streamlit's AppTest, in English and French.

AppTest formats the options of select boxes and multiselects in the test's own thread when
it sends the widgets' states, so interactions with a page in another language run inside
``with language(...)``, as the app's own script thread would.
"""

from __future__ import annotations

import json

import pytest
from app_runner import open_app
from streamlit.testing.v1 import AppTest

from geo.i18n import language
from ui import state

PAGES = ["pages/overview.py", "pages/map.py", "pages/statistics.py", "pages/dossier.py",
         "pages/inmigration.py", "pages/indicators.py", "pages/formalisation.py",
         "pages/closure.py", "pages/due_diligence.py", "pages/setaside.py", "pages/upload.py",
         "pages/export.py"]
LANGUAGES = ["en", "fr"]
#: Each page's title in French.
FRENCH_TITLES = {
    "pages/overview.py": "Là où l'exploitation minière artisanale rencontre les concessions "
                         "minières",
    "pages/map.py": "Carte",
    "pages/statistics.py": "Statistiques",
    "pages/upload.py": "Importer une couche",
    "pages/export.py": "Exporter",
    "pages/dossier.py": "Dossier de concession",
    "pages/inmigration.py": "Migration vers les sites",
    "pages/indicators.py": "Entreprises et provinces",
    "pages/formalisation.py": "Formalisation",
    "pages/closure.py": "Planification de la fermeture",
    "pages/due_diligence.py": "Devoir de diligence",
    "pages/setaside.py": "Scénario de rétrocession",
}


def _metric(at: AppTest, label: str) -> str:
    for metric in at.metric:
        if metric.label == label:
            return metric.value
    raise AssertionError(f"no metric {label!r}: {[m.label for m in at.metric]}")


def _sites_geojson(n: int, *, name: str = "Site") -> bytes:
    """``n`` point sites in South Kivu, where the bundled concessions are."""
    features = [
        {
            "type": "Feature",
            "properties": {"site_id": f"U{i}", "name": f"{name} {i}", "workers": 10 + i},
            "geometry": {"type": "Point", "coordinates": [28.0 + i * 0.01, -3.0]},
        }
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders(page: str, lang: str) -> None:
    at = open_app(lang)
    with language(lang):
        at.switch_page(page).run()
    assert not at.exception, at.exception
    assert at.title, f"{page} shows no title"
    assert at.multiselect(key=state.FILTER_HOLDERS), "the router's sidebar is missing"
    assert at.selectbox(key=state.LANGUAGE).value == lang
    if lang == "fr":
        assert at.title[0].value == FRENCH_TITLES[page]
        assert at.multiselect(key=state.FILTER_HOLDERS).label == "Titulaire"


def test_overview_shows_bundled_numbers() -> None:
    at = open_app()
    assert _metric(at, "Concessions") == "2,973"
    assert _metric(at, "Artisanal sites") == "2,988"


def test_filters_change_the_numbers() -> None:
    at = open_app()
    before = _metric(at, "Sites inside concessions")
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["exploitation"]).run()
    assert not at.exception
    assert _metric(at, "Concessions") == "530"
    at.toggle(key=state.FILTER_GOLD).set_value(True).run()
    assert _metric(at, "Artisanal sites") == "1,890"
    assert _metric(at, "Sites inside concessions") != before


def test_filters_that_leave_nothing_show_a_message() -> None:
    at = open_app()
    at.multiselect(key=state.FILTER_PROVINCES).set_value(["Bas-Uele"]).run()
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["asm_zone"]).run()
    at.multiselect(key=state.FILTER_HOLDERS).set_value(["KIBALI GOLDMINES (100%)"]).run()
    assert not at.exception
    assert not at.metric
    assert at.warning
    assert "match the filters" in at.warning[0].value


def test_bad_rings_option_shows_a_message() -> None:
    at = open_app()
    at.text_input(key=state.OPTION_RINGS).set_value("1, five").run()
    assert not at.exception
    assert at.warning
    assert "Rings must be" in at.warning[0].value


def test_upload_of_a_good_file_updates_the_overview() -> None:
    at = open_app()
    at.switch_page("pages/upload.py").run()
    at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("survey.geojson", _sites_geojson(5), "application/geo+json")
    ).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    at.button(key=state.UPLOAD_CONFIRM).click().run()
    assert not at.exception
    assert at.success
    assert "survey.geojson" in at.success[0].value
    at.switch_page("pages/overview.py").run()
    assert _metric(at, "Artisanal sites") == "5"


def test_upload_of_a_bad_file_changes_nothing() -> None:
    at = open_app()
    at.switch_page("pages/upload.py").run()
    at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("broken.zip", b"PK\x03\x04 this is not really a zip", "application/zip")
    ).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "Traceback" not in at.error[0].value
    assert not [b for b in at.button if b.key == state.UPLOAD_CONFIRM]
    at.switch_page("pages/overview.py").run()
    assert _metric(at, "Artisanal sites") == "2,988"


def test_upload_column_mapping_can_be_changed() -> None:
    at = open_app()
    at.switch_page("pages/upload.py").run()
    at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("survey.geojson", _sites_geojson(3, name="Mine"), "application/geo+json")
    ).run()
    select = at.selectbox(key=f"{state.UPLOAD_MAPPING_PREFIX}sites_workers")
    assert select.value == "workers"
    select.set_value("(not in the file)").run()
    assert not at.exception
    at.button(key=state.UPLOAD_CONFIRM).click().run()
    at.switch_page("pages/statistics.py").run()
    assert not at.exception


def test_statistics_search_filters_rows() -> None:
    at = open_app()
    at.switch_page("pages/statistics.py").run()
    rows = len(at.dataframe[0].value)
    at.text_input(key=state.STATS_SEARCH).set_value("SAKIMA").run()
    assert not at.exception
    found = len(at.dataframe[0].value)
    assert 0 < found < rows


@pytest.mark.parametrize("view", ["Per holder", "Per licence type", "Per province",
                                  "Per country"])
def test_statistics_views(view: str) -> None:
    at = open_app()
    at.switch_page("pages/statistics.py").run()
    at.segmented_control(key=state.STATS_TABLE).set_value(view).run()
    assert not at.exception
    assert len(at.dataframe[0].value) > 0


def test_map_selection_shows_the_concession_detail() -> None:
    at = open_app()
    at.switch_page("pages/map.py").run()
    at.selectbox(key=state.MAP_PICK).set_value("36").run()
    assert not at.exception
    assert any("Title 36" in s.value for s in at.subheader)
    at.toggle(key=state.MAP_SHOW_RINGS).set_value(True).run()
    assert not at.exception


def test_export_page_offers_every_format() -> None:
    at = open_app()
    at.switch_page("pages/export.py").run()
    assert not at.exception
    keys = {button.key for button in at.get("download_button")}
    for fmt in ("csv", "xlsx", "geojson", "gpkg", "shapefile", "map"):
        assert f"{state.EXPORT_PREFIX}{fmt}" in keys


# --- languages -----------------------------------------------------------------------------


def test_overview_in_french_from_the_url() -> None:
    at = open_app("fr")
    assert _metric(at, "Concessions") == "2\u202f973"
    assert _metric(at, "Sites miniers artisanaux") == "2\u202f988"
    assert _metric(at, "Superficie de chevauchement") == "aucune"
    assert "29\u202f887\u202f350\u00a0ha" in at.caption[0].value
    assert at.query_params[state.LANGUAGE_QUERY] == "fr"


def test_the_sidebar_picker_changes_the_language_and_the_url() -> None:
    at = open_app()
    assert state.LANGUAGE_QUERY not in at.query_params  # English, URL left alone
    at.selectbox(key=state.LANGUAGE).set_value("fr").run()
    assert not at.exception, at.exception
    assert _metric(at, "Sites miniers artisanaux") == "2\u202f988"
    assert at.query_params[state.LANGUAGE_QUERY] == "fr"
    with language("fr"):
        at.switch_page("pages/map.py").run()
    assert at.title[0].value == "Carte"
    assert at.query_params[state.LANGUAGE_QUERY] == "fr"
    with language("fr"):
        at.selectbox(key=state.LANGUAGE).set_value("en").run()
    assert at.title[0].value == "Map"
    assert at.query_params[state.LANGUAGE_QUERY] == "en"


def test_an_unknown_language_in_the_url_is_english() -> None:
    at = open_app("de")
    assert _metric(at, "Artisanal sites") == "2,988"
    assert at.query_params[state.LANGUAGE_QUERY] == "en"


def test_choices_survive_a_change_of_language() -> None:
    at = open_app("fr")
    with language("fr"):
        at.switch_page("pages/map.py").run()
        at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["exploitation"]).run()
        at.selectbox(key=state.MAP_PICK).set_value("36").run()
        at.selectbox(key=state.MAP_BASEMAP).set_value("OpenStreetMap").run()
    assert any(s.value == "Titre 36" for s in at.subheader)
    with language("fr"):
        at.selectbox(key=state.LANGUAGE).set_value("en").run()
    assert not at.exception, at.exception
    assert any(s.value == "Title 36" for s in at.subheader)
    assert at.multiselect(key=state.FILTER_LIC_TYPES).value == ["exploitation"]
    assert at.selectbox(key=state.MAP_BASEMAP).value == "OpenStreetMap"


def test_concession_detail_in_french() -> None:
    at = open_app("fr")
    with language("fr"):
        at.switch_page("pages/map.py").run()
        at.selectbox(key=state.MAP_PICK).set_value("36").run()
    assert not at.exception, at.exception
    text = "\n".join(m.value for m in at.markdown)
    assert "**Titulaire\u00a0:** KAMITUGA MINING" in text
    assert "**Type de titre\u00a0:** Permis d'exploitation / bail minier" in text
    assert "**Expiration\u00a0:** 18 sept. 2016" in text
    assert "**Sites à proximité\u00a0:** 2 entre 0 et 1 km, 6 entre 1 et 5 km" in text
    labels = {m.label: m.value for m in at.metric}
    assert labels["Superficie"] == "9\u202f817\u00a0ha"
    sites = at.dataframe[0].value
    assert {"Situation cadastrale", "Creuseurs", "Dernière observation"} <= set(sites.columns)
    assert "Dans un permis d'exploitation" in set(sites["Situation cadastrale"])


def test_engine_messages_reach_the_page_in_french() -> None:
    at = open_app("fr")
    with language("fr"):
        at.multiselect(key=state.FILTER_PROVINCES).set_value(["Bas-Uele"]).run()
        at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["asm_zone"]).run()
        at.multiselect(key=state.FILTER_HOLDERS).set_value(["KIBALI GOLDMINES (100%)"]).run()
    assert not at.exception
    assert "ne correspond aux filtres" in at.warning[0].value
    with language("fr"):
        at.switch_page("pages/upload.py").run()
        at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
            ("broken.zip", b"PK\x03\x04 this is not really a zip", "application/zip")
        ).run()
    assert at.error[0].value.startswith("Le fichier zip est endommagé ou incomplet")


def test_upload_report_and_export_note_in_french() -> None:
    at = open_app("fr")
    with language("fr"):
        at.switch_page("pages/upload.py").run()
        at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
            ("survey.geojson", _sites_geojson(3), "application/geo+json")
        ).run()
    assert not at.exception, at.exception
    assert any("entités lues" in m.value for m in at.markdown)
    with language("fr"):
        at.switch_page("pages/export.py").run()
    assert at.code[0].value.startswith("Note de méthode\n")
    assert "Source (sites)\u00a0: Visites IPIS" in at.code[0].value


def test_an_upload_is_kept_for_every_session_and_can_be_undone() -> None:
    at = open_app()
    at.switch_page("pages/upload.py").run()
    at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("survey.geojson", _sites_geojson(3), "application/geo+json")
    ).run()
    at.button(key=state.UPLOAD_CONFIRM).click().run()
    assert not at.exception
    other = open_app()  # another browser session, later: it sees the stored upload
    assert _metric(other, "Artisanal sites") == "3"
    history = at.selectbox(key=f"{state.HISTORY_VERSION}_3")
    assert history.value == 3  # the upload is the newest version
    history.set_value(2).run()  # the bundled sites
    at.button(key=state.HISTORY_ROLLBACK).click().run()
    assert not at.exception
    at.switch_page("pages/overview.py").run()
    assert _metric(at, "Artisanal sites") == "2,988"


def test_appending_adds_to_the_layer() -> None:
    at = open_app()
    at.switch_page("pages/upload.py").run()
    at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("more.geojson", _sites_geojson(4), "application/geo+json")
    ).run()
    at.radio(key=state.UPLOAD_MODE).set_value("append").run()
    at.button(key=state.UPLOAD_CONFIRM).click().run()
    at.switch_page("pages/overview.py").run()
    assert _metric(at, "Artisanal sites") == "2,992"
