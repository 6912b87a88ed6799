"""Pages on cached analyses: filters, a confirmed upload with its progress, in two languages.

Filtered analyses come from geo.subset (tests/test_subset.py compares their numbers with the
engine's); here the pages that show them are driven with AppTest: the numbers they show
after a filter change are the engine's, and a confirmed upload ends with the updated
statistics in its notice.
"""

from __future__ import annotations

import json
import re

import pytest
from app_runner import open_app

from geo.filters import Filters
from geo.i18n import language
from geo.pipeline import analyse, load_bundled, load_layer
from ui import state


def _metric(at, label: str) -> str:
    for metric in at.metric:
        if metric.label == label:
            return metric.value
    raise AssertionError(f"no metric {label!r}")


def _digits(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def _sites_geojson(n: int) -> bytes:
    """``n`` point sites in South Kivu, 0.2 degree apart: some in concessions, some not."""
    features = [
        {"type": "Feature", "properties": {"site_id": f"R{i}", "name": f"Site {i}"},
         "geometry": {"type": "Point", "coordinates": [28.0 + i * 0.2, -3.0]}}
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_filter_changes_show_the_engines_numbers(lang: str) -> None:
    concessions, sites = load_bundled("concessions"), load_bundled("sites")
    expected = analyse(concessions, sites, filters=Filters(lic_types=("exploitation",)))
    at = open_app(lang)
    with language(lang):
        at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["exploitation"]).run()
    assert not at.exception, at.exception
    values = [_digits(m.value) for m in at.metric[:3]]
    assert values == [expected.totals["concessions"], expected.totals["sites"],
                      expected.totals["sites_in"]]
    with language(lang):
        at.switch_page("pages/map.py").run()
        at.selectbox(key=state.MAP_PICK).set_value(
            str(expected.concession_table["conc_id"].iloc[0])).run()
    assert not at.exception, at.exception


def test_back_to_no_filter_is_the_whole_analysis() -> None:
    at = open_app()
    before = _metric(at, "Sites inside concessions")
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value(["asm_zone"]).run()
    assert _metric(at, "Sites inside concessions") != before
    at.multiselect(key=state.FILTER_LIC_TYPES).set_value([]).run()
    assert _metric(at, "Sites inside concessions") == before


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_a_confirmed_upload_reports_the_updated_statistics(lang: str) -> None:
    at = open_app(lang)
    with language(lang):
        at.switch_page("pages/upload.py").run()
        at.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
            ("survey.geojson", _sites_geojson(6), "application/geo+json")).run()
        assert not at.exception, at.exception
        at.button(key=state.UPLOAD_CONFIRM).click().run()
    assert not at.exception, at.exception
    (notice,) = at.success
    assert "survey.geojson" in notice.value
    uploaded = load_layer(_sites_geojson(6), "sites", filename="survey.geojson")
    inside = analyse(load_bundled("concessions"), uploaded).totals["sites_in"]
    assert 0 < inside < 6
    # "... Now {inside} of 6 sites lie inside concessions."
    assert re.search(rf"\b{inside}\b\D+\b6\b", notice.value.split("survey.geojson")[-1])
    with language(lang):
        at.switch_page("pages/overview.py").run()
    assert _digits(at.metric[1].value) == 6
