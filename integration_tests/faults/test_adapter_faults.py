"""The faults again, through the framework adapters: what a LangChain or LlamaIndex user sees.

- Retried faults end in the normal answer (ChatHF, HFLLM: sync, async, stream, astream).
- Past the budget, the typed hfbridge error reaches the caller unchanged.
- A stream cut mid-way raises from the framework's iterator after the chunks that did arrive; it
  never ends quietly as if complete (ChatHF, HFLLM chat and completion streams, HFTextGen).
- Fault 11: tool-call arguments that are not JSON become ``invalid_tool_calls`` (LangChain) or
  empty ``tool_kwargs`` (LlamaIndex), with no crash, streamed or not.
- Fault 12: failover through ChatHF and HFLLM, with the serving provider in the metadata.
- Nothing lost: HFEmbeddings and HFEmbedding over the flaky embeddings server.
"""

from __future__ import annotations

import asyncio
import json
import operator
from typing import Any

import pytest
from faultserver import SSE, Respond, chat_body, json_reply, tgi_events, vector_for
from langchain_core.messages import AIMessageChunk
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from support import (
    ANSWER,
    CHAT_PATH,
    EMBED_PATH,
    TOOLS,
    FlakyEmbedder,
    adrain,
    drain,
    fast_config,
    healthy_chat,
    routed_service,
    router,
)

from hfbridge.errors import HFRateLimitError, HFStreamError
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import AsyncHFClient, HFClient

PIECES = ("one ", "two ", "three")
LOADING = {"error": "Model org/m is currently loading", "estimated_time": 0}


def clients(base_url: str) -> dict:
    config = fast_config(base_url)
    return {"client": HFClient(config), "async_client": AsyncHFClient(config)}


def chat_hf(fault_server, **kwargs) -> ChatHF:
    base = fault_server.url + "/v1"
    return ChatHF(model="m", base_url=base, **clients(base), **kwargs)


def hf_llm(fault_server, **kwargs) -> HFLLM:
    base = fault_server.url + "/v1"
    return HFLLM(model="m", base_url=base, **clients(base), **kwargs)


def text_of(chunk) -> str:
    return chunk.content if isinstance(chunk.content, str) else ""


def langchain_call(model: ChatHF, mode: str) -> tuple[list[str], Exception | None]:
    """Run ChatHF in ``mode``; return the text pieces received and the error, if any."""
    try:
        if mode == "sync":
            return [model.invoke("hello").content], None
        if mode == "async":
            return [asyncio.run(model.ainvoke("hello")).content], None
    except HFRateLimitError as exc:
        return [], exc
    if mode == "stream":
        return drain(model.stream("hello"), text_of)
    return asyncio.run(adrain(model.astream("hello"), text_of))


def llama_call(llm: HFLLM, mode: str) -> tuple[list[str], Exception | None]:
    """Run HFLLM in ``mode`` (chat or completion, streamed or not)."""
    messages = [ChatMessage(role="user", content="hello")]
    finished = {
        "sync": lambda: llm.chat(messages).message.content,
        "async": lambda: asyncio.run(llm.achat(messages)).message.content,
        "complete": lambda: llm.complete("hello").text,
    }
    streams = {
        "stream": lambda: llm.stream_chat(messages),
        "stream_complete": lambda: llm.stream_complete("hello"),
        "astream": lambda: llm.astream_chat(messages),
        "astream_complete": lambda: llm.astream_complete("hello"),
    }
    delta = operator.attrgetter("delta")
    if mode in finished:
        try:
            return [finished[mode]()], None
        except HFRateLimitError as exc:
            return [], exc
    if not mode.startswith("a"):
        return drain(streams[mode](), delta)

    async def run():
        return await adrain(await streams[mode](), delta)

    return asyncio.run(run())


LC_MODES = ("sync", "async", "stream", "astream")
LI_MODES = ("sync", "async", "complete", "stream", "astream", "stream_complete", "astream_complete")
LI_STREAMS = ("stream", "astream", "stream_complete", "astream_complete")


@pytest.mark.parametrize("mode", LC_MODES)
def test_langchain_recovers_from_loading_rate_limit_and_reset(fault_server, mode):
    from faultserver import Reset

    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(
        CHAT_PATH,
        json_reply(503, LOADING, "503-loading"),
        json_reply(429, {"error": "slow down"}, "429", retry_after="0"),
        Reset(),
    )

    received, error = langchain_call(chat_hf(fault_server), mode)

    assert error is None
    assert "".join(received) == ANSWER
    assert fault_server.by_path[CHAT_PATH] == 4


@pytest.mark.parametrize("mode", LI_MODES)
def test_llama_index_recovers_from_loading_and_rate_limit(fault_server, mode):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(
        CHAT_PATH,
        json_reply(503, LOADING, "503-loading"),
        json_reply(429, {"error": "slow down"}, "429", retry_after="0"),
    )

    received, error = llama_call(hf_llm(fault_server), mode)

    assert error is None
    assert "".join(received) == ANSWER


@pytest.mark.parametrize("mode", LC_MODES)
def test_langchain_rate_limit_past_the_budget(fault_server, mode):
    fault_server.route(
        CHAT_PATH, lambda _: json_reply(429, {"error": "quota"}, "429", retry_after="0")
    )

    received, error = langchain_call(chat_hf(fault_server, max_retries=1), mode)

    assert received == []
    assert isinstance(error, HFRateLimitError)
    assert error.retry_after == 0.0
    assert fault_server.by_path[CHAT_PATH] == 2


@pytest.mark.parametrize("mode", LI_MODES)
def test_llama_index_rate_limit_past_the_budget(fault_server, mode):
    fault_server.route(
        CHAT_PATH, lambda _: json_reply(429, {"error": "quota"}, "429", retry_after="0")
    )

    received, error = llama_call(hf_llm(fault_server, max_retries=1), mode)

    assert received == []
    assert isinstance(error, HFRateLimitError)


# --- fault 5: a stream cut mid-way raises from the framework's iterator --------------------------


def unfinished_chunks() -> list[dict[str, Any]]:
    """The chat chunks of PIECES cut before their finish chunk (an end at EOF is then a cut)."""
    from faultserver import chat_chunks

    chunks = chat_chunks(*PIECES)
    chunks[-1]["choices"][0]["finish_reason"] = None
    return chunks


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("end", ["reset", "cut", "eof"])
def test_langchain_stream_cut_mid_way_raises(fault_server, mode, end):
    fault_server.route(CHAT_PATH, lambda _: SSE(unfinished_chunks(), end=end, fault=end))

    received, error = langchain_call(chat_hf(fault_server), mode)

    assert "".join(received) == "".join(PIECES)  # what arrived was handed out
    assert isinstance(error, HFStreamError)  # ... and the end is an error, not a quiet stop


@pytest.mark.parametrize("mode", LI_STREAMS)
@pytest.mark.parametrize("end", ["reset", "cut", "eof"])
def test_llama_index_stream_cut_mid_way_raises(fault_server, mode, end):
    fault_server.route(CHAT_PATH, lambda _: SSE(unfinished_chunks(), end=end, fault=end))

    received, error = llama_call(hf_llm(fault_server), mode)

    assert "".join(received) == "".join(PIECES)
    assert isinstance(error, HFStreamError)


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("end", ["reset", "cut", "eof-without-final-event"])
def test_langchain_text_generation_stream_cut_mid_way_raises(fault_server, mode, end):
    events = tgi_events(*PIECES)
    if end == "eof-without-final-event":
        body = "".join(f"data: {json.dumps(event)}\n\n" for event in events[:2]).encode()
        fault_server.route(
            "/generate_stream", lambda _: Respond(200, body, content_type="text/event-stream")
        )
    else:
        fault_server.route("/generate_stream", lambda _: SSE(events, end=end, fault=end))
    llm = HFTextGen(base_url=fault_server.url, api="tgi", **clients(fault_server.url))

    if mode == "stream":
        received, error = drain(llm.stream("Say it"))
    else:
        received, error = asyncio.run(adrain(llm.astream("Say it")))

    assert "".join(received) in ("", "one ", "one two ", "one two three")
    assert isinstance(error, HFStreamError)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_langchain_completions_stream_without_done_raises(fault_server, mode):
    chunks = [{"choices": [{"index": 0, "text": piece, "finish_reason": None}]} for piece in PIECES]
    fault_server.route("/v1/completions", lambda _: SSE(chunks, end="eof", fault="no-done"))
    base = fault_server.url + "/v1"
    llm = HFTextGen(model="m", base_url=base, **clients(base))

    if mode == "stream":
        received, error = drain(llm.stream("Say it"))
    else:
        received, error = asyncio.run(adrain(llm.astream("Say it")))

    assert isinstance(error, HFStreamError)
    assert "without [DONE]" in str(error)
    assert "".join(received) in ("", "one ", "one two ", "one two three")


# --- fault 11: tool-call arguments that are not JSON ---------------------------------------------

BAD_ARGUMENTS = '{"city": "Par'  # cut short: not JSON
# Streamed fragments are joined by LangChain with a lenient partial-JSON parser (as for any chat
# model), which would "close" a cut-short object; a stream therefore carries plainly invalid JSON.
STREAMED_BAD_ARGUMENTS = '{"city": Paris}'


def bad_tool_call_answer(request):
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    if (request.json() or {}).get("stream"):
        first = {**call, "index": 0, "function": {"name": "lookup", "arguments": '{"city": '}}
        rest = {"index": 0, "function": {"arguments": "Paris}"}}
        chunks = [
            {"choices": [{"index": 0, "delta": {"tool_calls": [first]}, "finish_reason": None}]},
            {
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [rest]}, "finish_reason": "tool_calls"}
                ]
            },
        ]
        return SSE(chunks, fault="bad-arguments")
    call["function"]["arguments"] = BAD_ARGUMENTS
    return json_reply(200, chat_body("", tool_calls=[call]), fault="bad-arguments")


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a city up.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("mode", LC_MODES)
def test_langchain_invalid_tool_arguments_become_invalid_tool_calls(fault_server, mode):
    fault_server.route(CHAT_PATH, bad_tool_call_answer)
    model = chat_hf(fault_server).bind_tools([LOOKUP])

    if mode == "sync":
        message = model.invoke("weather?")
    elif mode == "async":
        message = asyncio.run(model.ainvoke("weather?"))
    elif mode == "stream":
        message = sum(model.stream("weather?"), AIMessageChunk(content=""))
    else:

        async def collect():
            total = AIMessageChunk(content="")
            async for chunk in model.astream("weather?"):
                total += chunk
            return total

        message = asyncio.run(collect())

    assert message.tool_calls == []
    assert len(message.invalid_tool_calls) == 1
    invalid = message.invalid_tool_calls[0]
    assert invalid["name"] == "lookup"
    if "stream" in mode:
        assert invalid["args"] == STREAMED_BAD_ARGUMENTS  # LangChain's merge sets no error text
    else:
        assert invalid["args"] == BAD_ARGUMENTS
        assert "not valid JSON" in invalid["error"]
    assert invalid["id"] == "call_1"


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_llama_index_invalid_tool_arguments_do_not_crash(fault_server, mode):
    fault_server.route(CHAT_PATH, bad_tool_call_answer)
    llm = hf_llm(fault_server)
    tool = FunctionTool.from_defaults(fn=lambda city: city, name="lookup", description="d")

    if mode == "sync":
        response = llm.chat_with_tools([tool], user_msg="weather?")
    elif mode == "async":
        response = asyncio.run(llm.achat_with_tools([tool], user_msg="weather?"))
    else:
        *_, response = llm.stream_chat_with_tools([tool], user_msg="weather?")

    selections = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    assert [selection.tool_name for selection in selections] == ["lookup"]
    assert isinstance(selections[0].tool_kwargs, dict)  # unreadable arguments: no crash


# --- fault 12: failover through the adapters ------------------------------------------------------


def test_langchain_failover_names_the_provider_that_served(fault_server):
    router(fault_server)
    service = routed_service(fault_server)
    model = ChatHF(
        model="org/m", client=service.client, async_client=service.async_client,
        catalog=service.catalog,
    )  # fmt: skip

    message = model.bind_tools(TOOLS).invoke("hello")

    assert message.content == "served by B"
    assert message.response_metadata["provider"] == "provb"
    sent = [request.json()["model"] for request in fault_server.requests_to(CHAT_PATH)]
    assert sent == ["org/m:prova"] * 4 + ["org/m:provb"]


def test_llama_index_failover_names_the_provider_that_served(fault_server):
    router(fault_server)
    service = routed_service(fault_server)
    llm = HFLLM(
        model="org/m", client=service.client, async_client=service.async_client,
        catalog=service.catalog,
    )  # fmt: skip
    tool = FunctionTool.from_defaults(fn=lambda query: query, name="lookup", description="d")

    response = llm.chat_with_tools([tool], user_msg="hello")

    assert response.message.content == "served by B"
    assert response.additional_kwargs["provider"] == "provb"


# --- nothing lost, through the embeddings adapters ------------------------------------------------

TEXTS = [f"adapter text {i}" for i in range(3_000)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_langchain_embeddings_lose_nothing(fault_server, mode):
    fault_server.route(EMBED_PATH, FlakyEmbedder())
    base = fault_server.url + "/v1"
    embeddings = HFEmbeddings(
        model="fault-embedder", base_url=base, document_instruction="", batch_size=16,
        **clients(base),
    )  # fmt: skip

    if mode == "sync":
        vectors = embeddings.embed_documents(TEXTS)
    else:
        vectors = asyncio.run(embeddings.aembed_documents(TEXTS))

    assert vectors == [vector_for(text) for text in TEXTS]
    assert sum(fault_server.faults.values()) > 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_llama_index_embeddings_lose_nothing(fault_server, mode):
    fault_server.route(EMBED_PATH, FlakyEmbedder())
    base = fault_server.url + "/v1"
    embedding = HFEmbedding(
        model="fault-embedder", base_url=base, text_instruction="", embed_batch_size=16,
        **clients(base),
    )  # fmt: skip

    if mode == "sync":
        vectors = embedding.get_text_embedding_batch(TEXTS)
    else:
        vectors = asyncio.run(embedding.aget_text_embedding_batch(TEXTS))

    assert vectors == [vector_for(text) for text in TEXTS]
    assert sum(fault_server.faults.values()) > 0
