"""Provider variances the replay corpus shows, read by the wire layer (issue 16).

Each shape is quoted from a recording in tests/replay/recordings (named in the test), or from TGI's
integration-test snapshots where no raw recording exists.
"""

from __future__ import annotations

import json

import pytest

from hfbridge.wire.chat import normalize_finish_reason, parse_chat_completion, parse_usage
from hfbridge.wire.reasoning import ThinkSplitter, split_completion, split_think, thinks_inline
from hfbridge.wire.stream import ChunkAccumulator
from hfbridge.wire.textgen import parse_completion, parse_completion_chunk, parse_tgi_response


def chunk(delta=None, finish=None, **extra):
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish, **extra}
    return {"id": "c", "model": "m", "choices": [choice]}


# --- finish reasons -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("eos", ("stop", "eos")),  # together
        ("eos_token", ("stop", "eos_token")),  # TGI 1.x/2.x
        ("stop_sequence", ("stop", "stop_sequence")),  # TGI /generate details
        ("stop", ("stop", None)),
        ("length", ("length", None)),
        ("tool_calls", ("tool_calls", None)),
        ("content_filter", ("content_filter", None)),  # unknown to the table: passes through
        (None, (None, None)),
        ("", (None, None)),
        (3, (None, None)),
    ],
)
def test_finish_reasons_are_normalised_and_the_servers_word_kept(raw, expected):
    assert normalize_finish_reason(raw) == expected


def test_a_completion_with_eos_token_reports_stop():
    # tgi2_chat_tools
    body = {"choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": "eos_token"}]}
    choice = parse_chat_completion(body).first
    assert (choice.finish_reason, choice.native_finish_reason) == ("stop", "eos_token")


def test_a_stream_with_eos_reports_stop_on_the_delta_and_the_result():
    # together_chat_stream_eos: text beside delta, token_id, seed, tool_calls: null
    accumulator = ChunkAccumulator()
    accumulator.add(chunk({"token_id": 17, "role": "assistant", "content": "2", "tool_calls": None},
                          text="2", seed=None))  # fmt: skip
    [delta] = accumulator.add(
        chunk({"token_id": 128009, "content": "", "tool_calls": None}, "eos", text="",
              seed=9313781139405380000)
    )  # fmt: skip
    assert (delta.finish_reason, delta.native_finish_reason) == ("stop", "eos")
    choice = accumulator.completion().first
    assert (choice.content, choice.finish_reason, choice.native_finish_reason) == (
        "2", "stop", "eos"
    )


def test_text_generation_routes_normalise_too():
    tgi = parse_tgi_response([{"generated_text": "x", "details": {"finish_reason": "eos_token"}}])
    assert (tgi.finish_reason, tgi.native_finish_reason) == ("stop", "eos_token")
    body = {"choices": [{"text": "x", "finish_reason": "eos"}]}
    assert parse_completion(body).native_finish_reason == "eos"
    assert parse_completion_chunk(body).finish_reason == "stop"


# --- usage, tool calls ----------------------------------------------------------------------------


def test_usage_details_that_are_null_give_no_counts():
    usage = parse_usage({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                         "prompt_tokens_details": None,
                         "completion_tokens_details": {"reasoning_tokens": None}})  # fmt: skip
    assert (usage.cached_tokens, usage.reasoning_tokens) == (None, None)
    assert parse_usage({"prompt_tokens_details": {"cached_tokens": 3}}).cached_tokens == 3


def test_cumulative_usage_on_every_chunk_takes_the_last_never_the_sum():
    # hyperbolic_chat_stream, novita_chat_stream: a running total on each chunk
    accumulator = ChunkAccumulator()
    for completion in (1, 2, 3):
        usage = {"prompt_tokens": 48, "completion_tokens": completion,
                 "total_tokens": 48 + completion}  # fmt: skip
        accumulator.add({**chunk({"content": "a"}), "usage": usage})
    assert accumulator.completion().usage.total_tokens == 51


def test_integer_tool_call_ids_and_object_arguments_of_tgi_2():
    # tgi2_chat_tools
    body = {"choices": [{"index": 0, "finish_reason": "eos_token", "message": {
        "content": None, "tool_calls": [{"id": 0, "type": "function", "function": {
            "name": "get_current_weather", "description": None,
            "arguments": {"format": "celsius", "location": "Brooklyn"}}}]}}]}  # fmt: skip
    [call] = parse_chat_completion(body).first.tool_calls
    assert call.id == "0"
    assert json.loads(call.arguments) == {"format": "celsius", "location": "Brooklyn"}


def test_a_streamed_tool_call_sent_as_an_object_not_a_list():
    # TGI 2.0.1 (its snapshot test_flash_llama_grammar_tools_stream.json): "tool_calls": {...}
    accumulator = ChunkAccumulator()
    accumulator.add(chunk({"tool_calls": {"index": 0, "id": 0, "type": "function",
                                          "function": {"name": "get", "arguments": '{"a":'}}}))
    accumulator.add(chunk({"tool_calls": {"index": 0, "id": "", "type": "function",
                                          "function": {"name": None, "arguments": " 1}"}}},
                          "eos_token"))  # fmt: skip
    [call] = accumulator.completion().first.tool_calls
    assert (call.id, call.name, json.loads(call.arguments)) == ("0", "get", {"a": 1})


def test_an_empty_tool_call_list_beside_content_is_no_tool_call():
    accumulator = ChunkAccumulator()
    accumulator.add(chunk({"content": "hi", "tool_calls": []}, "stop"))
    choice = accumulator.completion().first
    assert (choice.content, choice.tool_calls) == ("hi", ())


# --- reasoning inline -----------------------------------------------------------------------------

R1 = "<think>\nOkay, let's see.\n</think>\n\nThis is a test."


@pytest.mark.parametrize(
    ("model", "thinks"),
    [
        ("deepseek-ai/DeepSeek-R1", True),
        ("accounts/fireworks/models/deepseek-r1", True),
        ("deepseek/deepseek-r1-distill-qwen-14b", True),
        ("Qwen/QwQ-32B", True),
        ("Qwen/Qwen3-235B-A22B-Thinking-2507", True),
        ("meta-llama/Llama-3.3-70B-Instruct", False),
        ("deepseek-ai/DeepSeek-V3", False),
        (None, False),
    ],
)
def test_which_families_think_inline(model, thinks):
    assert thinks_inline(model) is thinks


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (R1, ("Okay, let's see.\n", "This is a test.")),
        ("  <think>a</think>b", ("a", "b")),
        ("<think>never closed", ("never closed", "")),  # cut by max_tokens: all reasoning
        ("No thinking here.", ("", "No thinking here.")),
        ("Sure <think>not at the start</think>", ("", "Sure <think>not at the start</think>")),
        ("<thin", ("", "<thin")),
        ("", ("", "")),
        ("   ", ("", "   ")),
    ],
)
def test_split_think(text, expected):
    assert split_think(text) == expected


@pytest.mark.parametrize("text", [R1, "<think>a</think>b", "<think>x</thi", "<t", "plain <think>"])
def test_a_stream_splits_as_the_whole_text_does_wherever_the_chunks_break(text):
    # novita_deepseek_r1_distill_stream sends "<think>" as its own delta; fireworks "<think>\n".
    whole = split_think(text)
    for size in range(1, len(text) + 1):
        splitter, reasoning, content = ThinkSplitter(), "", ""
        for start in range(0, len(text), size):
            r, c = splitter.feed(text[start : start + size])
            reasoning, content = reasoning + r, content + c
        r, c = splitter.flush()
        assert (reasoning + r, content + c) == whole, size


def test_a_completion_keeps_reasoning_the_provider_already_split():
    body = {"model": "deepseek-r1", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "content": R1, "reasoning_content": "earlier. "}}]}  # fmt: skip
    choice = split_completion(parse_chat_completion(body)).first
    assert (choice.reasoning, choice.content) == ("earlier. Okay, let's see.\n", "This is a test.")
