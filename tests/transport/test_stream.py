"""Event streams through HFClient.stream and AsyncHFClient.stream: ends, cuts, errors, retries."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.transport.conftest import (
    SSE_HEADERS,
    ChunkedStream,
    Script,
    fixture_bytes,
    reply,
    split_every,
    sse_reply,
)

from hfbridge.errors import HFConnectionError, HFResponseError, HFServerError, HFStreamError
from hfbridge.transport import AsyncHFClient, HFClient

EVENT_1 = b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
EVENT_2 = b'data: {"choices":[{"index":0,"delta":{"content":"lo"}}]}\n\n'
DONE = b"data: [DONE]\n\n"


def chunked(chunks, error=None, status=200, headers=None):
    def answer(request):
        return httpx.Response(
            status, headers=headers or SSE_HEADERS, stream=ChunkedStream(chunks, error)
        )

    return answer


def cut(message="peer closed connection without sending complete message body"):
    return httpx.RemoteProtocolError(message)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("openai_tool_calls.sse", 8),
        ("tgi_chat_tool_calls.sse", 6),
        ("usage_empty_choices.sse", 4),
        ("fields.sse", 4),
        ("crlf.sse", 2),
        ("unicode_line_separators.sse", 2),
    ],
)
@pytest.mark.parametrize("end", ["done", "eof"])
def test_complete_streams(harness, name, count, end):
    body = fixture_bytes(name)
    events = harness.stream(Script(chunked(split_every(body, 37))), end=end)
    assert len(events) == count
    assert all(isinstance(event, dict) for event in events)


def test_a_generate_stream_ends_at_eof(harness):
    events = harness.stream(
        Script(sse_reply(fixture_bytes("tgi_generate_stream.sse"))), "generate_stream", end="eof"
    )
    assert "".join(event["token"]["text"] for event in events[:-1]) == "100% open source."
    assert events[-1]["details"]["finish_reason"] == "eos_token"


def test_a_generate_stream_without_done_fails_when_done_is_required(harness):
    events = []
    with pytest.raises(HFStreamError, match=r"ended after 6 event\(s\) without \[DONE\]"):
        harness.stream(Script(sse_reply(fixture_bytes("tgi_generate_stream.sse"))), into=events)
    assert len(events) == 6  # every event was delivered before the error


def test_missing_done_is_an_error_after_the_events(harness):
    events = []
    with pytest.raises(HFStreamError, match="incomplete"):
        harness.stream(Script(sse_reply(fixture_bytes("missing_done.sse"))), into=events)
    assert [event["choices"][0]["delta"]["content"] for event in events] == ["The answer", " is"]


def test_missing_done_is_fine_with_eof(harness):
    events = harness.stream(Script(sse_reply(fixture_bytes("missing_done.sse"))), end="eof")
    assert len(events) == 2


def test_an_empty_stream_without_done(harness):
    with pytest.raises(HFStreamError, match=r"after 0 event\(s\)"):
        harness.stream(Script(sse_reply(b"")))
    assert harness.stream(Script(sse_reply(b"")), end="eof") == []
    assert harness.stream(Script(sse_reply(DONE))) == []


def test_error_event_in_a_chat_stream(harness):
    events = []
    with pytest.raises(HFStreamError) as caught:
        harness.stream(Script(sse_reply(fixture_bytes("error_event_chat.sse"))), into=events)
    assert len(events) == 1
    assert caught.value.status_code == 422
    assert "must be <= 4096" in str(caught.value)
    assert "inside the stream" in str(caught.value)


def test_error_event_in_a_generate_stream(harness):
    events = []
    with pytest.raises(HFStreamError) as caught:
        harness.stream(
            Script(sse_reply(fixture_bytes("error_event_generate.sse"))), into=events, end="eof"
        )
    assert len(events) == 1
    assert caught.value.error_type == "validation"
    assert caught.value.status_code is None
    assert "`temperature` must be strictly positive" in str(caught.value)


def test_openai_style_error_event_type(harness):
    body = b'data: {"error":{"message":"overloaded","type":"server_error","code":503}}\n\n' + DONE
    with pytest.raises(HFStreamError) as caught:
        harness.stream(Script(sse_reply(body)))
    assert (caught.value.error_type, caught.value.status_code) == ("server_error", 503)


def test_a_cut_after_two_events_raises_after_exactly_two(harness):
    script = Script(chunked([EVENT_1, EVENT_2], cut()))
    events = []
    with pytest.raises(HFStreamError, match=r"broke after 2 event\(s\)") as caught:
        harness.stream(script, into=events, client={"max_retries": 3})
    assert len(events) == 2
    assert script.calls == 1  # never retried once events were handed out
    assert harness.sleeps == []
    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)


@pytest.mark.parametrize("end", ["done", "eof"])
def test_a_cut_is_never_a_quiet_end(harness, end):
    events = []
    with pytest.raises(HFStreamError):
        harness.stream(Script(chunked([EVENT_1, EVENT_2[:20]], cut())), into=events, end=end)
    assert len(events) == 1


def test_a_read_timeout_mid_stream_is_a_stream_error(harness):
    events = []
    with pytest.raises(HFStreamError, match="ReadTimeout"):
        harness.stream(Script(chunked([EVENT_1], httpx.ReadTimeout("timed out"))), into=events)
    assert len(events) == 1


def test_a_cut_after_the_first_event_is_not_retried(harness):
    script = Script(chunked([EVENT_1], cut()), sse_reply(EVENT_1 + EVENT_2 + DONE))
    events = []
    with pytest.raises(HFStreamError):
        harness.stream(script, into=events, client={"max_retries": 2})
    assert script.calls == 1
    assert len(events) == 1


def test_a_cut_before_the_first_event_is_retried(harness):
    script = Script(chunked([EVENT_1[:15]], cut()), sse_reply(EVENT_1 + EVENT_2 + DONE))
    events = harness.stream(script, client={"max_retries": 1})
    assert len(events) == 2
    assert script.calls == 2
    assert len(harness.sleeps) == 1


def test_a_cut_before_the_first_event_past_the_budget(harness):
    script = Script(chunked([b": ping\n\n"], cut()))
    with pytest.raises(HFConnectionError) as caught:
        harness.stream(script, client={"max_retries": 1})
    assert not isinstance(caught.value, HFStreamError)
    assert script.calls == 2


def test_503_then_a_good_stream(harness):
    script = Script(reply(503, {"error": "unavailable"}), sse_reply(EVENT_1 + DONE))
    assert len(harness.stream(script, client={"max_retries": 1})) == 1
    assert script.calls == 2


def test_a_json_answer_to_a_stream_request(harness):
    completion = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"content": "hi"}}],
    }
    script = Script(reply(200, completion, headers={"x-request-id": "rid-9"}))
    with pytest.raises(HFResponseError, match="instead of an event stream") as caught:
        harness.stream(script, client={"max_retries": 2})
    assert "keys ['choices', 'id', 'object']" in str(caught.value)
    assert caught.value.request_id == "rid-9"
    assert script.calls == 1


def test_a_json_error_body_with_status_200(harness):
    script = Script(reply(200, {"error": "Model is overloaded", "error_type": "overloaded"}))
    with pytest.raises(HFStreamError) as caught:
        harness.stream(script, client={"max_retries": 2})
    assert caught.value.error_type == "overloaded"
    assert "Model is overloaded" in str(caught.value)
    assert script.calls == 1


def test_an_event_that_is_not_json(harness):
    with pytest.raises(HFStreamError, match="not JSON"):
        harness.stream(Script(sse_reply(b"data: {broken\n\n" + DONE)))


def test_headers_and_request_id_are_set_before_the_first_event():
    script = Script(
        sse_reply(EVENT_1 + EVENT_2 + DONE, **{"x-request-id": "rid-42", "x-compute-type": "a10g"})
    )
    with HFClient(transport=httpx.MockTransport(script)) as client:
        stream = client.stream("POST", "chat/completions", json={"model": "m"})
        assert script.calls == 0  # lazy: nothing is sent before iteration
        first = next(stream)
        assert stream.request_id == "rid-42"
        assert stream.headers["x-compute-type"] == "a10g"
        assert first["choices"][0]["delta"]["content"] == "Hel"
        assert len(list(stream)) == 1


async def test_async_headers_and_request_id_are_set_before_the_first_event():
    script = Script(sse_reply(EVENT_1 + EVENT_2 + DONE, **{"x-request-id": "rid-43"}))
    async with AsyncHFClient(transport=httpx.MockTransport(script)) as client:
        stream = client.stream("POST", "chat/completions", json={"model": "m"})
        async with stream:
            first = await stream.__anext__()
            assert stream.request_id == "rid-43"
            assert first["choices"][0]["delta"]["content"] == "Hel"
            rest = [event["choices"][0]["delta"]["content"] async for event in stream]
            assert rest == ["lo"]


class Tracked(ChunkedStream):
    """Knows whether the client closed it."""

    closed = False

    def close(self):
        self.closed = True

    async def aclose(self):
        self.closed = True


def test_closing_early_releases_the_response():
    body = Tracked([EVENT_1, EVENT_2, DONE])
    transport = httpx.MockTransport(
        lambda _request: httpx.Response(200, headers=SSE_HEADERS, stream=body)
    )
    with HFClient(transport=transport) as client, client.stream("POST", "x", json={}) as stream:
        next(stream)
    assert body.closed


async def test_async_closing_early_releases_the_response():
    body = Tracked([EVENT_1, EVENT_2, DONE])
    transport = httpx.MockTransport(
        lambda _request: httpx.Response(200, headers=SSE_HEADERS, stream=body)
    )
    client = AsyncHFClient(transport=transport)
    async with client, client.stream("POST", "x", json={}) as stream:
        await stream.__anext__()
    assert body.closed


async def test_async_server_error_before_the_stream():
    script = Script(reply(500, {"error": "boom"}))
    async with AsyncHFClient(transport=httpx.MockTransport(script), max_retries=0) as client:
        stream = client.stream("POST", "x", json={})
        with pytest.raises(HFServerError, match="boom"):
            await stream.__anext__()


# --- the routes' end rules, asked by the transport -------------------------------------------------

FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n'


@pytest.mark.parametrize(
    "body",
    [EVENT_1 + EVENT_2 + FINISH, EVENT_1 + FINISH + USAGE, EVENT_1 + EVENT_2 + FINISH + USAGE + DONE],
)
def test_a_chat_stream_is_complete_at_eof_once_it_finished(harness, body):
    from hfbridge.wire.stream_end import CHOICES_FINISHED

    events = harness.stream(Script(chunked(split_every(body, 29))), end=CHOICES_FINISHED)
    assert events[-1] == json.loads((USAGE if USAGE in body else FINISH)[6:])


def test_a_chat_stream_that_stops_before_its_finish_is_cut(harness):
    from hfbridge.wire.stream_end import CHOICES_FINISHED

    events = []
    with pytest.raises(HFStreamError, match=r"2 event\(s\) without \[DONE\] and before a finish"):
        harness.stream(Script(sse_reply(EVENT_1 + EVENT_2)), into=events, end=CHOICES_FINISHED)
    assert len(events) == 2


def test_a_generate_stream_is_judged_by_its_final_event(harness):
    from hfbridge.wire.stream_end import FINAL_EVENT

    body = fixture_bytes("tgi_generate_stream.sse")
    assert len(harness.stream(Script(sse_reply(body)), "generate_stream", end=FINAL_EVENT)) == 6
    cut = b"\n\n".join(body.split(b"\n\n")[:3]) + b"\n\n"
    with pytest.raises(HFStreamError, match="before its final event"):
        harness.stream(Script(sse_reply(cut)), "generate_stream", end=FINAL_EVENT)
