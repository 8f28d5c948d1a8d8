"""Bad input, round two (issue 17): an ``HFConfigError`` before any request, naming the problem.

Every object here gets clients whose transport fails the test when called (``Forbidden``), and the
error must be :class:`~hfbridge.errors.HFConfigError` itself: never a raw ``TypeError``,
``UnicodeEncodeError``, ``ValueError`` or pydantic ``ValidationError``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool

from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import CallOptions, ChatService
from hfbridge.inference.textgen import TextGenService
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient
from hfbridge.wire.params import check_params
from hfbridge.wire.responses import build_responses_payload
from hfbridge.wire.textgen import GenerationParams

BASE = "http://127.0.0.1:9/v1"
USER = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}




def config_error(call: Callable[..., Any], *args: Any, match: str = "", **kwargs: Any) -> str:
    """``call(...)`` must raise HFConfigError (not merely a ValueError); return its message."""
    with pytest.raises(HFConfigError) as caught:
        call(*args, **kwargs)
    assert type(caught.value).__name__ == "HFConfigError"
    if match:
        assert match in str(caught.value), str(caught.value)
    return str(caught.value)


@pytest.fixture
def every_chat_path(forbidden_clients):
    """Run one chat call with extra ``params`` through every chat entry point, sync and async."""
    client, async_client = forbidden_clients
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)

    def run(params: dict[str, Any], messages: list[dict[str, Any]] | None = None) -> list[str]:
        wire = messages or USER
        return [
            config_error(service.complete, wire, params),
            config_error(lambda: list(service.stream(wire, params))),
            config_error(asyncio.run, service.acomplete(wire, params)),
            config_error(chat.invoke, "hi", extra_body=params),
            config_error(asyncio.run, chat.ainvoke("hi", extra_body=params)),
            config_error(llm.chat, [ChatMessage(role=MessageRole.USER, content="hi")], **params),
        ]

    return run


# --- JSON the body cannot carry ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_in_extra_body_fields(every_chat_path, bad):
    for message in every_chat_path({"provider_knob": {"depth": [1, bad]}}):
        assert "provider_knob.depth[1]" in message
        assert "JSON cannot carry" in message


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_and_infinity_in_a_tool_schema(forbidden_clients, bad):
    client, async_client = forbidden_clients
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"x": {"type": "number", "maximum": bad}}}}}  # fmt: skip
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    message = config_error(service.complete, USER, {"tools": [tool]})
    assert "tools[0].function.parameters.properties.x.maximum" in message
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(chat.bind_tools([tool]).invoke, "hi", match="maximum")


@pytest.mark.parametrize(
    ("value", "kind"),
    [({1, 2}, "set"), (dt.date(2026, 1, 1), "date"), (b"raw", "bytes"), (object(), "object")],
)
def test_values_that_are_not_json(every_chat_path, value, kind):
    for message in every_chat_path({"knob": value}):
        assert f"field 'knob' is a {kind}, which is not JSON" in message


def test_lone_surrogates_in_messages_and_prompts(forbidden_clients):
    client, async_client = forbidden_clients
    lone = [{"role": "user", "content": "half of a smile: \ud83d"}]
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    message = config_error(service.complete, lone, {})
    assert "messages[0].content" in message
    assert "lone UTF-16 surrogate (U+D83D" in message
    config_error(asyncio.run, service.acomplete(lone, {}))
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(chat.invoke, [HumanMessage("\udc00 low half")], match="surrogate")
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(llm.complete, "\ud83d", match="surrogate")
    textgen = HFTextGen(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(textgen.invoke, "prompt \ud83d", match="surrogate")


def test_a_surrogate_pair_written_as_two_code_points_is_sent_as_one_character():
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    client = HFClient(base_url=BASE, transport=httpx.MockTransport(answer))
    service = ChatService(model="m", base_url=BASE, client=client)
    service.complete([{"role": "user", "content": "smile \ud83d\ude00"}], {})
    assert "smile \U0001f600".encode() in seen[0]


def test_absurd_integers(every_chat_path, forbidden_clients):
    for message in every_chat_path({"knob": 10**5000}):
        assert "field 'knob' is an integer of about 5,000 digits" in message
    client, async_client = forbidden_clients
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(chat.invoke, "hi", seed=2**64, match="seed must be an integer from 0")
    config_error(ChatHF, model="m", base_url=BASE, max_tokens=10**40, match="max_tokens")


# --- headers ---------------------------------------------------------------------------------------

BAD_HEADERS = [
    ({"x-note": "line\r\nx-injected: 1"}, "line break"),
    ({"x-note": "new\nline"}, "line break"),
    ({"x-note": "café"}, "non-ASCII"),
    ({"x note": "v"}, "not a valid HTTP header name"),
    ({"x-note:": "v"}, "not a valid HTTP header name"),
    ({"": "v"}, "not a valid HTTP header name"),
]


@pytest.mark.parametrize(("headers", "problem"), BAD_HEADERS)
def test_bad_default_headers_are_refused_at_construction(headers, problem):
    for build in (
        lambda: ClientConfig.create(headers=headers),
        lambda: HFClient(base_url=BASE, headers=headers),
        lambda: AsyncHFClient(base_url=BASE, headers=headers),
        lambda: ChatHF(model="m", base_url=BASE, default_headers=headers),
        lambda: HFTextGen(model="m", base_url=BASE, default_headers=headers),
        lambda: HFEmbeddings(model="m", base_url=BASE, default_headers=headers),
        lambda: HFLLM(model="m", base_url=BASE, default_headers=headers),
        lambda: HFEmbedding(model="m", base_url=BASE, default_headers=headers),
    ):
        config_error(build, match=problem)


@pytest.mark.parametrize("bill_to", ["org\r\nx-injected: 1", "société"])
def test_bad_bill_to_is_refused(bill_to):
    config_error(ClientConfig.create, bill_to=bill_to, match="bill_to")
    config_error(ChatHF, model="org/m", bill_to=bill_to, match="bill_to")
    config_error(HFLLM, model="org/m", bill_to=bill_to, match="bill_to")


@pytest.mark.parametrize(("headers", "problem"), BAD_HEADERS)
def test_bad_per_call_headers_are_refused_sync_and_async(forbidden_clients, headers, problem):
    client, async_client = forbidden_clients
    config_error(client.request, "GET", "models", headers=headers, match=problem)
    config_error(asyncio.run, async_client.request("GET", "models", headers=headers))
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(chat.invoke, "hi", extra_headers=headers, match=problem)
    config_error(asyncio.run, chat.ainvoke("hi", extra_headers=headers))
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(lambda: list(service.stream(USER, {}, CallOptions(headers=headers))))


def test_a_bad_header_value_is_never_shown():
    message = config_error(ClientConfig.create, headers={"x-api-key": "secret-key\r\n"})
    assert "secret-key" not in message


# --- base_url --------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [f"{BASE}?api-version=1", f"{BASE}#frag", f"{BASE}?"])
def test_base_url_with_a_query_or_fragment(url):
    for build in (ClientConfig.create, HFClient):
        config_error(build, base_url=url, match="query or fragment")
    config_error(ChatHF, model="m", base_url=url, match="query or fragment")
    config_error(HFLLM, model="m", base_url=url, match="query or fragment")
    config_error(HFEmbeddings, model="m", base_url=url, match="query or fragment")
    config_error(HFTextGen, model="m", base_url=url, match="query or fragment")


# --- tools and messages ----------------------------------------------------------------------------


def test_duplicate_tool_names(forbidden_clients):
    client, async_client = forbidden_clients
    twice = [TOOL, TOOL]
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    config_error(service.complete, USER, {"tools": twice}, match="two tools are named 'lookup'")
    chat = ChatHF(model="m", base_url=BASE, client=client, async_client=async_client)
    # Binding is allowed (LangChain's standard suite binds a model and its schema, one name):
    # the request is refused.
    config_error(chat.bind_tools(twice).invoke, "hi", match="two tools")
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)
    first = FunctionTool.from_defaults(fn=lambda x: x, name="lookup", description="one")
    second = FunctionTool.from_defaults(fn=lambda y: y, name="lookup", description="two")
    config_error(llm.chat_with_tools, [first, second], user_msg="hi", match="two tools")
    config_error(build_responses_payload, "m", USER, params={"tools": twice}, match="two tools")


@pytest.mark.parametrize("role", [MessageRole.USER, MessageRole.SYSTEM])
def test_a_llama_index_message_without_content_is_not_sent_as_empty_text(forbidden_clients, role):
    client, async_client = forbidden_clients
    llm = HFLLM(model="m", base_url=BASE, client=client, async_client=async_client)
    history = [ChatMessage(role=role, content=None)]
    config_error(llm.chat, history, match="has no content")
    config_error(asyncio.run, llm.achat(history))


# --- one value, one verdict ------------------------------------------------------------------------

VERDICTS: list[tuple[str, Any, bool]] = [
    ("top_p", 0, False),
    ("top_p", 0.0, False),
    ("top_p", 1, True),
    ("top_p", 0.5, True),
    ("top_p", 1.5, False),
    ("top_p", math.nan, False),
    ("temperature", -1, False),
    ("temperature", 0, True),
    ("temperature", 1.7, True),
    ("temperature", math.inf, False),
    ("seed", -1, False),
    ("seed", 0, True),
    ("seed", 2**64, False),
    ("max_tokens", 0, False),
    ("max_tokens", 5, True),
    ("max_tokens", True, False),
]


def _verdicts(pair: tuple[HFClient, AsyncHFClient], name: str, value: Any) -> dict[str, bool]:
    """Whether each entry point accepts ``name=value`` (a refusal must be an HFConfigError)."""
    client, async_client = pair
    textgen_name = "max_new_tokens" if name == "max_tokens" else name
    attempts: dict[str, Callable[[], Any]] = {
        "wire.params": lambda: check_params({name: value}),
        "ChatHF()": lambda: ChatHF(model="m", base_url=BASE, **{name: value}),
        "ChatHF.invoke": lambda: ChatHF(
            model="m", base_url=BASE, client=client, async_client=async_client
        ).invoke("hi", **{name: value}),
        "HFLLM()": lambda: HFLLM(model="m", base_url=BASE, **{name: value}),
        "HFLLM.chat": lambda: HFLLM(
            model="m", base_url=BASE, client=client, async_client=async_client
        ).chat([ChatMessage(role=MessageRole.USER, content="hi")], **{name: value}),
        "HFTextGen()": lambda: HFTextGen(model="m", base_url=BASE, **{textgen_name: value}),
        "HFTextGen.invoke": lambda: HFTextGen(
            model="m", base_url=BASE, client=client, async_client=async_client
        ).invoke("hi", **{textgen_name: value}),
        "GenerationParams": lambda: GenerationParams.from_mapping({textgen_name: value}),
        "TextGenService(chat)": lambda: TextGenService(
            model="org/m", api="chat", client=client, async_client=async_client
        ).complete("hi", GenerationParams.from_mapping({textgen_name: value})),
        "ChatService": lambda: ChatService(
            model="m", base_url=BASE, client=client, async_client=async_client
        ).complete(USER, {name: value}),
        "responses": lambda: build_responses_payload("m", USER, params={name: value}),
    }
    return {where: _accepts(attempt) for where, attempt in attempts.items()}


class _Sent(Exception):  # noqa: N818 - the request was built and handed to the transport
    pass


def _accepts(attempt: Callable[[], Any]) -> bool:
    """True when ``attempt`` goes through (or reaches the transport); False on HFConfigError."""
    try:
        attempt()
    except HFConfigError as exc:
        if type(exc) is not HFConfigError:
            raise
        return False
    except _Sent:
        return True
    return True


@pytest.mark.parametrize(("name", "value", "accepted"), VERDICTS)
def test_one_value_one_verdict_everywhere(name, value, accepted):
    def sent(request: httpx.Request) -> httpx.Response:
        raise _Sent

    transport = httpx.MockTransport(sent)
    config = ClientConfig.create(base_url=BASE, max_retries=0)
    pair = (HFClient(config, transport=transport), AsyncHFClient(config, transport=transport))
    verdicts = _verdicts(pair, name, value)
    if name == "seed":
        verdicts.pop("responses")  # seed is not part of the Responses API: refused for that
    assert verdicts == dict.fromkeys(verdicts, accepted), verdicts
