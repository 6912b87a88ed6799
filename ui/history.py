"""The History panel: every stored version of the layers, what changed, and undo."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from geo.format import count
from geo.i18n import N_, _, label
from geo.pipeline import BUNDLED_SOURCES
from geo.schema import LAYER_KIND_LABELS
from geo.store import Workspace
from ui import state

#: How each version came about (the stored ``mode``), shown translated.
MODE_LABELS: dict[str, str] = {
    "replace": N_("replaced the layer"), "append": N_("added to the layer"),
    "rollback": N_("undo: an earlier version again"),
}


def history_panel(store: Workspace) -> None:
    """List the versions, show what the chosen one changed, and make it current on request."""
    history = store.history()
    st.subheader(_("History"))
    st.caption(_("Every upload is kept as a version; nothing is overwritten. Making an older "
                 "version current adds a new version with its features, so it can be undone "
                 "too."))
    shown = history[["version", "layer", "time", "file", "features", "mode", "who", "note"]]
    st.dataframe(
        shown.assign(time=pd.to_datetime(shown["time"]).dt.strftime("%Y-%m-%d %H:%M"),
                     layer=shown["layer"].map(lambda k: label(LAYER_KIND_LABELS, k)), file=shown["file"].map(_file_label),
                     mode=shown["mode"].map(lambda m: _(MODE_LABELS.get(m, m))),
                     who=shown["who"].fillna(""), note=shown["note"].fillna("")),
        hide_index=True, height=240,
        column_config={
            "version": _("Version"), "layer": _("Layer"), "time": _("Time (UTC)"),
            "file": _("File"), "features": _("Features"), "mode": _("How"),
            "who": _("Who"), "note": _("Note"),
        },
    )
    if history.empty:
        return
    versions = history["version"].astype(int).tolist()
    # A new key per newest version: after an upload or undo the list starts on the newest.
    chosen = st.selectbox(_("Version"), versions, key=f"{state.HISTORY_VERSION}_{versions[0]}",
                          format_func=lambda v: _version_label(history, v))
    row = history[history["version"] == chosen].iloc[0]
    layer = str(row["layer"])
    layer_versions = history[history["layer"] == layer]["version"].astype(int).tolist()
    previous = [v for v in layer_versions if v < chosen]
    if previous:
        counts = _change_counts(store.identity, layer, max(previous), int(chosen), store)
        st.markdown(_("Compared with version {previous}: {added} added, {removed} removed, "
                      "{moved} moved.").format(
            previous=max(previous), added=count(counts.get("added", 0)),
            removed=count(counts.get("removed", 0)), moved=count(counts.get("moved", 0))))
    if chosen == max(layer_versions):
        st.caption(_("This is the current version of the {layer}.").format(layer=label(LAYER_KIND_LABELS, layer)))
    elif st.button(_("Make version {version} current again").format(version=chosen),
                   key=state.HISTORY_ROLLBACK):
        new = store.rollback(layer, int(chosen))  # type: ignore[arg-type]
        st.session_state[state.NOTICE] = _(
            "The {layer} now hold the features of version {old} (as version {new})."
        ).format(layer=label(LAYER_KIND_LABELS, layer), old=chosen, new=new)
        st.rerun()


@st.cache_data(max_entries=32, show_spinner=False)
def _change_counts(identity: str, layer: str, old: int, new: int,
                   _store: Workspace) -> dict[str, int]:
    """Features added, removed and moved from version ``old`` to ``new`` (stored versions
    never change: counted once per workspace)."""
    changes = _store.diff(layer, old, new)  # type: ignore[arg-type]
    return {str(k): int(v) for k, v in changes["change"].value_counts().items()}


def _version_label(history: pd.DataFrame, version: int) -> str:
    row = history[history["version"] == version].iloc[0]
    return f"{version} · {label(LAYER_KIND_LABELS, row['layer'])} · {_file_label(str(row['file']))}"


def _file_label(file: str) -> str:
    """The file name as stored; the bundled sources' descriptions translated."""
    return _(file) if file in BUNDLED_SOURCES.values() else file
