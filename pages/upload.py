"""Upload: add a site or concession layer, check what the import found, then confirm."""

import streamlit as st
from streamlit_folium import st_folium

from geo.errors import GeoError
from geo.schema import LayerKind, guess_mapping
from ui import maps, state
from ui.data import reset_workspace, set_layer, workspace
from ui.router import require_router
from ui.upload import (
    FIELD_LABELS,
    MAX_UPLOAD_MB,
    UPLOAD_TYPES,
    parse_upload,
    reference_bounds,
)

require_router()

NONE = "(not in the file)"

st.title("Upload a layer")
notice = st.session_state.pop(state.NOTICE, None)
if notice:
    st.success(notice)

kind: LayerKind = st.radio(
    "What does the file hold?", ["sites", "concessions"], key=state.UPLOAD_KIND,
    horizontal=True,
    format_func={"sites": "Artisanal mining sites", "concessions": "Mining concessions"}.get,
)
st.caption(
    "Zipped shapefile, GeoJSON, GeoPackage, KML/KMZ, GeoParquet, or CSV with longitude and "
    f"latitude (or WKT) columns; at most {MAX_UPLOAD_MB} MB. The file replaces the current "
    f"{kind} layer for this browser session once you confirm."
)
uploader_key = f"{state.UPLOAD_FILE}_{st.session_state.get(state.UPLOAD_ROUND, 0)}"
upload = st.file_uploader("File", type=UPLOAD_TYPES, key=uploader_key)
crs = st.text_input(
    "Coordinate system, only if the file has none", key=state.UPLOAD_CRS,
    placeholder="e.g. EPSG:4326 or EPSG:32735",
)

if upload is None:
    layers = workspace()
    st.info(f"Current {kind}: {layers[kind].source} ({len(layers[kind].data):,} features).")
    if st.session_state.get(state.WORKSPACE):
        st.button("Go back to the bundled DR Congo data", key=state.RESET_WORKSPACE,
                  on_click=reset_workspace)
    st.stop()

data = upload.getvalue()
prefix = f"{state.UPLOAD_MAPPING_PREFIX}{kind}_"
chosen = {
    target: st.session_state[prefix + target]
    for target in FIELD_LABELS[kind]
    if prefix + target in st.session_state
}
mapping = tuple(sorted((t, "" if s == NONE else s) for t, s in chosen.items()))
try:
    layer = parse_upload(data, upload.name, kind, crs.strip() or None, mapping,
                         reference_bounds(kind))
except GeoError as err:
    st.error(str(err))
    st.caption("Nothing was changed: the workspace still holds the previous layers.")
    st.stop()

report = layer.report
st.subheader("What the import found")
if layer.known_source:
    st.caption(f"Recognised as: {layer.known_source}.")
st.markdown(
    f"**{report.n_input:,}** features read, **{report.n_kept:,}** usable, "
    f"**{report.n_repaired:,}** repaired, **{report.n_dropped:,}** left out."
)
for sentence in report.sentences():
    st.markdown(f"- {sentence}")
if len(report.issues):
    with st.expander(f"Every problem, row by row ({len(report.issues):,})"):
        st.dataframe(report.issues, hide_index=True,
                     column_config={"rule": "Problem", "row": "Row", "id": "Identifier",
                                    "detail": "Detail"})

st.subheader("Columns")
st.caption("Which column of the file holds each piece of information. Change a choice if the "
           "import guessed wrong; the file is read again at once.")
options = [NONE, *layer.columns]
guessed = guess_mapping(list(layer.columns), kind)
columns = st.columns(3)
for position, (target, label) in enumerate(FIELD_LABELS[kind].items()):
    key = prefix + target
    if key not in st.session_state:
        st.session_state[key] = layer.mapping.get(target, guessed.get(target, NONE))
    columns[position % 3].selectbox(label, options, key=key)

st.subheader("Preview")
layers = workspace()
preview_conc = layer.data if kind == "concessions" else layers["concessions"].data
preview_sites = layer.data if kind == "sites" else layers["sites"].data
st_folium(maps.preview_map(preview_conc, preview_sites), key="upload_preview", height=420,
          returned_objects=[], use_container_width=True)

left, right = st.columns(2)
if left.button(f"Use this file as the {kind} layer", type="primary", key=state.UPLOAD_CONFIRM):
    set_layer(layer)
    for target in FIELD_LABELS[kind]:
        st.session_state.pop(prefix + target, None)
    st.session_state[state.NOTICE] = (
        f"{upload.name} is now the {kind} layer: {report.n_kept:,} features. Every page uses it."
    )
    st.session_state[state.UPLOAD_ROUND] = st.session_state.get(state.UPLOAD_ROUND, 0) + 1
    st.rerun()
right.caption("Until you confirm, the workspace keeps its current layers.")
