"""The chat wire layer: request bodies, validation, lenient response parsing."""

import json

import pytest

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.chat import (
    build_chat_payload,
    json_schema_format,
    normalize_tool_choice,
    parse_chat_completion,
    validate_tool,
)

USER = [{"role": "user", "content": "hi"}]


def test_model_is_the_first_key_and_none_values_are_dropped():
    payload = build_chat_payload(
        "org/m:together", USER, params={"temperature": 0.2, "top_p": None, "seed": 7}
    )
    assert next(iter(payload)) == "model"
    assert payload == {"model": "org/m:together", "messages": USER, "temperature": 0.2, "seed": 7}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_new_tokens": 12}, {"max_tokens": 12}),
        ({"max_tokens": 5, "max_new_tokens": 12}, {"max_tokens": 5}),
        ({"stop": "END"}, {"stop": ["END"]}),
        ({"logprobs": True, "top_logprobs": 3}, {"logprobs": True, "top_logprobs": 3}),
        ({"reasoning_effort": "low"}, {"reasoning_effort": "low"}),
        ({"frequency_penalty": 0.5, "presence_penalty": -0.5}, {"frequency_penalty": 0.5, "presence_penalty": -0.5}),
        ({"n": 2}, {"n": 2}),
        ({"custom_provider_flag": {"a": 1}}, {"custom_provider_flag": {"a": 1}}),
    ],
)
def test_parameters_are_mapped_onto_the_wire(params, expected):
    payload = build_chat_payload("m", USER, params=params)
    assert {k: v for k, v in payload.items() if k not in ("model", "messages")} == expected


def test_streaming_asks_for_usage_unless_disabled():
    assert build_chat_payload("m", USER, stream=True)["stream_options"] == {"include_usage": True}
    assert "stream_options" not in build_chat_payload("m", USER, stream=True, include_usage=False)
    assert "stream" not in build_chat_payload("m", USER)


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "must not be empty"),
        ([{"role": "wizard", "content": "x"}], "role 'wizard'"),
        ([{"role": "user", "content": 42}], "must be a string or a list"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "must be a string or a list"),
        ([{"role": "user"}], "has no content"),
        ([{"role": "tool", "content": "r"}], "tool_call_id"),
    ],
)
def test_bad_messages_fail_before_any_request(messages, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        build_chat_payload("m", messages)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"max_tokens": 0}, "max_tokens"), ({"max_new_tokens": -3}, "max_tokens"), ({"n": 0}, "n must"),
     ({"top_logprobs": 99}, "top_logprobs")],
)
def test_bad_parameters_fail(params, fragment):
    with pytest.raises(HFConfigError, match=fragment):
        build_chat_payload("m", USER, params=params)


def test_image_parts_and_assistant_tool_calls_are_accepted():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c0", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c0", "name": "f", "content": "1"},
    ]
    assert build_chat_payload("m", messages)["messages"] == messages


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"), ("none", "none"), ("required", "required"), ("any", "required"),
        (True, "required"), (False, "none"), (None, None),
        ("get_weather", {"type": "function", "function": {"name": "get_weather"}}),
        ({"type": "function", "function": {"name": "get_weather"}},
         {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tool_choice_spellings(choice, expected):
    assert normalize_tool_choice(choice, ["get_weather"]) == expected


@pytest.mark.parametrize(
    "params",
    [{"tool_choice": "auto"}, {"tool_choice": "none"}, {"tool_choice": False},
     {"parallel_tool_calls": False}, {"tools": [], "tool_choice": "auto"}],
)  # fmt: skip
def test_tool_fields_without_tools_are_left_out(params):
    assert build_chat_payload("m", USER, params=params) == {"model": "m", "messages": USER}


@pytest.mark.parametrize(
    "choice",
    ["required", "any", True, "get_weather", {"type": "function", "function": {"name": "f"}}],
)
def test_a_choice_that_demands_a_call_without_tools_is_refused(choice):
    with pytest.raises(HFConfigError, match="no tools are sent"):
        build_chat_payload("m", USER, params={"tool_choice": choice})


def test_tool_fields_stay_when_tools_are_sent():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    params = {"tools": tools, "tool_choice": "required", "parallel_tool_calls": False}
    payload = build_chat_payload("m", USER, params=params)
    assert {key: payload[key] for key in params} == params


def test_top_logprobs_turns_logprobs_on_and_refuses_logprobs_off():
    assert build_chat_payload("m", USER, params={"top_logprobs": 2})["logprobs"] is True
    with pytest.raises(HFConfigError, match="top_logprobs needs logprobs"):
        build_chat_payload("m", USER, params={"top_logprobs": 2, "logprobs": False})


def test_tool_choice_naming_an_unbound_tool_is_rejected():
    with pytest.raises(HFConfigError, match="not among the bound tools"):
        normalize_tool_choice("launch_rocket", ["get_weather"])


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "function"},
        {"type": "function", "function": {"name": "has space", "parameters": {}}},
        {"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}},
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": []}}},
    ],
)
def test_invalid_tools_are_rejected(tool):
    with pytest.raises(HFConfigError):
        validate_tool(tool)


def test_json_schema_format_sanitises_the_name():
    fmt = json_schema_format("My Schema!", {"type": "object"}, strict=True)
    assert fmt == {"type": "json_schema", "json_schema": {"name": "My_Schema_", "schema": {"type": "object"}, "strict": True}}


def test_lenient_parsing_of_a_tgi_style_answer():
    body = {
        "id": "", "created": 1742565776, "model": "meta-llama/Llama-3.1-8B-Instruct", "seed": 3,
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": None,
                     "tool_calls": [{"id": "0", "type": "function",
                                     "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}}],
        "usage": {"prompt_tokens": 26, "completion_tokens": 20, "total_tokens": 46},
    }
    result = parse_chat_completion(body)
    call = result.first.tool_calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.parsed_arguments() == ({"city": "Paris"}, None)
    assert result.usage is not None and result.usage.total_tokens == 46
    assert result.extra == {"seed": 3}


def test_reasoning_and_missing_usage():
    body = {"choices": [{"message": {"content": "4", "reasoning_content": "2+2"}}]}
    result = parse_chat_completion(body)
    assert (result.first.content, result.first.reasoning, result.usage) == ("4", "2+2", None)


@pytest.mark.parametrize("body", [{}, {"choices": []}, [], None, {"choices": "x"}])
def test_a_body_without_choices_is_a_typed_error(body):
    with pytest.raises(HFResponseError, match="no 'choices'"):
        parse_chat_completion(body)


def test_invalid_tool_arguments_are_reported_not_raised():
    body = {"choices": [{"message": {"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{oops"}}]}}]}
    args, error = parse_chat_completion(body).first.tool_calls[0].parsed_arguments()
    assert args is None and error is not None and "not valid JSON" in error
