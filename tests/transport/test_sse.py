"""The SSE decoder and line splitter on the bodies in tests/fixtures/sse (PROTOCOL.md 1.5)."""

from __future__ import annotations

import itertools
import json

import pytest
from tests.transport.conftest import FIXTURES, fixture_bytes, split_every
from tests.transport.sse_oracle import (
    LineDecoder,
    SSEDecoder,
    aiter_lines,
    aiter_sse_payloads,
    iter_lines,
    iter_sse_payloads,
)

from hfbridge.transport.sse import EventParser, aiter_events, iter_events

ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.sse"))
CHUNK_SIZES = [1, 2, 3, 7, 64, 10_000]


def decode(body: bytes, chunk_size: int = 10_000) -> tuple[list[object], bool]:
    decoder = SSEDecoder()
    payloads = iter_sse_payloads(iter_lines(split_every(body, chunk_size)), decoder)
    return [json.loads(payload) for payload in payloads], decoder.done


def test_every_fixture_is_covered():
    assert len(ALL_FIXTURES) == 10


@pytest.mark.parametrize("name", ALL_FIXTURES)
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_chunk_boundaries_never_change_the_events(name, chunk_size):
    body = fixture_bytes(name)
    assert decode(body, chunk_size) == decode(body)


def test_openai_tool_call_fragments():
    events, done = decode(fixture_bytes("openai_tool_calls.sse"))
    assert done
    assert len(events) == 8
    calls: dict[int, dict[str, str]] = {}
    for event in events:
        for call in event["choices"][0]["delta"].get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] = call.get("id") or entry["id"]
            entry["name"] = call.get("function", {}).get("name") or entry["name"]
            entry["arguments"] += call.get("function", {}).get("arguments", "")
    assert calls == {
        0: {"id": "call_abc", "name": "get_weather", "arguments": '{"city":"Paris"}'},
        1: {"id": "call_def", "name": "get_time", "arguments": '{"tz":"Europe/Paris"}'},
    }
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tgi_chat_repeats_id_and_name():
    events, done = decode(fixture_bytes("tgi_chat_tool_calls.sse"))
    assert done
    deltas = [event["choices"][0]["delta"].get("tool_calls", [None])[0] for event in events]
    calls = [delta for delta in deltas if delta]
    assert len(calls) == 5
    assert {(call["index"], call["id"], call["function"]["name"]) for call in calls} == {
        (0, "0", "get_weather")
    }
    assert json.loads("".join(call["function"]["arguments"] for call in calls)) == {
        "location": "Paris"
    }


def test_tgi_generate_stream_ends_without_done():
    events, done = decode(fixture_bytes("tgi_generate_stream.sse"))
    assert not done
    assert [event["index"] for event in events] == [1, 2, 3, 4, 5, 6]
    text = "".join(event["token"]["text"] for event in events if not event["token"]["special"])
    assert text == events[-1]["generated_text"] == "100% open source."


def test_usage_on_a_chunk_without_choices():
    events, done = decode(fixture_bytes("usage_empty_choices.sse"))
    assert done
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["total_tokens"] == 29
    assert all(event["usage"] is None for event in events[:-1])


def test_error_events_are_plain_payloads_for_the_decoder():
    events, done = decode(fixture_bytes("error_event_chat.sse"))
    assert done
    assert events[-1]["error"]["http_status_code"] == 422
    events, done = decode(fixture_bytes("error_event_generate.sse"))
    assert not done
    assert events[-1]["error_type"] == "validation"


def test_fields_comments_spaces_and_multiline_data():
    body = fixture_bytes("fields.sse")
    decoder = SSEDecoder()
    payloads = list(iter_sse_payloads(iter_lines([body]), decoder))
    assert decoder.done
    assert payloads[0] == '{"choices":[{"index":0,"delta":{"content":"a"}}]}'
    assert (
        payloads[1] == '{"choices":[{"index":0,"delta":{"content":"b"}}]}'
    )  # no space after data:
    assert payloads[2] == '{"choices":[{"index":0,\n"delta":{"content":"c"}}]}'  # two data lines
    assert (
        payloads[3] == ' {"choices":[{"index":0,"delta":{"content":"d"}}]}'
    )  # only one space dropped
    contents = [json.loads(payload)["choices"][0]["delta"]["content"] for payload in payloads]
    assert contents == ["a", "b", "c", "d"]


def test_crlf_line_endings():
    events, done = decode(fixture_bytes("crlf.sse"))
    assert done
    assert [event["token"]["text"] for event in events] == ["Hel", "lo"]


def test_crlf_split_between_chunks():
    assert list(iter_lines([b"data: 1\r", b"\ndata: 2\r", b"\n\r", b"\n"])) == [
        "data: 1",
        "data: 2",
        "",
    ]


def test_unicode_line_separators_inside_json_do_not_split_events():
    events, done = decode(fixture_bytes("unicode_line_separators.sse"))
    assert done
    assert [event["choices"][0]["delta"]["content"] for event in events] == [
        "line\u2028separator",
        "para\u2029graph\u0085next",
    ]


@pytest.mark.parametrize(
    ("chunks", "lines"),
    [
        ([b"a\nb\n"], ["a", "b"]),
        ([b"a\r\nb\r\n"], ["a", "b"]),
        ([b"a\rb\r"], ["a", "b"]),
        ([b"a\n\nb"], ["a", "", "b"]),  # the last line has no end: flushed at end of body
        ([b"a\r"], ["a"]),
        ([b"\r"], [""]),
        ([b"ab", b"c", b"\nd"], ["abc", "d"]),
        ([b"\xc3", b"\xa9t\xc3", b"\xa9\n"], ["été"]),  # UTF-8 split between chunks
        ([b"x\xe2\x80\xa8y\n"], ["x\u2028y"]),
        ([b"x\x0cy\x1cz\n"], ["x\x0cy\x1cz"]),  # form feed and separators are not line ends
        ([], []),
        ([b""], []),
    ],
)
def test_line_decoder(chunks, lines):
    assert list(iter_lines(chunks)) == lines


def test_line_decoder_is_reusable_after_flush():
    decoder = LineDecoder()
    assert decoder.feed(b"one\ntw") == ["one"]
    assert decoder.flush() == ["tw"]
    assert decoder.flush() == []
    assert decoder.feed(b"three\n") == ["three"]


def test_done_stops_reading():
    lines = iter(["data: 1", "", "data: [DONE]", "", "data: 2", ""])
    decoder = SSEDecoder()
    assert list(iter_sse_payloads(lines, decoder)) == ["1"]
    assert decoder.done
    assert next(lines) == "data: 2"  # nothing after [DONE] was consumed


def test_a_last_event_without_blank_line_is_kept():
    assert list(iter_sse_payloads(["data: 1", "", "data: 2"])) == ["1", "2"]


def test_done_with_surrounding_spaces():
    decoder = SSEDecoder()
    assert list(iter_sse_payloads(["data:  [DONE] ", ""], decoder)) == []
    assert decoder.done


def test_events_without_data_yield_nothing():
    assert (
        list(iter_sse_payloads([": ping", "", "event: keepalive", "id: 3", "", "retry: 10", ""]))
        == []
    )


def _line_decoder_async(chunks):
    decoder = SSEDecoder()
    return aiter_sse_payloads(aiter_lines(chunks), decoder), decoder


def _event_parser_async(chunks):
    parser = EventParser()
    return aiter_events(chunks, parser), parser


@pytest.mark.parametrize("start", [_line_decoder_async, _event_parser_async])
async def test_async_forms_agree_with_sync(start):
    for name in ALL_FIXTURES:
        body = fixture_bytes(name)

        async def chunks(body=body):
            for chunk in split_every(body, 5):
                yield chunk

        events, state = start(chunks())
        payloads = [payload async for payload in events]
        expected, done = decode(body)
        assert [json.loads(payload) for payload in payloads] == expected, name
        assert state.done == done, name


# --- EventParser: the one-pass parser the clients read streams with ---------------------------


def parse_in_one_pass(body: bytes, chunk_size: int) -> tuple[list[object], bool]:
    parser = EventParser()
    payloads = iter_events(split_every(body, chunk_size), parser)
    return [json.loads(payload) for payload in payloads], parser.done


@pytest.mark.parametrize("name", ALL_FIXTURES)
@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_event_parser_agrees_with_the_line_decoder(name, chunk_size):
    body = fixture_bytes(name)
    assert parse_in_one_pass(body, chunk_size) == decode(body)


@pytest.mark.parametrize(
    ("body", "payloads", "done"),
    [
        (b"data: 1\n\ndata: [DONE]\n\ndata: 2\n\n", ["1"], True),
        (b"data: 1\n\ndata: 2", ["1", "2"], False),  # last event without its blank line
        (b"data:  [DONE] \n\n", [], True),
        (b": ping\n\nevent: keepalive\nid: 3\n\nretry: 10\n\n", [], False),
        (b"data: a\ndata:b\ndata\n\n", ["a\nb"], False),  # "data" without a colon is ignored
        (b"data: x\r\n\r\ndata: y\r\r", ["x", "y"], False),
        (b"data: \xff\n\n", ["\ufffd"], False),
    ],
)
def test_event_parser_edge_cases(body, payloads, done):
    for chunk_size in (1, 2, len(body)):
        parser = EventParser()
        assert list(iter_events(split_every(body, chunk_size), parser)) == payloads
        assert parser.done == done


def test_event_parser_ignores_everything_after_done():
    parser = EventParser()
    assert parser.feed(b"data: 1\n\ndata: [DONE]\n\ndata: 2\n\n") == ["1"]
    assert parser.done
    assert parser.feed(b"data: 3\n\n") == []
    assert parser.end() == []


def test_the_body_after_done_is_read_to_its_end_within_a_limit():
    from hfbridge.transport.sse import DRAIN_LIMIT

    rest = iter([b"data: 2\n\n", b"x" * 10, b""])
    chunks = itertools.chain([b"data: 1\n\ndata: [DONE]\n\n"], rest)
    assert list(iter_events(chunks, EventParser())) == ["1"]
    assert next(rest, None) is None  # read to the end: the connection can be reused

    endless = itertools.repeat(b"y" * 1024)
    chunks = itertools.chain([b"data: [DONE]\n\n"], endless)
    assert list(iter_events(chunks, EventParser())) == []  # stops once past the limit
    assert DRAIN_LIMIT < 1024 * 1024


def test_a_failure_after_done_does_not_spoil_the_answer():
    def chunks():
        yield b"data: 1\n\ndata: [DONE]\n\n"
        raise OSError("connection reset after the answer")

    parser = EventParser()
    assert list(iter_events(chunks(), parser)) == ["1"]
    assert parser.done
