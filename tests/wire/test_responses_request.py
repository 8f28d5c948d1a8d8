"""Responses API requests: chat-level inputs mapped onto /v1/responses, bad input refused early."""

import json
from pathlib import Path

import pytest

from hfbridge.errors import HFConfigError
from hfbridge.wire.responses import (
    build_responses_payload,
    messages_to_input,
    responses_request,
    text_format,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"
USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
MCP = {
    "type": "mcp",
    "server_label": "gitmcp",
    "server_url": "https://gitmcp.io/openai/tiktoken",
    "allowed_tools": ["search_tiktoken_documentation"],
    "require_approval": "never",
}


def options(payload):
    return {key: value for key, value in payload.items() if key not in ("model", "input")}


def test_model_first_input_items_and_none_dropped():
    payload = build_responses_payload(
        "org/m:groq", USER, params={"temperature": 0.2, "top_p": None}
    )
    assert next(iter(payload)) == "model"
    assert payload == {
        "model": "org/m:groq",
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "temperature": 0.2,
    }
    assert "model" not in build_responses_payload(None, USER)


def test_a_whole_conversation_becomes_items_in_order():
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"}},
            {"type": "image_url", "image_url": "https://example.org/cat.png"},
        ]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "zoom", "arguments": {"level": 2}}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a "}, {"type": "text", "text": "big cat"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "developer", "content": "Now in French."},
    ]  # fmt: skip
    assert messages_to_input(messages) == [
        {"type": "message", "role": "system", "content": "Be terse."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
            {"type": "input_image", "image_url": "https://example.org/cat.png"},
        ]},
        {"type": "message", "role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "call_2", "name": "zoom", "arguments": '{"level": 2}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
        {"type": "function_call_output", "call_id": "call_2", "output": "a big cat"},
        {"type": "message", "role": "assistant", "content": "A cat."},
        {"type": "message", "role": "developer", "content": "Now in French."},
    ]  # fmt: skip


def test_an_assistant_turn_with_only_tool_calls_has_no_message_item():
    items = messages_to_input([
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": ""}}]},
    ])  # fmt: skip
    assert [item["type"] for item in items] == ["message", "function_call"]


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "must not be empty"),
        ([{"role": "tool", "content": "r"}], "tool_call_id"),
        ([{"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f"}}]}], "without its id"),
        ([{"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}], "text tool results"),
    ],
)  # fmt: skip
def test_bad_messages_fail_before_any_request(messages, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        build_responses_payload("m", messages)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 12}, {"max_output_tokens": 12}),
        ({"max_new_tokens": 12}, {"max_output_tokens": 12}),
        ({"max_output_tokens": 5, "max_tokens": 12}, {"max_output_tokens": 5}),
        ({"reasoning_effort": "low"}, {"reasoning": {"effort": "low"}}),
        ({"reasoning": {"summary": "auto"}, "reasoning_effort": "high"}, {"reasoning": {"summary": "auto", "effort": "high"}}),
        ({"n": 1, "logprobs": False, "top_p": 0.5}, {"top_p": 0.5}),
        ({"previous_response_id": "resp_1", "store": False, "instructions": "Be brief."},
         {"previous_response_id": "resp_1", "store": False, "instructions": "Be brief."}),
        ({"provider_flag": {"a": 1}}, {"provider_flag": {"a": 1}}),
        ({"stream": True}, {}),
    ],
)  # fmt: skip
def test_chat_spellings_are_mapped_onto_responses_fields(params, expected):
    assert options(build_responses_payload("m", USER, params=params)) == expected


def test_streaming_sets_stream_and_no_stream_options():
    payload = build_responses_payload("m", USER, stream=True)
    assert payload["stream"] is True
    assert "stream_options" not in payload


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"stop": ["\n"]}, "stop is not part of the Responses API"),
        ({"seed": 1, "logit_bias": {"1": 2}}, "seed, logit_bias are not part"),
        ({"n": 2}, "n is not part"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"max_tokens": 0}, "max_tokens must be an integer from 1"),  # wire.params: one verdict
        ({"max_output_tokens": True}, "max_output_tokens must be an integer from 1"),
        ({"temperature": -1}, "temperature must be at least 0"),
        ({"top_p": 0}, "top_p must be greater than 0"),
        ({"reasoning": "high"}, "reasoning must be a dict"),
        ({"reasoning_effort": 3}, "reasoning_effort must be a string"),
        ({"background": True}, "background=True is not supported"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "needs a 'schema'",
        ),
    ],
)
def test_chat_only_and_bad_parameters_fail_before_any_request(params, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        build_responses_payload("m", USER, params=params)


def test_function_tools_are_flattened_and_a_forced_choice_names_the_tool():
    payload = build_responses_payload(
        "m",
        USER,
        params={"tools": [WEATHER], "tool_choice": "get_weather", "parallel_tool_calls": False},
    )
    assert payload["tools"] == [{
        "type": "function", "name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }]  # fmt: skip
    assert payload["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert payload["parallel_tool_calls"] is False


def test_flat_function_tools_are_accepted_and_parameters_always_sent():
    flat = {"type": "function", "name": "ping", "strict": True}
    payload = build_responses_payload("m", USER, params={"tools": [flat], "tool_choice": "any"})
    assert payload["tools"] == [{"type": "function", "name": "ping", "strict": True,
                                 "parameters": {"type": "object", "properties": {}}}]  # fmt: skip
    assert payload["tool_choice"] == "required"


def test_remote_mcp_tools_pass_through_and_may_be_forced_by_name():
    payload = build_responses_payload(
        "m", USER, params={"tools": [MCP, WEATHER], "tool_choice": "search_tiktoken_documentation"}
    )
    assert payload["tools"][0] == MCP
    assert payload["tool_choice"] == {"type": "function", "name": "search_tiktoken_documentation"}
    mcp_choice = {"type": "mcp", "server_label": "gitmcp"}
    assert (
        build_responses_payload("m", USER, params={"tools": [MCP], "tool_choice": mcp_choice})[
            "tool_choice"
        ]
        == mcp_choice
    )


def test_an_mcp_tool_without_its_server_fails_early():
    with pytest.raises(HFConfigError, match="server_url"):
        build_responses_payload("m", USER, params={"tools": [{"type": "mcp", "server_label": "x"}]})


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"tools": "get_weather"}, "tools must be a list"),
        ({"tools": [{"type": "function", "function": {"name": "bad name!"}}]}, "tool name"),
        ({"tools": [WEATHER], "tool_choice": "get_time"}, "not among the bound tools"),
        ({"tool_choice": "required"}, "no tools are sent"),
    ],
)
def test_bad_tools_fail_before_any_request(params, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        build_responses_payload("m", USER, params=params)


def test_tool_fields_without_tools_are_left_out():
    payload = build_responses_payload(
        "m", USER, params={"tools": [], "tool_choice": "auto", "parallel_tool_calls": True}
    )
    assert options(payload) == {}


def test_structured_output_goes_to_text_format():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    response_format = {
        "type": "json_schema",
        "json_schema": {
            "name": "City info",
            "schema": schema,
            "strict": True,
            "description": "A city.",
        },
    }
    payload = build_responses_payload(
        "m", USER, params={"response_format": response_format, "text": {"verbosity": "low"}}
    )
    assert payload["text"] == {
        "verbosity": "low",
        "format": {"type": "json_schema", "name": "City_info", "schema": schema, "strict": True, "description": "A city."},
    }  # fmt: skip
    assert "response_format" not in payload
    assert text_format({"type": "json_object"}) == {"type": "json_object"}


def test_mirroring_also_sends_the_chat_response_format_for_llama_server():
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "City", "schema": schema}}
    payload = build_responses_payload(
        "m", USER, params={"response_format": response_format}, mirror_response_format=True
    )
    assert payload["text"]["format"] == {"type": "json_schema", "name": "City", "schema": schema}
    assert payload["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "City", "schema": schema},
    }
    json_object = build_responses_payload(
        "m", USER, params={"response_format": {"type": "json_object"}}, mirror_response_format=True
    )
    assert json_object["response_format"] == {"type": "json_object"}


def test_the_recorded_requests_are_what_the_builder_makes():
    """recorded.json holds the bodies llama-server accepted; the builder still makes them."""
    recorded = json.loads((FIXTURES / "recorded.json").read_text())
    request = recorded["llamacpp_tool_replay.json"]["request"]
    assert recorded["llamacpp_tool_replay.json"]["status"] == 200
    assert [item["type"] for item in request["input"]] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert request["tools"][0]["name"] == "get_weather" and request["tool_choice"] == "none"
    assert (
        recorded["llamacpp_structured_mirrored.json"]["request"]["response_format"]["type"]
        == "json_schema"
    )


def test_a_request_is_validated_once_and_laid_out_per_attempt():
    request = responses_request(USER, {"max_tokens": 8, "tools": [WEATHER]}, stream=True)
    first = request.payload("org/m:groq")
    assert next(iter(first)) == "model" and first["model"] == "org/m:groq"
    assert first["stream"] is True and first["max_output_tokens"] == 8
    assert request.payload("org/m:together")["model"] == "org/m:together"
    assert "model" not in request.payload(None)
    assert request.params == {"max_tokens": 8, "tools": [WEATHER]}
    with pytest.raises(HFConfigError, match="stop is not part"):
        responses_request(USER, {"stop": "x"})
