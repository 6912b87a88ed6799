"""LSM/ASGM overlap dashboard: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

from geo.i18n import _
from ui import language, sidebar

# The run's language first (from the sidebar's picker or ?lang=), before anything renders.
language.apply()

st.set_page_config(
    page_title=_("Concessions and artisanal mining"),
    page_icon=":material/layers:",
    layout="wide",
)

PAGES = [
    st.Page("pages/overview.py", title=_("Overview"), icon=":material/dashboard:",
            default=True),
    st.Page("pages/map.py", title=_("Map"), icon=":material/map:"),
    st.Page("pages/statistics.py", title=_("Statistics"), icon=":material/table_chart:"),
    st.Page("pages/upload.py", title=_("Upload"), icon=":material/upload_file:"),
    st.Page("pages/export.py", title=_("Export"), icon=":material/download:"),
]

navigation = st.navigation(PAGES)
sidebar.render()
navigation.run()
