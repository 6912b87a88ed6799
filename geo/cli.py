"""The command line: the same engine as the dashboard, for pipelines and scripts.

``python -m geo overlap CONCESSIONS SITES -o OUTDIR [--rings 1,5,10] [--radius-m R]``
writes ``zones.gpkg``, ``concessions.csv``, ``sites.csv`` and ``summary.json``.
``python -m geo validate FILE [--kind sites|concessions]`` prints the validation report.
``python -m geo store add|history|rollback ...`` manages the workspace's versions, and
``python -m geo overlap --workspace PATH -o OUTDIR`` computes on its current versions.
``python -m geo overlap ... --engine dask [--scheduler ADDRESS] [--workers N]`` runs the same
engine on a Dask cluster (:mod:`geo.distributed`): a local one, or the one at ADDRESS (or
``DASK_SCHEDULER_ADDRESS``). Its inputs may also be GeoParquet datasets (folders of parts).
``python -m geo report CONC_ID -o FILE.pdf|FILE.html [--workspace PATH]`` writes one
concession's dossier (on the bundled data unless a workspace is given).

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from geo.errors import GeoError, SchemaError
from geo.export import OUTPUT_FILES, summary, write_analysis_files, write_overlap_files
from geo.i18n import _
from geo.io import read_layer
from geo.parallel import side_by_side
from geo.pipeline import (
    BUNDLED_SOURCES,
    Layer,
    analyse,
    analysis_of,
    load_bundled,
    load_layer,
    load_pair,
    open_seeded_workspace,
    overlaps_of,
    stored_layer,
)
from geo.schema import LayerKind
from geo.validate import core_bounds

EXIT_BAD_INPUT = 2
EXIT_BUG = 3
#: The dossier's formats by file suffix.
REPORT_SUFFIXES = {".pdf": "pdf", ".html": "html", ".htm": "html"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except GeoError as err:
        print(_("error: {message}").format(message=err), file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        message = f"{err.strerror or err}: {err.filename or ''}".rstrip(": ")
        print(_("error: {message}").format(message=message), file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # a bug: still one line, with what to report
        print(_("error: unexpected {kind}: {message}").format(kind=type(err).__name__, message=err),
              file=sys.stderr)
        return EXIT_BUG


class _OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr."""

    def error(self, message: str) -> NoReturn:
        line = _("error: {message} (see {prog} --help)").format(message=message, prog=self.prog)
        self.exit(EXIT_BAD_INPUT, line + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m geo",
        description=_("Overlaps of mining concessions and artisanal mining sites."),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    overlap = commands.add_parser("overlap", help=_("compute overlap zones and statistics"))
    overlap.add_argument("concessions", nargs="?",
                         help=_("concession layer (any supported file)"))
    overlap.add_argument("sites", nargs="?",
                         help=_("artisanal site layer (points and/or polygons)"))
    overlap.add_argument("--workspace", nargs="?", const="", default=None,
                         help=_("compute on the workspace's current layers instead of files "
                                "(a .gpkg path; DATABASE_URL selects PostGIS)"))
    overlap.add_argument("-o", "--outdir", required=True, help=_("folder to write results to"))
    overlap.add_argument("--rings", default="1,5,10",
                         help=_("proximity rings in km, comma-separated (default 1,5,10)"))
    overlap.add_argument("--radius-m", type=float, default=None,
                         help=_("footprint radius in metres given to point sites"))
    overlap.add_argument("--concessions-crs", default=None,
                         help=_("CRS of a concession file that has none, e.g. EPSG:32735"))
    overlap.add_argument("--sites-crs", default=None,
                         help=_("CRS of a site file that has none, e.g. EPSG:4326"))
    overlap.add_argument("--engine", choices=["local", "dask"], default="local",
                         help=_("local: this process (default); dask: a Dask cluster, for "
                                "layers beyond one machine"))
    overlap.add_argument("--scheduler", default=None,
                         help=_("address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                "(default: DASK_SCHEDULER_ADDRESS, else a local cluster)"))
    overlap.add_argument("--workers", type=int, default=None,
                         help=_("local cluster: worker processes (default 2); existing "
                                "cluster: wait for this many workers"))
    overlap.add_argument("--memory-limit", default=None,
                         help=_("local cluster: memory limit per worker, e.g. 2GiB"))
    overlap.add_argument("--partition-rows", type=int, default=None,
                         help=_("features per spatial partition on the cluster (default "
                                "20000)"))
    overlap.set_defaults(run=_run_overlap)

    validate = commands.add_parser("validate", help=_("print a layer's validation report"))
    validate.add_argument("file")
    validate.add_argument("--kind", choices=["concessions", "sites"], default=None,
                          help=_("layer kind (default: polygons-only files are concessions)"))
    validate.add_argument("--crs", default=None, help=_("CRS of a file that has none"))
    validate.add_argument("--json", action="store_true", help=_("print the report as JSON"))
    validate.set_defaults(run=_run_validate)
    _store_parser(commands.add_parser("store", help=_("the workspace: versions of each layer")))
    _report_parser(commands.add_parser("report", help=_("write one concession's dossier as a "
                                                         "PDF or HTML file")))
    return parser


def _report_parser(report: argparse.ArgumentParser) -> None:
    report.add_argument("conc_id", help=_("the concession's id (conc_id)"))
    report.add_argument("-o", "--output", required=True,
                        help=_("the file to write: .pdf or .html"))
    report.add_argument("--workspace", nargs="?", const="", default=None,
                        help=_("use the workspace's current layers (a .gpkg path; "
                               "DATABASE_URL selects PostGIS) instead of the bundled data"))
    report.add_argument("--rings", default="1,5,10",
                        help=_("proximity rings in km, comma-separated (default 1,5,10)"))
    report.add_argument("--radius-m", type=float, default=None,
                        help=_("footprint radius in metres given to point sites"))
    report.set_defaults(run=_run_report)


def _store_parser(store: argparse.ArgumentParser) -> None:
    actions = store.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help=_("add a file as a new version of a layer"))
    add.add_argument("layer", choices=["sites", "concessions"])
    add.add_argument("file")
    add.add_argument("--replace", action="store_true",
                     help=_("replace the layer (default: append to its current version)"))
    add.add_argument("--crs", default=None, help=_("CRS of a file that has none"))
    add.add_argument("--who", default=None, help=_("who is adding it (kept in the history)"))
    add.add_argument("--note", default=None, help=_("a note kept in the history"))
    history = actions.add_parser("history", help=_("list the versions"))
    history.add_argument("--json", action="store_true", help=_("print JSON"))
    rollback = actions.add_parser("rollback", help=_("make an earlier version current again"))
    rollback.add_argument("layer", choices=["sites", "concessions"])
    rollback.add_argument("version", type=int)
    for parser in (add, history, rollback):
        parser.add_argument("--workspace", default=None,
                            help=_("the workspace .gpkg (default: GEO_WORKSPACE, or "
                                   "DATABASE_URL for PostGIS, or workspace/workspace.gpkg)"))
    add.set_defaults(run=_run_store_add)
    history.set_defaults(run=_run_store_history)
    rollback.set_defaults(run=_run_store_rollback)


def _rings(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise SchemaError(
            _("--rings must be kilometres separated by commas, like 1,5,10; got {text}.").format(
                text=repr(text))
        ) from err


def _run_overlap(args: argparse.Namespace) -> int:
    rings = _rings(args.rings)
    if args.engine == "dask":
        return _run_overlap_on_cluster(args, rings)
    if args.workspace is not None:
        if args.concessions or args.sites:
            raise SchemaError(_("Give either two files or --workspace, not both."))
        workspace = open_seeded_workspace(args.workspace or None)
        concessions = stored_layer(workspace, "concessions")
        sites = stored_layer(workspace, "sites")
    elif args.concessions and args.sites:
        concessions, sites = load_pair(args.concessions, args.sites,
                                       concessions_crs=args.concessions_crs,
                                       sites_crs=args.sites_crs)
    else:
        raise SchemaError(_("Give a concession file and a site file, or --workspace PATH."))
    overlaps = overlaps_of(concessions, sites, rings_km=rings, radius_m=args.radius_m)
    # The zones and the site table are written while the statistics are computed.
    written, analysis = side_by_side(lambda: write_overlap_files(overlaps, args.outdir),
                                     lambda: analysis_of(overlaps))
    info = summary(
        analysis,
        sources={"concessions": concessions.source, "sites": sites.source},
        reports={"concessions": concessions.report, "sites": sites.report},
    )
    written += write_analysis_files(analysis, args.outdir, info)
    for path in sorted(written, key=lambda path: OUTPUT_FILES.index(path.name)):
        print(path)
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from geo.dossier import concession_dossier  # noqa: PLC0415  (only the report needs it)
    from geo.report import html_report, pdf_report  # noqa: PLC0415  (matplotlib: slow import)

    output = Path(args.output)
    suffix = output.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise SchemaError(
            _("The report file must end in .pdf or .html, got {name}.").format(
                name=repr(output.name))
        )
    if not output.parent.is_dir():
        raise SchemaError(_("The folder {folder} does not exist; create it first.").format(
            folder=repr(str(output.parent))))
    rings = _rings(args.rings)
    if args.workspace is not None:
        workspace = open_seeded_workspace(args.workspace or None)
        concessions = stored_layer(workspace, "concessions")
        sites = stored_layer(workspace, "sites")
    else:
        concessions, sites = load_bundled("concessions"), load_bundled("sites")
    analysis = analyse(concessions, sites, rings_km=rings, radius_m=args.radius_m)
    dossier = concession_dossier(analysis, args.conc_id)
    info = summary(
        analysis,
        sources={kind: _source_text(layer) for kind, layer in
                 (("concessions", concessions), ("sites", sites))},
        reports={"concessions": concessions.report, "sites": sites.report},
    )
    if REPORT_SUFFIXES[suffix] == "pdf":
        output.write_bytes(pdf_report(dossier, info))
    else:
        output.write_text(html_report(dossier, info), encoding="utf-8")
    print(output)
    return 0


def _source_text(layer: Layer) -> str:
    """A layer's source as a report names it: the bundled sources' descriptions translated,
    a stored layer with its version."""
    source = _(layer.source) if layer.source in BUNDLED_SOURCES.values() else layer.source
    if layer.version is None:
        return source
    return _("{source} (version {version})").format(source=source, version=layer.version)


def _run_overlap_on_cluster(args: argparse.Namespace, rings: tuple[float, ...]) -> int:
    from geo import distributed  # noqa: PLC0415  (Dask is imported only when asked for)

    sources: dict[str, str] | None = None
    if args.workspace is not None:
        if args.concessions or args.sites:
            raise SchemaError(_("Give either two files or --workspace, not both."))
        workspace = open_seeded_workspace(args.workspace or None)
        layers = {kind: stored_layer(workspace, kind) for kind in ("concessions", "sites")}
        concessions, sites = layers["concessions"].data, layers["sites"].data
        sources = {kind: layer.source for kind, layer in layers.items()}
    elif args.concessions and args.sites:
        concessions, sites = args.concessions, args.sites
    else:
        raise SchemaError(_("Give a concession file and a site file, or --workspace PATH."))
    if args.workers is not None and args.workers < 1:
        raise SchemaError(_("--workers must be at least 1, got {count}.").format(
            count=args.workers))
    with distributed.cluster_client(args.scheduler, workers=args.workers,
                                    memory_limit=args.memory_limit) as client:
        _result, paths = distributed.overlap_on_cluster(
            client, concessions, sites, args.outdir, rings_km=rings, radius_m=args.radius_m,
            concessions_crs=args.concessions_crs, sites_crs=args.sites_crs,
            partition_rows=args.partition_rows or distributed.DEFAULT_PARTITION_ROWS,
            sources=sources,
        )
    for path in paths:
        print(path)
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    kind = args.kind or _guess_kind(args.file, args.crs)
    layer = load_layer(args.file, kind, crs=args.crs)
    report = layer.report
    if args.json:
        body = {**report.to_dict(), "kind": kind, "issues": report.issues.to_dict("records")}
        print(json.dumps(body, indent=2, default=str))
        return 0
    counts = (
        _("{file}: {read} concessions read, {kept} usable, {repaired} repaired, {dropped} left "
          "out.")
        if kind == "concessions"
        else _("{file}: {read} sites read, {kept} usable, {repaired} repaired, {dropped} left "
               "out.")
    )
    print(counts.format(file=args.file, read=report.n_input, kept=report.n_kept,
                        repaired=report.n_repaired, dropped=report.n_dropped))
    for sentence in report.sentences():
        print(f"  {sentence}")
    if len(report.issues):
        print(report.issues.to_string(index=False))
    return 0


def _guess_kind(path: str, crs: str | None) -> LayerKind:
    raw = read_layer(path, crs=crs)
    types = set(raw.geometry.dropna().geom_type)
    if not types:
        raise SchemaError(_("{path} has no geometry to validate.").format(path=path))
    return "concessions" if types <= {"Polygon", "MultiPolygon"} else "sites"


def _run_store_add(args: argparse.Namespace) -> int:
    workspace = open_seeded_workspace(args.workspace)
    other: LayerKind = "concessions" if args.layer == "sites" else "sites"
    bounds = core_bounds(workspace.read(other)) if workspace.current_version(other) else None
    layer = load_layer(args.file, args.layer, crs=args.crs, reference_bounds=bounds)
    result = workspace.add(
        args.layer, layer.data, file=layer.source, sha256=layer.sha256,
        mode="replace" if args.replace else "append", repaired=layer.report.n_repaired,
        left_out=layer.report.n_dropped, who=args.who, note=args.note,
    )
    if result.duplicate:
        print(_("{file} was already added as version {version}; nothing changed.").format(
            file=args.file, version=result.version))
    else:
        print(_("{file}: {layer} version {version}, {features} features ({repaired} repaired, "
                "{dropped} left out).").format(
            file=args.file, layer=args.layer, version=result.version, features=result.features,
            repaired=layer.report.n_repaired, dropped=layer.report.n_dropped))
    return 0


def _run_store_history(args: argparse.Namespace) -> int:
    history = open_seeded_workspace(args.workspace).history()
    if args.json:
        fields = ["version", "layer", "time", "file", "sha256", "features", "mode", "note"]
        records = history[fields].astype(object).where(history[fields].notna(), None)
        print(json.dumps(records.to_dict("records"), indent=2, default=str))
    else:
        print(history.drop(columns=["sha256"]).to_string(index=False))
    return 0


def _run_store_rollback(args: argparse.Namespace) -> int:
    workspace = open_seeded_workspace(args.workspace)
    version = workspace.rollback(args.layer, args.version)
    print(_("{layer}: version {version} now holds the features of version {previous}.").format(
        layer=args.layer, version=version, previous=args.version))
    return 0
