"""v1 content blocks: text, reasoning, tool calls (whole and streamed) and image inputs.

LangChain's own translator reads our messages (no translator is registered for
``model_provider="huggingface"``: other integrations' translators are untouched); with
``output_version="v1"`` streamed chunks carry their own block indices so that merging them keeps a
reasoning block, a text block and each tool call apart.
"""

import json

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.messages.block_translators import get_translator

from hfbridge.langchain import ChatHF
from hfbridge.langchain._convert import messages_to_wire

BASE = "http://127.0.0.1:9/v1"
BODY = {
    "id": "x", "model": "m",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "hello", "reasoning_content": "hmm",
        "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'}}]}}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}  # fmt: skip
EXPECTED = [
    {"type": "reasoning", "reasoning": "hmm"},
    {"type": "text", "text": "hello"},
    {"type": "tool_call", "id": "c1", "name": "f", "args": {"a": 1}},
]


def sse(*events):
    return ("".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n").encode()


def chunk(delta, finish=None):
    return {"id": "s", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


STREAM = sse(
    chunk({"role": "assistant", "reasoning_content": "hm"}),
    chunk({"reasoning_content": "m"}),
    chunk({"content": "hel"}),
    chunk({"content": "lo"}),
    chunk({"tool_calls": [{"index": 0, "id": "c1", "type": "function",
                           "function": {"name": "f", "arguments": '{"a"'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "c2", "type": "function",
                           "function": {"name": "g", "arguments": "{}"}}]}),
    chunk({}, "tool_calls"),
)


def model(**kwargs):
    def server(request):
        if json.loads(request.content).get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=STREAM)
        return httpx.Response(200, json=BODY)

    return ChatHF(model="m", base_url=BASE, transport=httpx.MockTransport(server), **kwargs)


def strip(blocks):
    return [{k: v for k, v in block.items() if k != "index"} for block in blocks]


def test_no_translator_is_registered_for_our_provider():
    assert get_translator("huggingface") is None


@pytest.mark.parametrize("version", ["v0", "v1"])
def test_whole_messages_give_reasoning_text_and_tool_call_blocks(version):
    message = model(output_version=version).invoke("hi")
    assert strip(message.content_blocks) == EXPECTED
    if version == "v1":
        assert strip(message.content) == EXPECTED
    else:
        assert message.content == "hello"


def joined(chat):
    full = None
    for piece in chat.stream("hi"):
        full = piece if full is None else full + piece
    return full


def test_v1_streams_keep_each_block_apart_when_merged():
    full = joined(model(output_version="v1"))
    assert strip(full.content_blocks) == [
        *EXPECTED,
        {"type": "tool_call", "id": "c2", "name": "g", "args": {}},
    ]
    assert [call["name"] for call in full.tool_calls] == ["f", "g"]


def test_v0_streams_read_the_same_blocks():
    full = joined(model())
    assert full.content == "hello"
    assert [b["type"] for b in full.content_blocks] == ["reasoning", "text", "tool_call", "tool_call"]


def test_a_v1_message_replays_as_text_and_tool_calls():
    message = model(output_version="v1").invoke("hi")
    wire = messages_to_wire([message, ToolMessage("ok", tool_call_id="c1")])
    assert wire[0]["content"] == "hello"
    assert wire[0]["tool_calls"][0]["id"] == "c1"
    assert wire[1] == {"role": "tool", "tool_call_id": "c1", "content": "ok"}


def test_v1_image_blocks_are_sent_as_image_url_parts():
    message = HumanMessage(content=[
        {"type": "text", "text": "what is this?"},
        {"type": "image", "url": "https://example.com/cat.png"},
        {"type": "image", "base64": "AAAA", "mime_type": "image/png"},
    ])  # fmt: skip
    (wire,) = messages_to_wire([message])
    assert wire["content"][1] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    assert wire["content"][2]["image_url"]["url"] == "data:image/png;base64,AAAA"


def test_replayed_v1_history_with_reasoning_blocks_is_accepted():
    history = [
        HumanMessage("hi"),
        AIMessage(content=[{"type": "reasoning", "reasoning": "r"}, {"type": "text", "text": "yo"}]),
        HumanMessage("again"),
    ]
    wire = messages_to_wire(history)
    assert wire[1]["role"] == "assistant"
    assert wire[1]["content"] == "yo"  # reasoning blocks are not sent back
