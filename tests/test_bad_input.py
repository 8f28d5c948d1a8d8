"""Bad input fails with a clear error before any request, through every public entry point.

Each object gets clients whose transport fails the test if it is ever called; an error must be an
:class:`~hfbridge.errors.HFConfigError` (a ``ValueError``) or the framework's own validation error
(pydantic's ``ValidationError``, also a ``ValueError``), and must say what was wrong.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from pydantic import ValidationError

from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import CallOptions, ChatService
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.inference.textgen import TextGenService
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import ClientConfig, HFClient
from hfbridge.wire.textgen import GenerationParams

BASE = "http://127.0.0.1:9/v1"
USER = [{"role": "user", "content": "hi"}]
BAD_URLS = ["not a url", "ftp://host/v1", "http://", "http://host:99999/v1", "", "http://:80"]
BAD_TIMEOUTS = [-1, 0, -0.5, "fast", float("nan")]
BAD_MODELS = ["", "   ", "org/", "a b/c", "org/m:bad provider"]
INVALID_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "bad name!", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "ok", "parameters": {"type": "array"}}},
    {"type": "function", "function": {"name": "ok", "parameters": {"properties": [1, 2]}}},
    {"type": "function"},
    {"type": "retrieval"},
]




def refused(call, *args, match: str | None = None, **kwargs) -> ValueError:
    """``call(*args, **kwargs)`` must raise HFConfigError or a ValidationError (both ValueError)."""
    with pytest.raises((HFConfigError, ValidationError)) as caught:
        call(*args, **kwargs)
    if match is not None:
        assert match in str(caught.value)
    return caught.value


# --- settings, at construction -------------------------------------------------------------------


@pytest.mark.parametrize("model", BAD_MODELS)
def test_bad_model_ids_and_unknown_aliases(model):
    refused(ChatService, model=model)
    refused(EmbeddingService, model=model)
    refused(TextGenService, model=model)
    refused(ChatHF, model=model)
    refused(HFEmbeddings, model=model)
    refused(HFTextGen, model=model)
    refused(HFLLM, model=model)
    refused(HFEmbedding, model=model)


def test_unknown_aliases_name_the_known_ones():
    refused(ChatService, model="nosuchalias", match="unknown chat alias")
    error = refused(ChatHF, model="nosuchalias")
    assert "default" in str(error)
    refused(HFEmbeddings, model="nosuchalias", match="unknown")
    refused(HFLLM, model="nosuchalias", match="unknown")
    refused(HFEmbedding, model="nosuchalias", match="unknown")
    refused(HFTextGen, model="nosuchalias", match="unknown")


@pytest.mark.parametrize("url", BAD_URLS)
def test_malformed_base_urls(url):
    refused(ClientConfig.create, base_url=url)
    refused(HFClient, base_url=url)
    refused(ChatService, model="m", base_url=url)
    refused(EmbeddingService, model="m", base_url=url)
    refused(TextGenService, model="m", base_url=url)
    refused(ChatHF, model="m", base_url=url)
    refused(HFEmbeddings, model="m", base_url=url)
    refused(HFTextGen, model="m", base_url=url)
    refused(HFLLM, model="m", base_url=url)
    refused(HFEmbedding, model="m", base_url=url)


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS)
def test_bad_timeouts(timeout):
    refused(ClientConfig.create, timeout=timeout)
    refused(ChatService, model="m", base_url=BASE, timeout=timeout)
    refused(EmbeddingService, model="m", base_url=BASE, timeout=timeout)
    refused(TextGenService, model="m", base_url=BASE, timeout=timeout)
    refused(ChatHF, model="m", base_url=BASE, timeout=timeout)
    refused(HFEmbeddings, model="m", base_url=BASE, timeout=timeout)
    refused(HFTextGen, model="m", base_url=BASE, timeout=timeout)
    refused(HFLLM, model="m", base_url=BASE, timeout=timeout)
    refused(HFEmbedding, model="m", base_url=BASE, timeout=timeout)


@pytest.mark.parametrize("retries", [-1, 1.5])
def test_bad_retry_counts(retries):
    refused(ClientConfig.create, max_retries=retries)
    refused(ClientConfig.create, max_retries="2")
    refused(ChatHF, model="m", base_url=BASE, max_retries=retries)
    refused(HFLLM, model="m", base_url=BASE, max_retries=retries)
    refused(HFEmbeddings, model="m", base_url=BASE, max_retries=retries)


@pytest.mark.parametrize("size", [0, -1])
def test_batch_size_zero_or_negative(size):
    refused(EmbeddingService, model="m", base_url=BASE, batch_size=size, match="batch_size")
    refused(EmbeddingService, model="m", base_url=BASE, max_concurrency=size)
    refused(EmbeddingService, model="m", base_url=BASE, max_batch_bytes=size)
    refused(HFEmbeddings, model="m", base_url=BASE, batch_size=size)
    refused(HFEmbedding, model="m", base_url=BASE, embed_batch_size=size)


@pytest.mark.parametrize("tokens", [0, -5])
def test_max_tokens_zero_or_negative_at_construction(tokens):
    refused(ChatHF, model="m", base_url=BASE, max_tokens=tokens, match="max_tokens")
    refused(HFLLM, model="m", base_url=BASE, max_tokens=tokens)
    refused(HFTextGen, model="m", base_url=BASE, max_new_tokens=tokens)


# --- calls: refused before the request -----------------------------------------------------------


@pytest.mark.parametrize("tokens", [0, -5, True])
def test_max_tokens_zero_or_negative_per_call(forbidden_clients, tokens):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, USER, {"max_tokens": tokens}, match="max_tokens")
    refused(service.stream, USER, {"max_tokens": tokens})
    refused(asyncio.run, service.acomplete(USER, {"max_tokens": tokens}))
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(chat.invoke, "hi", max_tokens=tokens)
    textgen = TextGenService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(GenerationParams.from_mapping, {"max_new_tokens": tokens})
    refused(GenerationParams, max_new_tokens=tokens)  # however it is built
    refused(lambda: textgen.complete("hi", GenerationParams().merged({"max_new_tokens": tokens})))
    llm = HFTextGen(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(llm.invoke, "hi", max_new_tokens=tokens)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": 42}],
        [{"role": "user", "content": {"text": "hi"}}],
        [{"role": "user", "content": [{"type": "text", "text": 3}]}],
        [{"role": "user", "content": [{"type": "audio"}]}],
        [{"role": "wizard", "content": "hi"}],
        [{"role": "tool", "content": "42"}],
        [],
        "hello",
        ["hello"],
    ],
    ids=["int", "dict", "part-int", "part-type", "role", "tool-id", "empty", "str", "str-item"],
)
def test_bad_messages_through_the_chat_service(forbidden_clients, messages):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, messages, {})
    refused(service.stream, messages, {})
    refused(asyncio.run, service.acomplete(messages, {}))


def test_non_string_content_through_the_adapters(forbidden_clients):
    client, async_client = forbidden_clients
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    with pytest.raises(ValueError):  # noqa: PT011 - HFConfigError or LangChain's own error
        chat.invoke([{"role": "user", "content": 42}])
    with pytest.raises(ValueError):  # noqa: PT011 - as above
        chat.invoke([HumanMessage(content=[{"type": "text", "text": 3}])])
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)
    with pytest.raises(ValueError):  # noqa: PT011 - HFConfigError or pydantic's
        llm.chat([ChatMessage(role="wizard", content="hi")])
    embeddings = HFEmbeddings(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(embeddings.embed_documents, ["ok", 3])
    refused(embeddings.embed_documents, "a single string")
    refused(embeddings.embed_query, 7)
    embedding = HFEmbedding(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(embedding.get_text_embedding_batch, ["ok", None])
    textgen = HFTextGen(model="m", base_url=BASE, client=client, async_client=async_client)
    with pytest.raises(ValueError):  # noqa: PT011 - HFConfigError or LangChain's own error
        textgen.invoke(42)


@pytest.mark.parametrize("tool", INVALID_TOOLS)
def test_tools_with_invalid_schemas(forbidden_clients, tool):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, USER, {"tools": [tool]})
    refused(service.stream, USER, {"tools": [tool]})
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(chat.bind_tools, [tool])


@pytest.mark.parametrize("tools", ["lookup", ["lookup"], [None], {"name": "lookup"}])
def test_tools_that_are_not_a_list_of_tool_objects(forbidden_clients, tools):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, USER, {"tools": tools}, match="tools must be a list")


def test_tool_choice_naming_an_unbound_tool(forbidden_clients):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    refused(service.complete, USER, {"tools": [tool], "tool_choice": "other"}, match="other")
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(chat.bind_tools, [tool], tool_choice="other")


def test_llama_index_tool_choice_naming_an_unbound_tool(forbidden_clients):
    client, async_client = forbidden_clients
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)
    tool = FunctionTool.from_defaults(fn=lambda x: x, name="lookup", description="d")
    refused(llm.chat_with_tools, [tool], user_msg="hi", tool_choice="other")


@pytest.mark.parametrize("timeout", [-1, 0])
def test_bad_per_call_timeout(forbidden_clients, timeout):
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, USER, {}, CallOptions(timeout=timeout), match="timeout")
    refused(client.request, "GET", "models", timeout=timeout)


def test_bad_embedding_inputs_through_the_service(forbidden_clients):
    client, async_client = forbidden_clients
    service = EmbeddingService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.embed_documents, "one string", match="list of strings")
    refused(service.embed_documents, [b"bytes"])
    refused(service.embed_documents, ["ok", "\ud800 lone surrogate"], match="UTF-8")
    refused(asyncio.run, service.aembed_documents([1, 2]))


def test_bad_textgen_settings(forbidden_clients):
    client, async_client = forbidden_clients
    refused(TextGenService, model="m", base_url=BASE, api="grpc", match="api must be one of")
    refused(TextGenService, model="org/m", api="tgi", match="needs base_url")
    service = TextGenService(model="m", base_url=BASE, client=client, async_client=async_client)
    refused(service.complete, 42, GenerationParams())
    refused(service.stream, None, GenerationParams())
