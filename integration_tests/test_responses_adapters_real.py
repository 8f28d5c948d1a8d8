"""ChatHF and HFLLM with use_responses_api=True against the real llama-server's ``/v1/responses``.

The whole path: the adapters, the chat service, the route seam's loop, hfbridge's transport and
llama-server. Assertions are on structure (a 0.5B model), not on wording.
"""

import asyncio

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from hfbridge.errors import HFConfigError
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM

MAX_TOKENS = 64


class GetWeather(BaseModel):
    """Current weather for a city."""

    city: str


class City(BaseModel):
    name: str
    country: str


class Tokens(BaseCallbackHandler):
    def __init__(self):
        self.tokens = []

    def on_llm_new_token(self, token, **kwargs):  # noqa: ARG002 - a callback
        self.tokens.append(token)


@pytest.fixture
def chat(chat_url, chat_model):
    return ChatHF(model=chat_model, base_url=chat_url, temperature=0, max_tokens=MAX_TOKENS,
                  use_responses_api=True, max_retries=2, timeout=120)  # fmt: skip


@pytest.fixture
def llm(chat_url, chat_model):
    return HFLLM(model=chat_model, base_url=chat_url, temperature=0, max_tokens=MAX_TOKENS,
                 use_responses_api=True, max_retries=2, timeout=120)  # fmt: skip


def test_chathf_invoke_and_stream_with_callbacks(chat):
    message = chat.invoke("Say hello in French.")
    assert message.content
    assert message.usage_metadata["input_tokens"] > 0
    assert message.response_metadata["response_status"] == "completed"
    handler = Tokens()
    joined = None
    for chunk in chat.stream("Say hello in French.", config={"callbacks": [handler]}):
        joined = chunk if joined is None else joined + chunk
    assert joined.content
    assert "".join(handler.tokens) == joined.content
    assert joined.usage_metadata["output_tokens"] > 0

    async def run():
        return await chat.ainvoke("Say hello in French.")

    assert asyncio.run(run()).content


def test_chathf_tool_call_then_replay(chat):
    bound = chat.bind_tools([GetWeather], tool_choice="required")
    question = HumanMessage("What's the weather in Paris?")
    message = bound.invoke([question])
    (call,) = message.tool_calls[:1]
    assert call["name"] == "GetWeather"
    assert "city" in call["args"]
    answer = chat.bind_tools([GetWeather]).invoke(
        [question, message, ToolMessage("18 C and sunny", tool_call_id=call["id"])]
    )
    assert answer.content


def test_chathf_structured_output(chat):
    parsed = chat.with_structured_output(City, method="json_schema").invoke(
        "The capital of France, as JSON."
    )
    assert isinstance(parsed, City)


def test_chathf_chat_only_parameter_fails_before_sending(chat):
    with pytest.raises(HFConfigError, match="seed"):
        chat.invoke("hi", seed=1)


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def test_hfllm_chat_stream_and_tools(llm):
    messages = [ChatMessage(role=MessageRole.USER, content="Say hello in French.")]
    response = llm.chat(messages)
    assert response.message.content
    responses = list(llm.stream_chat(messages))
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content
    tool = FunctionTool.from_defaults(get_weather)
    question = "What's the weather in Paris?"
    tooled = llm.chat_with_tools([tool], user_msg=question, tool_required=True)
    (selection,) = llm.get_tool_calls_from_response(tooled)[:1]
    assert selection.tool_name == "get_weather"

    async def run():
        gen = await llm.astream_chat(messages)
        return [r async for r in gen]

    assert asyncio.run(run())[-1].message.content
