"""The workspace: every upload kept as a version, safely, in GeoPackage or PostGIS.

A workspace holds the concession and site layers as versions: each upload adds a version
(replacing the layer, or appending to it), a rollback adds a version equal to an earlier one,
and nothing is ever overwritten. The ``uploads`` table is the history: one row per version
with its time, layer, original file name, sha256 of the bytes, feature count, rows repaired
and left out, who and a note.

Two backends, one interface (:class:`Workspace`):

* :class:`GeoPackageWorkspace` (default): one GeoPackage file, a SQLite database that QGIS
  opens; the views ``concessions`` and ``sites`` show the current versions.
* :class:`PostGISWorkspace`: PostgreSQL with PostGIS when ``DATABASE_URL`` is set, for teams
  sharing one server.

Every write is one transaction: a version is fully there or not at all. Writers take an
exclusive lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), so simultaneous
uploads land one after the other, each on top of the other. A process killed mid-write leaves
the previous state, which the database restores on the next open.

Examples
--------
>>> import tempfile, geopandas as gpd
>>> from shapely import Point
>>> sites = gpd.GeoDataFrame({"site_id": ["a"]}, geometry=[Point(28, -3)], crs=4326)
>>> with tempfile.TemporaryDirectory() as folder:
...     store = GeoPackageWorkspace(f"{folder}/ws.gpkg")
...     store.add("sites", sites, file="a.geojson", sha256="00").version
1
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import GeoError
from geo.i18n import _
from geo.schema import CONCESSION_COLUMNS, ID_COLUMN, SITE_COLUMNS, LayerKind

#: Columns of the history (``uploads`` table), as :meth:`Workspace.history` returns them.
UPLOAD_COLUMNS: tuple[str, ...] = (
    "version", "layer", "time", "file", "sha256", "features", "repaired", "left_out",
    "mode", "based_on", "who", "note",
)
#: How an upload meets the layer's current version.
UploadMode = Literal["replace", "append"]
#: The default GeoPackage path, unless ``GEO_WORKSPACE`` says otherwise.
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "workspace" / "workspace.gpkg"
LAYERS: tuple[LayerKind, ...] = ("concessions", "sites")
_SCHEMA: dict[LayerKind, tuple[str, ...]] = {
    "concessions": CONCESSION_COLUMNS, "sites": SITE_COLUMNS,
}
_BOOLEAN = {"mercury", "armed", "child_lab", "gold", "itsci"}
_DATES = {"expiry", "seen", "first_seen"}
_INTEGER = {"workers"}


class StoreError(GeoError):
    """The workspace cannot do what was asked (unknown version, unreachable database...)."""


@dataclass(frozen=True)
class AddResult:
    """What :meth:`Workspace.add` did.

    Attributes
    ----------
    version : int
        The new version, or the existing one when the same file was uploaded before.
    duplicate : bool
        True when the same bytes (sha256) were already stored for this layer: nothing written.
    features : int
        Features in the layer's new current version.
    """

    version: int
    duplicate: bool
    features: int


class Workspace(ABC):
    """A versioned store of the concession and site layers (see the module docstring)."""

    #: Identity of the store for cache keys (path or database).
    identity: str

    # --- reading ---------------------------------------------------------------------

    def history(self, layer: LayerKind | None = None) -> pd.DataFrame:
        """Every version, newest first, columns :data:`UPLOAD_COLUMNS`."""
        rows = self._query(
            "SELECT id, layer, time, file, sha256, features, repaired, left_out, mode, "
            "based_on, who, note FROM uploads"
            + (" WHERE layer = {p}" if layer else "") + " ORDER BY id DESC",
            (layer,) if layer else (),
        )
        return pd.DataFrame(rows, columns=list(UPLOAD_COLUMNS))

    def current_version(self, layer: LayerKind) -> int | None:
        """The layer's current version, or None when it has none yet."""
        rows = self._query("SELECT max(id) FROM uploads WHERE layer = {p}", (layer,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    def versions_key(self) -> str:
        """Changes whenever any layer gets a new version: a key for caches."""
        return f"{self.identity}|" + "|".join(
            f"{layer}={self.current_version(layer)}" for layer in LAYERS
        )

    def read(self, layer: LayerKind, version: int | None = None) -> gpd.GeoDataFrame:
        """The layer at ``version`` (default: current), in the schema of :mod:`geo.schema`.

        Raises
        ------
        StoreError
            The layer has no such version.
        """
        version = self._check_version(layer, version)
        columns = ", ".join(_SCHEMA[layer])
        rows = self._query(
            f"SELECT {self._geom_out()}, {columns}, props FROM {_table(layer)} "
            "WHERE version = {p} ORDER BY fid",
            (version,),
        )
        return _frame_from_rows(layer, rows, self._decode_geometries)

    def find_upload(self, layer: LayerKind, sha256: str) -> int | None:
        """The version that stored these exact bytes for ``layer``, if any."""
        rows = self._query(
            "SELECT id FROM uploads WHERE layer = {p} AND sha256 = {p} AND mode <> 'rollback' "
            "ORDER BY id LIMIT 1",
            (layer, sha256),
        )
        return int(rows[0][0]) if rows else None

    def diff(self, layer: LayerKind, old: int, new: int) -> pd.DataFrame:
        """What changed between two versions: features added, removed and moved.

        Returns
        -------
        DataFrame
            Columns ``id`` and ``change`` ("added", "removed" or "moved"), sorted by id.
        """
        id_column = ID_COLUMN[layer]
        before = self.read(layer, old).set_index(id_column)
        after = self.read(layer, new).set_index(id_column)
        added = after.index.difference(before.index)
        removed = before.index.difference(after.index)
        both = after.index.intersection(before.index)
        moved_mask = ~shapely.equals_exact(
            np.asarray(before.geometry.loc[both].values, dtype=object),
            np.asarray(after.geometry.loc[both].values, dtype=object),
            tolerance=1e-9,
        )
        frames = [
            pd.DataFrame({"id": added, "change": "added"}),
            pd.DataFrame({"id": removed, "change": "removed"}),
            pd.DataFrame({"id": both[moved_mask], "change": "moved"}),
        ]
        return pd.concat(frames, ignore_index=True).sort_values("id", ignore_index=True)

    # --- writing ---------------------------------------------------------------------

    def add(
        self,
        layer: LayerKind,
        data: gpd.GeoDataFrame,
        *,
        file: str,
        sha256: str,
        mode: UploadMode = "replace",
        repaired: int = 0,
        left_out: int = 0,
        who: str | None = None,
        note: str | None = None,
    ) -> AddResult:
        """Store ``data`` as the layer's new version, in one transaction.

        Parameters
        ----------
        layer : {"concessions", "sites"}
        data : GeoDataFrame
            A normalised, validated layer in EPSG:4326.
        file, sha256 : str
            Original file name and sha256 of its bytes; the same sha256 twice is recognised
            and nothing is written.
        mode : {"replace", "append"}
            Replace the layer, or add these features to its current version (features whose
            id is already there replace the old ones).
        repaired, left_out : int
            From the validation report.
        who, note : str, optional

        Returns
        -------
        AddResult
        """
        if layer not in LAYERS:
            raise StoreError(_("Layer must be 'concessions' or 'sites', got {value}.").format(
                value=repr(layer)))
        if mode not in ("replace", "append"):
            raise StoreError(_("Mode must be 'replace' or 'append', got {value}.").format(
                value=repr(mode)))
        with self._writing() as cursor:
            existing = self._find_in(cursor, layer, sha256)
            if existing is not None:
                count = self._count_in(cursor, layer, self._current_in(cursor, layer))
                return AddResult(existing, True, count)
            based_on = self._current_in(cursor, layer)
            version = self._insert_upload(cursor, layer, file, sha256, mode, based_on,
                                          repaired, left_out, who, note)
            rows = _rows_for(layer, data, version, self._encode_geometries)
            if mode == "append" and based_on is not None:
                self._copy_features(cursor, layer, based_on, version,
                                    exclude=[row[1] for row in rows])
            self._insert_features(cursor, layer, rows)
            count = self._count_in(cursor, layer, version)
            self._set_count(cursor, version, count)
        return AddResult(version, False, count)

    def rollback(self, layer: LayerKind, version: int, *, who: str | None = None) -> int:
        """Make an earlier version current again, as a new version; returns it."""
        self._check_version(layer, version)
        with self._writing() as cursor:
            based_on = self._current_in(cursor, layer)
            new = self._insert_upload(cursor, layer, f"rollback to version {version}", "",
                                      "rollback", based_on, 0, 0, who,
                                      f"same features as version {version}")
            self._copy_features(cursor, layer, version, new, exclude=[])
            self._set_count(cursor, new, self._count_in(cursor, layer, new))
        return new

    def seed(self, layers: dict[LayerKind, tuple[gpd.GeoDataFrame, str, str]]) -> None:
        """Store initial layers (``kind -> (data, description, sha256)``) once, when empty."""
        for layer, (data, description, sha256) in layers.items():
            if self.current_version(layer) is None:
                self.add(layer, data, file=description, sha256=sha256, note="initial data")

    # --- helpers shared by both backends ---------------------------------------------

    def _check_version(self, layer: LayerKind, version: int | None) -> int:
        if version is None:
            current = self.current_version(layer)
            if current is None:
                raise StoreError(
                    _("The workspace has no concessions yet; add a concessions file first.")
                    if layer == "concessions"
                    else _("The workspace has no sites yet; add a sites file first.")
                )
            return current
        rows = self._query("SELECT layer FROM uploads WHERE id = {p}", (int(version),))
        if not rows or rows[0][0] != layer:
            message = (
                _("There is no version {version} of the concessions; see the history for the "
                  "versions there are.") if layer == "concessions" else
                _("There is no version {version} of the sites; see the history for the "
                  "versions there are.")
            )
            raise StoreError(message.format(version=version))
        return int(version)

    def _find_in(self, cursor: Any, layer: str, sha256: str) -> int | None:
        self._execute(cursor, "SELECT id FROM uploads WHERE layer = {p} AND sha256 = {p} "
                      "AND mode <> 'rollback' ORDER BY id LIMIT 1", (layer, sha256))
        row = cursor.fetchone()
        return int(row[0]) if row else None

    def _current_in(self, cursor: Any, layer: str) -> int | None:
        self._execute(cursor, "SELECT max(id) FROM uploads WHERE layer = {p}", (layer,))
        row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _count_in(self, cursor: Any, layer: LayerKind, version: int | None) -> int:
        if version is None:
            return 0
        self._execute(cursor, f"SELECT count(*) FROM {_table(layer)} WHERE version = {{p}}",
                      (version,))
        return int(cursor.fetchone()[0])

    def _set_count(self, cursor: Any, version: int, count: int) -> None:
        self._execute(cursor, "UPDATE uploads SET features = {p} WHERE id = {p}",
                      (count, version))

    def _copy_features(
        self, cursor: Any, layer: LayerKind, source: int, target: int, *, exclude: list[str]
    ) -> None:
        columns = ", ".join(("id", "geom", *_SCHEMA[layer], "props"))
        self._execute(
            cursor,
            f"INSERT INTO {_table(layer)} (version, {columns}) SELECT {{p}}, {columns} "
            f"FROM {_table(layer)} WHERE version = {{p}} ORDER BY fid",
            (target, source),
        )
        if exclude:
            self._delete_ids(cursor, layer, target, exclude)

    def _insert_features(self, cursor: Any, layer: LayerKind, rows: list[tuple[Any, ...]]) -> None:
        columns = ("version", "id", "geom", *_SCHEMA[layer], "props")
        marks = ", ".join(self._geom_in() if c == "geom" else "{p}" for c in columns)
        self._executemany(
            cursor, f"INSERT INTO {_table(layer)} ({', '.join(columns)}) VALUES ({marks})", rows
        )

    def _insert_upload(
        self, cursor: Any, layer: str, file: str, sha256: str, mode: str,
        based_on: int | None, repaired: int, left_out: int, who: str | None, note: str | None,
    ) -> int:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return self._insert_returning_id(
            cursor,
            "INSERT INTO uploads (layer, time, file, sha256, features, repaired, left_out, "
            "mode, based_on, who, note) VALUES ({p}, {p}, {p}, {p}, 0, {p}, {p}, {p}, {p}, "
            "{p}, {p})",
            (layer, now, file, sha256, int(repaired), int(left_out), mode, based_on, who, note),
        )

    # --- what each backend provides ---------------------------------------------------

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _writing(self) -> Any: ...

    @abstractmethod
    def _execute(self, cursor: Any, sql: str, params: Sequence[Any]) -> None: ...

    @abstractmethod
    def _executemany(self, cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None: ...

    @abstractmethod
    def _insert_returning_id(self, cursor: Any, sql: str, params: Sequence[Any]) -> int: ...

    @abstractmethod
    def _delete_ids(self, cursor: Any, layer: LayerKind, version: int, ids: list[str]) -> None:
        ...

    @abstractmethod
    def _geom_in(self) -> str: ...

    @abstractmethod
    def _geom_out(self) -> str: ...

    @abstractmethod
    def _encode_geometries(self, geoms: np.ndarray) -> list[Any]: ...

    @abstractmethod
    def _decode_geometries(self, values: list[Any]) -> np.ndarray: ...


# --- GeoPackage ---------------------------------------------------------------------------


class GeoPackageWorkspace(Workspace):
    """The workspace in one GeoPackage file (SQLite), created when missing.

    Parameters
    ----------
    path : str or Path
        The ``.gpkg`` file.
    timeout_s : float
        How long a writer waits for another writer to finish.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.identity = f"gpkg:{self.path.resolve()}"
        self._timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as connection:
                connection.executescript(_GPKG_SCHEMA)
                _upgrade_gpkg(connection)
        except sqlite3.DatabaseError as err:
            raise StoreError(
                _("{path} is not a workspace GeoPackage this tool can open ({reason}); "
                  "choose another workspace file.").format(path=self.path, reason=err)
            ) from err

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = DELETE")
            connection.execute("PRAGMA synchronous = FULL")
            yield connection
        finally:
            connection.close()

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._connect() as connection:
            return connection.execute(sql.replace("{p}", "?"), tuple(params)).fetchall()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Cursor]:
        with self._connect() as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def _execute(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        cursor.execute(sql.replace("{p}", "?"), tuple(params))

    def _executemany(self, cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(sql.replace("{p}", "?"), rows)

    def _insert_returning_id(self, cursor: Any, sql: str, params: Sequence[Any]) -> int:
        cursor.execute(sql.replace("{p}", "?"), tuple(params))
        return int(cursor.lastrowid)

    def _delete_ids(self, cursor: Any, layer: LayerKind, version: int, ids: list[str]) -> None:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS replaced_ids (id TEXT PRIMARY KEY)")
        cursor.execute("DELETE FROM replaced_ids")
        cursor.executemany("INSERT OR IGNORE INTO replaced_ids VALUES (?)", [(i,) for i in ids])
        cursor.execute(f"DELETE FROM {_table(layer)} WHERE version = ? AND id IN "
                       "(SELECT id FROM replaced_ids)", (version,))

    def _geom_in(self) -> str:
        return "{p}"

    def _geom_out(self) -> str:
        return "geom"

    def _encode_geometries(self, geoms: np.ndarray) -> list[Any]:
        return _gpkg_blobs(geoms)

    def _decode_geometries(self, values: list[Any]) -> np.ndarray:
        return _from_gpkg_blobs(values)


def _gpkg_blobs(geoms: np.ndarray) -> list[bytes]:
    """GeoPackage geometry blobs: header (SRS 4326, x/y envelope) then little-endian WKB."""
    wkb = shapely.to_wkb(geoms, byte_order=1, output_dimension=2)
    bounds = shapely.bounds(geoms)
    header = struct.Struct("<2sBBi4d")
    return [
        header.pack(b"GP", 0, 0b0000_0011, 4326, b[0], b[2], b[1], b[3]) + w
        for b, w in zip(bounds, wkb, strict=True)
    ]


_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def _from_gpkg_blobs(values: list[Any]) -> np.ndarray:
    """Geometries from GeoPackage blobs (any envelope type)."""
    wkb = [
        None if blob is None else bytes(blob)[8 + _ENVELOPE_BYTES[(blob[3] >> 1) & 0b111]:]
        for blob in values
    ]
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


_FEATURE_COLUMNS: dict[LayerKind, str] = {
    "concessions": "conc_id TEXT, name TEXT, holder TEXT, lic_type TEXT, status TEXT, "
                   "expiry TEXT, province TEXT",
    "sites": "site_id TEXT, name TEXT, workers INTEGER, mercury INTEGER, armed INTEGER, "
             "child_lab INTEGER, seen TEXT, gold INTEGER, province TEXT, first_seen TEXT, "
             "qualification TEXT, itsci INTEGER",
}

#: Columns added to the feature tables after their first release: workspaces made before
#: gain them (empty) when opened.
_ADDED_COLUMNS: dict[LayerKind, tuple[tuple[str, str], ...]] = {
    "concessions": (),
    "sites": (("first_seen", "TEXT"), ("qualification", "TEXT"), ("itsci", "INTEGER")),
}


def _upgrade_gpkg(connection: sqlite3.Connection) -> None:
    """Add the columns of :data:`_ADDED_COLUMNS` that an older workspace lacks."""
    for layer, added in _ADDED_COLUMNS.items():
        present = {row[1] for row in connection.execute(f"PRAGMA table_info(features_{layer})")}
        for name, sql_type in added:
            if name not in present:
                connection.execute(f"ALTER TABLE features_{layer} ADD COLUMN {name} {sql_type}")


_GPKG_SCHEMA = """
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL),
  ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT
  (strftime('%Y-%m-%dT%H:%M:%fZ','now')), min_x DOUBLE, min_y DOUBLE, max_x DOUBLE,
  max_y DOUBLE, srs_id INTEGER);
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name));
CREATE TABLE IF NOT EXISTS uploads (
  id INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, time TEXT NOT NULL,
  file TEXT NOT NULL, sha256 TEXT NOT NULL, features INTEGER NOT NULL, repaired INTEGER NOT NULL,
  left_out INTEGER NOT NULL, mode TEXT NOT NULL, based_on INTEGER, who TEXT, note TEXT);
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)
  VALUES ('uploads', 'attributes', 'uploads', 'History: one row per version of a layer');
""" + "".join(
    f"""
CREATE TABLE IF NOT EXISTS features_{layer} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT, version INTEGER NOT NULL REFERENCES uploads (id),
  id TEXT NOT NULL, geom GEOMETRY, {_FEATURE_COLUMNS[layer]}, props TEXT);
CREATE INDEX IF NOT EXISTS features_{layer}_version ON features_{layer} (version);
CREATE VIEW IF NOT EXISTS {layer} AS SELECT * FROM features_{layer}
  WHERE version = (SELECT max(id) FROM uploads WHERE layer = '{layer}');
INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
  VALUES ('features_{layer}', 'features', 'features_{layer}',
          'Every stored version of the {layer}', 4326),
         ('{layer}', 'features', '{layer}', 'The current {layer}', 4326);
INSERT OR IGNORE INTO gpkg_geometry_columns VALUES
  ('features_{layer}', 'geom', 'GEOMETRY', 4326, 0, 0),
  ('{layer}', 'geom', 'GEOMETRY', 4326, 0, 0);
"""
    for layer in LAYERS
)


# --- PostGIS ------------------------------------------------------------------------------


class PostGISWorkspace(Workspace):
    """The workspace in a PostgreSQL database with PostGIS (tables created when missing).

    Parameters
    ----------
    url : str
        A libpq connection string, e.g. ``postgresql://user:pass@host:5432/db``.
    schema : str
        The PostgreSQL schema holding the tables (created when missing).
    """

    def __init__(self, url: str, *, schema: str = "geo_workspace") -> None:
        self._url = url
        self._schema = schema
        self.identity = f"postgis:{_redacted(url)}/{schema}"
        import psycopg  # noqa: PLC0415  (only a PostGIS workspace needs the driver)

        try:
            with self._connect() as connection, connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(hashtext('geo_workspace'))")
                connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
                connection.execute(_postgis_schema(schema))
        except psycopg.Error as err:
            raise StoreError(
                _("Cannot open the PostGIS workspace at {url}: {reason}. Check DATABASE_URL "
                  "and that the server is running.").format(url=_redacted(url),
                                                            reason=_first_line(err))
            ) from err

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import psycopg  # noqa: PLC0415  (imported once by __init__; cheap here)

        connection = psycopg.connect(self._url, autocommit=True,
                                           options=f"-c search_path={self._schema},public")
        try:
            yield connection
        finally:
            connection.close()

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._connect() as connection:
            return list(connection.execute(sql.replace("{p}", "%s"), tuple(params)).fetchall())

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        with self._connect() as connection, connection.transaction():
            cursor = connection.cursor()
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('geo_workspace'))")
            yield cursor

    def _execute(self, cursor: Any, sql: str, params: Sequence[Any]) -> None:
        cursor.execute(sql.replace("{p}", "%s"), tuple(params))

    def _executemany(self, cursor: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(sql.replace("{p}", "%s"), rows)

    def _insert_returning_id(self, cursor: Any, sql: str, params: Sequence[Any]) -> int:
        cursor.execute(sql.replace("{p}", "%s") + " RETURNING id", tuple(params))
        return int(cursor.fetchone()[0])

    def _delete_ids(self, cursor: Any, layer: LayerKind, version: int, ids: list[str]) -> None:
        cursor.execute(f"DELETE FROM {_table(layer)} WHERE version = %s AND id = ANY(%s)",
                       (version, ids))

    def _geom_in(self) -> str:
        return "ST_GeomFromWKB({p}, 4326)"

    def _geom_out(self) -> str:
        return "ST_AsBinary(geom)"

    def _encode_geometries(self, geoms: np.ndarray) -> list[Any]:
        return list(shapely.to_wkb(geoms, byte_order=1, output_dimension=2))

    def _decode_geometries(self, values: list[Any]) -> np.ndarray:
        return np.asarray(
            shapely.from_wkb([None if v is None else bytes(v) for v in values]), dtype=object
        )


def _postgis_schema(schema: str) -> str:
    tables = "".join(
        f"""
CREATE TABLE IF NOT EXISTS features_{layer} (
  fid BIGSERIAL PRIMARY KEY, version INTEGER NOT NULL REFERENCES uploads (id),
  id TEXT NOT NULL, geom geometry(Geometry, 4326), {_FEATURE_COLUMNS[layer]
    .replace('INTEGER', 'BIGINT')}, props TEXT);
{"".join(f"ALTER TABLE features_{layer} ADD COLUMN IF NOT EXISTS {name} {sql_type};"
         for name, sql_type in _ADDED_COLUMNS[layer])}
CREATE INDEX IF NOT EXISTS features_{layer}_version ON features_{layer} (version);
CREATE OR REPLACE VIEW {layer} AS SELECT * FROM features_{layer}
  WHERE version = (SELECT max(id) FROM uploads WHERE layer = '{layer}');
"""
        for layer in LAYERS
    )
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
SET search_path = {schema}, public;
CREATE TABLE IF NOT EXISTS uploads (
  id SERIAL PRIMARY KEY, layer TEXT NOT NULL, time TEXT NOT NULL, file TEXT NOT NULL,
  sha256 TEXT NOT NULL, features INTEGER NOT NULL, repaired INTEGER NOT NULL,
  left_out INTEGER NOT NULL, mode TEXT NOT NULL, based_on INTEGER, who TEXT, note TEXT);
{tables}"""


def _redacted(url: str) -> str:
    """The URL without its password."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


# --- opening ------------------------------------------------------------------------------


def open_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace to use: PostGIS when ``DATABASE_URL`` is set, else a GeoPackage at
    ``path``, ``GEO_WORKSPACE`` or :data:`DEFAULT_PATH`."""
    url = os.environ.get("DATABASE_URL")
    if url and path is None:
        return PostGISWorkspace(url)
    return GeoPackageWorkspace(path or os.environ.get("GEO_WORKSPACE") or DEFAULT_PATH)


# --- rows <-> frames ----------------------------------------------------------------------


def _table(layer: LayerKind) -> str:
    if layer not in LAYERS:
        raise StoreError(_("Layer must be 'concessions' or 'sites', got {value}.").format(
            value=repr(layer)))
    return f"features_{layer}"


def _rows_for(
    layer: LayerKind, data: gpd.GeoDataFrame, version: int, encode: Any
) -> list[tuple[Any, ...]]:
    """Database rows for a normalised layer: version, id, geometry, schema columns, props."""
    schema = _SCHEMA[layer]
    geometry_name = data.geometry.name
    source = [c for c in data.columns if c not in schema and c != geometry_name]
    ids = data[ID_COLUMN[layer]].astype(str).tolist()
    geoms = encode(np.asarray(data.geometry.values, dtype=object))
    columns = [_to_db(data[c], c) if c in data else [None] * len(data) for c in schema]
    props = [json.dumps(row, default=str, allow_nan=False)
             for row in _json_ready(data[source]).to_dict("records")]
    return [
        (version, ids[i], geoms[i], *(column[i] for column in columns), props[i])
        for i in range(len(data))
    ]


def _to_db(values: pd.Series, column: str) -> list[Any]:
    if column in _DATES:
        dates = pd.to_datetime(values, errors="coerce")
        return [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in dates]
    if column in _BOOLEAN or column in _INTEGER:
        numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
        return [None if pd.isna(v) else int(v) for v in numbers]
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
            else str(v) for v in values]


def _json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.astype(object)
    return out.where(pd.notna(out), None)


def _frame_from_rows(
    layer: LayerKind, rows: list[tuple[Any, ...]], decode: Any
) -> gpd.GeoDataFrame:
    schema = list(_SCHEMA[layer])
    geoms = decode([row[0] for row in rows])
    table = pd.DataFrame([row[1:-1] for row in rows], columns=schema)
    props = pd.DataFrame([json.loads(row[-1]) if row[-1] else {} for row in rows])
    for column in schema:
        if column in _DATES:
            table[column] = pd.to_datetime(table[column], errors="coerce").astype(
                "datetime64[ms]")
        elif column in _BOOLEAN:
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("boolean")
        elif column in _INTEGER:
            table[column] = pd.to_numeric(table[column], errors="coerce").astype("Int64")
        else:
            table[column] = table[column].astype(object)
    frame = pd.concat([table, props.drop(columns=schema, errors="ignore")], axis=1)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
