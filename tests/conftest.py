"""Fixtures every unit test gets: a clean Hugging Face environment."""

from __future__ import annotations

from pathlib import Path

import pytest

_HF_VARIABLES = (
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "XDG_CACHE_HOME",
)


@pytest.fixture(autouse=True)
def forget_server_kinds() -> None:
    """Each test meets its self-hosted servers afresh (hfbridge learns them once per process)."""
    from hfbridge.inference.server_kinds import forget

    forget()


@pytest.fixture(autouse=True)
def clear_hf_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hide the developer's tokens and Hugging Face settings from every unit test.

    Removes the token, endpoint and offline variables, and points ``HF_HOME`` and ``HOME`` at fresh
    empty directories, so neither ``$HF_HOME/token`` nor ``~/.cache/huggingface/token`` is a real
    file.
    Returns the fake home directory.
    """
    for name in _HF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = tmp_path_factory.mktemp("hf-env")
    home = root / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(root / "hf_home"))
    return home
