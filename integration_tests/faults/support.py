"""Helpers of the fault suite: the fake token, clients whose retries wait only briefly, call
runners for the four modes, and the scripted servers shared by several test modules."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import threading
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

from faultserver import (
    SSE,
    Behaviour,
    Request,
    Reset,
    chat_body,
    chat_chunks,
    json_reply,
    vector_for,
)

from hfbridge.catalog import Catalog
from hfbridge.errors import HFError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, RetryPolicy

TOKEN = "hf_faultSuiteToken0123456789abcdef"
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_backoff=0.05, wait_cap=0.5)
"""Retries with waits short enough for a suite that must finish in under a minute."""


def fast_config(base_url: str, *, retry: RetryPolicy = FAST_RETRY, **kwargs: Any) -> ClientConfig:
    """A client config for ``base_url`` with the fast retry policy and the suite's token."""
    config = ClientConfig.create(token=kwargs.pop("token", TOKEN), base_url=base_url, **kwargs)
    return dataclasses.replace(config, retry=retry)


def fast_clients(base_url: str, **kwargs: Any) -> tuple[HFClient, AsyncHFClient]:
    """A sync and an async client sharing one fast config."""
    config = fast_config(base_url, **kwargs)
    return HFClient(config), AsyncHFClient(config)


class Waits:
    """A recording ``sleep`` for the clients: notes each retry wait instead of sleeping through it.

    The transport computes each wait from the server's ``Retry-After``/``estimated_time`` (or its
    backoff) and hands it to ``sleep``: recording it proves the wait without spending it.
    """

    def __init__(self) -> None:
        self.values: list[float] = []

    def sleep(self, seconds: float) -> None:
        """Sync form."""
        self.values.append(seconds)

    async def asleep(self, seconds: float) -> None:
        """Async form."""
        self.values.append(seconds)


MODES = ("sync", "async", "stream", "astream")
"""How a chat scenario is run: complete, acomplete, stream, astream."""

MESSAGES = ({"role": "user", "content": "hello"},)


def chat_service(
    base_url: str, *, waits: Waits | None = None, retry: RetryPolicy = FAST_RETRY, **kwargs: Any
) -> ChatService:
    """A ChatService for the self-hosted endpoint ``base_url`` (no routing), with fast retries."""
    config = fast_config(base_url, retry=retry, **kwargs)
    if waits is None:
        client, async_client = HFClient(config), AsyncHFClient(config)
    else:
        client = HFClient(config, sleep=waits.sleep)
        async_client = AsyncHFClient(config, sleep=waits.asleep)
    return ChatService(model="m", base_url=base_url, client=client, async_client=async_client)


def run_chat(service: ChatService, mode: str, params: dict[str, Any] | None = None) -> str:
    """Run one chat call in ``mode`` and return the text (raises what the call raises)."""
    params = params or {}
    if mode == "sync":
        return service.complete(MESSAGES, params).completion.first.content or ""
    if mode == "async":
        result = asyncio.run(service.acomplete(MESSAGES, params))
        return result.completion.first.content or ""
    if mode == "stream":
        return "".join(delta.content for delta in service.stream(MESSAGES, params))

    async def collect() -> str:
        return "".join([delta.content async for delta in service.astream(MESSAGES, params)])

    return asyncio.run(collect())


CHAT_PATH = "/v1/chat/completions"
ANSWER = "hello there"


def healthy_chat(request: Request) -> Behaviour:
    """A well-behaved chat answer: a completion, or chunks then ``[DONE]`` for a stream."""
    body = request.json() or {}
    if body.get("stream"):
        return SSE(chat_chunks("hello", " there"))
    return json_reply(200, chat_body(ANSWER))


def drain(
    stream: Iterable[Any], text: Callable[[Any], str] = str
) -> tuple[list[str], HFError | None]:
    """Consume ``stream``; return the text of the items received and the error that ended it."""
    received: list[str] = []
    iterator = iter(stream)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return received, None
        except HFError as exc:
            return received, exc
        received.append(text(item))


async def adrain(
    stream: AsyncIterable[Any], text: Callable[[Any], str] = str
) -> tuple[list[str], HFError | None]:
    """Async form of :func:`drain`."""
    received: list[str] = []
    iterator = stream.__aiter__()
    while True:
        try:
            item = await anext(iterator)
        except StopAsyncIteration:
            return received, None
        except HFError as exc:
            return received, exc
        received.append(text(item))


# --- router with a catalogue, for failover (fault 12) -----------------------------------------

TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def provider(name: str, throughput: float) -> dict:
    return {
        "provider": name, "status": "live", "context_length": 32768,
        "pricing": {"input": 0.1, "output": 0.2}, "supports_tools": True,
        "supports_structured_output": True, "throughput": throughput,
    }  # fmt: skip


CATALOG_BODY = {
    "id": "org/m",
    "object": "model",
    "providers": [provider("prova", 900.0), provider("provb", 100.0)],
}


def router(fault_server, *, failing=("org/m:prova",)):
    def answer(request):
        body = request.json() or {}
        model = body.get("model")
        if model in failing:
            return json_reply(500, {"error": f"{model} is down"}, fault="500-provider")
        if body.get("stream"):
            return SSE(chat_chunks("served ", "by B", model=model))
        return json_reply(200, chat_body("served by B", model=model), x_inference_provider="provb")

    fault_server.route(CHAT_PATH, answer)
    fault_server.route("/v1/models/org/m", lambda _: json_reply(200, CATALOG_BODY))


def routed_service(fault_server) -> ChatService:
    config = fast_config(fault_server.url + "/v1")
    client, async_client = HFClient(config), AsyncHFClient(config)
    catalog = Catalog(client, async_client, router_url=fault_server.url + "/v1", cache_dir=False)
    service = ChatService(model="org/m", client=client, async_client=async_client, catalog=catalog)
    assert not service.custom_endpoint  # the router path: routing and failover are active
    return service


# --- a flaky embeddings server (nothing lost) ---------------------------------------------------

SEED = "faults-2026"
FAILURE_RATE = 0.10
MAX_FAILURES_PER_BATCH = 2  # the client retries 3 times: every batch gets through
EMBED_PATH = "/v1/embeddings"


def _draw(*parts: object) -> float:
    digest = hashlib.sha256("|".join(map(str, (SEED, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FlakyEmbedder:
    """The ``/v1/embeddings`` handler: vectors per text, seeded failures, poisoned texts."""

    def __init__(self, poison: frozenset[str] = frozenset()) -> None:
        self.poison = poison
        self.attempts: dict[str, int] = {}
        self.batches_served = 0
        self.items_served = 0
        self.poisoned_batches: list[list[str]] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request):
        texts = request.json()["input"]
        key = texts[0]
        with self._lock:
            attempt = self.attempts.get(key, 0)
            self.attempts[key] = attempt + 1
        if self.poison.intersection(texts):
            if attempt == 0:
                self.poisoned_batches.append(texts)
            return json_reply(503, {"error": "backend crashed"}, fault="503-poison")
        if attempt < MAX_FAILURES_PER_BATCH and _draw(key, attempt) < FAILURE_RATE:
            kind = int(_draw(key, attempt, "kind") * 3)
            if kind == 0:
                return json_reply(429, {"error": "rate limited"}, fault="429", retry_after="0")
            if kind == 1:
                body = {"error": "Model is currently loading", "estimated_time": 0}
                return json_reply(503, body, fault="503-loading")
            return Reset()
        with self._lock:
            self.batches_served += 1
            self.items_served += len(texts)
        data = [
            {"object": "embedding", "index": i, "embedding": vector_for(text)}
            for i, text in enumerate(texts)
        ]
        return json_reply(200, {"object": "list", "data": data[::-1], "model": "fault-embedder"})
