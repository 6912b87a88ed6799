"""Number formats shared by the pages."""

from __future__ import annotations


def hectares(value: float) -> str:
    """``12,345 ha`` (one decimal below 10 ha)."""
    return f"{value:,.1f} ha" if abs(value) < 10 else f"{value:,.0f} ha"


def count(value: float) -> str:
    """``12,345``."""
    return f"{int(value):,}"


def percent(value: float) -> str:
    """``12.3%``."""
    return f"{value:.1f}%"
