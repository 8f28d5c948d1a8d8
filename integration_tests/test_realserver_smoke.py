"""Raw HTTP smoke tests of the real local servers (no hfbridge code involved).

They check the servers behave as the rest of the suite assumes: chat answers, tool calls come
back as OpenAI ``tool_calls`` (streaming and not), embeddings are 384-dim and meaningful.
Assertions are on structure, never on exact generated text.
"""

import json
import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

TIMEOUT = httpx.Timeout(120.0, connect=5.0)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city name"}},
            "required": ["city"],
        },
    },
}
WEATHER_QUESTION = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.fixture
def chat_client(chat_url: str) -> Iterator[httpx.Client]:
    # trust_env=False: loopback must never go through a proxy from the environment.
    with httpx.Client(base_url=chat_url, timeout=TIMEOUT, trust_env=False) as client:
        yield client


@pytest.fixture
def embed_client(embed_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=embed_url, timeout=TIMEOUT, trust_env=False) as client:
        yield client


def _sse_chunks(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Yield the JSON chunks of an OpenAI-style server-sent event stream."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def _assert_weather_call(name: str, arguments: str) -> None:
    assert name == "get_weather"
    args = json.loads(arguments)
    assert isinstance(args, dict)
    assert "paris" in str(args.get("city", "")).lower()


def test_chat_answers_in_text(chat_client: httpx.Client, chat_model: str) -> None:
    response = chat_client.post(
        "/chat/completions",
        json={
            "model": chat_model,
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
            "max_tokens": 32,
            "temperature": 0,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].strip()
    assert not choice["message"].get("tool_calls")
    assert body["usage"]["completion_tokens"] > 0


def test_tool_call_non_streaming(chat_client: httpx.Client, chat_model: str) -> None:
    response = chat_client.post(
        "/chat/completions",
        json={
            "model": chat_model,
            "messages": WEATHER_QUESTION,
            "tools": [WEATHER_TOOL],
            "temperature": 0,
        },
    )
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert len(calls) >= 1
    assert calls[0]["type"] == "function"
    assert calls[0]["id"]
    _assert_weather_call(calls[0]["function"]["name"], calls[0]["function"]["arguments"])


def test_tool_call_streaming(chat_client: httpx.Client, chat_model: str) -> None:
    payload = {
        "model": chat_model,
        "messages": WEATHER_QUESTION,
        "tools": [WEATHER_TOOL],
        "temperature": 0,
        "stream": True,
    }
    calls: dict[int, dict[str, str]] = {}
    finish_reasons = []
    with chat_client.stream("POST", "/chat/completions", json=payload) as response:
        assert response.status_code == 200, response.read()
        for chunk in _sse_chunks(response):
            for choice in chunk["choices"]:
                if choice.get("finish_reason"):
                    finish_reasons.append(choice["finish_reason"])
                for fragment in choice["delta"].get("tool_calls") or []:
                    call = calls.setdefault(fragment["index"], {"name": "", "arguments": ""})
                    function = fragment.get("function") or {}
                    call["name"] += function.get("name") or ""
                    call["arguments"] += function.get("arguments") or ""
    assert finish_reasons == ["tool_calls"]
    assert 0 in calls
    _assert_weather_call(calls[0]["name"], calls[0]["arguments"])


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_embeddings_rank_the_relevant_passage_first(
    embed_client: httpx.Client, embed_model: str
) -> None:
    texts = [
        "query: how hot is the sun",
        "passage: The sun's surface is about 5,500 C",
        "passage: Bananas are rich in potassium",
    ]
    response = embed_client.post("/embeddings", json={"model": embed_model, "input": texts})
    assert response.status_code == 200, response.text
    data = sorted(response.json()["data"], key=lambda item: item["index"])
    assert [item["index"] for item in data] == [0, 1, 2]
    vectors = [item["embedding"] for item in data]
    assert all(len(vector) == 384 for vector in vectors)
    query, sun, banana = vectors
    assert _cosine(query, sun) > _cosine(query, banana)
