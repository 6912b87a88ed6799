"""Streamlit's own settings agree with the upload limits the page states."""

from __future__ import annotations

import tomllib
from pathlib import Path

from geo import fence
from ui import upload

ROOT = Path(__file__).resolve().parents[2]


def test_streamlit_config_matches_the_upload_limits() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == upload.MAX_UPLOAD_MB == fence.MAX_UPLOAD_MB
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"].get("enableCORS", True) is True
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


def test_limits_sentence_states_the_numbers() -> None:
    text = upload.limits_text()
    for number in ("50", "200,000", "1,000", "500", "60"):
        assert number in text, number
