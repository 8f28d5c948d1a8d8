"""Fixtures every unit test gets: a clean Hugging Face environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient

BAD_INPUT_BASE = "http://127.0.0.1:9/v1"

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


class Forbidden:
    """A MockTransport handler that fails the test when a request is sent."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        pytest.fail(f"a request was sent for bad input: {request.method} {request.url}")


@pytest.fixture
def forbidden() -> Forbidden:
    """A handler that fails the test on any request (bad input must fail before one)."""
    return Forbidden()


@pytest.fixture
def forbidden_clients(forbidden: Forbidden) -> Iterator[tuple[HFClient, AsyncHFClient]]:
    """A sync and an async client for ``BAD_INPUT_BASE`` whose transport is ``forbidden``."""
    transport = httpx.MockTransport(forbidden)
    config = ClientConfig.create(token="hf_badInputToken0123456789", base_url=BAD_INPUT_BASE)
    yield HFClient(config, transport=transport), AsyncHFClient(config, transport=transport)
    assert forbidden.calls == 0


@pytest.fixture(autouse=True)
def fresh_limiters() -> None:
    """Every test starts with no key's window or pause (the limiters are process-wide)."""
    from hfbridge.transport.limiter import reset_limiters

    reset_limiters()
