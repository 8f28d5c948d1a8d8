"""One validated value per instance and per call: a bound model's tools are converted and checked
once, at bind time, and a call without options of its own does not re-check the timeout and retry
count its clients already carry."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import hfbridge.langchain._convert as lc_convert
import hfbridge.transport._common as transport_common
import hfbridge.wire.chat as wire_chat
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM
from hfbridge.transport import AsyncHFClient, HFClient

BASE = "http://127.0.0.1:9/v1"
ANSWER = {
    "id": "c", "model": "local",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
}  # fmt: skip


class GetWeather(BaseModel):
    """Weather in a city."""

    city: str


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=ANSWER)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls = [0]
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_bound_tools_are_converted_and_checked_once(monkeypatch):
    server = Recorder()
    model = ChatHF(model="local", base_url=BASE, transport=httpx.MockTransport(server))
    converted = counting(monkeypatch, lc_convert, "convert_to_openai_tool")
    checked = counting(monkeypatch, wire_chat, "validate_tool")
    bound = model.bind_tools([GetWeather], tool_choice="GetWeather")
    assert (converted[0], checked[0]) == (1, 1)
    bound.invoke("weather in Paris?")
    asyncio.run(bound.ainvoke("weather in Oslo?"))
    assert (converted[0], checked[0]) == (1, 1)
    sent = [json.loads(request.content) for request in server.requests if request.method == "POST"]
    assert [body["tool_choice"] for body in sent] == [
        {"type": "function", "function": {"name": "GetWeather"}}
    ] * 2
    assert sent[0]["tools"][0]["function"]["name"] == "GetWeather"


def test_tools_passed_per_call_are_still_checked(monkeypatch):
    model = ChatHF(model="local", base_url=BASE, transport=httpx.MockTransport(Recorder()))
    checked = counting(monkeypatch, wire_chat, "validate_tool")
    model.invoke("hi", tools=[{"type": "function", "function": {"name": "f"}}])
    assert checked[0] == 1  # once: converted and checked together, not again in the body


def test_llama_index_tools_are_checked_once_per_call(monkeypatch):
    from llama_index.core.tools import FunctionTool

    def weather(city: str) -> str:
        """Weather in a city."""
        return city

    llm = HFLLM(model="local", base_url=BASE, transport=httpx.MockTransport(Recorder()))
    checked = counting(monkeypatch, wire_chat, "validate_tool")
    llm.chat_with_tools([FunctionTool.from_defaults(weather)], user_msg="hi")
    assert checked[0] == 1


def test_a_call_without_its_own_options_does_not_check_timeouts_again(monkeypatch):
    server = Recorder()
    model = ChatHF(model="local", base_url=BASE, timeout=7, transport=httpx.MockTransport(server))
    checked = counting(monkeypatch, transport_common, "validate_timeout")
    model.invoke("hi")
    assert checked[0] == 0
    assert server.requests[0].extensions["timeout"]["read"] == 7.0  # the client's own setting
    model.invoke("hi", timeout=3)
    assert checked[0] == 1
    assert server.requests[1].extensions["timeout"]["read"] == 3.0


def test_an_adapter_timeout_still_applies_over_an_injected_client():
    server = Recorder()
    transport = httpx.MockTransport(server)
    model = ChatHF(
        model="local", base_url=BASE, timeout=4,
        client=HFClient(base_url=BASE, timeout=30, transport=transport),
        async_client=AsyncHFClient(base_url=BASE, timeout=30, transport=transport),
    )  # fmt: skip
    model.invoke("hi")
    assert server.requests[0].extensions["timeout"]["read"] == 4.0
