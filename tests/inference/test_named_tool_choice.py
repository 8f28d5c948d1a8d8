"""A named tool_choice on a server that ignores the object form (llama.cpp): that tool, required.

The real llama-server's behaviour is proven in integration_tests/test_tool_choice_real.py; here,
the request bodies, and how often hfbridge asks what a server is (once per base_url).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.tool_choice import (
    force_named_tool,
    named_tool,
    server_kind_from_headers,
    server_kind_from_models,
)

BASE = "http://127.0.0.1:8080/v1"
SERVER_INFO = Path(__file__).resolve().parent.parent / "fixtures" / "server_info"
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "lookup_population")
]
NAMED = {"type": "function", "function": {"name": "lookup_population"}}
ANSWER = {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}
USER = [{"role": "user", "content": "What is the weather like in Paris?"}]


def llamacpp_models() -> dict:
    """llama-server's own /v1/models answer, recorded (tests/fixtures/server_info)."""
    return json.loads((SERVER_INFO / "llamacpp_v1_models.json").read_text())


class Server:
    def __init__(self, models: dict | None, status: int = 200, server_header: str | None = None):
        self.models, self.status, self.server_header = models, status, server_header
        self.probes = 0
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = {"server": self.server_header} if self.server_header else {}
        if request.method == "GET":
            self.probes += 1
            return httpx.Response(self.status, json=self.models or {}, headers=headers)
        self.bodies.append(json.loads(request.content))
        if self.bodies[-1].get("stream"):
            sse = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
            return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream", **headers})
        return httpx.Response(200, json=ANSWER, headers=headers)


def service(server: Server, base_url: str | None = BASE) -> ChatService:
    transport = httpx.MockTransport(server)
    return ChatService(
        model="qwen", base_url=base_url,
        client=HFClient(base_url=base_url, transport=transport),
        async_client=AsyncHFClient(base_url=base_url, transport=transport),
    )  # fmt: skip


def test_the_pure_rewrite():
    payload = {"model": "m", "messages": USER, "tools": TOOLS, "tool_choice": NAMED}
    assert named_tool(payload) == "lookup_population"
    forced = force_named_tool(payload)
    assert forced["tool_choice"] == "required"
    assert [tool["function"]["name"] for tool in forced["tools"]] == ["lookup_population"]
    assert payload["tool_choice"] == NAMED  # the original is left alone
    for unchanged in ({**payload, "tool_choice": "auto"}, {**payload, "tools": TOOLS[:1]}):
        assert force_named_tool(unchanged) == unchanged


def test_what_a_server_says_it_is():
    assert server_kind_from_headers(httpx.Headers({"Server": "llama.cpp"})) == "llama.cpp"
    assert server_kind_from_headers({"server": "uvicorn"}) is None
    assert server_kind_from_models(llamacpp_models()) == "llama.cpp"
    assert server_kind_from_models({"data": [{"id": "m", "owned_by": "vllm"}]}) == "vllm"
    assert server_kind_from_models({"data": [{"id": "m", "owned_by": "someone"}]}) is None
    assert server_kind_from_models("not json") is None


def test_llama_cpp_gets_the_named_tool_alone_and_required_asked_once():
    server = Server(llamacpp_models())
    chat = service(server)
    for _ in range(3):
        chat.complete(USER, {"tools": TOOLS, "tool_choice": NAMED})
    assert server.probes == 1  # learnt once per base_url
    for body in server.bodies:
        assert body["tool_choice"] == "required"
        assert [tool["function"]["name"] for tool in body["tools"]] == ["lookup_population"]


def test_streams_and_async_calls_too():
    server = Server(llamacpp_models())
    chat = service(server)
    list(chat.stream(USER, {"tools": TOOLS, "tool_choice": NAMED}))

    async def calls() -> None:
        await chat.acomplete(USER, {"tools": TOOLS, "tool_choice": NAMED})
        [delta async for delta in chat.astream(USER, {"tools": TOOLS, "tool_choice": NAMED})]

    asyncio.run(calls())
    assert server.probes == 1
    assert {body["tool_choice"] for body in server.bodies} == {"required"}


def test_the_server_header_of_an_earlier_answer_spares_the_probe():
    server = Server(None, status=404, server_header="llama.cpp")
    chat = service(server)
    chat.complete(USER, {})  # any answer says "Server: llama.cpp"
    chat.complete(USER, {"tools": TOOLS, "tool_choice": NAMED})
    assert server.probes == 0
    assert server.bodies[-1]["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("models", "status"),
    [({"data": [{"id": "m", "owned_by": "vllm"}]}, 200), (None, 404), ({"data": []}, 200)],
    ids=["vllm", "no-models-route", "silent"],
)
def test_other_or_unknown_servers_get_the_request_as_it_is(models, status):
    server = Server(models, status=status)
    chat = service(server)
    chat.complete(USER, {"tools": TOOLS, "tool_choice": NAMED})
    chat.complete(USER, {"tools": TOOLS, "tool_choice": NAMED})
    assert server.probes == 1  # an unknown answer is remembered too
    assert all(body["tool_choice"] == NAMED and len(body["tools"]) == 2 for body in server.bodies)


def test_no_probe_without_a_named_choice_nor_on_the_router(monkeypatch):
    server = Server(llamacpp_models())
    service(server).complete(USER, {"tools": TOOLS, "tool_choice": "required"})
    assert server.probes == 0
    monkeypatch.setenv("HFBRIDGE_ROUTER_URL", "http://127.0.0.1:8080")  # the same server, as router
    transport = httpx.MockTransport(server)
    router = ChatService(
        model="Qwen/Qwen2.5-7B-Instruct", client=HFClient(transport=transport),
        async_client=AsyncHFClient(transport=transport),
    )  # fmt: skip
    payload = {"messages": USER, "tools": TOOLS, "tool_choice": NAMED}
    assert router.for_server(payload) is payload  # the router's providers honour named choices
    assert asyncio.run(router.afor_server(payload)) is payload
    assert server.probes == 0


# --- the Responses API: the same decision, in the Responses shape ---

RESPONSE = {
    "id": "resp_1", "object": "response", "status": "completed", "model": "qwen",
    "output": [{"type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": "ok", "annotations": []}]}],
}  # fmt: skip
RESPONSE_EVENTS = (
    b'data: {"type":"response.output_text.delta","item_id":"m","output_index":0,'
    b'"content_index":0,"delta":"ok"}\n\n'
    b'data: {"type":"response.completed","response":' + json.dumps(RESPONSE).encode() + b"}\n\n"
)


class ResponsesServer(Server):
    """llama-server's /v1/models, and a Responses answer to every POST."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return super().__call__(request)
        assert request.url.path == "/v1/responses"
        self.bodies.append(json.loads(request.content))
        if self.bodies[-1].get("stream"):
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, content=RESPONSE_EVENTS, headers=headers)
        return httpx.Response(200, json=RESPONSE)


def responses_service(server: Server) -> ChatService:
    transport = httpx.MockTransport(server)
    return ChatService(
        model="qwen", base_url=BASE, use_responses_api=True,
        client=HFClient(base_url=BASE, transport=transport),
        async_client=AsyncHFClient(base_url=BASE, transport=transport),
    )  # fmt: skip


def test_the_pure_rewrite_of_a_responses_body():
    flat = [{"type": "function", "name": tool["function"]["name"], "parameters": {}}
            for tool in TOOLS]  # fmt: skip
    mcp = {"type": "mcp", "server_label": "docs", "server_url": "https://example.com/mcp"}
    payload = {"input": [], "tools": [*flat, mcp],
               "tool_choice": {"type": "function", "name": "lookup_population"}}  # fmt: skip
    assert named_tool(payload) == "lookup_population"
    forced = force_named_tool(payload)
    assert forced["tool_choice"] == "required"
    assert forced["tools"] == [flat[1]]  # the Responses (flat) shape, that tool alone
    # An MCP server's tool is not a function tool this body carries: nothing to rewrite.
    mcp_choice = {**payload, "tool_choice": {"type": "mcp", "server_label": "docs", "name": "x"}}
    assert named_tool(mcp_choice) is None
    assert force_named_tool(mcp_choice) == mcp_choice


def test_llama_cpp_gets_the_named_tool_alone_on_the_responses_api_too():
    server = ResponsesServer(llamacpp_models())
    chat = responses_service(server)
    params = {"tools": TOOLS, "tool_choice": NAMED}
    chat.complete(USER, params)
    list(chat.stream(USER, params))

    async def calls() -> None:
        await chat.acomplete(USER, params)
        [delta async for delta in chat.astream(USER, params)]

    asyncio.run(calls())
    assert server.probes == 1
    assert len(server.bodies) == 4
    for body in server.bodies:
        assert body["tool_choice"] == "required"
        assert [tool["name"] for tool in body["tools"]] == ["lookup_population"]
        assert "function" not in body["tools"][0]  # still the Responses shape


def test_other_servers_get_the_responses_named_choice_as_it_is():
    server = ResponsesServer({"data": [{"id": "m", "owned_by": "vllm"}]})
    responses_service(server).complete(USER, {"tools": TOOLS, "tool_choice": NAMED})
    (body,) = server.bodies
    assert body["tool_choice"] == {"type": "function", "name": "lookup_population"}
    assert len(body["tools"]) == 2
