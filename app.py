"""LSM/ASGM overlap dashboard: the router. Pages live in pages/, helpers in ui/."""

import streamlit as st

from geo.i18n import _
from ui import data, language, sidebar

# The run's language first (from the sidebar's picker or ?lang=), before anything renders.
language.apply()

st.set_page_config(
    page_title=_("Concessions and artisanal mining"),
    page_icon=":material/layers:",
    layout="wide",
)

PAGES = {
    _("Explore"): [
        st.Page("pages/overview.py", title=_("Overview"), icon=":material/dashboard:",
                default=True),
        st.Page("pages/map.py", title=_("Map"), icon=":material/map:"),
        st.Page("pages/statistics.py", title=_("Statistics"), icon=":material/table_chart:"),
    ],
    _("Manage"): [
        st.Page("pages/dossier.py", title=_("Concession dossier"), icon=":material/description:"),
        st.Page("pages/inmigration.py", title=_("In-migration"), icon=":material/trending_up:"),
        st.Page("pages/indicators.py", title=_("Companies and provinces"),
                icon=":material/leaderboard:"),
        st.Page("pages/formalisation.py", title=_("Formalisation"), icon=":material/handshake:"),
        st.Page("pages/closure.py", title=_("Closure planning"), icon=":material/event_busy:"),
        st.Page("pages/due_diligence.py", title=_("Due diligence"), icon=":material/verified:"),
        st.Page("pages/setaside.py", title=_("Set-aside scenario"), icon=":material/draw:"),
    ],
    _("Data"): [
        st.Page("pages/upload.py", title=_("Upload"), icon=":material/upload_file:"),
        st.Page("pages/export.py", title=_("Export"), icon=":material/download:"),
    ],
}

navigation = st.navigation(PAGES)
data.begin_run()  # the workspace's versions are read once per run
sidebar.render()
navigation.run()
