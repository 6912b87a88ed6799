"""Set-aside scenario: draw an area ceded from a concession to artisanal miners, see what
changes (sites changing tenure, hectares, workers) and download the scenario."""

import re
from collections.abc import Callable, Mapping
from datetime import date

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from geo.errors import GeoError
from geo.format import count, hectares, percent
from geo.i18n import _, bound, label, ngettext
from geo.schema import LIC_TYPE_LABELS, SET_ASIDE_LIC_TYPE, TENURE_LABELS
from geo.setaside import (
    SCENARIO_FILES,
    ScenarioFormat,
    SetAside,
    export_scenario,
    geometry_of,
    read_area,
    scenario_note,
)
from ui import drawing, state
from ui.data import analysis_or_stop, concessions_with_stats, export_info
from ui.router import require_router
from ui.setaside import scenario
from ui.tables import column_config, column_label

require_router()


def forget_area() -> None:
    """A new concession starts without an area."""
    st.session_state.pop(state.SETASIDE_AREA, None)


def use_pasted() -> None:
    """Check the pasted GeoJSON and make it the scenario's area (errors shown once)."""
    text = str(st.session_state.get(state.SETASIDE_PASTE) or "")
    try:
        read_area(text)
        st.session_state[state.SETASIDE_AREA] = drawing.area_geojson(geometry_of(text))
    except GeoError as err:
        st.session_state[state.SETASIDE_PASTE_ERROR] = str(err)


def delta(after: float, before: float) -> str | None:
    """The change as shown under a metric, signed; None when nothing changes."""
    change = after - before
    return None if change == 0 else ("+" if change > 0 else "-") + count(abs(change))


def config(frame: pd.DataFrame) -> dict[str, object]:
    """Column labels and formats, counts of sites and workers with digit grouping."""
    columns = column_config(frame)
    for column in frame.columns:
        if column.startswith(("sites_", "workers")):
            columns[column] = st.column_config.NumberColumn(column_label(column), format="%,d")
    return columns


def download(
    scenario_: SetAside, fmt: ScenarioFormat, info: Mapping[str, object]
) -> Callable[[], bytes]:
    """The download of ``fmt``: built when clicked, outside this run, in this run's language."""
    return bound(lambda: export_scenario(scenario_, fmt, info))


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """Licence types and tenure classes as their labels."""
    out = frame.copy()
    for column in ("tenure", "tenure_before", "tenure_after"):
        if column in out:
            out[column] = out[column].map(lambda code: label(TENURE_LABELS, code))
    if "lic_type" in out:
        out["lic_type"] = out["lic_type"].map(lambda code: label(LIC_TYPE_LABELS, code))
    return out


st.title(_("Set-aside scenario"))
st.caption(_(
    "Draw an area that a concession cedes to artisanal miners and see at once what changes: "
    "the sites that change tenure, the hectares moved and the workers concerned. Nothing "
    "stored changes; the scenario can be downloaded. Numbers follow the sidebar's filters "
    "and options."
))
key, analysis = analysis_or_stop()
overlaps = analysis.overlaps
table = analysis.concession_table
titles = table[table["lic_type"] != SET_ASIDE_LIC_TYPE].sort_values(
    ["sites_in", "conc_id"], ascending=[False, True])
if titles.empty:
    st.info(_("There is no title other than artisanal zones to cede land from."))
    st.stop()
conc_ids = titles["conc_id"].astype(str).tolist()
described = dict(zip(conc_ids, (
    ngettext("{title} · {holder} · {sites} site inside",
             "{title} · {holder} · {sites} sites inside", int(sites)).format(
        title=title, holder=str(holder or _("unknown holder"))[:48], sites=count(sites))
    for title, holder, sites in zip(conc_ids, titles["holder"], titles["sites_in"], strict=True)
), strict=True))
if st.session_state.get(state.SETASIDE_CONCESSION) not in described:
    st.session_state[state.SETASIDE_CONCESSION] = conc_ids[0]

controls = st.columns([3, 2], vertical_alignment="bottom")
conc_id = str(controls[0].selectbox(
    _("Concession that cedes land"), conc_ids, key=state.SETASIDE_CONCESSION,
    format_func=described.__getitem__, on_change=forget_area,
    help=_("Titles with the most artisanal sites inside come first; type to search."),
))
every = controls[1].toggle(
    _("Cede from every title the area covers"), key=state.SETASIDE_EVERY,
    help=_("Off: only the chosen concession cedes land; other titles under the area keep "
           "theirs. On: every title under the area cedes it, except artisanal zones."),
)

area = st.session_state.get(state.SETASIDE_AREA)
result: SetAside | None = None
problem: str | None = None
if area:
    try:
        with st.spinner(_("Computing the scenario...")):
            result = scenario(key, analysis, area=area, conc_id=None if every else conc_id)
    except GeoError as err:
        problem = str(err)

left, right = st.columns([3, 2])
with left:
    folium_map = drawing.setaside_map(
        concessions_with_stats(analysis), overlaps.sites, overlaps.zones, conc_id=conc_id,
        footprints=overlaps.footprints, area=area,
        changed=result.changes if result is not None else None,
    )
    returned = st_folium(folium_map, key=state.SETASIDE_MAP, height=560,
                         returned_objects=["all_drawings"], use_container_width=True)
    st.caption(_(drawing.MAP_KEY))
    shapes = drawing.drawings(returned)
    if shapes is not None:
        try:
            drawn = drawing.area_geojson(geometry_of(shapes)) if shapes else None
        except GeoError as err:
            st.warning(str(err))
        else:
            if not drawing.same_area(drawn, area):
                st.session_state[state.SETASIDE_AREA] = drawn
                st.rerun()

with right:
    if area is None:
        st.info(_("Draw the area on the map with the polygon or rectangle tool (top left of "
                  "the map), or paste a GeoJSON polygon below."))
    if problem:
        st.warning(problem)
    if pasted_error := st.session_state.pop(state.SETASIDE_PASTE_ERROR, None):
        st.error(pasted_error)
    with st.expander(_("Paste a GeoJSON polygon"), expanded=area is None):
        st.text_area(
            _("GeoJSON polygon (longitude, latitude)"), key=state.SETASIDE_PASTE, height=120,
            placeholder='{"type": "Polygon", "coordinates": [[[28.1, -3.1], ...]]}',
        )
        paste, clear = st.columns(2)
        paste.button(_("Use this polygon"), key=state.SETASIDE_APPLY, on_click=use_pasted,
                     width="stretch")
        clear.button(_("Remove the area"), key=state.SETASIDE_CLEAR, on_click=forget_area,
                     disabled=area is None, width="stretch")
    if result is not None:
        rows = result.titles[result.titles["conc_id"] == conc_id]
        chosen = (rows if len(rows) else result.titles).iloc[0]
        first, second = st.columns(2)
        first.metric(
            _("Area ceded"), hectares(result.ceded_ha),
            help=_("Geodesic area of the set-aside: the area drawn, clipped to the titles that "
                   "cede it."))
        second.metric(_("Share of the title"),
                      percent(100.0 * chosen["ceded_ha"] / chosen["area_before_ha"])
                      if chosen["area_before_ha"] else "\u2014",
                      help=_("Share of title {title}'s area that it cedes.").format(
                          title=chosen["conc_id"]))
        first.metric(_("Sites changing tenure"), count(len(result.changes)))
        second.metric(_("Workers at those sites"), count(result.workers_changed),
                      help=_("Workers count 0 where unknown."))
        first.metric(
            _("Sites inside the title"), count(chosen["sites_after"]),
            delta(chosen["sites_after"], chosen["sites_before"]), delta_color="off",
            help=_("Artisanal sites inside title {title} after the set-aside, and the change."
                   ).format(title=chosen["conc_id"]),
        )
        second.metric(
            _("Workers inside the title"), count(chosen["workers_after"]),
            delta(chosen["workers_after"], chosen["workers_before"]), delta_color="off",
            help=_("Workers at the sites inside title {title} after the set-aside, and the "
                   "change.").format(title=chosen["conc_id"]),
        )
        notes = []
        if result.drawn.repaired:
            notes.append(_("The area crossed itself or was otherwise not valid ({reason}); it "
                           "was repaired and its valid parts are used.").format(
                reason=result.drawn.problem))
        outside = result.drawn.area_ha - result.ceded_ha
        if outside > 0.001 * result.drawn.area_ha:
            notes.append(_("{outside} of the {drawn} drawn lie outside the titles that cede "
                           "land and stay as they are.").format(
                outside=hectares(outside), drawn=hectares(result.drawn.area_ha)))
        if result.removed:
            notes.append(_("Ceded whole, and so no longer a title: {titles}.").format(
                titles=", ".join(result.removed)))
        for note in notes:
            st.info(note)

if result is None:
    st.stop()


st.subheader(_("Sites changing tenure"))
if result.changes.empty:
    st.info(_("No artisanal site changes tenure: none lies in the area ceded."))
else:
    changes = shown(result.changes.drop(columns=["lon", "lat"]))
    st.dataframe(changes, hide_index=True, column_config=config(changes))

st.subheader(_("Titles before and after"))
st.caption(_("{zone} is the new artisanal mining zone. Areas are geodesic hectares.").format(
    zone=result.zone_id))
titles_shown = shown(result.titles)
st.dataframe(titles_shown, hide_index=True, column_config=config(titles_shown))

st.subheader(_("Sites and workers per tenure"))
st.caption(_("All sites of the current selection; workers count 0 where unknown."))
tenure_shown = shown(result.tenure)
st.dataframe(tenure_shown, hide_index=True, column_config=config(tenure_shown))

st.subheader(_("Download the scenario"))
info = export_info(analysis)
stem = re.sub(r"[^A-Za-z0-9_-]+", "-", f"setaside_{conc_id}_{date.today():%Y%m%d}")
labels: dict[ScenarioFormat, tuple[str, str]] = {
    "gpkg": (_("GeoPackage"), _("The set-aside polygon, the modified concessions with their "
                                "statistics, the sites with tenure before and after, the "
                                "tables and the method note; opens in QGIS.")),
    "csv": (_("CSV tables (zip)"), _("Sites changing tenure, titles and tenure before and "
                                     "after, plus METHOD.txt.")),
}


for fmt, (button, text) in labels.items():
    suffix, mime = SCENARIO_FILES[fmt]
    left, right = st.columns([1, 2])
    left.download_button(
        button, data=download(result, fmt, info),
        file_name=f"{stem}{suffix}", mime=mime, key=f"{state.SETASIDE_DOWNLOAD_PREFIX}{fmt}",
        on_click="ignore", width="stretch",
    )
    right.caption(text)
with st.expander(_("Method note")):
    st.code(scenario_note(result, info), language=None)
