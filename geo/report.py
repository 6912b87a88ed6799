"""The concession dossier as a document: a standalone HTML page and a PDF.

Both carry the same content, in the current language (:mod:`geo.i18n`): the concession's
attributes and key numbers, a static map (the title, its proximity rings, overlap zones and
sites coloured by where they lie), sites and workers by ring and by tenure class, the red
flags and the sites behind them, the trend by year first seen, the table of sites and the
method note (:func:`geo.export.method_note`: area method, sources, date).

The HTML page needs nothing from the network: its images are embedded PNG ``data:`` URLs and
every attribute value is HTML-escaped. The PDF embeds DejaVu Sans (shipped with matplotlib),
so holders' names in any Latin, Greek or Cyrillic script print as written; its tables wrap
their cells and repeat their headings over page breaks. The maps and charts are drawn with
matplotlib's Agg renderer, without pyplot.

Numbers, areas, percentages and dates follow the language with Babel's CLDR data, in the
same forms as the dashboard (``geo.format``): ``12,346 ha`` in English, ``12 346 ha`` in French.

Examples
--------
>>> from geo.dossier import concession_dossier
>>> from geo.export import summary
>>> from geo.pipeline import analyse, load_bundled
>>> analysis = analyse(load_bundled("concessions"), load_bundled("sites"))
>>> dossier = concession_dossier(analysis, "12028")
>>> page = html_report(dossier, summary(analysis))
>>> "data:image/png;base64," in page and "12028" in page
True
>>> pdf_report(dossier, summary(analysis))[:5]
b'%PDF-'
"""

from __future__ import annotations

import base64
import html
import io
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from fpdf import FPDF, FontFace
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from geo import format as fmt
from geo.dossier import Dossier
from geo.export import method_note
from geo.i18n import _, get_language, label
from geo.measure import GEOD
from geo.schema import LIC_TYPE_LABELS, RED_FLAGS, TENURE_LABELS

# --- look --------------------------------------------------------------------------------

#: Colour of the sites inside the title, then of each ring's sites and band (Okabe-Ito,
#: colour-blind safe; cycled beyond six rings).
INSIDE_COLOUR = "#D55E00"
RING_COLOURS: tuple[str, ...] = ("#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9",
                                 "#999999")
ZONE_COLOUR = "#882255"
TITLE_FILL = "#F2F2F2"
NEIGHBOUR_COLOUR = "#8C8C8C"
#: The map's and the chart's size in inches, and their resolution.
MAP_SIZE_IN = (8.0, 7.0)
CHART_SIZE_IN = (8.0, 3.2)
DPI = 150
#: Shown for a missing value.
MISSING = "\u2014"
#: The PDF's fonts: DejaVu Sans, shipped with matplotlib.
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
PDF_FONT = "DejaVu"
#: Smallest share of its full size a picture is shrunk to, to stay on the page.
MIN_IMAGE_SCALE = 0.7
#: Lengths a scale bar may take, in km.
_SCALE_STEPS_KM = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500)


@dataclass(frozen=True)
class Figures:
    """The dossier's pictures as PNG bytes: the map and, when sites carry dates, the chart of
    sites by year first seen."""

    map_png: bytes
    years_png: bytes | None


def figures(dossier: Dossier) -> Figures:
    """Draw the dossier's map and its chart by year."""
    return Figures(map_png(dossier), years_png(dossier))


# --- the document, shared by both formats ------------------------------------------------


@dataclass(frozen=True)
class _Table:
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    #: Right-aligned (numeric) columns.
    numeric: tuple[bool, ...]
    #: Relative column widths in the PDF.
    widths: tuple[float, ...]
    plain: bool = False  # a two-column list of facts: no heading row


@dataclass(frozen=True)
class _Section:
    title: str
    paragraphs: tuple[str, ...] = ()
    image: bytes | None = None
    image_alt: str = ""
    table: _Table | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def html_report(
    dossier: Dossier, info: Mapping[str, object], *, pictures: Figures | None = None
) -> str:
    """The dossier as one standalone HTML page (no external resources).

    Parameters
    ----------
    dossier : Dossier
    info : dict
        A :func:`geo.export.summary` of the analysis, for the method note.
    pictures : Figures, optional, keyword-only
        Already drawn pictures (drawn here when omitted).
    """
    pictures = pictures or figures(dossier)
    head = (
        f'<!DOCTYPE html>\n<html lang="{html.escape(get_language())}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(_title(dossier))}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
    )
    parts = [
        head,
        f"<h1>{_e(_title(dossier))}</h1>\n",
        f'<p class="subtitle">{_e(_subtitle(dossier))}</p>\n',
    ]
    for section in _sections(dossier, info, pictures):
        parts.append(f"<section>\n<h2>{_e(section.title)}</h2>\n")
        parts += [f"<p>{_e(text)}</p>\n" for text in section.paragraphs]
        if section.image is not None:
            data = base64.b64encode(section.image).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{_e(section.image_alt)}">'
                         "\n")
        if section.table is not None:
            parts.append(_html_table(section.table))
        parts += [f'<p class="note">{_e(text)}</p>\n' for text in section.notes]
        parts.append("</section>\n")
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def pdf_report(
    dossier: Dossier, info: Mapping[str, object], *, pictures: Figures | None = None
) -> bytes:
    """The dossier as a PDF (A4 portrait): map, tables and method note.

    Parameters
    ----------
    dossier : Dossier
    info : dict
        A :func:`geo.export.summary` of the analysis, for the method note.
    pictures : Figures, optional, keyword-only
        Already drawn pictures (drawn here when omitted).
    """
    pictures = pictures or figures(dossier)
    pdf = _DossierPDF(footer_text=_title(dossier))
    pdf.set_title(_title(dossier))
    pdf.set_subject(_subtitle(dossier))
    pdf.set_lang(get_language())
    pdf.add_page()
    pdf.set_font(PDF_FONT, "B", 16)
    pdf.multi_cell(0, 8, _title(dossier), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(PDF_FONT, "", 10)
    pdf.multi_cell(0, 5, _subtitle(dossier), new_x="LMARGIN", new_y="NEXT")
    for section in _sections(dossier, info, pictures):
        _pdf_section(pdf, section)
    return bytes(pdf.output())


# --- sections ----------------------------------------------------------------------------


def _sections(dossier: Dossier, info: Mapping[str, object], pictures: Figures) -> list[_Section]:
    sections = [
        _Section(_("Summary"), table=_facts(dossier)),
        _Section(
            _("Map"), image=pictures.map_png,
            image_alt=_("Map of title {title} with its proximity rings and artisanal "
                        "sites").format(title=dossier.conc_id),
            notes=(_("The title is outlined in black; each proximity ring is a tinted band "
                     "and its sites share its colour. Sites inside the title are vermilion; a "
                     "thick outline marks a site with a red flag. Grey outlines are other "
                     "titles."),),
        ),
        _Section(_("Sites and workers by ring"), table=_ring_table(dossier)),
        _Section(
            _("Sites by tenure class"),
            paragraphs=(_("Where each site lies: a site in a ring may sit inside a "
                          "neighbouring title, or on land free of titles."),),
            table=_tenure_table(dossier),
        ),
        _flag_section(dossier),
        _flag_sites_section(dossier),
        _year_section(dossier, pictures.years_png),
        _sites_section(dossier),
        _Section(_("Method note"), paragraphs=_method_lines(dossier, info)),
    ]
    return sections


def _title(dossier: Dossier) -> str:
    return _("Concession dossier: title {title}").format(title=dossier.conc_id)


def _subtitle(dossier: Dossier) -> str:
    return " · ".join([dossier.holder or _("holder unknown"),
                       label(LIC_TYPE_LABELS, dossier.lic_type)])


def _facts(dossier: Dossier) -> _Table:
    outer = dossier.rings_km[-1]
    rows: list[tuple[str, str]] = [(_("Title"), dossier.conc_id)]
    if dossier.name and dossier.name != dossier.conc_id:
        rows.append((_("Name"), dossier.name))
    rows += [
        (_("Holder"), dossier.holder or _("unknown")),
        (_("Licence type"), label(LIC_TYPE_LABELS, dossier.lic_type)),
        (_("Status"), dossier.status or _("unknown")),
        (_("Expiry"), fmt.date(dossier.expiry) or _("unknown")),
    ]
    if dossier.province:
        rows.append((_("Province"), dossier.province))
    rows += [
        (_("Area"), fmt.hectares(dossier.area_ha)),
        (_("Overlap with artisanal sites"),
         _("{area} ({share} of the title)").format(area=fmt.hectares(dossier.overlap_ha),
                                                   share=fmt.percent(dossier.overlap_pct))),
        (_("Sites inside"), fmt.count(dossier.sites_in)),
        (_("Workers at the sites inside"), fmt.count(dossier.workers_in)),
        (_("Sites inside with a red flag"), fmt.count(dossier.flagged_in)),
        (_("Sites within {distance} km, outside the title").format(distance=fmt.decimal(outer)),
         fmt.count(dossier.sites_near)),
        (_("Workers at those sites"), fmt.count(dossier.workers_near)),
    ]
    return _Table((), tuple(rows), (False, False), (2, 3), plain=True)


def _ring_table(dossier: Dossier) -> _Table:
    rows: list[tuple[str, ...]] = [
        (ring_label(row.ring, dossier.rings_km), fmt.count(row.sites), fmt.count(row.workers),
         fmt.count(row.mercury), fmt.count(row.armed), fmt.count(row.child_lab))
        for row in dossier.by_ring.itertuples(index=False)
    ]
    rows.append((_("Total"), fmt.count(dossier.by_ring["sites"].sum()),
                 fmt.count(dossier.by_ring["workers"].sum()),
                 *(fmt.count(dossier.by_ring[flag].sum()) for flag in RED_FLAGS)))
    headings = (_("Where"), _("Sites"), _("Workers"), *(_(text) for text in RED_FLAGS.values()))
    return _Table(headings, tuple(rows), (False, *[True] * 5), (3, 1.2, 1.4, 1.6, 1.6, 1.6))


def _tenure_table(dossier: Dossier) -> _Table:
    table = dossier.by_tenure
    site_columns = [c for c in table.columns if c.startswith("sites_")]
    shown = table[table[site_columns].sum(axis=1) > 0]
    outer = fmt.decimal(dossier.rings_km[-1])
    headings = (
        _("Tenure class"),
        *(ring_label(k, dossier.rings_km) for k in range(len(site_columns))),
        _("Workers inside"),
        _("Workers within {distance} km").format(distance=outer),
    )
    rows = tuple(
        (label(TENURE_LABELS, row["tenure"]), *(fmt.count(row[c]) for c in site_columns),
         fmt.count(row["workers_in"]), fmt.count(row["workers_near"]))
        for _index, row in shown.iterrows()
    )
    n = len(site_columns)
    return _Table(headings, rows, (False, *[True] * (n + 2)), (3, *[1.0] * n, 1.3, 1.3))


def _flag_section(dossier: Dossier) -> _Section:
    outer = fmt.decimal(dossier.rings_km[-1])
    headings = (_("Red flag"), _("Sites inside"),
                _("Sites within {distance} km").format(distance=outer),
                _("Workers inside"), _("Workers within {distance} km").format(distance=outer),
                _("Sites where not recorded"))
    rows = tuple(
        (label(RED_FLAGS, row.flag), fmt.count(row.sites_in), fmt.count(row.sites_near),
         fmt.count(row.workers_in), fmt.count(row.workers_near), fmt.count(row.not_recorded))
        for row in dossier.flags.itertuples(index=False)
    )
    return _Section(
        _("Red flags"),
        paragraphs=(_("Sites where the latest visit recorded mercury use, armed actors or "
                      "children under 15 working, and the workers at those sites."),),
        table=_Table(headings, rows, (False, *[True] * 5), (2.6, 1, 1.3, 1, 1.3, 1.3)),
    )


def _flag_sites_section(dossier: Dossier) -> _Section:
    title = _("Sites behind the red flags")
    flagged = dossier.flag_sites
    if flagged.empty:
        return _Section(title, paragraphs=(
            _("No site inside or near this title has a red flag recorded."),))
    rows = tuple(
        (label(RED_FLAGS, row.flag), str(row.site_id), _text(row.name),
         ring_label(row.ring, dossier.rings_km), _workers(row.workers))
        for row in flagged.itertuples(index=False)
    )
    headings = (_("Red flag"), _("Site"), _("Name"), _("Where"), _("Workers"))
    return _Section(title, table=_Table(headings, rows, (False, False, False, False, True),
                                        (2.2, 1.8, 2.4, 1.4, 1)))


def _year_section(dossier: Dossier, chart: bytes | None) -> _Section:
    title = _("Trend by year first seen")
    if dossier.by_year.empty:
        return _Section(title, paragraphs=(_("The sites carry no dates, so there is no trend "
                                             "to show."),))
    table = dossier.by_year
    site_columns = [c for c in table.columns if c.startswith("sites_")]
    outer = fmt.decimal(dossier.rings_km[-1])
    headings = (
        _("Year"), *(ring_label(k, dossier.rings_km) for k in range(len(site_columns))),
        _("Workers inside"), _("Workers within {distance} km").format(distance=outer),
    )
    rows = tuple(
        (str(row["year"]), *(fmt.count(row[c]) for c in site_columns), fmt.count(row["workers_in"]),
         fmt.count(row["workers_near"]))
        for _index, row in table.iterrows()
    )
    paragraphs = [_("Sites by the year they were first seen, inside the title and in each "
                    "ring, with their workers as last recorded.")]
    if dossier.undated:
        paragraphs.append(_("{count} sites have no date and are not counted here.").format(
            count=fmt.count(dossier.undated)))
    n = len(site_columns)
    return _Section(
        title, paragraphs=tuple(paragraphs), image=chart,
        image_alt=_("Chart of sites by year first seen"),
        table=_Table(headings, rows, (False, *[True] * (n + 2)), (1, *[1.0] * n, 1.3, 1.3)),
    )


def _sites_section(dossier: Dossier) -> _Section:
    title = _("Sites inside and near the title")
    sites = dossier.sites
    if sites.empty:
        return _Section(title, paragraphs=(
            _("No artisanal site lies inside this title or within {distance} km of it.").format(
                distance=fmt.decimal(dossier.rings_km[-1])),))
    flags = _flag_text(sites)
    rows = tuple(
        (str(row.site_id), _text(row.name), ring_label(row.ring, dossier.rings_km),
         fmt.number(row.dist_km, 2), _workers(row.workers), flags[i],
         label(TENURE_LABELS, row.tenure), fmt.date(row.first_seen) or MISSING,
         fmt.date(row.seen) or MISSING)
        for i, row in enumerate(sites.itertuples(index=False))
    )
    headings = (_("Site"), _("Name"), _("Where"), _("Distance (km)"), _("Workers"),
                _("Red flags"), _("Tenure"), _("First seen"), _("Last seen"))
    return _Section(title, table=_Table(
        headings, rows, (False, False, False, True, True, False, False, False, False),
        (1.9, 1.7, 1.2, 1.5, 1.3, 1.8, 1.8, 1.4, 1.4)))


def _method_lines(dossier: Dossier, info: Mapping[str, object]) -> tuple[str, ...]:
    note = [line for line in method_note(info).splitlines()[1:] if line.strip()]
    note += [
        _("Rings: a site counts in a ring of this title when it is outside the title and its "
          "geodesic distance to the title falls in the ring; it may lie inside another title."),
        _("Workers are the numbers recorded at each site's latest visit; a site without a "
          "number counts as 0. A red flag counts where the latest visit recorded it."),
        _("Trend: each site counts once, in the year of its first recorded visit."),
    ]
    if dossier.radius_m is None:
        note.append(_("Point sites have no area without a footprint radius, so the overlap "
                      "area counts site polygons only."))
    return tuple(note)


# --- text --------------------------------------------------------------------------------


def ring_label(ring: Any, rings_km: Sequence[float]) -> str:
    """Where a ring lies, in words: ``Inside`` for ring 0, else its band: ``1-5 km``.

    Examples
    --------
    >>> ring_label(0, (1.0, 5.0)), ring_label(2, (1.0, 5.0))
    ('Inside', '1-5 km')
    """
    ring = int(ring)
    if ring == 0:
        return _("Inside")
    edges = [0.0, *rings_km]
    return _("{inner}-{outer} km").format(inner=fmt.decimal(edges[ring - 1]),
                                          outer=fmt.decimal(edges[ring]))


def _flag_text(sites: pd.DataFrame) -> list[str]:
    """Per site, its red flags in words; ``none`` when all are recorded as absent."""
    present = sites[list(RED_FLAGS)].astype("boolean")
    texts = []
    for flags, recorded in zip(present.fillna(False).to_numpy(dtype=bool),
                               present.notna().to_numpy(dtype=bool), strict=True):
        names = [label(RED_FLAGS, flag) for flag, on in zip(RED_FLAGS, flags, strict=True) if on]
        texts.append(", ".join(names) if names else
                     (_("none") if recorded.all() else _("not recorded")))
    return texts


def _text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return str(value)


def _workers(value: object) -> str:
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return MISSING if pd.isna(number) else fmt.count(number)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
.subtitle { color: #555; margin-top: 0; }
.note { color: #555; font-size: 13px; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.facts th { background: none; font-weight: 600; }
@media print { h2 { break-after: avoid; } tr { break-inside: avoid; } }
"""


def _html_table(table: _Table) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if table.numeric[i] else ""

    if table.plain:
        rows = "".join(f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>\n"
                       for name, value in table.rows)
        return f'<table class="facts">\n{rows}</table>\n'
    head = "".join(f"<th{cls(i)}>{_e(text)}</th>" for i, text in enumerate(table.headings))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_e(text)}</td>" for i, text in enumerate(row))
        + "</tr>\n"
        for row in table.rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


# --- PDF ---------------------------------------------------------------------------------


class _DossierPDF(FPDF):
    """A4 portrait in mm with the DejaVu Sans fonts and a footer naming the dossier."""

    def __init__(self, *, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.footer_text = footer_text
        self.add_font(PDF_FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(PDF_FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=16)
        self.set_font(PDF_FONT, "", 9)

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(PDF_FONT, "", 7.5)
        self.set_text_color(110)
        page = _("Page {page} of {pages}").format(page=self.page_no(), pages="{nb}")
        self.cell(0, 5, f"{self.footer_text} · {page}", align="C")
        self.set_text_color(0)


def _pdf_section(pdf: FPDF, section: _Section) -> None:
    # Keep a title with what follows: a few lines, or its picture at its smallest.
    needed = 30.0
    if section.image is not None:
        needed = 14 + 6 * len(section.paragraphs) + _image_size(pdf, section.image)[1] * \
            MIN_IMAGE_SCALE
    if pdf.will_page_break(needed):
        pdf.add_page()
    pdf.ln(4)
    pdf.set_font(PDF_FONT, "B", 12)
    pdf.multi_cell(0, 6, section.title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(PDF_FONT, "", 9)
    for text in section.paragraphs:
        pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    if section.image is not None:
        _pdf_image(pdf, section.image, section.image_alt)
    if section.table is not None:
        _pdf_table(pdf, section.table)
    pdf.set_font(PDF_FONT, "", 8)
    for text in section.notes:
        pdf.multi_cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(PDF_FONT, "", 9)


def _image_size(pdf: FPDF, png: bytes) -> tuple[float, float]:
    """Width and height (mm) of a PNG across the text width, no taller than a page."""
    width_px, height_px = struct.unpack(">II", png[16:24])
    width = pdf.epw
    height = width * height_px / width_px
    room = pdf.h - pdf.b_margin - pdf.t_margin - 2
    if height > room:
        width, height = width * room / height, room
    return width, height


def _pdf_image(pdf: FPDF, png: bytes, alt: str) -> None:
    """The picture across the text width; shrunk (down to :data:`MIN_IMAGE_SCALE`) to fit
    the rest of the page, else on the next page."""
    width, height = _image_size(pdf, png)
    room = pdf.h - pdf.b_margin - pdf.y - 1
    if height > room >= height * MIN_IMAGE_SCALE:
        width, height = width * room / height, room
    elif height > room:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=pdf.l_margin + (pdf.epw - width) / 2, w=width, h=height,
              alt_text=alt)
    pdf.ln(2)


def _pdf_table(pdf: FPDF, table: _Table) -> None:
    pdf.set_font(PDF_FONT, "", 7.5 if len(table.widths) > 6 else 8.5)
    pdf.set_draw_color(170)
    pdf.set_line_width(0.15)
    align = tuple("RIGHT" if numeric else "LEFT" for numeric in table.numeric)
    with pdf.table(
        col_widths=table.widths, text_align=align, first_row_as_headings=not table.plain,
        headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        borders_layout="HORIZONTAL_LINES", line_height=pdf.font_size * 1.45,
        padding=(0.8, 1.2), repeat_headings=1, v_align="TOP",
    ) as grid:
        if not table.plain:
            heading = grid.row()
            for text in table.headings:
                heading.cell(text)
        for values in table.rows:
            row = grid.row()
            for i, text in enumerate(values):
                style = FontFace(emphasis="BOLD") if table.plain and i == 0 else None
                row.cell(text, style=style)
    pdf.ln(2)
    pdf.set_draw_color(0)
    pdf.set_font(PDF_FONT, "", 9)


# --- pictures ----------------------------------------------------------------------------


def ring_colour(ring: int) -> str:
    """Colour of the sites of a ring (0: inside)."""
    return INSIDE_COLOUR if ring == 0 else RING_COLOURS[(ring - 1) % len(RING_COLOURS)]


def map_png(dossier: Dossier) -> bytes:
    """The static map: the title, its ring bands, its overlap zones, the other titles in
    view, and its sites coloured by ring, with a legend and a scale bar.

    The axes are in degrees with the aspect corrected for latitude (1° of longitude drawn
    ``cos(latitude)`` as long as 1° of latitude), so shapes look as on the ground.
    """
    fig = Figure(figsize=MAP_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.08, 0.08, 0.9, 0.9))
    minx, miny, maxx, maxy = _extent(dossier)
    mid_lat = (miny + maxy) / 2
    for ring in range(len(dossier.rings_km), 0, -1):
        band = dossier.rings[dossier.rings["ring_km"] == dossier.rings_km[ring - 1]]
        band.plot(ax=ax, facecolor=ring_colour(ring), alpha=0.12, edgecolor="none")
        band.boundary.plot(ax=ax, color="#555555", linewidth=0.6, linestyle="--")
    if len(dossier.neighbours):
        dossier.neighbours.boundary.plot(ax=ax, color=NEIGHBOUR_COLOUR, linewidth=0.6)
    dossier.outline.plot(ax=ax, facecolor=TITLE_FILL, alpha=0.6, edgecolor="none")
    if len(dossier.zones):
        dossier.zones.plot(ax=ax, facecolor=ZONE_COLOUR, alpha=0.8, edgecolor=ZONE_COLOUR,
                           linewidth=1.0)
    dossier.outline.boundary.plot(ax=ax, color="#000000", linewidth=1.6)
    _draw_sites(ax, dossier)
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect(1.0 / max(math.cos(math.radians(mid_lat)), 0.01))
    ax.tick_params(labelsize=7)
    ax.set_xlabel(_("Longitude (°)"), fontsize=8)
    ax.set_ylabel(_("Latitude (°)"), fontsize=8)
    _scale_bar(ax, (minx, miny, maxx, maxy))
    ax.legend(handles=_legend_handles(dossier), loc="upper center", ncol=3, fontsize=7.5,
              frameon=False, bbox_to_anchor=(0.5, -0.08))
    return _png(fig)


def years_png(dossier: Dossier) -> bytes | None:
    """Stacked bars of the sites first seen each year, inside and per ring; None without
    dates."""
    table = dossier.by_year
    if table.empty:
        return None
    fig = Figure(figsize=CHART_SIZE_IN, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.08, 0.16, 0.62, 0.78))
    columns = [c for c in table.columns if c.startswith("sites_")]
    years = table["year"].to_numpy()
    bottom = np.zeros(len(table))
    for ring, column in enumerate(columns):
        values = table[column].to_numpy(dtype=float)
        ax.bar(years, values, bottom=bottom, color=ring_colour(ring), width=0.8,
               label=ring_label(ring, dossier.rings_km), edgecolor="white", linewidth=0.4)
        bottom += values
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.08)
    ax.set_ylabel(_("Sites first seen"), fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(labelsize=7)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7.5, frameon=False)
    return _png(fig)


def _extent(dossier: Dossier) -> tuple[float, float, float, float]:
    frames = [dossier.outline, dossier.rings, dossier.site_shapes]
    bounds = np.array([frame.total_bounds for frame in frames if len(frame)])
    minx, miny = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
    maxx, maxy = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
    pad_x, pad_y = (maxx - minx) * 0.03 + 1e-3, (maxy - miny) * 0.03 + 1e-3
    return float(minx - pad_x), float(miny - pad_y), float(maxx + pad_x), float(maxy + pad_y)


def _draw_sites(ax: Axes, dossier: Dossier) -> None:
    shapes = dossier.site_shapes
    if shapes.empty:
        return
    colours = np.array([ring_colour(int(r)) for r in shapes["ring"]], dtype=object)
    widths = np.where(shapes["flagged"].to_numpy(dtype=bool), 1.6, 0.4)
    is_point = shapes.geometry.geom_type.isin(["Point", "MultiPoint"]).to_numpy()
    if (~is_point).any():
        polygons = shapes[~is_point]
        polygons.plot(ax=ax, color=list(colours[~is_point]), alpha=0.85, edgecolor="#000000",
                      linewidth=list(widths[~is_point]))
    if is_point.any():
        points = shapes[is_point]
        ax.scatter(points.geometry.x, points.geometry.y, s=18, c=list(colours[is_point]),
                   edgecolors="#000000", linewidths=widths[is_point], zorder=5)


def _legend_handles(dossier: Dossier) -> list[object]:
    def dot(colour: str, text: str, width: float = 0.4) -> Line2D:
        return Line2D([], [], marker="o", linestyle="none", markerfacecolor=colour,
                      markeredgecolor="#000000", markeredgewidth=width, markersize=6,
                      label=text)

    handles: list[object] = [
        Line2D([], [], color="#000000", linewidth=1.6,
               label=_("Title {title}").format(title=dossier.conc_id)),
        dot(INSIDE_COLOUR, _("Site inside the title")),
    ]
    handles += [dot(ring_colour(k), _("Site at {band}").format(band=ring_label(k, dossier.rings_km)))
                for k in range(1, len(dossier.rings_km) + 1)]
    handles += [
        dot("#FFFFFF", _("Red flag (thick outline)"), 1.6),
        Patch(facecolor=ZONE_COLOUR, alpha=0.75, label=_("Overlap zone")),
        Line2D([], [], color="#555555", linewidth=0.6, linestyle="--",
               label=_("Proximity ring")),
        Line2D([], [], color=NEIGHBOUR_COLOUR, linewidth=0.6, label=_("Other titles")),
    ]
    return handles


def _scale_bar(ax: Axes, extent: tuple[float, float, float, float]) -> None:
    """A bar of a round number of km in the lower left corner, measured geodesically."""
    minx, miny, maxx, maxy = extent
    x0 = minx + (maxx - minx) * 0.05
    y0 = miny + (maxy - miny) * 0.05
    _lon, _lat, width_m = GEOD.inv(minx, y0, maxx, y0)
    target_km = width_m / 1000.0 / 5
    length_km = max([s for s in _SCALE_STEPS_KM if s <= target_km] or [_SCALE_STEPS_KM[0]])
    x1, _y, _back = GEOD.fwd(x0, y0, 90.0, length_km * 1000.0)
    ax.plot([x0, x1], [y0, y0], color="#000000", linewidth=2.5, solid_capstyle="butt",
            zorder=6)
    ax.text((x0 + x1) / 2, y0 + (maxy - miny) * 0.012,
            f"{fmt.decimal(length_km)}{fmt.UNIT_SPACE}km", ha="center", va="bottom", fontsize=8,
            zorder=6, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none",
                            "pad": 1})


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    return buffer.getvalue()
