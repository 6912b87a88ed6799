"""LSM/ASGM overlap dashboard: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

from ui import sidebar

st.set_page_config(
    page_title="Concessions and artisanal mining",
    page_icon=":material/layers:",
    layout="wide",
)

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("pages/map.py", title="Map", icon=":material/map:"),
    st.Page("pages/statistics.py", title="Statistics", icon=":material/table_chart:"),
    st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:"),
    st.Page("pages/export.py", title="Export", icon=":material/download:"),
]

navigation = st.navigation(PAGES)
sidebar.render()
navigation.run()
