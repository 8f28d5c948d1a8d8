"""Replay one recorded exchange through one adapter call, and read back what the adapter reported.

The recorded answer is served by ``httpx.MockTransport`` on two paths:

- ``base_url``: the adapter points at a self-hosted server (``http://replay.test/v1``, or the TGI
  root / the embeddings URL); the discovered ``HF_TOKEN`` must not be sent there.
- ``router``: no ``base_url``; ``HFBRIDGE_ROUTER_URL`` moves the router to
  ``https://gateway.replay.test`` and the model is pinned to the recording's provider when it is one
  of the router's. The gateway also answers ``/v1/models`` (a catalog stand-in that prices the
  model, so provider attribution and cost estimates run) and receives the discovered token.

Every call goes out with ``max_retries=0``: a recording is one answer.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hfbridge.catalog import Catalog
from hfbridge.transport import AsyncHFClient, HFClient

RECORDINGS_DIR = Path(__file__).resolve().parent / "recordings"
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
GATEWAY = "https://router-gateway.replayed.example"
SELF_HOSTED = "http://self-hosted.replayed.example"
TOKEN = "hf_replayTokenNeverRealAbcdef0123456789"
PRICE_IN, PRICE_OUT = 0.5, 1.5  # USD per million tokens, in the catalog stand-in
ROUTER_PROVIDERS = frozenset(
    {"cerebras", "cohere", "fireworks-ai", "hf-inference", "hyperbolic", "nebius", "novita",
     "sambanova", "together"}
)  # fmt: skip
"""Recordings of these providers are replayed on the router path with the model pinned to them."""
FRAMING_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Recorded bodies are stored decoded: the wire framing headers no longer describe them."""


def script(name: str) -> Any:
    """A module of ``scripts/`` (they import each other as a script run from there does)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


def load_recordings() -> list[dict[str, Any]]:
    """Every recording of the corpus."""
    return [json.loads(path.read_text("utf-8")) for path in sorted(RECORDINGS_DIR.glob("*.json"))]


def recorded_response(recording: dict[str, Any]) -> httpx.Response:
    """The recorded answer as an ``httpx.Response`` (status, headers, body bytes as recorded)."""
    response = recording["response"]
    headers = [
        (name, value) for name, value in response["headers"]
        if name.lower() not in FRAMING_HEADERS
    ]  # fmt: skip
    return httpx.Response(
        response["status"], headers=headers, content=response["body"].encode("utf-8")
    )


def catalog_body(model: str, provider: str) -> dict[str, Any]:
    """A ``/v1/models`` stand-in listing ``model`` served (and priced) by ``provider``."""
    entry = {
        "provider": provider, "status": "live", "context_length": 32768,
        "pricing": {"input": PRICE_IN, "output": PRICE_OUT}, "supports_tools": True,
        "supports_structured_output": True,
    }  # fmt: skip
    return {"object": "list", "data": [{"id": model, "object": "model", "providers": [entry]}]}


@dataclass
class Gateway:
    """The MockTransport handler: the catalog stand-in, and the recorded answer for the rest."""

    recording: dict[str, Any]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.is_catalog(request):
            body = catalog_body(self.recording["model"], self.recording["provider"])
            if request.url.path.endswith("/v1/models"):
                return httpx.Response(200, json=body)
            return httpx.Response(200, json=body["data"][0])  # /v1/models/{model}
        return recorded_response(self.recording)

    @staticmethod
    def is_catalog(request: httpx.Request) -> bool:
        """A request of the catalog (the router's ``/v1/models`` list or one model of it)."""
        return request.method == "GET" and "/v1/models" in request.url.path

    def inference_requests(self) -> list[httpx.Request]:
        """The requests that reached the recorded answer (not the catalog)."""
        return [r for r in self.requests if not self.is_catalog(r)]


@dataclass
class Outcome:
    """What an adapter reported for one call, in the oracle's terms."""

    text: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: list[int] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    request_id: str | None = None
    provider: str | None = None
    cost: float | None = None
    vectors: list[list[float]] | None = None
    error: BaseException | None = None
    exposes: frozenset[str] = frozenset()
    """The fields this adapter mode reports (the others are not compared)."""


@dataclass
class Setup:
    """How one recording is replayed on one path."""

    recording: dict[str, Any]
    path: str  # "base_url" or "router"
    gateway: Gateway

    @property
    def pinned(self) -> bool:
        """On the router, the model is pinned to the recording's provider when it is a router's."""
        provider = self.recording["provider"]
        live = self.recording.get("source", {}).get("router") and provider != "auto"
        return self.path == "router" and (provider in ROUTER_PROVIDERS or bool(live))

    @property
    def model(self) -> str:
        model = self.recording["model"]
        return f"{model}:{self.recording['provider']}" if self.pinned else model

    def clients(self, base_url: str | None) -> dict[str, Any]:
        transport = httpx.MockTransport(self.gateway)
        settings = {"base_url": base_url, "transport": transport, "max_retries": 0}
        return {"client": HFClient(**settings), "async_client": AsyncHFClient(**settings)}

    def catalog(self) -> Catalog:
        transport = httpx.MockTransport(self.gateway)
        return Catalog(
            client=HFClient(transport=transport, max_retries=0),
            async_client=AsyncHFClient(transport=transport, max_retries=0),
            cache_dir=False,
        )


Call = Callable[[Setup], Outcome]


def run(coroutine: Any) -> Any:
    """Run one coroutine to its end (a fresh event loop per call, as a script would)."""
    return asyncio.run(coroutine)


def capture(call: Callable[[], Outcome]) -> Outcome:
    """``call()``, or an outcome holding the error it raised."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - the error is what the test checks
        return Outcome(error=exc)


def usage_list(prompt: int | None, completion: int | None, total: int | None) -> list[int] | None:
    if prompt is None and completion is None and total is None:
        return None
    return [prompt or 0, completion or 0, total or 0]


def chunks_of(iterator: Iterator[Any]) -> list[Any]:
    return list(iterator)
