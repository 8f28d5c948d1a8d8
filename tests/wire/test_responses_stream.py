"""Streamed Responses answers: events folded into chat-style deltas, the end rule, recorded bodies."""

import json
from pathlib import Path

import pytest

from hfbridge.errors import HFResponseError, HFStreamError
from hfbridge.transport.sse import EventParser, iter_events
from hfbridge.wire.responses_result import parse_response, response_details
from hfbridge.wire.responses_stream import ResponsesStreamFold

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"


def events(name):
    raw = (FIXTURES / name).read_bytes()
    return [json.loads(payload) for payload in iter_events([raw], EventParser())]


def fold_all(items):
    fold = ResponsesStreamFold()
    deltas = [delta for event in items for delta in fold.add(event)]
    return fold, deltas


def final_response(items):
    return next(
        e["response"] for e in items if e["type"] in ("response.completed", "response.incomplete")
    )


@pytest.mark.parametrize("server", ["llamacpp", "routerjs"])
@pytest.mark.parametrize("case", ["text_stream", "tool_call_stream", "tool_replay_stream"])
def test_recorded_streams_fold_to_their_final_response(server, case):
    items = events(f"{server}_{case}.sse")
    fold, deltas = fold_all(items)
    assert fold.finished and list(fold.end({})) == []
    streamed = fold.result()
    final = parse_response(final_response(items))
    assert streamed.id == final.id and streamed.model == final.model
    assert streamed.first.content == final.first.content
    assert streamed.first.finish_reason == final.first.finish_reason
    assert [(c.id, c.name, c.arguments) for c in streamed.first.tool_calls] == [
        (c.id, c.name, c.arguments) for c in final.first.tool_calls
    ]
    # What was handed out is what was assembled: the deltas join to the result.
    assert "".join(d.content for d in deltas) == (streamed.first.content or "")
    assert deltas[-1].finish_reason == streamed.first.finish_reason


@pytest.mark.parametrize("server", ["llamacpp", "routerjs"])
def test_tool_call_deltas_carry_call_id_and_name_first_then_fragments(server):
    fold, deltas = fold_all(events(f"{server}_tool_call_stream.sse"))
    fragments = [call for delta in deltas for call in delta.tool_calls]
    assert fragments[0].id == fold.completion().first.tool_calls[0].id
    assert fragments[0].name == "get_weather"
    assert all(f.id is None and f.name is None for f in fragments[1:])
    assert all(f.index == 0 for f in fragments)
    assert json.loads("".join(f.arguments for f in fragments)) == {"city": "Paris"}
    assert fold.finish_reason == "tool_calls"


def test_llamacpp_usage_comes_with_the_terminal_delta():
    fold, deltas = fold_all(events("llamacpp_text_stream.sse"))
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens == 3
    assert fold.completion().usage == deltas[-1].usage


def test_router_reasoning_text_streams_as_reasoning_deltas():
    items = events("routerjs_reasoning_stream.sse")
    fold, deltas = fold_all(items)
    assert fold.finished
    assert fold.content() == ("Hello, world!", "The user wants a greeting.")
    assert "".join(d.reasoning for d in deltas) == "The user wants a greeting."
    assert "".join(d.content for d in deltas) == "Hello, world!"
    completion = fold.completion()
    assert completion.first.reasoning == parse_response(final_response(items)).first.reasoning
    assert completion.usage is not None and completion.usage.total_tokens == 21


def test_reasoning_summary_streams_when_no_reasoning_text_comes():
    fold, deltas = fold_all(events("openai_doc_reasoning_summary_stream.sse"))
    assert fold.finished
    assert "".join(d.reasoning for d in deltas) == "**Greeting** The user says hi."
    completion = fold.completion()
    assert completion.first.reasoning == "**Greeting** The user says hi."
    assert completion.first.content == "Hi there!"
    assert completion.usage is not None and completion.usage.reasoning_tokens == 64
    details = response_details(completion)
    assert details is not None and details.reasoning_summary == "**Greeting** The user says hi."


def test_summary_after_reasoning_text_is_recorded_not_streamed_twice():
    fold = ResponsesStreamFold()
    out = []
    for event in [
        {"type": "response.reasoning_text.delta", "item_id": "rs", "delta": "raw"},
        {"type": "response.reasoning_summary_text.delta", "item_id": "rs", "delta": "sum"},
        {"type": "response.completed", "response": {"status": "completed"}},
    ]:
        out.extend(fold.add(event))
    assert "".join(d.reasoning for d in out) == "raw"
    details = response_details(fold.completion())
    assert details is not None and details.reasoning_summary == "sum"


def test_mcp_calls_are_recorded_and_never_handed_out_as_tool_calls():
    items = events("routerjs_mcp_call_stream.sse")
    fold, deltas = fold_all(items)
    assert fold.finished
    assert all(not d.tool_calls for d in deltas)
    completion = fold.completion()
    assert completion.first.content == "Paris: 18 C, clear sky"
    assert completion.first.finish_reason == "stop"
    details = response_details(completion)
    assert details is not None
    assert [c.output for c in details.mcp_calls] == ["Paris: 18 C, clear sky"]
    assert details.mcp_tool_lists[0].tools[0]["name"] == "lookup_weather"


def test_incomplete_stream_is_complete_but_cut_short():
    fold, deltas = fold_all(events("openai_doc_incomplete_stream.sse"))
    assert fold.finished  # a terminal event came: complete, though cut short by the server
    assert deltas[-1].finish_reason == "length"
    details = response_details(fold.completion())
    assert details is not None and details.incomplete_reason == "max_output_tokens"


def test_router_failed_event_raises():
    *before, failed = events("routerjs_error_image_text_only_model_stream.sse")
    fold, _ = fold_all(before)
    with pytest.raises(HFStreamError, match="image input is not supported") as caught:
        fold.add(failed)
    assert caught.value.error_type == "server_error"


def test_error_event_raises_with_its_code():
    *before, error = events("openai_doc_error_event.sse")
    fold, deltas = fold_all(before)
    assert [d.content for d in deltas] == ["Partial"]
    with pytest.raises(HFStreamError, match="Something went wrong") as caught:
        fold.add(error)
    assert caught.value.error_type == "ERR_SOMETHING"
    nested = ResponsesStreamFold()
    with pytest.raises(HFStreamError, match="overloaded"):
        nested.add({"type": "error", "error": {"type": "server_error", "message": "overloaded"}})


@pytest.mark.parametrize("server", ["llamacpp", "routerjs"])
def test_a_stream_cut_before_its_terminal_event_is_not_finished(server):
    """The end rule's input: no terminal event, not complete (the recordings carry no [DONE])."""
    items = events(f"{server}_text_stream.sse")
    assert (FIXTURES / f"{server}_text_stream.sse").read_bytes().find(b"[DONE]") == -1
    fold, _ = fold_all(items[:-1])
    assert not fold.finished and fold.finish_reason is None
    assert fold.completion().first.finish_reason is None
    assert fold.content() == ("Bonjour!", "")


def test_readers_for_adapters_during_a_stream():
    items = events("llamacpp_tool_call_stream.sse")
    fold, _ = fold_all(items[:6])
    (call,) = fold.tool_calls()
    assert call.name == "get_weather" and call.arguments == '{"city'
    assert fold.content() == ("", "")


def test_an_event_that_is_not_an_object():
    with pytest.raises(HFResponseError, match="not a JSON object"):
        ResponsesStreamFold().add(["x"])


def test_items_that_arrive_only_whole_are_handed_out_whole():
    fold = ResponsesStreamFold()
    out = []
    for event in [
        {"type": "response.output_item.done", "output_index": 0,
         "item": {"type": "reasoning", "id": "rs", "content": [{"type": "reasoning_text", "text": "think"}]}},
        {"type": "response.output_item.done", "output_index": 1,
         "item": {"type": "message", "id": "m", "content": [{"type": "output_text", "text": "hello"}]}},
        {"type": "response.output_item.done", "output_index": 2,
         "item": {"type": "function_call", "id": "fc", "call_id": "c1", "name": "f", "arguments": "{}"}},
        {"type": "response.completed", "response": {"status": "completed"}},
    ]:  # fmt: skip
        out.extend(fold.add(event))
    assert [d.reasoning for d in out[:1]] == ["think"]
    assert out[1].content == "hello"
    (call,) = out[2].tool_calls
    assert (call.index, call.id, call.name, call.arguments) == (0, "c1", "f", "{}")
    completion = fold.completion()
    assert completion.first.content == "hello" and completion.first.reasoning == "think"
    assert completion.first.tool_calls[0].arguments == "{}"


def test_arguments_only_on_done_and_two_calls_by_output_index():
    fold = ResponsesStreamFold()
    out = []
    for event in [
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "function_call", "call_id": "a", "name": "f"}},
        {"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "call_id": "b", "name": "g"}},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"y":'},
        {"type": "response.function_call_arguments.done", "output_index": 0, "arguments": '{"x": 1}'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": " 2}"},
        {"type": "response.function_call_arguments.done", "output_index": 1, "arguments": '{"y": 2}'},
        {"type": "response.completed", "response": {"status": "completed"}},
    ]:  # fmt: skip
        out.extend(fold.add(event))
    calls = fold.completion().first.tool_calls
    assert [(c.id, c.name, c.arguments, c.index) for c in calls] == [
        ("a", "f", '{"x": 1}', 0), ("b", "g", '{"y": 2}', 1)]  # fmt: skip
    fragments = [(c.index, c.arguments) for d in out for c in d.tool_calls]
    assert fragments == [(0, ""), (1, ""), (1, '{"y":'), (0, '{"x": 1}'), (1, " 2}")]


def test_keyless_deltas_are_not_repeated_by_their_done_item():
    fold = ResponsesStreamFold()
    out = []
    for event in [
        {"type": "response.output_text.delta", "delta": "hi"},
        {"type": "response.output_item.done", "item": {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}},
        {"type": "response.output_item.added", "item": {"type": "function_call", "call_id": "c", "name": "f"}},
        {"type": "response.function_call_arguments.delta", "delta": "{}"},
        {"type": "response.completed", "response": {"status": "completed"}},
    ]:  # fmt: skip
        out.extend(fold.add(event))
    assert "".join(d.content for d in out) == "hi"
    assert fold.completion().first.tool_calls[0].arguments == "{}"


def test_unknown_and_lifecycle_events_are_skipped():
    fold = ResponsesStreamFold()
    for kind in ("response.in_progress", "response.mcp_call.in_progress", "response.future_thing"):
        assert fold.add({"type": kind}) == []
    assert fold.events == 3
