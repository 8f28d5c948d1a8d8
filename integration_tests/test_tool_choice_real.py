"""A named tool choice is honoured on the real llama-server, which ignores the object form.

llama-server takes ``tool_choice`` only as a string: the OpenAI object naming a tool is read as
``"auto"`` (its log: "Wrong type supplied for parameter 'tool_choice'"), so asked to force
``lookup_population`` on a weather question the model calls ``get_weather``. hfbridge learns once
that the server is llama.cpp and sends that tool alone with ``"required"`` (on the Responses API
too, whose ``{"type": "function", "name": ...}`` it ignores the same way); these tests force the
"wrong" tool through each framework's way of naming one, and assert it is the one called.
"""

from __future__ import annotations

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel, Field

from hfbridge.inference.server_kinds import forget
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM

QUESTION = "What is the weather like in Paris today?"


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Weather report for {city}: sunny, 23 degrees Celsius."


def lookup_population(city: str) -> str:
    """Look up how many people live in a city."""
    return f"{city} has 2,100,000 inhabitants."


class LookupPopulation(BaseModel):
    """Look up how many people live in a city."""

    city: str = Field(description="The city")


@pytest.fixture(autouse=True)
def _fresh_server_knowledge() -> None:
    forget()  # each test learns what the server is, as a new process would


@pytest.fixture
def chat(chat_url: str, chat_model: str) -> ChatHF:
    return ChatHF(model=chat_model, base_url=chat_url, temperature=0, max_tokens=64)


@pytest.fixture
def llm(chat_url: str, chat_model: str) -> HFLLM:
    return HFLLM(model=chat_model, base_url=chat_url, temperature=0.0, max_tokens=64, seed=7)


def test_langchain_bind_tools_with_a_named_choice(chat: ChatHF) -> None:
    bound = chat.bind_tools([get_weather, lookup_population], tool_choice="lookup_population")
    message = bound.invoke(QUESTION)
    assert [call["name"] for call in message.tool_calls] == ["lookup_population"]
    assert "paris" in str(message.tool_calls[0]["args"].get("city", "")).lower()


def test_langchain_named_choice_on_the_responses_api(chat_url: str, chat_model: str) -> None:
    # llama-server's /v1/responses ignores {"type": "function", "name": ...} the same way.
    chat = ChatHF(
        model=chat_model, base_url=chat_url, temperature=0, max_tokens=64, use_responses_api=True
    )
    bound = chat.bind_tools([get_weather, lookup_population], tool_choice="lookup_population")
    message = bound.invoke(QUESTION)
    assert [call["name"] for call in message.tool_calls] == ["lookup_population"]
    merged = None
    for chunk in bound.stream(QUESTION):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert [call["name"] for call in merged.tool_calls] == ["lookup_population"]


def test_langchain_structured_output_by_function_calling(chat: ChatHF) -> None:
    structured = chat.with_structured_output(LookupPopulation, method="function_calling")
    result = structured.invoke(QUESTION)
    assert isinstance(result, LookupPopulation)
    assert "paris" in result.city.lower()


async def test_langchain_streamed_named_choice(chat: ChatHF) -> None:
    bound = chat.bind_tools([get_weather, lookup_population], tool_choice="lookup_population")
    merged = None
    async for chunk in bound.astream(QUESTION):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    assert [call["name"] for call in merged.tool_calls] == ["lookup_population"]


def test_llama_index_chat_with_tools_named_choice(llm: HFLLM) -> None:
    tools = [FunctionTool.from_defaults(fn=fn) for fn in (get_weather, lookup_population)]
    response = llm.chat_with_tools(tools, user_msg=QUESTION, tool_choice="lookup_population")
    calls = llm.get_tool_calls_from_response(response)
    assert [call.tool_name for call in calls] == ["lookup_population"]


# FunctionAgent's construction trips pydantic deprecations in llama-index-workflows; not ours.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
async def test_llama_index_function_agent_initial_tool_choice(llm: HFLLM) -> None:
    tools = [
        FunctionTool.from_defaults(fn=fn, return_direct=True)
        for fn in (get_weather, lookup_population)
    ]
    agent = FunctionAgent(tools=tools, llm=llm, initial_tool_choice="lookup_population")
    handler = agent.run(user_msg=QUESTION, max_iterations=3)
    results = [
        event async for event in handler.stream_events() if isinstance(event, ToolCallResult)
    ]
    output = await handler
    assert [result.tool_name for result in results] == ["lookup_population"]
    assert "2,100,000" in str(output)
