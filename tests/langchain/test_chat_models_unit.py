"""ChatHF over httpx.MockTransport: exact request bodies, parsing, streaming, structured output."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, load
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from hfbridge.catalog import Catalog
from hfbridge.catalog.aliases import BUILTIN_ALIASES
from hfbridge.errors import HFCapabilityError, HFConfigError, HFStreamError
from hfbridge.langchain import ChatHF
from hfbridge.transport import AsyncHFClient, HFClient

BASE = "http://127.0.0.1:9/v1"
USER = [{"role": "user", "content": "hi"}]


def completion_body(message=None, *, finish_reason="stop", usage=True, model="local"):
    body: dict[str, Any] = {
        "id": "cmpl-1",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message or {"role": "assistant", "content": "hello"},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return body


def sse(*events, done=True):
    text = "".join(f"data: {json.dumps(event)}\n\n" for event in events)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


TEXT_STREAM = sse(
    {
        "id": "s",
        "model": "local",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hel"}}],
    },
    {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
)


class Server:
    """A fake OpenAI-compatible server: records each request, answers JSON or SSE."""

    def __init__(self, body=None, stream=TEXT_STREAM, headers=None):
        self.body = body or completion_body()
        self.stream = stream
        self.headers = headers or {"x-request-id": "rid-1"}
        self.requests: list[httpx.Request] = []

    @property
    def bodies(self):
        return [json.loads(request.content) for request in self.requests]

    @property
    def last(self):
        return self.bodies[-1]

    def __call__(self, request):
        if request.method == "GET":  # what the server is (asked once per base_url): it won't say
            return httpx.Response(404, json={"error": "not found"})
        self.requests.append(request)
        if json.loads(request.content).get("stream"):
            headers = {"content-type": "text/event-stream", **self.headers}
            return httpx.Response(200, headers=headers, content=self.stream)
        return httpx.Response(200, json=self.body, headers=self.headers)


def chat(server, base_url=BASE, **kwargs):
    return ChatHF(
        model=kwargs.pop("model", "local"),
        base_url=base_url,
        transport=httpx.MockTransport(server),
        **kwargs,
    )


def refuse(request):
    pytest.fail(f"no request may be sent, got {request.url}")


# --- request bodies -------------------------------------------------------------------------------

SAMPLING = [
    ("temperature", 0.3, {"temperature": 0.3}),
    ("top_p", 0.9, {"top_p": 0.9}),
    ("max_tokens", 12, {"max_tokens": 12}),
    ("seed", 7, {"seed": 7}),
    ("stop", ["END"], {"stop": ["END"]}),
    ("stop", "END", {"stop": ["END"]}),
    ("frequency_penalty", 0.5, {"frequency_penalty": 0.5}),
    ("presence_penalty", -0.5, {"presence_penalty": -0.5}),
    ("logprobs", True, {"logprobs": True}),
    ("top_logprobs", 3, {"top_logprobs": 3, "logprobs": True}),  # OpenAI rejects it alone
    ("n", 2, {"n": 2}),
    ("reasoning_effort", "low", {"reasoning_effort": "low"}),
]
"""The setting, its value, and the body fields it must produce."""


@pytest.mark.parametrize(("name", "value", "sent"), SAMPLING)
def test_each_sampling_field_is_sent_exactly(name, value, sent):
    server = Server()
    chat(server, **{name: value}).invoke("hi")
    assert server.last == {"model": "local", "messages": USER, **sent}


@pytest.mark.parametrize(("name", "value", "sent"), SAMPLING)
def test_each_sampling_parameter_is_sent_per_call(name, value, sent):
    server = Server()
    chat(server).invoke("hi", **{name: value})
    assert server.last == {"model": "local", "messages": USER, **sent}


@pytest.mark.parametrize(("name", "value", "sent"), SAMPLING)
def test_each_sampling_field_is_sent_when_streaming(name, value, sent):
    server = Server()
    list(chat(server, **{name: value}).stream("hi"))
    assert server.last == {
        "model": "local",
        "messages": USER,
        **sent,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_per_call_values_win_over_instance_values():
    server = Server()
    model = chat(server, temperature=0.1, max_tokens=10, stop=["a"], seed=1, top_p=0.5)
    model.invoke("hi", temperature=0.9, max_new_tokens=5, stop=["b"], seed=2)
    assert server.last == {
        "model": "local",
        "messages": USER,
        "temperature": 0.9,
        "top_p": 0.5,
        "max_tokens": 5,
        "seed": 2,
        "stop": ["b"],
    }


def test_max_new_tokens_is_an_alias_of_max_tokens():
    server = Server()
    model = chat(server, max_new_tokens=9)
    assert model.max_tokens == 9
    model.invoke("hi")
    assert server.last["max_tokens"] == 9
    assert "max_new_tokens" not in server.last


def test_bound_values_apply_and_call_values_win():
    server = Server()
    bound = chat(server, temperature=0.1).bind(temperature=0.4, seed=3)
    bound.invoke("hi")
    assert (server.last["temperature"], server.last["seed"]) == (0.4, 3)
    bound.invoke("hi", seed=4)
    assert server.last["seed"] == 4


def test_model_kwargs_and_extra_body_are_merged_into_the_body():
    server = Server()
    model = chat(
        server, model_kwargs={"top_k": 5, "repetition_penalty": 1.1}, extra_body={"top_k": 6}
    )
    model.invoke("hi", extra_body={"min_p": 0.1})
    assert server.last == {
        "model": "local",
        "messages": USER,
        "top_k": 6,
        "repetition_penalty": 1.1,
        "min_p": 0.1,
    }


def test_empty_stop_is_not_sent():
    server = Server()
    chat(server, stop=[]).invoke("hi")
    assert "stop" not in server.last


def test_stream_usage_can_be_turned_off():
    server = Server()
    list(chat(server, stream_usage=False).stream("hi"))
    assert "stream_options" not in server.last
    list(chat(server).stream("hi", stream_usage=False))
    assert "stream_options" not in server.last


def test_messages_of_every_kind():
    server = Server()
    chat(server).invoke(
        [
            SystemMessage("be brief"),
            HumanMessage(
                [
                    {"type": "text", "text": "weather?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                ],
                name="ann",
            ),
            AIMessage(
                "", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1"}]
            ),
            ToolMessage("-3C", tool_call_id="c1", name="get_weather"),
        ]
    )
    assert server.last["messages"] == [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "name": "ann",
            "content": [
                {"type": "text", "text": "weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "name": "get_weather", "tool_call_id": "c1", "content": "-3C"},
    ]


def test_a_per_call_model_override_is_sent_and_traced():
    server = Server(body=completion_body(model="other-model"))
    model = chat(server)
    result = model.invoke("hi", model="other-model")
    assert server.last["model"] == "other-model"
    assert result.response_metadata["model_name"] == "other-model"
    assert model._get_ls_params(model="other-model")["ls_model_name"] == "other-model"


def test_router_requests_carry_the_router_model_string():
    server = Server(body=completion_body(model="org/name"))
    model = chat(server, base_url=None, model="org/name:fastest", token="hf_explicit")
    result = model.invoke("hi")
    request = server.requests[-1]
    assert str(request.url) == "https://router.huggingface.co/v1/chat/completions"
    assert server.last["model"] == "org/name:fastest"
    assert request.headers["authorization"] == "Bearer hf_explicit"
    assert result.response_metadata["route"] == "as configured"


def test_aliases_resolve_on_the_router_and_per_instance_overrides_win():
    server = Server()
    chat(server, base_url=None, model="small").invoke("hi")
    assert server.last["model"] == BUILTIN_ALIASES["chat"]["small"]
    chat(server, base_url=None, model="small:cheapest", aliases={"small": "org/tiny"}).invoke("hi")
    assert server.last["model"] == "org/tiny:cheapest"


# --- transport settings ---------------------------------------------------------------------------


def test_headers_bill_to_and_timeouts_reach_the_request():
    server = Server()
    model = chat(
        server,
        base_url=None,
        model="org/name",
        bill_to="my-org",
        token="hf_x",
        timeout=30,
        max_retries=0,
        default_headers={"X-App": "demo"},
    )
    model.invoke("hi")
    model.invoke("hi", timeout=4.5, extra_headers={"X-Trace": "t1"})
    first, second = server.requests
    assert first.headers["x-hf-bill-to"] == "my-org"
    assert first.headers["authorization"] == "Bearer hf_x"
    assert first.headers["x-app"] == "demo"
    assert first.extensions["timeout"]["read"] == 30
    assert second.extensions["timeout"]["read"] == 4.5
    assert second.headers["x-trace"] == "t1"


def test_an_injected_client_is_used_with_its_own_settings():
    server = Server()
    transport = httpx.MockTransport(server)
    model = ChatHF(
        model="local",
        base_url=BASE,
        client=HFClient(base_url=BASE, transport=transport, headers={"X-Mine": "1"}),
        async_client=AsyncHFClient(base_url=BASE, transport=transport, headers={"X-Mine": "2"}),
    )
    model.invoke("hi")
    asyncio.run(model.ainvoke("hi"))
    assert [request.headers["x-mine"] for request in server.requests] == ["1", "2"]


def test_a_token_from_the_environment_is_not_sent_to_a_self_hosted_server(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_env_secret")
    server = Server()
    implicit = chat(server)
    assert implicit.token is not None
    assert implicit.token.get_secret_value() == "hf_env_secret"
    implicit.invoke("hi")
    chat(server, token="hf_mine").invoke("hi")
    chat(server, base_url=None, model="org/name").invoke("hi")
    to_local, explicit_to_local, to_router = server.requests
    assert "authorization" not in to_local.headers
    assert explicit_to_local.headers["authorization"] == "Bearer hf_mine"
    assert to_router.headers["authorization"] == "Bearer hf_env_secret"


def test_the_token_never_shows_in_repr_or_dumps():
    model = ChatHF(model="org/name", token="hf_topsecret")
    assert "hf_topsecret" not in repr(model)
    assert "hf_topsecret" not in str(model)
    assert "hf_topsecret" not in json.dumps(dumpd(model))
    assert "hf_topsecret" not in model.model_dump_json()
    assert model.lc_secrets == {"token": "HF_TOKEN"}
    assert dumpd(model)["kwargs"]["token"] == {"lc": 1, "type": "secret", "id": ["HF_TOKEN"]}


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_dump_and_load_round_trip(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    model = ChatHF(model="org/name:together", temperature=0.2, max_tokens=9, stop=["x"], timeout=5)
    loaded = load(
        dumpd(model), valid_namespaces=["hfbridge"], allowed_objects=[ChatHF], secrets_from_env=True
    )
    assert isinstance(loaded, ChatHF)
    assert loaded.asdict() == model.asdict()
    assert loaded.token is not None
    assert loaded.token.get_secret_value() == "hf_env"


# --- validation before any request ---


@pytest.mark.parametrize(
    "settings",
    [
        {"max_tokens": 0},
        {"max_new_tokens": -5},
        {"n": 0},
        {"top_logprobs": 50},
        {"timeout": -1},
        {"timeout": 0},
        {"max_retries": -1},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"model": "not a model"},
        {"model": "org/name:Bad Provider"},
        {"model_kwargs": {"messages": []}},
        {"extra_body": {"model": "x"}},
        {"temperture": 0.5},
    ],
)
def test_invalid_settings_fail_at_construction(settings):
    with pytest.raises(HFConfigError):
        ChatHF(**{"model": "org/name", **settings})


def test_unknown_alias_and_bad_base_url_fail_at_construction():
    with pytest.raises(HFConfigError, match="unknown chat alias 'huge'"):
        ChatHF(model="huge")
    with pytest.raises(HFConfigError, match="base_url"):
        ChatHF(model="x", base_url="ftp://example.com")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 0},
        {"top_logprobs": 99},
        {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
        {"model": "has space"},
    ],
)
def test_invalid_per_call_values_fail_before_any_request(kwargs):
    with pytest.raises(HFConfigError):
        chat(refuse).invoke("hi", **kwargs)
    with pytest.raises(HFConfigError):
        list(chat(refuse).stream("hi", **kwargs))


def test_unsupported_content_fails_before_any_request():
    with pytest.raises(HFConfigError):
        chat(refuse).invoke([HumanMessage([{"type": "audio_blob", "x": 1}])])


# --- results --------------------------------------------------------------------------------------


def test_invoke_returns_usage_and_metadata():
    server = Server(headers={"x-request-id": "rid-9"})
    message = chat(server).invoke("hi")
    assert message.content == "hello"
    assert message.usage_metadata == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    metadata = message.response_metadata
    assert metadata["finish_reason"] == "stop"
    assert metadata["model_name"] == "local"
    assert metadata["model_provider"] == "huggingface"
    assert metadata["request_id"] == "rid-9"
    assert "provider" not in metadata  # a self-hosted server has no provider


def test_n_choices_become_generations():
    body = completion_body()
    body["choices"].append({"index": 1, "message": {"content": "bye"}, "finish_reason": "length"})
    server = Server(body=body)
    result = chat(server, n=2).generate([[HumanMessage("hi")]])
    assert [g.text for g in result.generations[0]] == ["hello", "bye"]
    assert server.last["n"] == 2


@pytest.mark.parametrize("arguments", ['{"city": "Paris"}', {"city": "Paris"}])
def test_tool_calls_are_parsed_from_text_or_object_arguments(arguments):
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": arguments},
            }
        ],
    }
    result = chat(Server(body=completion_body(message, finish_reason="tool_calls"))).invoke("hi")
    assert result.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}
    ]
    assert result.response_metadata["finish_reason"] == "tool_calls"


def test_invalid_tool_arguments_never_raise():
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}
        ],
    }
    result = chat(Server(body=completion_body(message))).invoke("hi")
    assert result.tool_calls == []
    assert result.invalid_tool_calls[0]["args"] == "{nope"


# --- tools ----------------------------------------------------------------------------------------


class GetWeather(BaseModel):
    """Current weather in a city."""

    city: str = Field(description="The city")


def get_time(city: str) -> str:
    """Local time in a city."""
    return city


def test_bind_tools_sends_tools_choice_and_parallel_flag():
    server = Server()
    bound = chat(server).bind_tools(
        [GetWeather, get_time], tool_choice="get_time", parallel_tool_calls=False
    )
    bound.invoke("hi")
    body = server.last
    assert [tool["function"]["name"] for tool in body["tools"]] == ["GetWeather", "get_time"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert body["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "sent"),
    [("any", "required"), (True, "required"), ("auto", "auto"), ("none", "none")],
)
def test_bind_tools_choice_spellings_reach_the_body(choice, sent):
    server = Server()
    chat(server).bind_tools([GetWeather], tool_choice=choice).invoke("hi")
    assert server.last["tool_choice"] == sent


def test_a_required_choice_with_no_tools_fails_before_any_request():
    with pytest.raises(HFConfigError, match="no tools are sent"):
        chat(refuse).bind_tools([], tool_choice="required").invoke("hi")


def test_bind_tools_rejects_a_choice_naming_no_bound_tool():
    with pytest.raises(HFConfigError, match="not among the bound tools"):
        chat(refuse).bind_tools([GetWeather], tool_choice="get_time")


# --- streaming ------------------------------------------------------------------------------------

TOOL_STREAM = sse(
    {"id": "s2", "model": "local", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "function": {"name": "get_weather", "arguments": '{"ci'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "function": {"name": "get_weather", "arguments": 'ty": "Rome"}'},
                        }
                    ]
                },
            }
        ]
    },
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "c2",
                            "function": {"name": "get_time", "arguments": "{}"},
                        }
                    ]
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 8, "total_tokens": 19},
    },
)


def merge(chunks):
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged += chunk
    return merged


def test_stream_yields_text_chunks_then_a_last_chunk_with_usage_and_metadata():
    chunks = list(chat(Server(headers={"x-request-id": "rid-s"})).stream("hi"))
    assert [c.content for c in chunks] == ["hel", "lo", ""]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert chunks[-1].chunk_position == "last"
    full = merge(chunks)
    assert full.content == "hello"
    assert full.usage_metadata == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    assert full.response_metadata["finish_reason"] == "stop"
    assert full.response_metadata["model_name"] == "local"
    assert full.response_metadata["model_provider"] == "huggingface"
    assert full.response_metadata["request_id"] == "rid-s"


def test_streamed_tool_calls_merge_by_index_with_usage_from_a_choice_chunk():
    chunks = list(chat(Server(stream=TOOL_STREAM)).stream("hi"))
    fragments = [part for chunk in chunks for part in chunk.tool_call_chunks]
    assert [(f["index"], f["id"], f["name"]) for f in fragments] == [
        (0, "c1", "get_weather"),
        (0, None, None),
        (1, "c2", "get_time"),
    ]
    full = merge(chunks)
    assert full.tool_calls == [
        {"name": "get_weather", "args": {"city": "Rome"}, "id": "c1", "type": "tool_call"},
        {"name": "get_time", "args": {}, "id": "c2", "type": "tool_call"},
    ]
    assert full.usage_metadata == {"input_tokens": 11, "output_tokens": 8, "total_tokens": 19}
    assert full.response_metadata["finish_reason"] == "tool_calls"


def test_streaming_invoke_assembles_the_same_message():
    server = Server(stream=TOOL_STREAM)
    message = chat(server, streaming=True).invoke("hi")
    assert server.last["stream"] is True
    assert [call["name"] for call in message.tool_calls] == ["get_weather", "get_time"]
    assert message.usage_metadata["total_tokens"] == 19


def test_a_broken_stream_raises_instead_of_ending_quietly():
    cut = sse(
        {"id": "s", "choices": [{"index": 0, "delta": {"content": "hel"}}]},
        done=False,
    )
    model = chat(Server(stream=cut))
    with pytest.raises(HFStreamError):
        list(model.stream("hi"))

    async def consume():
        return [chunk async for chunk in model.astream("hi")]

    with pytest.raises(HFStreamError):
        asyncio.run(consume())


class TokenRecorder(BaseCallbackHandler):
    def __init__(self):
        self.tokens: list[str] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_on_llm_new_token_fires_once_per_chunk():
    recorder = TokenRecorder()
    chunks = list(chat(Server()).stream("hi", config={"callbacks": [recorder]}))
    assert recorder.tokens == [c.content for c in chunks] == ["hel", "lo", ""]
    recorder.tokens.clear()
    chat(Server(), streaming=True).invoke("hi", config={"callbacks": [recorder]})
    assert recorder.tokens == ["hel", "lo", ""]


async def test_async_invoke_stream_and_batch():
    server = Server()
    model = chat(server, temperature=0.5)
    message = await model.ainvoke("hi")
    assert message.content == "hello"
    chunks = [chunk async for chunk in model.astream("hi")]
    assert merge(chunks).content == "hello"
    assert server.last["stream"] is True
    results = await model.abatch(["a", "b"])
    assert [r.content for r in results] == ["hello", "hello"]
    assert all(body["temperature"] == 0.5 for body in server.bodies)


def test_batch():
    server = Server()
    results = chat(server).batch(["a", "b", "c"])
    assert [r.content for r in results] == ["hello"] * 3
    assert sorted(body["messages"][0]["content"] for body in server.bodies) == ["a", "b", "c"]


async def test_astream_events_reports_each_chunk():
    events = [event async for event in chat(Server()).astream_events("hi", version="v2")]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "on_chat_model_start"
    assert kinds[-1] == "on_chat_model_end"
    streamed = [
        event["data"]["chunk"].content
        for event in events
        if event["event"] == "on_chat_model_stream"
    ]
    assert "".join(streamed) == "hello"
    assert events[-1]["data"]["output"].usage_metadata["total_tokens"] == 5


# --- structured output ----------------------------------------------------------------------------


class Person(BaseModel):
    """A person."""

    name: str
    age: int


class PersonDict(TypedDict):
    """A person."""

    name: str
    age: int


PERSON_JSON = '{"name": "Ada", "age": 36}'


def json_reply(text=PERSON_JSON):
    return Server(body=completion_body({"role": "assistant", "content": text}))


def tool_reply(arguments=PERSON_JSON, name="Person"):
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }
    return Server(body=completion_body(message, finish_reason="tool_calls"))


def test_json_schema_method_sends_response_format_and_parses_pydantic():
    server = json_reply()
    result = (
        chat(server)
        .with_structured_output(Person, method="json_schema", strict=True)
        .invoke("who?")
    )
    assert result == Person(name="Ada", age=36)
    response_format = server.last["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Person"
    assert response_format["json_schema"]["strict"] is True
    assert response_format["json_schema"]["description"] == "A person."
    assert response_format["json_schema"]["schema"]["required"] == ["name", "age"]
    assert "tools" not in server.last


def test_default_method_on_a_self_hosted_server_is_json_schema():
    server = json_reply()
    assert chat(server).with_structured_output(Person).invoke("who?") == Person(name="Ada", age=36)
    assert server.last["response_format"]["type"] == "json_schema"


def test_function_calling_method_forces_the_schema_tool():
    server = tool_reply()
    result = chat(server).with_structured_output(Person, method="function_calling").invoke("who?")
    assert result == Person(name="Ada", age=36)
    body = server.last
    assert [tool["function"]["name"] for tool in body["tools"]] == ["Person"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert body["parallel_tool_calls"] is False


def test_json_mode_parses_a_dict_or_a_model():
    server = json_reply()
    assert chat(server).with_structured_output(None, method="json_mode").invoke("x") == {
        "name": "Ada",
        "age": 36,
    }
    assert server.last["response_format"] == {"type": "json_object"}
    assert chat(json_reply()).with_structured_output(Person, method="json_mode").invoke(
        "x"
    ) == Person(name="Ada", age=36)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_typeddict_and_json_schema_inputs_return_dicts(method):
    schema = {
        "title": "PersonSchema",
        "description": "A person.",
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    for given, name in ((PersonDict, "PersonDict"), (schema, "PersonSchema")):
        server = json_reply() if method == "json_schema" else tool_reply(name=name)
        result = chat(server).with_structured_output(given, method=method).invoke("who?")
        assert result == {"name": "Ada", "age": 36}


def test_include_raw_reports_a_parsing_error_instead_of_raising():
    server = json_reply('{"name": "Ada"}')
    result = (
        chat(server)
        .with_structured_output(Person, method="json_schema", include_raw=True)
        .invoke("x")
    )
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] is None
    assert result["parsing_error"] is not None
    good = chat(tool_reply()).with_structured_output(
        Person, method="function_calling", include_raw=True
    )
    result = good.invoke("x")
    assert result["parsed"] == Person(name="Ada", age=36)
    assert result["parsing_error"] is None
    assert result["raw"].tool_calls[0]["name"] == "Person"


def test_structured_output_errors():
    model = chat(refuse)
    with pytest.raises(HFConfigError, match="strict"):
        model.with_structured_output(Person, method="json_mode", strict=True)
    with pytest.raises(HFConfigError, match="needs a schema"):
        model.with_structured_output(None, method="json_schema")
    with pytest.raises(HFConfigError, match="not supported"):
        model.with_structured_output(Person, method="xml")  # type: ignore[arg-type]


def test_a_refusal_is_a_parsing_error():
    server = Server(body=completion_body({"role": "assistant", "content": None, "refusal": "no"}))
    result = chat(server).with_structured_output(Person, include_raw=True).invoke("x")
    assert result["parsed"] is None
    assert "refused" in str(result["parsing_error"])


# --- LangChain metadata ---------------------------------------------------------------------------


def test_ls_params_and_identity():
    model = ChatHF(model="org/name:together", temperature=0.2, max_tokens=50, stop="END")
    assert model._get_ls_params() == {
        "ls_provider": "huggingface",
        "ls_model_name": "org/name:together",
        "ls_model_type": "chat",
        "ls_temperature": 0.2,
        "ls_max_tokens": 50,
        "ls_stop": ["END"],
    }
    assert model._get_ls_params(stop=["x"], temperature=0.9, max_new_tokens=3)["ls_stop"] == ["x"]
    assert model._llm_type == "hfbridge-chat"
    assert ChatHF(model="agent").model_id == BUILTIN_ALIASES["chat"]["agent"]
    assert ChatHF(model_name="org/x").model == "org/x"
    assert model.profile is not None
    assert model.profile.get("text_inputs") is True


def test_service_is_built_once_and_shared():
    model = ChatHF(model="org/name")
    assert model.service is model.service
    assert model.service_for("org/other") is model.service_for("org/other")
    assert model.service_for("org/other") is not model.service
    assert model.service_for("org/other").spec.model_id == "org/other"
    assert model.service_for("org/other").connection is model.service.connection


def test_calling_service_still_works_and_says_it_is_a_property_now():
    model = ChatHF(model="org/name")
    with pytest.warns(DeprecationWarning, match="property"):
        assert model.service() is model.service
    with pytest.warns(DeprecationWarning, match="service_for"):
        assert model.service("org/other").spec.model_id == "org/other"


def test_tools_passed_per_call_are_converted_and_the_choice_normalised():
    server = Server()
    chat(server).invoke("hi", tools=[GetWeather, get_time], tool_choice="any")
    assert [tool["function"]["name"] for tool in server.last["tools"]] == ["GetWeather", "get_time"]
    assert server.last["tool_choice"] == "required"
    chat(server).bind_tools([]).invoke("hi")
    assert "tools" not in server.last
    assert "tool_choice" not in server.last


# --- the router: capability-aware routing from the catalog -------------------------------------

ROUTER_MODELS = {
    "org/chat": [
        {"provider": "novita", "status": "live", "supports_tools": False,
         "supports_structured_output": False, "pricing": {"input": 0.1, "output": 0.2}},
        {"provider": "together", "status": "live", "supports_tools": True,
         "supports_structured_output": True, "pricing": {"input": 1.0, "output": 2.0},
         "throughput": 90},
    ],
    "org/no-schema": [
        {"provider": "groq", "status": "live", "supports_tools": True,
         "supports_structured_output": False},
    ],
    "org/no-tools": [
        {"provider": "novita", "status": "live", "supports_tools": False},
    ],
}  # fmt: skip


class Router(Server):
    """The router: ``/v1/models/{id}`` from ROUTER_MODELS; chat answered by the pinned provider."""

    def __init__(self, body=None):
        super().__init__(body=body)
        self.lookups: list[str] = []

    def __call__(self, request):
        if request.method == "GET":
            self.lookups.append(request.url.path)
            model_id = request.url.path.removeprefix("/v1/models/")
            providers = ROUTER_MODELS.get(model_id)
            if providers is None:
                return httpx.Response(404, json={"error": "not found"})
            return httpx.Response(200, json={"id": model_id, "providers": providers})
        suffix = json.loads(request.content)["model"].partition(":")[2]
        provider = "novita" if suffix in ("", "cheapest", "fastest", "preferred") else suffix
        self.headers = {"x-request-id": "rid-r", "x-inference-provider": provider}
        return super().__call__(request)


def router_chat(server, model, **kwargs):
    transport = httpx.MockTransport(server)
    catalog = Catalog(
        HFClient(transport=transport), AsyncHFClient(transport=transport), cache_dir=False
    )
    return chat(server, base_url=None, model=model, catalog=catalog, **kwargs)


def test_tools_on_a_pinned_provider_without_them_fail_before_any_chat_request():
    server = Router()
    with pytest.raises(HFCapabilityError, match="together"):
        router_chat(server, "org/chat:novita").bind_tools([GetWeather])
    assert server.requests == []


def test_tools_on_a_model_no_provider_can_serve_fail_at_bind_time():
    server = Router()
    with pytest.raises(HFCapabilityError):
        router_chat(server, "org/no-tools").bind_tools([GetWeather], tool_choice="auto")
    assert server.requests == []
    assert server.lookups == ["/v1/models/org/no-tools"]
    # tool_choice="none" needs no tool support
    router_chat(server, "org/no-tools").bind_tools([GetWeather], tool_choice="none").invoke("hi")
    assert server.last["model"] == "org/no-tools"


def test_tool_calls_are_routed_to_a_provider_that_has_tools():
    server = Router()
    message = router_chat(server, "org/chat").bind_tools([GetWeather]).invoke("hi")
    assert server.last["model"] == "org/chat:together"
    metadata = message.response_metadata
    assert metadata["provider"] == "together"
    assert metadata["request_id"] == "rid-r"
    assert metadata["route"]
    # 3 prompt tokens at $1/M and 2 completion tokens at $2/M
    assert metadata["cost_usd"] == pytest.approx((3 * 1.0 + 2 * 2.0) / 1_000_000)


async def test_async_streams_are_routed_too():
    server = Router()
    bound = router_chat(server, "org/chat").bind_tools([GetWeather])
    chunks = [chunk async for chunk in bound.astream("hi")]
    assert server.last["model"] == "org/chat:together"
    assert merge(chunks).response_metadata["provider"] == "together"


def test_plain_chat_goes_as_configured_and_the_cost_uses_the_serving_provider():
    server = Router()
    message = router_chat(server, "org/chat:cheapest").invoke("hi")
    assert server.last["model"] == "org/chat:cheapest"
    assert message.response_metadata["provider"] == "novita"
    assert message.response_metadata["route"] == "as configured"
    assert message.response_metadata["cost_usd"] == pytest.approx((3 * 0.1 + 2 * 0.2) / 1_000_000)


def test_the_default_structured_output_method_follows_provider_support():
    server = Router(body=tool_reply().body)
    result = router_chat(server, "org/no-schema").with_structured_output(Person).invoke("who?")
    assert result == Person(name="Ada", age=36)
    assert [tool["function"]["name"] for tool in server.last["tools"]] == ["Person"]
    assert server.last["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert "response_format" not in server.last
    server = Router(body=json_reply().body)
    result = router_chat(server, "org/chat").with_structured_output(Person).invoke("who?")
    assert result == Person(name="Ada", age=36)
    assert server.last["response_format"]["type"] == "json_schema"
    assert server.last["model"] == "org/chat:together"
    assert "tools" not in server.last


def test_stream_events_v3_and_v1_output_carry_text_and_tool_calls():
    from langchain_tests.utils.stream_lifecycle import assert_valid_event_stream

    stream = chat(Server()).stream_events("hi", version="v3")
    events = list(stream)
    assert_valid_event_stream(events)
    assert stream.output.text == "hello"
    assert stream.output.usage_metadata["total_tokens"] == 5
    chunks = list(chat(Server(stream=TOOL_STREAM), output_version="v1").stream("hi"))
    full = merge(chunks)
    assert [block["type"] for block in full.content] == ["tool_call", "tool_call"]
    assert [call["args"] for call in full.tool_calls] == [{"city": "Rome"}, {}]


def test_logprobs_are_reported_when_requested():
    body = completion_body()
    body["choices"][0]["logprobs"] = {"content": [{"token": "hello", "logprob": -0.5}]}
    server = Server(body=body)
    message = chat(server, logprobs=True, top_logprobs=1).invoke("hi")
    assert message.response_metadata["logprobs"] == body["choices"][0]["logprobs"]
    stream = sse(
        {"choices": [{"index": 0, "delta": {"content": "hel"},
                      "logprobs": {"content": [{"token": "hel", "logprob": -0.1}]}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop",
                      "logprobs": {"content": [{"token": "lo", "logprob": -0.2}]}}]},
    )  # fmt: skip
    full = merge(list(chat(Server(stream=stream), logprobs=True).stream("hi")))
    assert full.response_metadata["logprobs"] == {
        "content": [{"token": "hel", "logprob": -0.1}, {"token": "lo", "logprob": -0.2}]
    }


# --- settings changed after first use -------------------------------------------------------------
# ChatHF keeps what it derives from its settings between calls; a changed setting must show at once.


def test_an_assigned_setting_shows_in_the_next_call():
    server = Server()
    model = chat(server, temperature=0.1)
    model.invoke("hi")
    model.temperature = 0.7
    model.max_tokens = 5
    model.invoke("hi")
    assert [body.get("temperature") for body in server.bodies] == [0.1, 0.7]
    assert server.last["max_tokens"] == 5
    assert model._identifying_params["temperature"] == 0.7
    assert model._get_ls_params()["ls_temperature"] == 0.7
    assert model._get_ls_params()["ls_max_tokens"] == 5


def test_an_assigned_model_and_base_url_are_used():
    first, second = Server(), Server()
    model = chat(first)
    model.invoke("hi")
    model.transport = httpx.MockTransport(second)
    model.model = "other"
    model.invoke("hi")
    assert first.last["model"] == "local"
    assert second.last["model"] == "other"
    assert model.model_id == "other"
    assert model._get_ls_params()["ls_model_name"] == "other"


def test_a_copy_with_changes_sends_its_own_settings_and_the_original_keeps_its_own():
    server = Server()
    model = chat(server, temperature=0.1)
    model.invoke("hi")
    changed = model.model_copy(update={"temperature": 0.9, "model": "copy"})
    changed.invoke("hi")
    model.invoke("hi")
    assert [(b["model"], b["temperature"]) for b in server.bodies] == [
        ("local", 0.1), ("copy", 0.9), ("local", 0.1),
    ]  # fmt: skip
    assert changed._identifying_params["model"] == "copy"


def test_per_call_values_do_not_stick():
    server = Server()
    model = chat(server, temperature=0.1)
    model.invoke("hi", temperature=0.5, timeout=3, model="other")
    model.invoke("hi")
    assert [(b["model"], b["temperature"]) for b in server.bodies] == [
        ("other", 0.5), ("local", 0.1),
    ]  # fmt: skip
    assert model._get_ls_params(temperature=0.5)["ls_temperature"] == 0.5
    assert model._get_ls_params()["ls_temperature"] == 0.1


def test_returned_params_are_copies():
    model = chat(Server(), temperature=0.1)
    model._identifying_params["temperature"] = 99
    model._default_params["temperature"] = 99
    model._get_ls_params()["ls_temperature"] = 99
    assert model._identifying_params["temperature"] == 0.1
    assert model._default_params["temperature"] == 0.1
    assert model._get_ls_params()["ls_temperature"] == 0.1


# --- issue 17: tool-call deltas without index, surrogate halves ----------------------------------

NO_INDEX_STREAM = sse(
    {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "say", "arguments": ""}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": '{"text": "'}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": "hi \ud83d"}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": '\ude00"}'}}]},
                  "finish_reason": "tool_calls"}]},
)  # fmt: skip


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_streamed_tool_call_without_index_and_with_split_surrogates_is_one_valid_call(mode):
    server = Server(stream=NO_INDEX_STREAM)
    model = chat(server)
    if mode == "stream":
        chunks = list(model.stream("say hi"))
    else:

        async def collect():
            return [chunk async for chunk in model.astream("say hi")]

        chunks = asyncio.run(collect())
    message = chunks[0]
    for chunk in chunks[1:]:
        message = message + chunk

    assert message.invalid_tool_calls == []
    assert [(c["id"], c["name"], c["args"]) for c in message.tool_calls] == [
        ("call_1", "say", {"text": "hi \U0001f600"})
    ]
    # The next turn carries the call back: it must encode (it used to raise UnicodeEncodeError).
    model.invoke([HumanMessage("say hi"), message, ToolMessage("done", tool_call_id="call_1")])
    assert server.last["messages"][1]["tool_calls"][0]["function"]["arguments"] == (
        '{"text": "hi \U0001f600"}'
    )
