"""Mock rerank servers for the adapter tests: recorded and captured answers, over MockTransport.

The captured llama-server answers (``tests/fixtures/rerank``) were sent by a model without a rank
head: their scores are kept for their shape only (see the fixtures' README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rerank"
BASE = "http://127.0.0.1:9"
ROUTER = "https://router.huggingface.co/hf-inference/models/"

# What the llama-server captures were asked.
CAPTURED_QUERY = "What is the capital of France?"
CAPTURED_DOCUMENTS = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "The Eiffel Tower is in Paris.",
]
# What the recorded hf-inference text-ranking answer was asked (huggingface.js PR #2496).
RECORDED_QUERY = "what is panda?"
RECORDED_DOCUMENTS = ["hi", "The giant panda is a bear species endemic to China."]


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Recorded:
    """Answers every request with one fixture; records each request's URL and body."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.answer_body = fixture(name)
        self.status = status
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((str(request.url), json.loads(request.content)))
        return httpx.Response(self.status, json=self.answer_body)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)


def forbidden(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.url}")


def clients(handler: Any, base_url: str | None = BASE) -> dict[str, Any]:
    """A sync and an async client over ``handler`` (its ``handle_async`` when it has one)."""
    async_handler = getattr(handler, "handle_async", None)
    if async_handler is None:

        async def async_handler(request: httpx.Request) -> httpx.Response:
            return handler(request)

    return {
        "client": HFClient(
            base_url=base_url, transport=httpx.MockTransport(handler), max_retries=0
        ),
        "async_client": AsyncHFClient(
            base_url=base_url, transport=httpx.MockTransport(async_handler), max_retries=0
        ),
    }
