"""In-migration: sites and workers per year inside concessions and in their rings, the
fastest-growing concessions, and the sites new since the previous upload."""

from datetime import date

import altair as alt
import pandas as pd
import streamlit as st

from geo.errors import GeoError
from geo.export import method_note
from geo.format import count, decimal, vega_locale
from geo.i18n import N_, _, label
from geo.inmigration import (
    BUNDLED_VISITS,
    UploadChanges,
    default_window,
    definitions,
    growth_table,
    load_visits,
    upload_changes,
    visit_coverage,
    year_table,
    year_totals,
)
from geo.overlap import Overlaps
from geo.pipeline import Analysis
from geo.schema import LIC_TYPE_LABELS, TENURE_LABELS
from geo.store import Workspace
from ui import state
from ui.data import analysis_or_stop, export_info, workspace_store
from ui.downloads import table_downloads
from ui.router import require_router
from ui.tables import column_config, column_label

require_router()

#: The chart's measures: English name (the widget's value, shown translated) -> column.
MEASURES = {
    N_("Sites known"): "sites_known",
    N_("New sites that year"): "sites_new",
    N_("Sites visited"): "sites_visited",
    N_("Workers (latest count)"): "workers_known",
    N_("Workers counted that year"): "workers_visited",
}
#: Each table download's button label.
#: What each change of a site is called (English, marked; translated where shown).
CHANGE_LABELS = {"added": N_("added"), "moved": N_("moved")}
INSIDE_COLOUR = "#D55E00"
RING_COLOURS = ("#E69F00", "#F3C96B", "#9A9A9A", "#C4C4C4", "#DEDEDE")


@st.cache_data(max_entries=2, show_spinner=False)
def _visits(path: str, stamp: float) -> pd.DataFrame:
    return load_visits(path)


@st.cache_data(max_entries=16, show_spinner=False)
def _yearly(
    key: str, _analysis: Analysis, _visits: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    overlaps = _analysis.overlaps
    return (year_table(overlaps, _visits), year_totals(overlaps, _visits),
            visit_coverage(overlaps.sites, _visits))


@st.cache_data(max_entries=32, show_spinner=False)
def _growth(
    key: str, window: tuple[int, int], _analysis: Analysis, _visits: pd.DataFrame | None
) -> pd.DataFrame:
    return growth_table(_analysis.overlaps, _visits, window=window)


@st.cache_data(max_entries=16, show_spinner=False)
def _window(key: str, _analysis: Analysis, _visits: pd.DataFrame | None) -> tuple[int, int] | None:
    return default_window(_analysis.overlaps, _visits)


@st.cache_data(max_entries=8, show_spinner=False)
def _changes(key: str, _store: Workspace, _analysis: Analysis) -> UploadChanges:
    return upload_changes(_store, _analysis.overlaps)


def visits_or_none() -> tuple[pd.DataFrame | None, str]:
    """The bundled visits and their cache stamp, or None (with a warning) when unreadable."""
    try:
        stamp = BUNDLED_VISITS.stat().st_mtime
        return _visits(str(BUNDLED_VISITS), stamp), str(stamp)
    except (OSError, GeoError) as err:
        st.warning(_("The visits file cannot be used, so sites count from their dates "
                     "alone: {reason}").format(reason=err))
        return None, "none"


def ring_label(ring: int, rings_km: tuple[float, ...]) -> str:
    """``Inside`` or ``Ring k: a-b km``, translated."""
    if ring == 0:
        return _("Inside")
    low = 0.0 if ring == 1 else rings_km[ring - 2]
    return _("Ring {number}: {low}-{high} km").format(
        number=ring, low=decimal(low), high=decimal(rings_km[ring - 1]))


def downloads(table: pd.DataFrame, name: str, info: dict[str, object]) -> None:
    """CSV and Excel buttons for one table, with the method note and the definitions."""
    table_downloads({name: table}, method_note(info) + definitions(),
                    stem=f"{name}_{date.today():%Y%m%d}",
                    key=f"{state.INMIGRATION_DOWNLOAD_PREFIX}{name}_")


def year_chart(table: pd.DataFrame, measure: str, rings_km: tuple[float, ...]) -> alt.Chart:
    """Stacked bars per year: inside, then each ring outwards."""
    names = [ring_label(r, rings_km) for r in range(len(rings_km) + 1)]
    colours = [INSIDE_COLOUR, *(RING_COLOURS[(r - 1) % len(RING_COLOURS)]
                                for r in range(1, len(rings_km) + 1))]
    long = pd.DataFrame({
        "year": table["year"].to_numpy(),
        "where": [names[r] for r in table["ring"].to_numpy()],
        "order": table["ring"].to_numpy(),
        "value": table[measure].to_numpy(),
    })
    title = column_label(measure) or measure
    return alt.Chart(long).mark_bar().encode(
        x=alt.X("year:O", title=_("Year"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=title, stack=True),
        color=alt.Color("where:N", title=None, sort=names,
                        scale=alt.Scale(domain=names, range=colours),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("order:Q", sort="ascending"),
        tooltip=[alt.Tooltip("year:O", title=_("Year")),
                 alt.Tooltip("where:N", title=_("Where")),
                 alt.Tooltip("value:Q", title=title, format=",")],
    ).configure(locale=vega_locale())


def coverage_notes(coverage: dict[str, int]) -> None:
    """Which sites the visits reach, and how many carry no date."""
    if coverage["with_visits"]:
        st.caption(_(
            "{with_visits} of {sites} sites have visits in the IPIS visits file ({repeated} "
            "visited more than once, {visits} visits); the others count from their first-seen "
            "and last-seen dates."
        ).format(with_visits=count(coverage["with_visits"]), sites=count(coverage["sites"]),
                 repeated=count(coverage["repeated"]), visits=count(coverage["visits"])))
    else:
        st.caption(_("No site matches the visits file, so every site counts from its "
                     "first-seen and last-seen dates."))
    if coverage["undated"]:
        st.caption(_("{undated} sites carry no date and are left out of the yearly "
                     "counts.").format(undated=count(coverage["undated"])))


def per_year_section(
    yearly: pd.DataFrame, totals: pd.DataFrame, ranked: list[str], overlaps: Overlaps,
    info: dict[str, object],
) -> None:
    """The chart per year for all concessions or one, its numbers and the yearly download."""
    rings_km = overlaps.rings_km
    others = sorted(set(yearly["conc_id"].astype(str)) - set(ranked))
    holders = overlaps.concessions.assign(conc_id=overlaps.concessions["conc_id"].astype(str))
    holders = holders.drop_duplicates("conc_id").set_index("conc_id")["holder"]

    def concession_name(conc_id: str) -> str:
        if not conc_id:
            return _("All concessions (each site once, at its nearest ring)")
        holder = holders.get(conc_id)
        return f"{conc_id} · {str(holder)[:50]}" if isinstance(holder, str) and holder else conc_id

    left, right = st.columns([3, 2])
    picked = left.selectbox(_("Concession (fastest-growing first)"), ["", *ranked, *others],
                            key=state.INMIGRATION_CONCESSION, format_func=concession_name)
    measure_name = right.selectbox(_("Count"), list(MEASURES), key=state.INMIGRATION_MEASURE,
                                   format_func=_)
    measure = MEASURES[measure_name or "Sites known"]
    shown = totals if not picked else yearly[yearly["conc_id"].astype(str) == picked]
    st.altair_chart(year_chart(shown, measure, rings_km), width="stretch")
    st.caption(_(
        "Sites known: first seen in or before the year. New sites: first seen that year. "
        "Workers (latest count): each known site's latest count up to the year. Workers "
        "counted that year: at the sites visited that year, their last count of the year."
    ))
    with st.expander(_("Numbers behind the chart")):
        pivot = shown.pivot_table(index="year", columns="ring", values=measure, aggfunc="sum",
                                  fill_value=0)
        pivot.columns = [ring_label(int(r), rings_km) for r in pivot.columns]
        st.dataframe(pivot.reset_index().rename(columns={"year": _("Year")}), hide_index=True)
    st.caption(_("Download: every concession, ring (0 = inside) and year."))
    downloads(yearly, "inmigration_years", info)


def growth_section(growth: pd.DataFrame, window: tuple[int, int], ring: str,
                   info: dict[str, object]) -> None:
    """The ranked table of the fastest-growing concessions and its download."""
    first, last = window
    st.caption(_(
        "Sites inside each concession and in its first ring ({ring}) first seen from {first} "
        "to {last}, against the sites known before {first}. Growth is empty where no site was "
        "known before. Workers added: workers known at the end of the window minus before it."
    ).format(ring=ring, first=first, last=last))
    st.caption(_("{growing} of {total} concessions with sites inside or in the first ring "
                 "gained sites in the window.").format(
        growing=count(int((growth["new_sites"] > 0).sum())), total=count(len(growth))))
    display = growth.assign(
        lic_type=growth["lic_type"].map(lambda c: label(LIC_TYPE_LABELS, c)))
    if (display["name"].astype(str) == display["conc_id"].astype(str)).all():
        display = display.drop(columns=["name"])  # titles without names of their own
    st.dataframe(display, hide_index=True, height=380, column_config=column_config(display) | {
        "holder": st.column_config.Column(column_label("holder"), width="medium"),
        "lic_type": st.column_config.Column(column_label("lic_type"), width="medium"),
    })
    downloads(growth, "inmigration_growth", info)


def changes_section(changes: UploadChanges, rings_km: tuple[float, ...],
                    info: dict[str, object]) -> None:
    """The sites the latest upload added or moved, as an action list, or why there is none."""
    if changes.previous is None:
        st.info(_("The sites layer has a single version, so nothing is new yet. After the "
                  "next upload of sites, this list shows the sites it added or moved and "
                  "where they fall."))
        return
    st.caption(_("Version {current} of the sites compared with version {previous}: {listed} "
                 "sites added or moved, {removed} removed. Nearest first, then the most red "
                 "flags and workers.").format(
        current=changes.current, previous=changes.previous,
        listed=count(len(changes.sites) + changes.hidden), removed=count(changes.removed)))
    if changes.hidden:
        st.caption(_("{hidden} of them are hidden by the sidebar's filters.").format(
            hidden=count(changes.hidden)))
    if changes.sites.empty:
        st.info(_("The latest upload of sites added or moved no site that the filters show."))
        return
    sites = changes.sites
    action = sites.drop(columns=["lon", "lat"]).assign(
        change=sites["change"].map(lambda c: label(CHANGE_LABELS, c)),
        tenure=sites["tenure"].map(lambda t: label(TENURE_LABELS, t)),
        lic_type=sites["lic_type"].map(lambda c: label(LIC_TYPE_LABELS, c)),
        ring=[_("Beyond the rings") if pd.isna(r) else ring_label(int(r), rings_km)
              for r in sites["ring"]],
    )
    config = column_config(action) | {
        "ring": st.column_config.Column(_("Where")),
        "moved_km": st.column_config.NumberColumn(column_label("moved_km"), format="%.3f"),
        "dist_km": st.column_config.NumberColumn(column_label("dist_km"), format="%.2f"),
    }
    st.dataframe(action, hide_index=True, column_config=config,
                 height=min(420, 38 + 35 * len(action)))
    downloads(sites, "inmigration_new_sites", info)


st.title(_("In-migration"))
st.caption(_(
    "Are artisanal sites and workers arriving inside concessions and around them? Sites "
    "count from the year they were first seen, workers from their latest count; repeated "
    "visits are used where the data has them. Numbers follow the sidebar's filters and rings."
))
key, analysis = analysis_or_stop()
info = export_info(analysis)
visits, visits_stamp = visits_or_none()
data_key = f"{key}|{visits_stamp}"
yearly, totals, coverage = _yearly(data_key, analysis, visits)
coverage_notes(coverage)
window_default = _window(data_key, analysis, visits)

st.subheader(_("Sites and workers per year, inside and around concessions"))
if window_default is None:
    st.info(_("The sites carry no dates, so there is no trend to show."))
elif yearly.empty:
    st.info(_("No site lies inside a concession or in its rings, so there is no trend to "
              "show."))
else:
    ranked = _growth(data_key, window_default, analysis, visits)["conc_id"].astype(str).tolist()
    per_year_section(yearly, totals, ranked, analysis.overlaps, info)

    st.subheader(_("Fastest-growing concessions"))
    all_years = sorted(int(y) for y in yearly["year"].unique())
    window = window_default
    if len(all_years) > 1:
        chosen = st.select_slider(_("Window of years"), options=all_years, value=window_default,
                                  key=state.INMIGRATION_WINDOW)
        window = (int(chosen[0]), int(chosen[1]))
    growth_section(_growth(data_key, window, analysis, visits), window,
                   ring_label(1, analysis.overlaps.rings_km), info)

st.subheader(_("New since the previous upload"))
changes_section(_changes(key, workspace_store(), analysis), analysis.overlaps.rings_km, info)
