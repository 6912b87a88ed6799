"""Threads for the engine's independent steps.

Shapely, GEOS and PROJ release Python's global lock while they work on arrays, so steps
over separate parts of the data (the UTM zones of the proximity rings, the two layers) run
side by side on the machine's cores. Each call runs in a copy of the caller's context, so
it speaks the caller's language (:mod:`geo.i18n`). ``GEO_THREADS`` sets how many (default: the number of
cores this process may use; 1 runs everything in the calling thread).

Examples
--------
>>> map_in_threads(lambda x: x * x, [1, 2, 3])
[1, 4, 9]
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from geo.errors import SchemaError
from geo.i18n import _

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_Other = TypeVar("_Other")


def thread_count() -> int:
    """How many threads the engine uses: ``GEO_THREADS``, else the usable cores.

    Raises
    ------
    SchemaError
        ``GEO_THREADS`` is not a positive whole number.
    """
    text = os.environ.get("GEO_THREADS", "").strip()
    if not text:
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return max(len(usable) if usable else (os.cpu_count() or 1), 1)
    if not text.isdigit() or int(text) < 1:
        raise SchemaError(
            _("GEO_THREADS must be a positive whole number, got {value}.").format(
                value=repr(text))
        )
    return int(text)


def map_in_threads(
    function: Callable[[_Item], _Result], items: Iterable[_Item]
) -> list[_Result]:
    """``[function(item) for item in items]``, the calls spread over :func:`thread_count`
    threads; results in the order of ``items``, the first exception raised as is."""
    work = list(items)
    threads = min(thread_count(), len(work))
    if threads <= 1:
        return [function(item) for item in work]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="geo") as pool:
        futures = [pool.submit(contextvars.copy_context().run, function, item)
                   for item in work]
        return [future.result() for future in futures]


def run_together(steps: Sequence[Callable[[], _Result]]) -> list[_Result]:
    """``[step() for step in steps]``, spread over :func:`thread_count` threads in the order
    given (put the longest first); results in the order of ``steps``."""
    return map_in_threads(_run, steps)


def _run(step: Callable[[], _Result]) -> _Result:
    return step()


def side_by_side(
    first: Callable[[], _Result], second: Callable[[], _Other]
) -> tuple[_Result, _Other]:
    """``(first(), second())``, the two run at once when :func:`thread_count` allows."""
    if thread_count() <= 1:
        return first(), second()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="geo") as pool:
        later = pool.submit(contextvars.copy_context().run, second)
        return first(), later.result()
