"""LlamaIndex messages <-> chat wire dicts, tool-call replay, stream assembly (pure functions)."""

import base64
from types import SimpleNamespace

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.tools import FunctionTool

from hfbridge.errors import HFConfigError
from hfbridge.inference.chat import ChatResult
from hfbridge.llama_index import _convert
from hfbridge.wire.chat import (
    ChatChoice,
    ChatCompletion,
    ToolCall,
    Usage,
    build_chat_payload,
    parse_chat_completion,
)
from hfbridge.wire.stream import ChunkAccumulator

# A 1x1 PNG: enough for LlamaIndex to detect the mimetype.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def weather(city: str) -> str:
    """Current weather in a city."""
    return f"sunny in {city}"


# --- messages -> wire --------------------------------------------------------------------------


def test_roles_map_onto_the_openai_roles():
    messages = [
        ChatMessage(role=MessageRole.SYSTEM, content="s"),
        ChatMessage(role=MessageRole.DEVELOPER, content="d"),
        ChatMessage(role=MessageRole.USER, content="u"),
        ChatMessage(role=MessageRole.CHATBOT, content="c"),
        ChatMessage(role=MessageRole.MODEL, content="m"),
    ]
    wire = _convert.to_wire_messages(messages)
    assert [(m["role"], m["content"]) for m in wire] == [
        ("system", "s"), ("developer", "d"), ("user", "u"), ("assistant", "c"), ("assistant", "m"),
    ]  # fmt: skip


def test_text_blocks_join_like_llama_index_content_and_thinking_is_not_sent_back():
    message = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[ThinkingBlock(content="hidden"), TextBlock(text="a"), TextBlock(text="b")],
    )
    assert _convert.to_wire_messages([message]) == [{"role": "assistant", "content": "a\nb"}]
    assert message.content == "a\nb"


def test_images_become_content_parts_in_order():
    message = ChatMessage(
        role=MessageRole.USER,
        blocks=[
            TextBlock(text="what is this?"),
            ImageBlock(url="https://example.org/cat.jpg", detail="low"),
            ImageBlock(image=PNG),
            TextBlock(text="thanks"),
        ],
    )
    [wire] = _convert.to_wire_messages([message])
    text1, remote, inline, text2 = wire["content"]
    assert text1 == {"type": "text", "text": "what is this?"}
    assert remote == {
        "type": "image_url",
        "image_url": {"url": "https://example.org/cat.jpg", "detail": "low"},
    }
    assert inline["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert text2 == {"type": "text", "text": "thanks"}
    build_chat_payload("m", [wire])  # the wire layer accepts the parts


def test_blocks_chat_cannot_carry_are_refused_with_a_clear_error():
    message = ChatMessage(role=MessageRole.USER, blocks=[AudioBlock(audio=b"RIFF....")])
    with pytest.raises(HFConfigError, match="'audio' block"):
        _convert.to_wire_messages([message])


def test_assistant_tool_call_blocks_are_replayed_with_ids_names_and_json_arguments():
    message = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="call_a", tool_name="weather", tool_kwargs={"city": "Oslo"}),
            ToolCallBlock(tool_call_id="call_b", tool_name="clock", tool_kwargs='{"tz": "UTC"}'),
        ],
    )
    [wire] = _convert.to_wire_messages([message])
    assert wire == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_b", "type": "function",
             "function": {"name": "clock", "arguments": '{"tz": "UTC"}'}},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    "call",
    [
        {"id": "call_x", "type": "function", "function": {"name": "weather", "arguments": "{}"}},
        SimpleNamespace(id="call_x", type="function",
                        function=SimpleNamespace(name="weather", arguments="{}")),
    ],
    ids=["dict", "object"],
)  # fmt: skip
def test_tool_calls_only_in_additional_kwargs_are_replayed_too(call):
    message = ChatMessage(
        role=MessageRole.ASSISTANT, content="let me check", additional_kwargs={"tool_calls": [call]}
    )
    [wire] = _convert.to_wire_messages([message])
    assert wire["content"] == "let me check"
    assert wire["tool_calls"] == [
        {"id": "call_x", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    ]


def test_tool_results_carry_the_call_id_and_the_functions_real_name():
    assistant = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[ToolCallBlock(tool_call_id="call_7", tool_name="weather", tool_kwargs={})],
    )
    # FunctionAgent stores only the id; the name comes from the assistant turn that called it.
    result = ChatMessage(
        role=MessageRole.TOOL, content="sunny", additional_kwargs={"tool_call_id": "call_7"}
    )
    named = ChatMessage(
        role=MessageRole.TOOL,
        content="12:00",
        additional_kwargs={"tool_call_id": "call_8", "name": "clock"},
    )
    unknown = ChatMessage(
        role=MessageRole.TOOL, content="?", additional_kwargs={"tool_call_id": "call_9"}
    )
    wire = _convert.to_wire_messages([assistant, result, named, unknown])
    assert wire[1] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "name": "weather",
        "content": "sunny",
    }
    assert wire[2] == {
        "role": "tool",
        "tool_call_id": "call_8",
        "name": "clock",
        "content": "12:00",
    }
    assert wire[3] == {"role": "tool", "tool_call_id": "call_9", "content": "?"}
    assert all(m.get("name") != m.get("tool_call_id") for m in wire[1:])


def test_a_tool_result_without_its_call_id_is_refused_before_sending():
    wire = _convert.to_wire_messages(
        [ChatMessage(role=MessageRole.USER, content="hi"), ChatMessage(role="tool", content="x")]
    )
    with pytest.raises(HFConfigError, match="tool_call_id"):
        build_chat_payload("m", wire)


def test_a_history_survives_serialisation_then_replays_identically():
    body = {
        "choices": [{"message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "abc", "type": "function",
             "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]}}],
    }  # fmt: skip
    result = ChatResult(completion=parse_chat_completion(body), model="m", provider=None,
                        request_id=None)  # fmt: skip
    message = _convert.chat_response(result).message
    restored = ChatMessage.model_validate_json(message.model_dump_json())
    assert _convert.to_wire_messages([restored]) == _convert.to_wire_messages([message])
    assert _convert.to_wire_messages([message])[0]["tool_calls"][0] == {
        "id": "abc", "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
    }  # fmt: skip


# --- tools -------------------------------------------------------------------------------------


def test_llama_index_tools_become_openai_tool_definitions():
    [spec] = _convert.wire_tools([FunctionTool.from_defaults(fn=weather)])
    assert spec["type"] == "function"
    assert spec["function"]["name"] == "weather"
    assert "Current weather" in spec["function"]["description"]
    assert spec["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert spec["function"]["parameters"]["required"] == ["city"]


@pytest.mark.parametrize(
    ("choice", "required", "expected"),
    [
        (None, False, "auto"),
        (None, True, "required"),
        ("none", True, "none"),
        ("weather", False, {"type": "function", "function": {"name": "weather"}}),
        ({"type": "function", "function": {"name": "weather"}}, False,
         {"type": "function", "function": {"name": "weather"}}),
    ],
)  # fmt: skip
def test_tool_choice_follows_the_caller_then_tool_required(choice, required, expected):
    specs = _convert.wire_tools([FunctionTool.from_defaults(fn=weather)])
    assert _convert.wire_tool_choice(choice, required, specs) == expected


def test_tool_choice_naming_an_unbound_tool_is_refused():
    specs = _convert.wire_tools([FunctionTool.from_defaults(fn=weather)])
    with pytest.raises(HFConfigError, match="not among the bound tools"):
        _convert.wire_tool_choice("clock", False, specs)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"city": "Paris"}', {"city": "Paris"}),
        ('{"city": "Paris"', {"city": "Paris"}),
        ('{"city": "Paris", "un', {"city": "Paris"}),
        ('{"city": "Paris", "days": [1, 2', {"city": "Paris", "days": [1, 2]}),
        ("", {}),
        ("not json at all }", {}),
        ("[1, 2]", {}),
        ({"already": "parsed"}, {"already": "parsed"}),
    ],
)
def test_arguments_parse_with_tolerance_for_partial_json(arguments, expected):
    assert _convert.parse_arguments(arguments) == expected


def test_tool_selections_from_blocks_or_additional_kwargs():
    blocks = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            ToolCallBlock(tool_call_id="c1", tool_name="weather", tool_kwargs='{"city": "Lima",')
        ],
    )
    legacy = ChatMessage(
        role=MessageRole.ASSISTANT,
        additional_kwargs={"tool_calls": [_convert.tool_call_dict("c2", "clock", '{"tz":"UTC"}')]},
    )
    [first] = _convert.tool_selections(blocks)
    [second] = _convert.tool_selections(legacy)
    assert (first.tool_id, first.tool_name, first.tool_kwargs) == (
        "c1",
        "weather",
        {"city": "Lima"},
    )
    assert (second.tool_id, second.tool_name, second.tool_kwargs) == ("c2", "clock", {"tz": "UTC"})
    assert _convert.tool_selections(ChatMessage(role=MessageRole.ASSISTANT, content="hi")) == []


def test_keep_first_tool_call_trims_blocks_and_additional_kwargs_together():
    calls = (ToolCall("a", "weather", "{}"), ToolCall("b", "clock", "{}", index=1))
    message = _convert.assistant_message("", "", calls)
    _convert.keep_first_tool_call(message)
    assert [s.tool_id for s in _convert.tool_selections(message)] == ["a"]
    assert [c["id"] for c in message.additional_kwargs["tool_calls"]] == ["a"]


# --- wire -> responses -------------------------------------------------------------------------


def test_a_completion_becomes_a_chat_response_with_usage_and_origin():
    completion = ChatCompletion(
        id="x",
        model="m",
        choices=(
            ChatChoice(content="hi", reasoning="thought", finish_reason="stop",
                       tool_calls=(ToolCall("c1", "weather", '{"city":"Oslo"}'),)),
        ),
        usage=Usage(prompt_tokens=4, completion_tokens=2, total_tokens=6),
    )  # fmt: skip
    result = ChatResult(completion=completion, model="m:together", provider="together",
                        request_id="rid", cost_usd=0.5)  # fmt: skip
    response = _convert.chat_response(result)
    message = response.message
    assert message.role == MessageRole.ASSISTANT
    assert message.content == "hi"
    assert [type(b).__name__ for b in message.blocks] == [
        "ThinkingBlock",
        "TextBlock",
        "ToolCallBlock",
    ]
    assert message.additional_kwargs["tool_calls"][0]["function"]["name"] == "weather"
    assert response.additional_kwargs == {
        "prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6, "model": "m:together",
        "provider": "together", "request_id": "rid", "cost_usd": 0.5, "finish_reason": "stop",
    }  # fmt: skip
    assert response.raw["usage"]["prompt_tokens"] == 4  # what LlamaIndex's token counter reads
    assert _convert.completion_response(response).text == "hi"


def _responses(chunks):
    """Each chunk through the stream's one accumulator, then read back as LlamaIndex sees it."""
    accumulator = ChunkAccumulator()
    return [
        _convert.stream_response(delta, accumulator)
        for chunk in chunks
        for delta in accumulator.add(chunk)
    ]


def test_stream_responses_are_cumulative_messages_and_deltas():
    responses = [r for r in _responses([
        {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]) if r is not None]  # fmt: skip
    assert [(r.delta, r.message.content) for r in responses] == [
        ("Hel", "Hel"), ("lo", "Hello"), ("", "Hello"),
    ]  # fmt: skip
    assert responses[1].additional_kwargs == {"finish_reason": "stop"}
    assert responses[-1].additional_kwargs["completion_tokens"] == 2
    assert responses[-1].raw["usage"]["total_tokens"] == 5


def test_stream_responses_build_tool_calls_from_fragments():
    first, _, third = _responses([
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "c1", "type": "function",
             "function": {"name": "weather", "arguments": '{"ci'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 1, "id": "c2", "function": {"name": "clock", "arguments": "{}"}}]}}]},
    ])  # fmt: skip
    assert first is not None
    assert third is not None
    assert _convert.tool_selections(first.message)[0].tool_kwargs == {}
    selections = _convert.tool_selections(third.message)
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in selections] == [
        ("c1", "weather", {"city": "Oslo"}), ("c2", "clock", {}),
    ]  # fmt: skip
    assert third.message.additional_kwargs["tool_calls"][0]["function"]["arguments"] == (
        '{"city": "Oslo"}'
    )


def test_stream_responses_ignore_other_choices_and_empty_deltas():
    other, empty, reasoning, tool = _responses([
        {"choices": [{"index": 1, "delta": {"content": "other"}}]},
        {"choices": [{"index": 0, "delta": {}}]},
        {"choices": [{"index": 0, "delta": {"reasoning": "hmm"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}}]},
    ])  # fmt: skip
    assert (other, empty) == (None, None)
    assert reasoning is not None
    assert reasoning.additional_kwargs == {"thinking_delta": "hmm"}
    assert reasoning.message.content == ""
    assert tool is not None
