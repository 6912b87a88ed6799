"""Open the dashboard under Streamlit's AppTest, as every page test does."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui import state

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a page run may take (the first run computes the bundled analysis).
TIMEOUT = 120


def open_app(lang: str | None = None) -> AppTest:
    """The app after its first run, opened at ``?lang=<lang>`` when given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if lang is not None:
        at.query_params[state.LANGUAGE_QUERY] = lang
    at.run()
    assert not at.exception, at.exception
    return at
