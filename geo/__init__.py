"""Overlap engine for large-scale mining concessions and artisanal mining sites.

GeoDataFrames in, GeoDataFrames out. This package never imports streamlit.
"""

from geo.errors import CRSError, GeoError, GeometryError, LayerReadError, SchemaError

__all__ = ["CRSError", "GeoError", "GeometryError", "LayerReadError", "SchemaError"]
