"""ChatHF against the real llama-server (Qwen2.5-Coder-0.5B-Instruct, tool-capable, text-only).

LangChain's standard integration suite with honest capability flags, plus `create_agent` tool loops.
A 0.5B model is small: assertions are on structure (tool names, argument keys), never on wording.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_tests.integration_tests import ChatModelIntegrationTests
from pydantic import BaseModel, Field

from hfbridge.langchain import ChatHF

MAX_TOKENS = 96  # enough for a tool call or a small JSON object; keeps each call to a few seconds


class TestChatHFReal(ChatModelIntegrationTests):
    server: tuple[str, str] = ("", "")

    @pytest.fixture(autouse=True)
    def _real_server(self, chat_url: str, chat_model: str) -> None:
        type(self).server = (chat_url, chat_model)

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatHF

    @property
    def chat_model_params(self) -> dict[str, Any]:
        url, model = self.server
        return {"model": model, "base_url": url, "temperature": 0, "max_tokens": MAX_TOKENS}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False  # Qwen2.5-Coder-0.5B is a text-only model

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False  # llama-server serves one model, whatever name a request carries


# --- beyond the suite: ChatHF's own promises on a real server ---


@pytest.fixture
def llm(chat_url: str, chat_model: str) -> ChatHF:
    return ChatHF(model=chat_model, base_url=chat_url, temperature=0, max_tokens=MAX_TOKENS)


@tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny and 21 degrees Celsius in {city}."


@tool
def get_time(city: str) -> str:
    """Get the current local time in a city."""
    return f"It is 14:05 in {city}."


def test_streamed_tool_call_merges_into_tool_calls_with_usage(llm: ChatHF) -> None:
    bound = llm.bind_tools([get_weather, get_time], tool_choice="required")
    chunks = list(bound.stream("What is the weather in Paris? Use the tool."))
    assert chunks[-1].chunk_position == "last"
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert isinstance(full, AIMessageChunk)
    assert full.tool_calls
    assert full.tool_calls[0]["name"] in {"get_weather", "get_time"}
    assert "city" in full.tool_calls[0]["args"]
    assert full.usage_metadata is not None
    assert full.usage_metadata["output_tokens"] > 0
    assert full.response_metadata["finish_reason"] == "tool_calls"
    assert full.response_metadata["model_provider"] == "huggingface"


class City(BaseModel):
    """A city and the country it is in."""

    name: str = Field(description="City name")
    country: str = Field(description="Country name")


def test_json_schema_structured_output_parses_into_the_model(llm: ChatHF) -> None:
    result = llm.with_structured_output(City, include_raw=True).invoke(
        "Give the capital of France as JSON with name and country."
    )
    assert result["parsing_error"] is None
    assert isinstance(result["parsed"], City)
    assert isinstance(result["raw"], AIMessage)


AGENT_PROMPT = "Answer using the tools. After a tool result, answer the user directly."


def _agent(llm: ChatHF) -> Any:
    from langchain.agents import create_agent

    return create_agent(llm, [get_weather, get_time], system_prompt=AGENT_PROMPT)


def test_create_agent_calls_one_of_two_tools_and_answers(llm: ChatHF) -> None:
    state = _agent(llm).invoke(
        {"messages": [HumanMessage("What is the weather in Paris right now?")]},
        {"recursion_limit": 12},
    )
    messages = state["messages"]
    calls = [call for m in messages if isinstance(m, AIMessage) for call in m.tool_calls]
    weather_calls = [call for call in calls if call["name"] == "get_weather"]
    assert weather_calls, f"the model called no get_weather: {calls}"
    assert "paris" in str(weather_calls[0]["args"].get("city", "")).lower()
    results = [m for m in messages if isinstance(m, ToolMessage) and m.name == "get_weather"]
    assert results
    assert "sunny" in str(results[0].content)
    assert results[0].tool_call_id == weather_calls[0]["id"]
    final = messages[-1]
    assert isinstance(final, AIMessage)
    assert not final.tool_calls
    assert final.text
    assert final.usage_metadata is not None


async def test_create_agent_streams_tool_call_chunks_then_answer_tokens(llm: ChatHF) -> None:
    streamed: list[tuple[str, Any]] = []
    async for message, metadata in _agent(llm).astream(
        {"messages": [HumanMessage("What time is it in Tokyo?")]},
        {"recursion_limit": 12},
        stream_mode="messages",
    ):
        streamed.append((metadata["langgraph_node"], message))
    model_chunks = [m for node, m in streamed if node == "model"]
    assert all(isinstance(m, AIMessageChunk) for m in model_chunks)
    call_fragments = [m for m in model_chunks if m.tool_call_chunks]
    assert len(call_fragments) > 1, "the tool call should arrive in several streamed fragments"
    tool_results = [m for node, m in streamed if node == "tools"]
    assert tool_results
    assert isinstance(tool_results[0], ToolMessage)
    assert tool_results[0].name in {"get_time", "get_weather"}
    after_tool = model_chunks[model_chunks.index(call_fragments[-1]) + 1 :]
    answer_tokens = [m for m in after_tool if m.text]
    assert len(answer_tokens) > 1, "the answer after the tool result should stream token by token"
