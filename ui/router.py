"""Keep every page behind the router in app.py.

Streamlit decides at the start of a script run whether the app uses the old ``pages/``
folder mode, and only app.py's ``st.navigation`` call switches that off. So the first run after
a server start that opens a page's own address (say ``/map``), and every run under AppTest,
executes the page file alone, without the router's page config, sidebar and filters. Each
page calls :func:`require_router` first: in that case it switches the old mode off and runs
app.py in the same script run (so a click that started the run is not lost), which routes
back to this page, then stops the outer run.

Either way the run's language (:func:`ui.language.apply`) is set before anything renders.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import language

ROUTER = Path(__file__).resolve().parents[1] / "app.py"


def require_router() -> None:
    """Run this page through app.py when Streamlit ran it without the router."""
    language.apply()
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(ROUTER), run_name="__main__")
        st.stop()
