"""Open the dashboard as the tests (and the dashboard benchmark) do: under Streamlit's
AppTest, or served by a real Streamlit server for a browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui import state

ROOT = Path(__file__).resolve().parents[1]
#: Seconds a page run may take (the first run computes the bundled analysis).
TIMEOUT = 120


def open_app(lang: str | None = None) -> AppTest:
    """The app after its first run, opened at ``?lang=<lang>`` when given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if lang is not None:
        at.query_params[state.LANGUAGE_QUERY] = lang
    at.run()
    assert not at.exception, at.exception
    return at


@contextmanager
def served_app(workspace: Path, *, timeout_s: float = 60.0) -> Iterator[str]:
    """The dashboard served on a free local port on ``workspace``; yields its address.

    The server's output goes to ``streamlit.log`` beside the workspace file.

    Raises
    ------
    RuntimeError
        The server did not answer within ``timeout_s`` (the end of its log says why).
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = workspace.with_name("streamlit.log")
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                 "GEO_WORKSPACE": str(workspace)},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log, timeout_s)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_health(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError as err:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the app did not start: {log.read_text()[-2000:]}") from err
            time.sleep(0.5)
