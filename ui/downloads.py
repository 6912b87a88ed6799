"""Download buttons for a view's tables: CSV (a zip with the method note) and Excel."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from geo.export import TABLE_FILES, TableFormat, tables_bytes
from geo.i18n import N_, _, bound

#: Each button's text (English, marked; translated where shown).
FORMAT_LABELS: dict[TableFormat, str] = {
    "csv": N_("CSV (zip, with the method note)"),
    "xlsx": N_("Excel workbook"),
}


def table_downloads(
    tables: Mapping[str, pd.DataFrame], note: str, *, stem: str, key: str
) -> None:
    """A CSV and an Excel button for ``tables`` (file name -> table), each carrying ``note``.

    The files are built when a button is clicked, in the page's language; ``key`` prefixes the
    buttons' widget keys and ``stem`` starts the file names.
    """
    formats: tuple[TableFormat, ...] = ("csv", "xlsx")
    row = st.container(horizontal=True)
    for fmt in formats:
        suffix, mime = TABLE_FILES[fmt]
        row.download_button(
            _(FORMAT_LABELS[fmt]),
            data=bound(lambda fmt=fmt: tables_bytes(tables, fmt, note)),  # type: ignore[misc]
            file_name=f"{stem}{suffix}", mime=mime, key=f"{key}{fmt}", on_click="ignore",
            width="content", icon=":material/download:",
        )
