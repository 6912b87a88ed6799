"""Number, area, percentage and date formats shared by the pages and the maps.

Every number the dashboard shows as text goes through here, formatted for the current
language (:func:`geo.i18n.get_language`) with Babel's CLDR data: ``1,234.5`` in English,
``1 234,5`` in French (a narrow no-break space, U+202F, groups the digits), ``1.234,5`` in
Spanish and Portuguese. Nothing here imports Streamlit: the pages, the map builders and the reports use it alike.

Examples
--------
>>> from geo.i18n import language
>>> hectares(12345.6), percent(12.34), count(2973.0)
('12,346\\xa0ha', '12.3%', '2,973')
>>> with language("fr"):
...     number(1234.5, 1), hectares(1234.6), percent(12.34)
('1\\u202f234,5', '1\\u202f235\\xa0ha', '12,3\\xa0%')
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import pandas as pd
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent, get_decimal_symbol, get_group_symbol

from geo.i18n import _, get_language

#: Between a number and its unit: a no-break space, so ``12 ha`` never breaks across lines.
UNIT_SPACE = "\u00a0"


def number(value: Any, decimals: int = 0) -> str:
    """``value`` with digit grouping and ``decimals`` decimals: ``1,234.5`` / ``1 234,5``."""
    try:
        return _number(value, decimals, get_language())
    except TypeError:  # a value that cannot be remembered (unhashable)
        return _number.__wrapped__(value, decimals, get_language())


@lru_cache(maxsize=65536, typed=True)
def _number(value: Any, decimals: int, lang: str) -> str:
    """:func:`number` in ``lang``, remembered: maps and tables show the same values on every
    rerun, and Babel takes tens of microseconds a number."""
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return format_decimal(value, format=pattern, locale=lang)


def decimal(value: float) -> str:
    """A number as it was given, up to three decimals: ``2.5`` (``2,5`` in French)."""
    return format_decimal(value, locale=get_language())


def count(value: Any) -> str:
    """A whole number: ``12,345`` (``12 345`` in French)."""
    return number(int(value))


def hectares(value: float) -> str:
    """An area: ``12,345 ha`` (one decimal below 10 ha)."""
    return f"{area(value)}{UNIT_SPACE}ha"


def area(value: float) -> str:
    """An area in hectares without the unit: one decimal below 10, else none."""
    return number(value, 1 if abs(value) < 10 else 0)


def kilometres(value: float, decimals: int = 2) -> str:
    """A distance: ``1.25 km``."""
    return f"{number(value, decimals)}{UNIT_SPACE}km"


def percent(value: float) -> str:
    """A percentage given in percent (``12.34`` -> ``12.3%``; ``12,3 %`` in French)."""
    return format_percent(value / 100, format=_percent_pattern(get_language()),
                          locale=get_language())


def date(value: object) -> str | None:
    """A date in the language's medium form (``Jan 31, 2030``, ``31 janv. 2030``); None when
    missing or unreadable."""
    if isinstance(value, dt.datetime | dt.date) and not pd.isna(value):
        day = value.date() if isinstance(value, dt.datetime) else value
    else:
        stamp = pd.to_datetime(value, errors="coerce")  # type: ignore[call-overload]
        if pd.isna(stamp):
            return None
        day = stamp.date()
    return _date(day, get_language())


@lru_cache(maxsize=16384)
def _date(day: dt.date, lang: str) -> str:
    """:func:`date` of a day in ``lang``, remembered."""
    return format_date(day, format="medium", locale=lang)


def yes_no(value: object) -> str:
    """``Yes``, ``No`` or ``Unknown`` (missing), translated."""
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return _("Unknown")
    return _("Yes") if bool(value) else _("No")


def vega_locale() -> dict[str, object]:
    """The current language's number symbols for Vega-Lite charts (``config.locale``), so
    axis labels and tooltips group and separate digits as the rest of the page does."""
    lang = get_language()
    return {
        "number": {
            "decimal": get_decimal_symbol(lang),
            "thousands": get_group_symbol(lang),
            "grouping": [3],
            "currency": ["", ""],
        }
    }


@lru_cache(maxsize=8)
def _percent_pattern(lang: str) -> str:
    """The language's percent pattern with one decimal: ``#,##0.0%``, ``#,##0.0 %``."""
    pattern = Locale.parse(lang).percent_formats[None].pattern
    return pattern.replace("0", "0.0", 1) if "." not in pattern else pattern
