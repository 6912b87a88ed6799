"""No data crosses between two browser sessions: each sees only its own upload."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui import state

ROOT = Path(__file__).resolve().parents[2]


def _sites(n: int, name: str) -> bytes:
    features = [
        {"type": "Feature", "properties": {"site_id": f"{name}{i}", "name": f"{name} {i}"},
         "geometry": {"type": "Point", "coordinates": [28.0 + i * 0.01, -3.0]}}
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def _session() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/upload.py").run()
    assert not at.exception, at.exception
    return at


def _page_text(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_two_sessions_see_only_their_own_upload() -> None:
    alice, bob = _session(), _session()
    alice.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("alice.geojson", _sites(3, "Alice"), "application/geo+json")).run()
    bob.file_uploader(key=f"{state.UPLOAD_FILE}_0").set_value(
        ("bob.geojson", _sites(7, "Bob"), "application/geo+json")).run()
    alice.run()
    for at in (alice, bob):
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
    assert "**3** features read" in _page_text(alice)
    assert "**7** features read" in _page_text(bob)
    assert "**7** features read" not in _page_text(alice)
    assert "bob.geojson" not in _page_text(alice)
    assert "alice.geojson" not in _page_text(bob)
