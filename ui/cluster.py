"""A workspace too large for in-process work, computed on a Dask cluster in the background.

When the workspace's layers hold more features than :func:`in_process_limit`, the Overview
does not compute them in the server's own process (the page would hang): it offers a run on
the cluster (:func:`geo.distributed.background_run`, submitted as one task through a Dask
client), shows its progress in a fragment that polls the task every second, and keeps the
rest of the page, the sidebar and the other pages usable meanwhile. When the run is done the
headline numbers are shown and the output folder can be downloaded.

The cluster is the one at ``DASK_SCHEDULER_ADDRESS`` when set, else a local cluster started
once per server. Runs are kept per server and keyed on the layers' content, filters and
options: every session asking for the same numbers sees the same run.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from geo.errors import GeoError
from geo.filters import filter_concessions, filter_sites
from geo.format import count, hectares, percent
from geo.i18n import N_, _
from ui import state
from ui.data import (
    LAYER_KINDS,
    current_filters,
    current_radius,
    current_rings,
    source_label,
    workspace,
)

if TYPE_CHECKING:
    from distributed import Client

#: Environment variable: most features (concessions + sites) computed in the server's process.
LIMIT_ENV = "GEO_IN_PROCESS_LIMIT"
DEFAULT_LIMIT = 250_000
#: Environment variable: folder where cluster runs keep their inputs and outputs (it must be
#: reachable from the workers: a shared disk for a cluster on other machines).
RUNS_ENV = "GEO_CLUSTER_RUNS"
#: How often the progress fragment asks the cluster, in seconds.
POLL_S = 1.0
#: What each stage of a run is called on the page (English, marked; shown translated).
STAGES: dict[str, str] = {
    "waiting": N_("Waiting for a worker"),
    "read": N_("Reading the layers"),
    "validate": N_("Checking and repairing geometry"),
    "partition": N_("Cutting the layers into spatial partitions"),
    "overlap": N_("Computing overlaps partition by partition"),
    "merge": N_("Merging sites across partitions"),
    "nearest": N_("Finding the nearest concession of distant sites"),
    "tables": N_("Building the tables"),
    "totals": N_("Measuring union areas"),
    "write": N_("Writing the results"),
    "done": N_("Done"),
}


@dataclass
class Run:
    """One background run: its task and where it writes."""

    name: str
    future: Any  # distributed.Future
    outdir: Path


def in_process_limit() -> int:
    """Most features (concessions + sites) the server computes in its own process."""
    try:
        return int(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT))
    except ValueError:
        return DEFAULT_LIMIT


def workspace_size() -> int:
    """Features in the workspace's current layers."""
    return sum(len(layer.data) for layer in workspace().values())


@dataclass(frozen=True)
class _Connection:
    """Holds the client: a Dask client is awaitable, which the resource cache refuses."""

    client: Client


@st.cache_resource(show_spinner=False)
def _connection(address: str) -> _Connection:
    from geo import distributed  # noqa: PLC0415  (Dask is imported only when needed)

    return _Connection(distributed.start_client(address or None))


def _client(address: str) -> Client:
    """The server's Dask client (one per server and address)."""
    return _connection(address).client


def _address() -> str:
    from geo.distributed import SCHEDULER_ENV  # noqa: PLC0415

    return os.environ.get(SCHEDULER_ENV, "")


@st.cache_resource(show_spinner=False)
def _runs() -> dict[str, Run]:
    """The server's background runs by key."""
    return {}


def run_key() -> str:
    """Content key of the run the page would start: layers, filters and options."""
    layers = workspace()
    parts = [layers[k].fingerprint for k in LAYER_KINDS]
    parts.append(repr(asdict(current_filters())))
    parts.append(repr((current_rings(), current_radius())))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _runs_folder() -> Path:
    return Path(os.environ.get(RUNS_ENV) or Path(tempfile.gettempdir()) / "geo-cluster-runs")


def start_run(client: Client, key: str) -> Run:
    """Write the filtered layers as GeoParquet datasets and submit the run."""
    from geo import distributed  # noqa: PLC0415

    layers = workspace()
    filters = current_filters()
    folder = _runs_folder() / key
    conc = layers["concessions"].data
    sites = layers["sites"].data
    if filters.active:
        conc, sites = filter_concessions(conc, filters), filter_sites(sites, filters)
    conc_dir = distributed.write_partitioned(conc, folder / "input" / "concessions")
    site_dir = distributed.write_partitioned(sites, folder / "input" / "sites")
    future = client.submit(
        distributed.background_run, str(conc_dir), str(site_dir), str(folder / "output"),
        name=key, rings_km=current_rings(), radius_m=current_radius(),
        sources={kind: source_label(layers[kind]) for kind in LAYER_KINDS},
        key=f"geo-run-{key}", pure=False,
    )
    return Run(key, future, folder / "output")


def offer_cluster_run() -> bool:
    """On a workspace too large for in-process work, the cluster panel; True when shown
    (the page then stops instead of computing in its own process)."""
    size = workspace_size()
    if size <= in_process_limit():
        return False
    st.info(_("The workspace holds {features} features, more than this server computes in "
              "its own process ({limit}). Compute it on the Dask cluster: the run goes on "
              "in the background, and the other pages stay usable meanwhile.").format(
        features=count(size), limit=count(in_process_limit())))
    cluster_panel()
    return True


def cluster_panel() -> None:
    """Start button, progress and results of the current workspace's cluster run."""
    try:
        key = run_key()
        client = _client(_address())
    except GeoError as err:
        st.error(str(err))
        return
    run = _runs().get(key)
    if run is None or run.future.status in ("error", "cancelled", "lost"):
        if run is not None:
            _show_failure(run)
        if st.button(_("Compute on the cluster"), type="primary", key=state.CLUSTER_START):
            try:
                _runs()[key] = start_run(client, key)
            except (GeoError, OSError) as err:
                st.error(str(err))
                return
            st.rerun()
        return
    if run.future.status == "finished":
        _show_result(run)
        return
    _progress(key)


@st.fragment(run_every=POLL_S)
def _progress(key: str) -> None:
    """Progress of a run, polled every second; the whole page reruns once it ends."""
    run = _runs().get(key)
    if run is None:
        return
    if run.future.done():
        st.rerun(scope="app")
    from geo.distributed import read_progress  # noqa: PLC0415

    report = read_progress(_client(_address()), key)
    fraction = float(report.get("fraction", 0.0))  # type: ignore[arg-type]
    stage = str(report.get("stage", "waiting"))
    st.progress(min(max(fraction, 0.0), 1.0), text=_("{stage}: {share} done").format(
        stage=_(STAGES.get(stage, STAGES["waiting"])), share=percent(100 * fraction)))
    st.caption(_("Computing on the cluster. You can open other pages; the run goes on."))


def _show_failure(run: Run) -> None:
    error = run.future.exception()
    if isinstance(error, GeoError):
        st.error(str(error))
    else:
        st.error(_("The cluster run stopped: {reason}").format(reason=error))


def _show_result(run: Run) -> None:
    info = run.future.result()
    totals = info["totals"]
    st.success(_("Computed on the cluster ({workers} workers).").format(
        workers=info.get("engine", {}).get("workers", "?")))
    row = st.columns(4)
    row[0].metric(_("Concessions"), count(totals["concessions"]))
    row[1].metric(_("Artisanal sites"), count(totals["sites"]))
    row[2].metric(_("Sites inside concessions"), count(totals["sites_in"]),
                  _("{share} of sites").format(share=percent(totals["sites_in_pct"])),
                  delta_color="off", delta_arrow="off")
    points_only = totals["site_ha"] == 0  # as the Overview says it
    row[3].metric(_("Overlap area"),
                  _("no area") if points_only else hectares(totals["overlap_ha"]))
    st.caption(_("Concessions cover {area} (union of titles).").format(
        area=hectares(totals["concession_ha"])))
    st.download_button(
        _("Download the results (zones, tables, summary)"), data=_zipped(str(run.outdir)),
        file_name="cluster_results.zip", mime="application/zip", key=state.CLUSTER_DOWNLOAD,
    )
    st.caption(_("On the server: {folder}").format(folder=run.outdir))


@st.cache_data(max_entries=2, show_spinner=False)
def _zipped(outdir: str) -> bytes:
    """The output folder of a run as one zip."""
    folder = Path(outdir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()
