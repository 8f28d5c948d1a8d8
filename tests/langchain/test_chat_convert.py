"""Conversions between LangChain objects and hfbridge's wire types (pure, no I/O)."""

from __future__ import annotations

import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import ChatResult as ServiceResult
from hfbridge.langchain._convert import (
    delta_to_chunk,
    final_chunk,
    messages_to_wire,
    to_chat_result,
    tool_params,
    usage_to_metadata,
)
from hfbridge.wire.chat import Usage, parse_chat_completion
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta, ToolCallDelta


def service_result(body, *, provider="together", request_id="rid-1", cost=0.5):
    return ServiceResult(
        completion=parse_chat_completion(body),
        model="org/m:together",
        provider=provider,
        request_id=request_id,
        cost_usd=cost,
        route="pinned",
    )


def completion(message, **extra):
    return {
        "id": "cmpl-1",
        "model": "org/m",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": extra.pop("finish_reason", "stop"),
                **extra,
            }
        ],
    }


# --- messages out ---


def test_system_human_text_and_image_parts_and_names():
    wire = messages_to_wire(
        [
            SystemMessage("be terse", name="policy"),
            HumanMessage(
                [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
                ],
                name="alice",
            ),
            HumanMessage([{"type": "image", "base64": "QUJD", "mime_type": "image/png"}]),
        ]
    )
    assert wire == [
        {"role": "system", "name": "policy", "content": "be terse"},
        {
            "role": "user",
            "name": "alice",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}],
        },
    ]


def test_assistant_tool_calls_and_tool_results_round_trip():
    wire = messages_to_wire(
        [
            AIMessage(
                "",
                tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "c1"}],
                name="bot",
            ),
            ToolMessage("21C", tool_call_id="c1", name="get_weather"),
            ToolMessage(
                [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                tool_call_id="c2",
                status="error",
            ),
        ]
    )
    assert wire[0] == {
        "role": "assistant",
        "content": None,
        "name": "bot",
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert wire[1] == {
        "role": "tool",
        "name": "get_weather",
        "tool_call_id": "c1",
        "content": "21C",
    }
    assert wire[2]["role"] == "tool"
    assert wire[2]["tool_call_id"] == "c2"
    assert "a" in wire[2]["content"]
    assert "b" in wire[2]["content"]


def test_assistant_list_content_keeps_text_only_and_replays_invalid_calls():
    message = AIMessage(
        [
            {"type": "text", "text": "let me check"},
            {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
        ],
        tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
        invalid_tool_calls=[
            {
                "type": "invalid_tool_call",
                "name": "g",
                "args": "{bad",
                "id": "c2",
                "error": "bad json",
            }
        ],
    )
    wire = messages_to_wire([message])[0]
    assert wire["content"] == "let me check"
    assert [call["function"] for call in wire["tool_calls"]] == [
        {"name": "f", "arguments": '{"a": 1}'},
        {"name": "g", "arguments": "{bad"},
    ]


def test_developer_role_through_chat_message():
    assert messages_to_wire([ChatMessage(role="developer", content="d")]) == [
        {"role": "developer", "content": "d"}
    ]


# --- tools ---


class GetWeather(BaseModel):
    """Current weather for a city."""

    city: str = Field(description="City name")


def get_time(city: str) -> str:
    """Local time in a city."""
    return city


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


RAW_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Find",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_every_tool_kind_becomes_an_openai_function():
    params = tool_params([GetWeather, get_time, add, RAW_TOOL])
    names = [item["function"]["name"] for item in params["tools"]]
    assert names == ["GetWeather", "get_time", "add", "lookup"]
    assert all(item["type"] == "function" for item in params["tools"])
    weather = params["tools"][0]["function"]
    assert weather["parameters"]["properties"]["city"]["type"] == "string"
    assert weather["parameters"]["required"] == ["city"]
    assert "tool_choice" not in params


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        (True, "required"),
        ("add", {"type": "function", "function": {"name": "add"}}),
        (
            {"type": "function", "function": {"name": "add"}},
            {"type": "function", "function": {"name": "add"}},
        ),
    ],
)
def test_tool_choice_spellings(choice, expected):
    assert tool_params([add], choice)["tool_choice"] == expected


def test_tool_choice_naming_an_unbound_tool_is_a_config_error():
    with pytest.raises(HFConfigError, match="not among the bound tools"):
        tool_params([add], "multiply")


def test_strict_reaches_the_function_definition():
    params = tool_params([GetWeather], strict=True)
    assert params["tools"][0]["function"]["strict"] is True


def test_no_tools_sends_no_tools_field():
    assert tool_params([]) == {}


# --- results in ---


@pytest.mark.parametrize("arguments", ['{"city": "Paris"}', {"city": "Paris"}])
def test_tool_call_arguments_as_string_or_object(arguments):
    body = completion(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        finish_reason="tool_calls",
    )
    message = to_chat_result(service_result(body)).generations[0].message
    assert message.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"}
    ]
    assert message.invalid_tool_calls == []
    assert message.content == ""


@pytest.mark.parametrize("arguments", ['{"city": ', "[1, 2]"])
def test_invalid_arguments_go_to_invalid_tool_calls(arguments):
    body = completion(
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        }
    )
    message = to_chat_result(service_result(body)).generations[0].message
    assert [call["name"] for call in message.tool_calls] == ["g"]
    [invalid] = message.invalid_tool_calls
    assert (invalid["name"], invalid["args"], invalid["id"]) == ("f", arguments, "c1")
    assert invalid["error"]


def test_response_metadata_and_usage_details():
    body = completion(
        {"role": "assistant", "content": "hi", "reasoning_content": "thinking"},
        logprobs={"content": [{"token": "hi", "logprob": -0.1}]},
    )
    body["usage"] = {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    body["system_fingerprint"] = "fp-1"
    result = to_chat_result(service_result(body))
    message = result.generations[0].message
    assert message.response_metadata == {
        "finish_reason": "stop",
        "model_name": "org/m",
        "model_provider": "huggingface",
        "provider": "together",
        "request_id": "rid-1",
        "route": "pinned",
        "cost_usd": 0.5,
        "system_fingerprint": "fp-1",
        "id": "cmpl-1",
        "logprobs": {"content": [{"token": "hi", "logprob": -0.1}]},
    }
    assert message.usage_metadata == {
        "input_tokens": 10,
        "output_tokens": 4,
        "total_tokens": 14,
        "input_token_details": {"cache_read": 6},
        "output_token_details": {"reasoning": 2},
    }
    assert message.additional_kwargs == {"reasoning_content": "thinking"}
    assert result.llm_output == {
        "model_name": "org/m",
        "token_usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
    }


def test_unknown_provider_and_cost_are_left_out():
    result = to_chat_result(service_result(completion({"content": "x"}), provider=None, cost=None))
    metadata = result.generations[0].message.response_metadata
    assert "provider" not in metadata
    assert "cost_usd" not in metadata
    assert metadata["model_provider"] == "huggingface"


def test_every_choice_becomes_a_generation():
    body = {
        "model": "m",
        "choices": [
            {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
            {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
        ],
    }
    generations = to_chat_result(service_result(body)).generations
    assert [g.message.content for g in generations] == ["a", "b"]
    assert [g.generation_info["finish_reason"] for g in generations] == ["stop", "length"]


def test_usage_without_details():
    assert usage_to_metadata(Usage(1, 2, 3)) == {
        "input_tokens": 1,
        "output_tokens": 2,
        "total_tokens": 3,
    }
    assert usage_to_metadata(None) is None


# --- streams in ---

STREAM = [
    {
        "id": "s",
        "model": "org/m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let "}}],
    },
    {"choices": [{"index": 0, "delta": {"content": "me"}}]},
    {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
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
                            "function": {"name": "get_weather", "arguments": '{"city": '},
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
                            "function": {"name": "get_time", "arguments": '{"city": "Oslo"}'},
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
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
                "finish_reason": "tool_calls",
            }
        ]
    },
    {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16}},
]


def run_stream(events):
    accumulator = ChunkAccumulator()
    chunks = [
        chunk
        for event in events
        for delta in accumulator.add(event)
        if (chunk := delta_to_chunk(delta)) is not None
    ]
    result = ServiceResult(
        completion=accumulator.completion(),
        model="org/m",
        provider="nebius",
        request_id="rid-s",
        route="fastest",
    )
    return [*chunks, final_chunk(result)]


def test_stream_chunks_merge_tool_calls_by_index():
    chunks = run_stream(STREAM)
    first_fragments = [c.message.tool_call_chunks for c in chunks if c.message.tool_call_chunks]
    # id and name appear once per call, although the server repeated them
    names = [part["name"] for parts in first_fragments for part in parts if part["name"]]
    assert names == ["get_weather", "get_time"]
    merged = chunks[0].message
    for chunk in chunks[1:]:
        merged += chunk.message
    assert isinstance(merged, AIMessageChunk)
    assert merged.content == "Let me"
    assert merged.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "c1", "type": "tool_call"},
        {"name": "get_time", "args": {"city": "Oslo"}, "id": "c2", "type": "tool_call"},
    ]
    assert merged.chunk_position == "last"
    assert merged.usage_metadata == {"input_tokens": 7, "output_tokens": 9, "total_tokens": 16}
    assert merged.response_metadata["finish_reason"] == "tool_calls"
    assert merged.response_metadata["provider"] == "nebius"
    assert merged.response_metadata["model_name"] == "org/m"
    assert merged.response_metadata["request_id"] == "rid-s"


def test_usage_only_on_the_last_chunk():
    chunks = run_stream(STREAM)
    assert [c.message.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [
        True
    ]
    assert all(not c.message.response_metadata for c in chunks[:-1])


@pytest.mark.parametrize("arguments", ["oops", "[1, 2]"])
def test_invalid_streamed_arguments_end_in_invalid_tool_calls(arguments):
    # (langchain-core completes a truncated object such as '{"a": tru' leniently, as partial JSON)
    events = [
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "function": {"name": "f", "arguments": arguments},
                            }
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        }
    ]
    merged = None
    for chunk in run_stream(events):
        merged = chunk.message if merged is None else merged + chunk.message
    assert merged.tool_calls == []
    assert [(c["name"], c["args"]) for c in merged.invalid_tool_calls] == [("f", arguments)]


def test_empty_and_other_choice_deltas_are_skipped_and_reasoning_kept():
    assert delta_to_chunk(StreamDelta(finish_reason="stop")) is None
    assert delta_to_chunk(StreamDelta(choice_index=1, content="x")) is None
    chunk = delta_to_chunk(StreamDelta(reasoning="hmm"))
    assert chunk is not None
    assert chunk.message.additional_kwargs == {"reasoning_content": "hmm"}
    chunk = delta_to_chunk(StreamDelta(tool_calls=(ToolCallDelta(index=2, arguments="{}"),)))
    assert chunk is not None
    assert chunk.message.tool_call_chunks[0]["index"] == 2


def test_wire_arguments_are_json_text_with_unicode_kept():
    wire = messages_to_wire(
        [AIMessage("", tool_calls=[{"name": "f", "args": {"ü": [1]}, "id": "x"}])]
    )
    assert wire[0]["tool_calls"][0]["function"]["arguments"] == '{"ü": [1]}'


@pytest.mark.parametrize(
    "message",
    [
        HumanMessage("hi"),
        HumanMessage("hi", name="bob", id="m-1"),
        HumanMessage(""),
        SystemMessage("be brief"),
        SystemMessage("be brief", name="policy", additional_kwargs={"x": 1}),
        HumanMessage([{"type": "text", "text": "parts"}]),  # content parts: the general path
    ],
)
def test_plain_text_messages_go_out_as_langchain_writes_them(message):
    from langchain_core.messages import convert_to_openai_messages

    assert messages_to_wire([message]) == [convert_to_openai_messages(message)]


def test_a_text_chunk_is_what_a_validated_build_gives():
    from langchain_core.outputs import ChatGenerationChunk

    chunk = delta_to_chunk(StreamDelta(content="tok"))
    expected = ChatGenerationChunk(message=AIMessageChunk(content="tok"))
    assert chunk == expected
    assert chunk.message.model_fields_set == expected.message.model_fields_set


def test_a_plain_answer_leaves_empty_fields_at_their_defaults():
    body = {
        "id": "c1", "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
    }  # fmt: skip
    message = to_chat_result(service_result(body)).generations[0].message
    assert message.tool_calls == []
    assert message.invalid_tool_calls == []
    assert message.additional_kwargs == {}
    assert message.content == "hi"
    assert message.id == "c1"
    assert message == AIMessage(
        content="hi", id="c1", response_metadata=message.response_metadata,
        tool_calls=[], invalid_tool_calls=[], additional_kwargs={},
    )  # fmt: skip
