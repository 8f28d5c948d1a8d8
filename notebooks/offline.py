"""What the notebooks use when there is no ``HF_TOKEN``: real local servers and a recorded catalog.

- :func:`local_servers`: the llama.cpp chat server (Qwen2.5-Coder-0.5B-Instruct, tool calling)
  and the e5 embeddings server. Uses the ones named by ``HFBRIDGE_TEST_*`` when set (``make
  notebooks`` starts them once for all notebooks), else starts them with
  ``scripts/realserver.py`` (the first run builds llama.cpp, ~10 min; then seconds) and stops
  them again in :meth:`LocalServers.close` or when the kernel exits.
- :func:`recorded_catalog`: a :class:`~hfbridge.catalog.Catalog` answering from a recorded
  router ``/v1/models`` body instead of the network.
- :func:`local_reranker`: a loopback server answering TEI's ``/rerank`` (``benchmarks/
  rerank_server.py``). No reranker model can be had on this machine, so it scores by the share of
  the query's words a text contains: it shows the plumbing, not a model's judgement.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from hfbridge.catalog import Catalog
from hfbridge.transport import AsyncHFClient, HFClient

REPO = Path(__file__).resolve().parent.parent
REALSERVER_SCRIPT = REPO / "scripts" / "realserver.py"
RERANK_SERVER_SCRIPT = REPO / "benchmarks" / "rerank_server.py"
RECORDED_ROUTER_MODELS = REPO / "tests" / "fixtures" / "catalog" / "router_models.json"


@dataclass
class LocalServers:
    """Where the local chat and embeddings servers answer (OpenAI-style roots ending in /v1)."""

    chat_url: str
    chat_model: str
    embed_url: str
    embed_model: str
    running: Any = None  # scripts/realserver.py's RunningServers when this process started them

    def close(self) -> None:
        """Stop the servers this process started (servers found running are left alone)."""
        if self.running is not None:
            self.running.stop()
            self.running = None


def _load_script(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def local_servers() -> LocalServers:
    """The servers named by ``HFBRIDGE_TEST_*``, else freshly started ones."""
    chat_url = os.environ.get("HFBRIDGE_TEST_CHAT_URL")
    embed_url = os.environ.get("HFBRIDGE_TEST_EMBED_URL")
    if chat_url and embed_url:
        return LocalServers(
            chat_url=chat_url,
            chat_model=os.environ.get("HFBRIDGE_TEST_CHAT_MODEL", "qwen2.5-coder-0.5b-instruct"),
            embed_url=embed_url,
            embed_model=os.environ.get("HFBRIDGE_TEST_EMBED_MODEL", "multilingual-e5-small-q4"),
        )
    running = _load_script("hfbridge_realserver", REALSERVER_SCRIPT).start_servers()
    atexit.register(running.stop)  # also stopped if the notebook fails before its last cell
    return LocalServers(
        running.chat_url, running.chat_model, running.embed_url, running.embed_model, running
    )


def recorded_catalog(path: Path = RECORDED_ROUTER_MODELS) -> Catalog:
    """A catalog that answers from a recorded router ``/v1/models`` body, never the network.

    The catalog talks HTTP through an ``HFClient``; an ``httpx.MockTransport`` serving the
    recorded body stands in for the router. ``cache_dir=False`` keeps the recorded data out of
    the real on-disk catalog cache.
    """
    body = json.loads(path.read_text(encoding="utf-8"))
    models = {item["id"]: item for item in body["data"] if isinstance(item, dict) and "id" in item}

    def router(request: httpx.Request) -> httpx.Response:
        route = request.url.path.removeprefix("/v1/models")
        if route == "":
            return httpx.Response(200, json=body)
        model = models.get(route.removeprefix("/"))
        if model is not None:
            return httpx.Response(200, json=model)
        return httpx.Response(404, json={"error": "not in the recorded catalog"})

    # Both clients: the async one serves acapabilities and the catalog's background prefetch.
    client = HFClient(transport=httpx.MockTransport(router), max_retries=0)
    async_client = AsyncHFClient(transport=httpx.MockTransport(router), max_retries=0)
    return Catalog(client, async_client, cache_dir=False, offline=False)


def local_reranker() -> str:
    """Start the loopback TEI-shaped reranker (word-overlap scores); its URL. Stops at exit."""
    server = _load_script("hfbridge_rerank_server", RERANK_SERVER_SCRIPT).start(latency=0.0)
    url: str = server.__enter__().url
    atexit.register(server.__exit__, None, None, None)
    return url
