"""Fixtures of the replay suite."""

from __future__ import annotations

import pytest
from tests.replay.harness import GATEWAY, TOKEN


@pytest.fixture
def router_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The router moved to the replay gateway, and a token found in the environment."""
    monkeypatch.setenv("HFBRIDGE_ROUTER_URL", GATEWAY)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
