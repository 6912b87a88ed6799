"""Spreadsheet formulas in exported tables are neutralised in every disguise."""

from __future__ import annotations

import pandas as pd
import pytest

from geo.export import spreadsheet_safe

PAYLOADS = [
    "=1+1", "+1+1", "-1+1", "@SUM(A1)",
    "\uff1dHYPERLINK(\"http://x\")",  # full-width equals sign
    "\uff0b1", "\uff0d1", "\uff20SUM(A1)",  # full-width plus, minus, at
    "\t=1", "\r=1", "\n=1", "\t", "\r\n@cmd",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_payloads_are_prefixed(payload: str) -> None:
    table = pd.DataFrame({"holder": [payload, "Plain Ltd"], "area_ha": [1.5, -2.0]})
    safe = spreadsheet_safe(table)
    assert safe["holder"].tolist() == ["'" + payload, "Plain Ltd"]
    assert safe["area_ha"].tolist() == [1.5, -2.0]
    assert table["holder"].tolist()[0] == payload  # the input is not mutated


def test_markup_is_left_as_text() -> None:
    evil = '<img src=x onerror="window.__xss=1">'
    assert spreadsheet_safe(pd.DataFrame({"name": [evil]}))["name"].tolist() == [evil]
