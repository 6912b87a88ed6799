"""The session's language: picked in the sidebar, carried in the URL (``?lang=fr``).

:func:`apply` runs first in every script run (app.py, and :func:`ui.router.require_router`
for a page run without the router) and sets :mod:`geo.i18n`'s current language, which lives
in a context variable of the run's thread: two browser sessions never share it.
"""

from __future__ import annotations

import streamlit as st

from geo.i18n import (
    DEFAULT_LANGUAGE,
    SUPPORTED_LANGUAGES,
    _,
    normalise_language,
    set_language,
)
from ui import state


def apply() -> str:
    """Set this run's language and keep it in the URL; return its code.

    The sidebar's choice wins once made; a new session starts from the URL's ``lang``
    (``?lang=fr``), else English. The URL is updated whenever it does not say the language
    in use (English with no ``lang`` at all is left alone).
    """
    chosen = st.session_state.get(state.LANGUAGE)
    if chosen not in SUPPORTED_LANGUAGES:
        chosen = normalise_language(st.query_params.get(state.LANGUAGE_QUERY))
        st.session_state[state.LANGUAGE] = chosen
    in_url = st.query_params.get(state.LANGUAGE_QUERY)
    if in_url != chosen and (in_url is not None or chosen != DEFAULT_LANGUAGE):
        st.query_params[state.LANGUAGE_QUERY] = chosen
    set_language(chosen)
    return str(chosen)


def picker() -> None:
    """The language picker (a select box keyed :data:`ui.state.LANGUAGE`)."""
    st.selectbox(
        ":material/translate: " + _("Language"), list(SUPPORTED_LANGUAGES), key=state.LANGUAGE,
        format_func=SUPPORTED_LANGUAGES.__getitem__,
    )

