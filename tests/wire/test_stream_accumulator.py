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


# --- issue 17: fragments without index, surrogate halves -------------------------------------------


def _fold(events):
    acc = ChunkAccumulator()
    deltas = [delta for event in events for delta in acc.add(event)]
    return acc, deltas


def test_tool_fragments_without_index_stay_one_call():
    acc, _ = _fold([
        chunk({"tool_calls": [{"id": "call_a", "type": "function",
                               "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": '{"ci'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": 'ty": "Paris"}'}}]}),
    ])  # fmt: skip
    calls = acc.completion().first.tool_calls
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}')
    ]
    assert calls[0].parsed_arguments() == ({"city": "Paris"}, None)


def test_tool_fragments_without_index_start_a_call_at_each_new_id_or_function():
    acc, deltas = _fold([
        chunk({"tool_calls": [{"id": "call_a", "function": {"name": "a", "arguments": '{"x"'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ": 1}"}}]}),
        chunk({"tool_calls": [{"id": "call_b", "function": {"name": "b", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"id": "call_a", "function": {"arguments": ""}}]}),  # TGI repeats
        chunk({"tool_calls": [{"function": {"name": "c", "arguments": '{"y": 2}'}}]}),
    ])  # fmt: skip
    calls = acc.completion().first.tool_calls
    assert [(c.name, c.arguments) for c in calls] == [("a", '{"x": 1}'), ("b", "{}"),
                                                      ("c", '{"y": 2}')]  # fmt: skip
    assert [t.index for d in deltas for t in d.tool_calls] == [0, 0, 1, 0, 2]


def test_a_character_split_into_surrogate_halves_across_tool_deltas_is_joined():
    # What json.loads makes of '"\\ud83d"' then '"\\ude00"': two lone halves of U+1F600.
    acc, deltas = _fold([
        chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "say",
                                                                   "arguments": '{"t": "\ud83d'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '\ude00!"}'}}]}),
    ])  # fmt: skip
    fragments = [t.arguments for d in deltas for t in d.tool_calls]
    assert fragments == ['{"t": "', '\U0001f600!"}']  # never a lone half in a delta
    arguments = acc.completion().first.tool_calls[0].arguments
    assert arguments == '{"t": "\U0001f600!"}'
    arguments.encode("utf-8")  # the next turn sends it: no UnicodeEncodeError
    assert json.loads(arguments) == {"t": "\U0001f600!"}


def test_a_character_split_into_surrogate_halves_across_content_deltas_is_joined():
    acc, deltas = _fold([chunk({"content": "smile \ud83d"}), chunk({"content": "\ude00 ok"})])
    assert [d.content for d in deltas] == ["smile ", "\U0001f600 ok"]
    assert acc.completion().first.content == "smile \U0001f600 ok"


def test_a_half_never_completed_becomes_a_replacement_character():
    acc, _ = _fold([
        chunk({"content": "end \ud83d"}, finish="stop"),
        chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f",
                                                                   "arguments": '"\ud83d'}}]}),
    ])  # fmt: skip
    choice = acc.completion().first
    assert choice.content == "end \ufffd"
    assert choice.tool_calls[0].arguments == '"\ufffd'
