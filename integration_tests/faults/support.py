"""Helpers of the fault suite: the fake token, and clients whose retries wait only briefly."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from faultserver import SSE, Behaviour, Request, chat_body, chat_chunks, json_reply

from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, RetryPolicy

TOKEN = "hf_faultSuiteToken0123456789abcdef"  # noqa: S105 - a fake token the tests look for
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
