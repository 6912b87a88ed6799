"""Export: zone summaries in five formats, each with its method note, and the map as HTML."""

from datetime import date

import streamlit as st

from geo.export import EXPORT_FILES, export_bytes, method_note
from geo.i18n import N_, _, bound
from ui import state
from ui.data import analysis_or_stop, export_info, map_html
from ui.router import require_router

require_router()

st.title(_("Export"))
key, analysis = analysis_or_stop()
info = export_info(analysis)
stem = f"overlaps_{date.today():%Y%m%d}"

st.caption(_(
    "Every download carries the same method note: how areas were measured, the coordinate "
    "system, the date and the data sources. Numbers follow the sidebar's filters and options."
))
#: Each format's button and description (English, marked; translated where shown).
LABELS = {
    "csv": (N_("CSV tables (zip)"), N_("One CSV per table: concessions, sites, holders, "
            "licence types, provinces, countries, years, plus METHOD.txt.")),
    "xlsx": (N_("Excel workbook"), N_("One sheet per table and a method sheet.")),
    "geojson": (N_("GeoJSON overlap zones"), N_("Overlap zones with their area; the note is "
                "in the file's method member.")),
    "gpkg": (N_("GeoPackage"), N_("Layers zones, concessions (with statistics) and sites, "
             "and a method table; opens in QGIS.")),
    "shapefile": (N_("Shapefile (zip)"), N_("Zones, concessions and sites shapefiles and "
                  "METHOD.txt; long column names are shortened to 10 characters.")),
}
# The downloads are built when clicked, outside this run: bound() keeps the language.
for fmt, (label, text) in LABELS.items():
    suffix, mime = EXPORT_FILES[fmt]  # type: ignore[index]
    left, right = st.columns([1, 2])
    left.download_button(
        _(label), data=bound(lambda fmt=fmt: export_bytes(analysis, fmt, info)),
        file_name=f"{stem}{suffix}", mime=mime, key=f"{state.EXPORT_PREFIX}{fmt}",
        on_click="ignore", width="stretch",
    )
    right.caption(_(text))

left, right = st.columns([1, 2])
left.download_button(
    _("Map (standalone HTML)"), data=bound(lambda: map_html(key, analysis)),
    file_name=f"{stem}_map.html", mime="text/html", key=f"{state.EXPORT_PREFIX}map",
    on_click="ignore", width="stretch",
)
right.caption(_("The current map as one HTML file that opens in any browser, offline."))

with st.expander(_("Method note")):
    st.code(method_note(info), language=None)
