"""Folding streamed chunks: text, tool-call fragments (OpenAI and TGI variants), usage."""

import json

from hfbridge.wire.stream import ChunkAccumulator


def chunk(delta=None, finish=None, index=0, usage=None, choices=True):
    return {"id": "c", "model": "m", "usage": usage,
            "choices": [{"index": index, "delta": delta or {}, "finish_reason": finish}] if choices else []}


def test_text_deltas_and_usage_on_a_choices_empty_chunk():
    acc = ChunkAccumulator()
    deltas = []
    for event in [chunk({"role": "assistant", "content": "Deep"}), chunk({"content": " sea"}, finish="length"),
                  chunk(choices=False, usage={"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4})]:
        deltas.extend(acc.add(event))
    assert [d.content for d in deltas] == ["Deep", " sea", ""]
    assert deltas[-1].usage is not None and deltas[-1].usage.total_tokens == 4
    result = acc.completion()
    assert result.first.content == "Deep sea"
    assert result.first.finish_reason == "length"
    assert result.usage is not None and result.usage.prompt_tokens == 2


def test_usage_on_the_last_chunk_with_choices_is_attached_to_its_delta():
    acc = ChunkAccumulator()
    deltas = acc.add(chunk({"content": "x"}, finish="stop", usage={"prompt_tokens": 1, "completion_tokens": 1}))
    assert len(deltas) == 1 and deltas[0].usage is not None and deltas[0].usage.total_tokens == 2


def test_openai_style_tool_fragments_by_index():
    acc = ChunkAccumulator()
    events = [
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": '{"tz":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"UTC"}'}}]}),
        chunk(finish="tool_calls"),
    ]
    deltas = [d for e in events for d in acc.add(e)]
    first_fragments = [t for d in deltas for t in d.tool_calls if t.name]
    assert [(t.index, t.id, t.name) for t in first_fragments] == [(0, "call_a", "get_weather"), (1, "call_b", "get_time")]
    calls = acc.completion().first.tool_calls
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {"tz": "UTC"})]
    assert acc.completion().first.content is None


def test_tgi_style_repeated_id_and_name_are_never_concatenated():
    acc = ChunkAccumulator()
    fragments = ['{"', "city", '":"', "Rome", '"}']
    deltas = []
    for fragment in fragments:
        deltas.extend(acc.add(chunk({"tool_calls": [{"index": 0, "id": "0", "type": "function",
                                                     "function": {"name": "get_weather", "arguments": fragment}}]})))
    assert [t.name for d in deltas for t in d.tool_calls] == ["get_weather", None, None, None, None]
    call = acc.completion().first.tool_calls[0]
    assert (call.id, call.name, json.loads(call.arguments)) == ("0", "get_weather", {"city": "Rome"})


def test_arguments_sent_as_an_object_are_serialised():
    acc = ChunkAccumulator()
    acc.add(chunk({"tool_calls": [{"index": 0, "id": "x", "function": {"name": "f", "arguments": {"a": 1}}}]}))
    assert json.loads(acc.completion().first.tool_calls[0].arguments) == {"a": 1}


def test_garbage_chunks_do_not_crash():
    acc = ChunkAccumulator()
    for event in [{}, {"choices": None}, {"choices": [None, 3]}, {"choices": [{"delta": "x"}]}, {"usage": "x"}]:
        acc.add(event)
    assert acc.completion().first.content == ""
