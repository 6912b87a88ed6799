"""The engine's error family.

Every error the engine raises on bad input is a :class:`GeoError`. The dashboard and the
command line catch ``GeoError`` and show its message as it is; anything else is a bug.
A message names what was received, what is allowed and how to fix it.
"""

from __future__ import annotations


class GeoError(ValueError):
    """Base class: input the engine cannot use, with a message meant for the user."""


class LayerReadError(GeoError):
    """A file could not be read as a layer (unknown format, broken archive, no geometry...)."""


class SchemaError(GeoError):
    """A layer lacks a column the engine needs, or a column holds unusable values."""


class CRSError(GeoError):
    """A layer has no coordinate reference system, or one that cannot be used."""


class GeometryError(GeoError):
    """A layer's geometry cannot be used (wrong type, out of range, nothing left)."""


class NotFoundError(GeoError):
    """Something asked for by its id (a concession, a site) is not in the layer."""


class ClusterError(GeoError):
    """A Dask cluster cannot be reached or used (scheduler address, missing workers)."""
