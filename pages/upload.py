"""Upload: add a site or concession layer, check what the import found, then confirm."""

import hashlib
import time

import streamlit as st
from streamlit_folium import st_folium

from geo.errors import GeoError
from geo.format import count, number
from geo.i18n import N_, _
from geo.schema import LayerKind, guess_mapping
from ui import maps, state
from ui.data import (
    commit_upload,
    current_analysis,
    source_label,
    workspace,
    workspace_store,
)
from ui.history import history_panel
from ui.router import require_router
from ui.upload import (
    FIELD_LABELS,
    MAX_UPLOAD_MB,
    UPLOAD_TYPES,
    limits_text,
    parse_upload,
    reference_bounds,
)

require_router()

# The English text is the select boxes' value for "no column"; shown translated.
NONE = N_("(not in the file)")
#: What is said about each kind of layer (English, marked; translated where shown).
KIND_LABELS: dict[LayerKind, str] = {
    "sites": N_("Artisanal mining sites"), "concessions": N_("Mining concessions"),
}
#: How a confirmed upload meets the layer (the radio's values, shown translated).
MODES: dict[str, str] = {
    "replace": N_("Replace the layer with this file"),
    "append": N_("Add this file's features to the layer"),
}
CURRENT: dict[LayerKind, str] = {
    "sites": N_("Current sites: {source} ({count} features)."),
    "concessions": N_("Current concessions: {source} ({count} features)."),
}
USE: dict[LayerKind, str] = {
    "sites": N_("Use this file as the sites layer"),
    "concessions": N_("Use this file as the concessions layer"),
}
NOW_IN_USE: dict[LayerKind, str] = {
    "sites": N_("{name} is stored as version {version} of the sites: {count} features. "
                "Every page and every user of this workspace sees it."),
    "concessions": N_("{name} is stored as version {version} of the concessions: {count} "
                      "features. Every page and every user of this workspace sees it."),
}

st.title(_("Upload a layer"))
notice = st.session_state.pop(state.NOTICE, None)
if notice:
    st.success(notice)

kind: LayerKind = st.radio(
    _("What does the file hold?"), ["sites", "concessions"], key=state.UPLOAD_KIND,
    horizontal=True, format_func=lambda value: _(KIND_LABELS[value]),
)
st.caption(
    _("Zipped shapefile, GeoJSON, GeoPackage, KML/KMZ, GeoParquet, or CSV with longitude and "
      "latitude (or WKT) columns; at most {size} MB.").format(size=MAX_UPLOAD_MB)
    + " " + _("Nothing is stored until you confirm; every upload is kept as a new version "
              "that can be undone.")
)
st.caption(limits_text())
uploader_key = f"{state.UPLOAD_FILE}_{st.session_state.get(state.UPLOAD_ROUND, 0)}"
upload = st.file_uploader(_("File"), type=UPLOAD_TYPES, key=uploader_key)
crs = st.text_input(
    _("Coordinate system, only if the file has none"), key=state.UPLOAD_CRS,
    placeholder=_("e.g. EPSG:4326 or EPSG:32735"),
)

if upload is None:
    layers = workspace()
    st.info(_(CURRENT[kind]).format(source=source_label(layers[kind]),
                                    count=count(len(layers[kind].data))))
    history_panel(workspace_store())
    st.stop()

data = upload.getvalue()
prefix = f"{state.UPLOAD_MAPPING_PREFIX}{kind}_"
chosen = {
    target: st.session_state[prefix + target]
    for target in FIELD_LABELS[kind]
    if prefix + target in st.session_state
}
mapping = tuple(sorted((t, "" if s == NONE else s) for t, s in chosen.items()))
digest = hashlib.sha256(data).hexdigest()
if st.session_state.get(state.UPLOAD_GUESSED) == (digest, kind, mapping):
    mapping = ()  # the columns the import guessed: the file as it was read first
try:
    with st.spinner(_("Reading and checking the file...")):
        layer = parse_upload(data, upload.name, kind, crs.strip() or None, mapping,
                             reference_bounds(kind))
except GeoError as err:
    st.error(str(err))
    st.caption(_("Nothing was changed: the workspace still holds the previous layers."))
    st.stop()

report = layer.report
st.subheader(_("What the import found"))
if layer.known_source:
    st.caption(_("Recognised as: {source}.").format(source=layer.known_source))
st.markdown(
    _("**{read}** features read, **{kept}** usable, **{repaired}** repaired, **{dropped}** "
      "left out.").format(read=count(report.n_input), kept=count(report.n_kept),
                          repaired=count(report.n_repaired), dropped=count(report.n_dropped))
)
for sentence in report.sentences():
    st.markdown(f"- {sentence}")
if len(report.issues):
    with st.expander(_("Every problem, row by row ({count})").format(
            count=count(len(report.issues)))):
        st.dataframe(report.issues, hide_index=True,
                     column_config={"rule": _("Problem"), "row": _("Row"),
                                    "id": _("Identifier"), "detail": _("Detail")})

st.subheader(_("Columns"))
st.caption(_("Which column of the file holds each piece of information. Change a choice if "
             "the import guessed wrong; the file is read again at once."))
options = [NONE, *layer.columns]
guessed = guess_mapping(list(layer.columns), kind)
columns = st.columns(3)
for position, (target, label) in enumerate(FIELD_LABELS[kind].items()):
    key = prefix + target
    if key not in st.session_state:
        st.session_state[key] = layer.mapping.get(target, guessed.get(target, NONE))
    columns[position % 3].selectbox(
        _(label), options, key=key,
        format_func=lambda option: _(NONE) if option == NONE else option,
    )
if not mapping:
    st.session_state[state.UPLOAD_GUESSED] = (digest, kind, tuple(sorted(
        (target, "" if st.session_state[prefix + target] == NONE
         else st.session_state[prefix + target]) for target in FIELD_LABELS[kind])))

st.subheader(_("Preview"))
layers = workspace()
preview_conc = layer.data if kind == "concessions" else layers["concessions"].data
preview_sites = layer.data if kind == "sites" else layers["sites"].data
st_folium(maps.preview_map(preview_conc, preview_sites), key="upload_preview", height=420,
          returned_objects=[], use_container_width=True)

mode = st.radio(_("How should it meet the current layer?"), list(MODES), key=state.UPLOAD_MODE,
                format_func=lambda value: _(MODES[value]), horizontal=True)
left, right = st.columns(2)
if left.button(_(USE[kind]), type="primary", key=state.UPLOAD_CONFIRM):
    started = time.perf_counter()
    with st.status(_("Storing the file and updating the statistics..."),
                   expanded=True) as progress:
        progress.write(_("Storing it as a new version of the layer..."))
        result = commit_upload(layer, mode)
        progress.write(_("Computing overlaps and statistics with the other layer..."))
        try:
            totals = current_analysis().totals
            updated = _("Now {inside} of {sites} sites lie inside concessions.").format(
                inside=count(totals["sites_in"]), sites=count(totals["sites"]))
        except GeoError as err:
            updated = str(err)
        progress.update(label=_("Stored and analysed in {seconds} s.").format(
            seconds=number(time.perf_counter() - started, 1)), state="complete")
    for target in FIELD_LABELS[kind]:
        st.session_state.pop(prefix + target, None)
    st.session_state[state.NOTICE] = (
        _("{name} was already stored as version {version}; nothing changed.").format(
            name=upload.name, version=result.version)
        if result.duplicate else
        _(NOW_IN_USE[kind]).format(name=upload.name, version=result.version,
                                   count=count(result.features)) + " " + updated
    )
    st.session_state[state.UPLOAD_ROUND] = st.session_state.get(state.UPLOAD_ROUND, 0) + 1
    st.rerun()
right.caption(_("Until you confirm, the workspace keeps its current layers."))
st.divider()
history_panel(workspace_store())
