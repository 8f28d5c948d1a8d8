"""HFLLM(use_responses_api=True) on the recorded Responses bodies: chat, streams, tools, schema."""

import asyncio
import json

import httpx
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel
from tests.recorded_servers import RecordedResponses

from hfbridge.llama_index import HFLLM

BASE = "http://127.0.0.1:9/v1"


def llm(server, **kwargs):
    return HFLLM(model="qwen", base_url=BASE, transport=httpx.MockTransport(server),
                 use_responses_api=True, **kwargs)  # fmt: skip


USER = [ChatMessage(role=MessageRole.USER, content="Say hello")]


def test_chat_and_stream_chat_agree_and_report_usage():
    server = RecordedResponses()
    model = llm(server)
    response = model.chat(USER)
    assert server.bodies[0]["input"][0]["content"] == "Say hello"
    assert response.message.content
    assert response.additional_kwargs["response_status"] == "completed"
    json.dumps(response.raw)  # the raw completion stays plain JSON

    responses = list(model.stream_chat(USER))
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content != ""

    async def run():
        gen = await model.astream_chat(USER)
        return [r async for r in gen]

    aresponses = asyncio.run(run())
    assert aresponses[-1].message.content == responses[-1].message.content


def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


def test_tools_through_chat_with_tools_sync_and_streamed():
    server = RecordedResponses(whole="llamacpp_tool_call.json", stream="llamacpp_tool_call_stream.sse")
    model = llm(server)
    tool = FunctionTool.from_defaults(get_weather)
    response = model.chat_with_tools([tool], user_msg="weather in Paris?")
    (selection,) = model.get_tool_calls_from_response(response)
    assert selection.tool_name == "get_weather"
    assert selection.tool_kwargs == {"city": "Paris"}
    assert server.bodies[0]["tools"][0]["name"] == "get_weather"

    last = list(model.stream_chat_with_tools([tool], user_msg="weather in Paris?"))[-1]
    (streamed,) = model.get_tool_calls_from_response(last)
    assert streamed.tool_kwargs == {"city": "Paris"}


def test_structured_predict_with_the_native_schema():
    class Weather(BaseModel):  # the recorded answer's schema
        name: str
        country: str

    server = RecordedResponses(whole="llamacpp_structured_mirrored.json")
    result = llm(server).structured_predict(Weather, PromptTemplate("Weather in {city}?"), city="Paris")
    assert isinstance(result, Weather)
    assert server.bodies[0]["text"]["format"]["name"] == "Weather"
