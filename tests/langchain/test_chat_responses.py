"""ChatHF(use_responses_api=True) on the recorded Responses bodies: calls, streams, callbacks, tools.

Recordings: ``tests/fixtures/responses`` (llama-server and the router's responses.js).
"""

import asyncio
import json

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel
from tests.recorded_servers import RECORDED, RecordedResponses

from hfbridge.errors import HFConfigError
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM

BASE = "http://127.0.0.1:9/v1"


def chat(server, **kwargs):
    return ChatHF(
        model="qwen", base_url=BASE, transport=httpx.MockTransport(server),
        use_responses_api=True, **kwargs,
    )  # fmt: skip


def recorded_text(name):
    body = json.loads((RECORDED / name).read_text())
    return "".join(part["text"] for item in body["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")  # fmt: skip


def test_the_setting_is_declared_once_for_both_chat_adapters():
    assert ChatHF.model_fields["use_responses_api"] is not None
    assert HFLLM.model_fields["use_responses_api"].default is False
    assert ChatHF(model="qwen", base_url=BASE).use_responses_api is False


def test_invoke_sends_to_responses_and_returns_text_and_usage():
    server = RecordedResponses()
    message = chat(server, max_tokens=16).invoke("Say hello")
    assert server.bodies[0]["input"][0]["content"] == "Say hello"
    assert server.bodies[0]["max_output_tokens"] == 16
    assert "stop" not in server.bodies[0]
    assert message.content == recorded_text("llamacpp_text.json")
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] > 0
    assert message.response_metadata["response_status"] == "completed"


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []

    def on_llm_new_token(self, token, **kwargs):
        self.tokens.append(token)


def test_stream_and_astream_fire_callbacks_and_join_to_the_answer():
    server = RecordedResponses()
    handler = Tokens()
    model = chat(server, callbacks=[handler])
    chunks = list(model.stream("Say hello"))
    joined = chunks[0]
    for chunk in chunks[1:]:
        joined += chunk
    whole = json.loads((RECORDED / "llamacpp_text.json").read_text())
    assert joined.content
    assert "".join(handler.tokens) == joined.content
    assert joined.usage_metadata is not None
    assert whole["object"] == "response"

    async def run():
        return [chunk async for chunk in model.astream("Say hello")]

    achunks = asyncio.run(run())
    assert "".join(str(chunk.content) for chunk in achunks) == joined.content


def test_bound_tools_call_and_replay_as_function_call_items():
    server = RecordedResponses(whole="llamacpp_tool_call.json", stream="llamacpp_tool_call_stream.sse")

    class get_weather(BaseModel):  # noqa: N801 - the tool's name
        """Weather of a city."""

        city: str

    model = chat(server).bind_tools([get_weather])
    message = model.invoke("weather in Paris?")
    (call,) = message.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Paris"}
    sent = server.bodies[0]["tools"][0]
    assert sent["type"] == "function"
    assert sent["name"] == "get_weather"

    streamed = None
    for chunk in model.stream("weather in Paris?"):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["args"] == {"city": "Paris"}

    server.whole = "llamacpp_tool_replay.json"
    history = [
        HumanMessage("weather in Paris?"),
        message,
        ToolMessage("18 C, sunny", tool_call_id=call["id"]),
    ]
    model.invoke(history)
    items = server.bodies[-1]["input"]
    assert [item["type"] for item in items] == ["message", "function_call", "function_call_output"]
    assert items[1]["call_id"] == items[2]["call_id"] == call["id"]


def test_remote_mcp_tools_bind_unchanged_and_report_their_calls():
    server = RecordedResponses(whole="routerjs_mcp_call.json")
    mcp = {"type": "mcp", "server_label": "demo", "server_url": "https://mcp.example/mcp"}
    message = chat(server).bind_tools([mcp]).invoke("use the tool")
    sent = server.bodies[0]["tools"]
    assert sent == [{**mcp, "require_approval": "never"}]
    assert message.tool_calls == []
    assert message.response_metadata["mcp_calls"]


def test_approval_requests_surface_in_metadata():
    server = RecordedResponses(whole="routerjs_mcp_approval_request.json")
    mcp = {"type": "mcp", "server_label": "demo", "server_url": "https://mcp.example/mcp",
           "require_approval": "always"}  # fmt: skip
    message = chat(server).bind_tools([mcp]).invoke("use the tool")
    assert server.bodies[0]["tools"][0]["require_approval"] == "always"
    (request,) = message.response_metadata["mcp_approval_requests"]
    assert request["id"]


def test_mcp_tools_without_the_switch_fail_before_any_request():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    mcp = {"type": "mcp", "server_label": "demo", "server_url": "https://mcp.example/mcp"}
    model = ChatHF(model="qwen", base_url=BASE, transport=httpx.MockTransport(refuse))
    with pytest.raises(HFConfigError, match="use_responses_api=True"):
        model.bind_tools([mcp]).invoke("hi")


def test_structured_output_with_json_schema():
    class Weather(BaseModel):  # the recorded answer's schema
        name: str
        country: str

    server = RecordedResponses(whole="llamacpp_structured_mirrored.json")
    parsed = chat(server).with_structured_output(Weather, method="json_schema").invoke("Paris")
    assert isinstance(parsed, Weather)
    body = server.bodies[0]
    assert body["text"]["format"]["name"] == "Weather"
    assert parsed == Weather(name="Paris", country="France")
    assert body["response_format"]["json_schema"]["name"] == "Weather"


def test_chat_only_settings_fail_at_the_call_before_any_request():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    model = ChatHF(model="qwen", base_url=BASE, transport=httpx.MockTransport(refuse),
                   use_responses_api=True, seed=3)  # fmt: skip
    with pytest.raises(HFConfigError, match="seed"):
        model.invoke("hi")


def test_switching_the_setting_rebuilds_the_service():
    server = RecordedResponses()
    model = ChatHF(model="qwen", base_url=BASE, transport=httpx.MockTransport(server))
    model.use_responses_api = True
    assert isinstance(model.invoke("hi"), AIMessage)
    assert server.bodies
