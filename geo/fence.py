"""Read an uploaded file in a fenced worker process: every upload may be hostile.

:func:`read_layer_fenced` does what :func:`geo.io.read_layer` does, but in a separate,
short-lived process with a wall-time limit, a memory limit, no network, only the GDAL
drivers the supported formats need, and a private temporary folder that is always removed.
A file built to stall, exhaust or crash the reader, or to make GDAL open local files or web
addresses, costs one killed worker and gives the user one plain sentence.

The fence, layer by layer:

* **Content first.** :func:`geo.io.detect_format` decides the format from the file's own
  bytes and refuses files that only point at other data (OGR/raster VRT, GDAL pipelines,
  WFS descriptions, addresses), archives that are bombs, escape their folder, hold links or
  nest archives (:data:`geo.io.MAX_ARCHIVE_MEMBERS` and the other archive limits).
* **Process.** Workers fork from a ``multiprocessing`` *forkserver* started once per
  process, with GeoPandas, pandas, pyarrow, pyproj and shapely already imported (GDAL is
  not: it is loaded in each worker after its restrictions are set). The first read pays the
  server's start (about 1.5 s); each later one about 0.1 s.
* **Limits.** ``RLIMIT_AS`` (address space: the worker's size at start plus ``memory_mb``),
  ``RLIMIT_FSIZE`` (no file written larger than the upload plus 64 MB) and no core dumps;
  the parent kills the worker after ``timeout_s`` seconds.
* **GDAL.** ``GDAL_SKIP`` removes every driver but :data:`ALLOWED_DRIVERS` before GDAL
  registers them, and the worker checks that no other driver is left (it refuses to read
  otherwise). HTTP is disarmed (``CPL_VSIL_CURL_ALLOWED_EXTENSIONS`` matches nothing, a dead
  proxy, no retries), ``GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR``, no SQLite external access.
* **Network.** Where the kernel allows it (Linux user namespaces), the worker moves into a
  new network namespace with no interface up: no connection can leave it, not even to
  ``127.0.0.1``.
* **Result.** The worker answers with a JSON header and GeoParquet bytes; the parent never
  unpickles anything the worker made. A :class:`~geo.errors.GeoError` comes back as the same
  class with the same message, in the caller's language (:mod:`geo.i18n`).

Note: the forkserver is shared by everything in the process that uses the ``forkserver``
start method; its preloaded modules are harmless to other users (they do not load GDAL).

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> titles = gpd.GeoDataFrame({"conc_id": ["PE-1"]}, geometry=[box(28, -2, 28.5, -1.5)], crs=4326)
>>> layer = read_layer_fenced(titles.to_json().encode(), filename="titles.geojson")
>>> layer.crs.to_epsg(), layer["conc_id"].tolist()
(4326, ['PE-1'])
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import geopandas as gpd
import pyarrow
import pyproj  # noqa: F401  (imported so that the forkserver preloads it)
import shapely  # noqa: F401

from geo import errors
from geo.errors import GeoError, LayerReadError
from geo.i18n import _, get_language, language

__all__ = [
    "ALLOWED_DRIVERS",
    "MAX_FEATURES",
    "MAX_UPLOAD_MB",
    "MEMORY_MB",
    "TIMEOUT_S",
    "read_layer_fenced",
    "warm_up",
]

#: Largest upload read, in MB (the dashboard's uploader and .streamlit/config.toml agree).
MAX_UPLOAD_MB = 50
#: Most features one upload may hold.
MAX_FEATURES = 200_000
#: Seconds a worker may take to read one upload before it is killed.
TIMEOUT_S = 60.0
#: MB of address space a worker may add to its own size at start while reading.
MEMORY_MB = 2048
#: The only GDAL drivers a worker keeps (the supported formats: GeoPackage, GeoJSON and its
#: Esri/Topo/sequence variants, shapefile, KML). CSV and Parquet are read with pandas/pyarrow.
ALLOWED_DRIVERS: frozenset[str] = frozenset(
    {"GPKG", "GeoJSON", "GeoJSONSeq", "ESRIJSON", "TopoJSON", "ESRI Shapefile", "KML", "LIBKML"}
)

_MB = 1024 * 1024
# Largest answer accepted from a worker (header or GeoParquet bytes).
_MAX_ANSWER = 1024 * _MB
_CLONE_NEWUSER, _CLONE_NEWNET = 0x10000000, 0x40000000
_ERRORS: dict[str, type[GeoError]] = {
    cls.__name__: cls
    for cls in (errors.GeoError, errors.LayerReadError, errors.SchemaError, errors.CRSError,
                errors.GeometryError)
}
#: GDAL configuration set in a worker before GDAL loads.
_GDAL_CONFIG = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".no-network-access-from-uploads",
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/no-network-access-from-uploads",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTPS_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_ALLOW_REMOTE_RESOURCE_TO_ACCESS_LOCAL_FILE": "NO",
    "OGR_SQLITE_ALLOW_EXTERNAL_ACCESS": "NO",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "GDAL_NUM_THREADS": "1",
}
_UNSET = ("NO_PROXY", "no_proxy", "GDAL_DATA_PROXY", "CURL_CA_BUNDLE", "GDAL_SKIP_EXTRA")


def read_layer_fenced(
    data: bytes,
    *,
    filename: str | None = None,
    crs: str | int | None = None,
    layer: str | None = None,
    timeout_s: float = TIMEOUT_S,
    memory_mb: int = MEMORY_MB,
    max_features: int = MAX_FEATURES,
    max_mb: float = MAX_UPLOAD_MB,
) -> gpd.GeoDataFrame:
    """Read an uploaded file as :func:`geo.io.read_layer` does, in a fenced worker process.

    Parameters
    ----------
    data : bytes
        The uploaded file's content.
    filename, crs, layer
        As for :func:`geo.io.read_layer`.
    timeout_s : float
        Wall-time limit in seconds; the worker is killed when it is reached.
    memory_mb : int
        Address space in MB the worker may add to its size at start.
    max_features : int
        Most features the file may hold.
    max_mb : float
        Largest file accepted, in MB.

    Returns
    -------
    geopandas.GeoDataFrame
        As :func:`geo.io.read_layer`: the file's columns and ``geometry`` in EPSG:4326.

    Raises
    ------
    LayerReadError
        As :func:`geo.io.read_layer`, and when the file is over ``max_mb`` or
        ``max_features``, points at other data, is a hostile archive, or its reading takes
        over ``timeout_s`` seconds, needs over ``memory_mb`` MB or crashes the reader.
    CRSError, GeometryError, SchemaError
        As :func:`geo.io.read_layer`.
    """
    data = bytes(data)
    if len(data) > max_mb * _MB:
        raise LayerReadError(
            _("The file is {size:.0f} MB; at most {limit} MB are accepted. Split it, or keep "
              "only the columns and features you need.").format(
                size=len(data) / _MB, limit=_number(max_mb))
        )
    options = {
        "filename": filename, "crs": crs, "layer": layer, "language": get_language(),
        "memory_mb": int(memory_mb), "max_features": int(max_features),
        "skip": _drivers_to_skip(),
    }
    with tempfile.TemporaryDirectory(prefix="geo-fence-") as folder:
        receive, send = _context().Pipe(duplex=False)
        worker = _context().Process(
            target=_work, args=(send, data, folder, options), name="geo-fence", daemon=True
        )
        try:
            worker.start()
            send.close()
            header, payload = _answer(receive, time.monotonic() + timeout_s)
        except TimeoutError:
            raise LayerReadError(
                _("The file took too long to read (over {seconds} seconds) and reading was "
                  "stopped; it may be damaged or built to stall a reader. Simplify or split "
                  "it, or export it again, and retry.").format(seconds=_number(timeout_s))
            ) from None
        except (EOFError, OSError):
            raise LayerReadError(_memory_message(memory_mb)) from None
        finally:
            receive.close()
            if worker.is_alive():
                worker.kill()
            worker.join(timeout=5)
    return _result(header, payload, memory_mb)


def warm_up() -> None:
    """Start the worker server now, so the first upload does not wait for it (~1.5 s)."""
    _context()
    multiprocessing.forkserver.ensure_running()


# --- parent side ------------------------------------------------------------------------


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["geo.fence"])
    return context


def _drivers_to_skip() -> list[str]:
    """Every GDAL driver this process has that a worker must not keep."""
    # Not at the top: this module is preloaded by the forkserver, which must not load GDAL.
    import pyogrio  # noqa: PLC0415

    return sorted(set(pyogrio.list_drivers()) - ALLOWED_DRIVERS)


def _answer(receive: Connection, deadline: float) -> tuple[dict[str, Any], bytes]:
    """The worker's JSON header and, if it read the file, its GeoParquet bytes."""
    header = json.loads(_receive(receive, deadline))
    payload = _receive(receive, deadline) if header.get("ok") else b""
    return header, payload


def _receive(receive: Connection, deadline: float) -> bytes:
    if not receive.poll(max(deadline - time.monotonic(), 0)):
        raise TimeoutError
    return receive.recv_bytes(_MAX_ANSWER)


def _result(header: dict[str, Any], payload: bytes, memory_mb: int) -> gpd.GeoDataFrame:
    if header.get("ok"):
        return gpd.read_parquet(io.BytesIO(payload))
    kind = str(header.get("error", ""))
    if kind == "memory":
        raise LayerReadError(_memory_message(memory_mb))
    if kind in _ERRORS:
        raise _ERRORS[kind](str(header.get("message", "")))
    raise RuntimeError(f"The upload reader failed:\n{header.get('message', '')}")


def _memory_message(memory_mb: int) -> str:
    return _(
        "The file needed too much memory to read (over {size} MB) or stopped the reader; it "
        "may be damaged or built to exhaust a reader. Simplify or split it, or export it "
        "again, and retry."
    ).format(size=memory_mb)


def _number(value: float) -> str:
    return f"{value:g}"


# --- worker side ------------------------------------------------------------------------


def _work(send: Connection, data: bytes, folder: str, options: dict[str, Any]) -> None:
    """The worker: fence itself, read the file, answer with a header and GeoParquet bytes."""
    payload = b""
    try:
        payload = _read(data, folder, options)
        header: dict[str, Any] = {"ok": True}
    except MemoryError:
        header = {"ok": False, "error": "memory"}
    except GeoError as err:
        header = {"ok": False, "error": type(err).__name__, "message": str(err)}
    except BaseException:
        header = {"ok": False, "error": "bug", "message": traceback.format_exc()}
    with contextlib.suppress(OSError):
        send.send_bytes(json.dumps(header).encode())
        if payload:
            send.send_bytes(payload)
    send.close()


def _read(data: bytes, folder: str, options: dict[str, Any]) -> bytes:
    _confine(folder, options)
    from geo.io import read_layer  # noqa: PLC0415  (loads GDAL, now restricted)

    _check_drivers()
    _limit(len(data), options["memory_mb"])
    with language(options["language"]):
        frame = read_layer(data, filename=options["filename"], crs=options["crs"],
                           layer=options["layer"])
        if len(frame) > options["max_features"]:
            raise LayerReadError(
                _("The file holds {count} features; at most {limit} are accepted in one "
                  "upload. Split it and upload the parts.").format(
                    count=len(frame), limit=options["max_features"])
            )
    return _geoparquet(frame)


def _confine(folder: str, options: dict[str, Any]) -> None:
    """Private temp folder, no network, GDAL restricted (before it loads)."""
    _leave_network()
    tempfile.tempdir = folder
    os.environ.update({"TMPDIR": folder, "CPL_TMPDIR": folder, **_GDAL_CONFIG})
    os.environ["GDAL_SKIP"] = ",".join(options["skip"])
    for name in _UNSET:
        os.environ.pop(name, None)


def _limit(size: int, memory_mb: int) -> None:
    """No core dumps, no large file written, at most ``memory_mb`` more address space."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    limit = size + 64 * _MB
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    address_space = _address_space() + memory_mb * _MB
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


def _address_space() -> int:
    """The worker's current virtual size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _leave_network() -> None:
    """Move into a new network namespace (no interface up) where the kernel allows it."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET)


def _check_drivers() -> None:
    """Make sure GDAL has only :data:`ALLOWED_DRIVERS`; deregister the others if GDAL was
    loaded before ``GDAL_SKIP`` was set (a main module that imports it); else refuse."""
    import pyogrio  # noqa: PLC0415

    extra = set(pyogrio.list_drivers()) - ALLOWED_DRIVERS
    if extra:
        _deregister(extra)
        extra = set(pyogrio.list_drivers()) - ALLOWED_DRIVERS
    if extra:
        raise RuntimeError(f"GDAL drivers could not be restricted; refusing to read with {extra}")


def _deregister(names: set[str]) -> None:
    """Remove GDAL drivers from the GDAL library this process has loaded (Linux)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "libgdal" in line.rsplit("/", 1)[-1]}
    for path in paths:
        with contextlib.suppress(OSError):
            gdal = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
            gdal.GDALGetDriverByName.restype = ctypes.c_void_p
            gdal.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
            gdal.GDALDeregisterDriver.argtypes = [ctypes.c_void_p]
            for name in names:
                driver = gdal.GDALGetDriverByName(name.encode())
                if driver:
                    gdal.GDALDeregisterDriver(driver)


def _geoparquet(frame: gpd.GeoDataFrame) -> bytes:
    """The frame as GeoParquet; columns of mixed types are written as text."""
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer)
    except (pyarrow.ArrowException, ValueError, TypeError):
        geometry = frame.geometry.name
        mixed = [c for c in frame.columns if c != geometry and frame[c].dtype == object]
        frame = frame.astype(dict.fromkeys(mixed, "string"))
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
    return buffer.getvalue()
