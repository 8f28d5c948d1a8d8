"""Faults 5, 6 and 7 at the service level: cut streams, a missing ``[DONE]``, error events.

A stream that breaks after its first event is never retried (the caller has seen output) and never
ends as if complete: it raises ``HFStreamError`` after the events that did arrive. Whether a body
that ends without ``[DONE]`` is complete depends on the route: OpenAI-style routes require the
marker, TGI's ``/generate_stream`` never sends it.
"""

from __future__ import annotations

import asyncio
import json
import operator
import time

import pytest
from faultserver import SSE, Respond, chat_chunks, tgi_events
from support import CHAT_PATH, MESSAGES, adrain, chat_service, drain, fast_config

from hfbridge.errors import HFError, HFStreamError
from hfbridge.inference.textgen import TextGenService
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.wire.textgen import GenerationParams

PIECES = ("one ", "two ", "three")
CONTENT = operator.attrgetter("content")


def collect(service, mode):
    """Stream a chat call; return the deltas' text received, and the error that ended it."""
    if mode == "stream":
        return drain(service.stream(MESSAGES, {}), CONTENT)
    return asyncio.run(adrain(service.astream(MESSAGES, {}), CONTENT))


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("end", ["reset", "cut"])
def test_stream_broken_mid_way_raises_after_the_events_received(fault_server, mode, end):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), end=end, fault=end))

    received, error = collect(chat_service(fault_server.url + "/v1"), mode)

    assert "".join(received) == "".join(PIECES)  # everything sent before the break arrived
    assert isinstance(error, HFStreamError)
    assert "incomplete" in str(error)
    assert "3 event(s)" in str(error)
    assert fault_server.by_path[CHAT_PATH] == 1  # output was handed out: never retried


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_chat_stream_ending_before_its_finish_reason_raises(fault_server, mode):
    unfinished = chat_chunks(*PIECES)
    unfinished[-1]["choices"][0]["finish_reason"] = None  # the finish chunk never comes
    fault_server.route(CHAT_PATH, lambda _: SSE(unfinished, end="eof", fault="no-done"))

    received, error = collect(chat_service(fault_server.url + "/v1"), mode)

    assert "".join(received) == "".join(PIECES)
    assert isinstance(error, HFStreamError)
    assert "without [DONE] and before a finish_reason" in str(error)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_chat_stream_ending_at_eof_right_after_its_finish_chunk_is_complete(fault_server, mode):
    # What cerebras did through the router and TGI 1.x/2.x do: no [DONE] after the finish.
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), end="eof", fault="no-done"))

    received, error = collect(chat_service(fault_server.url + "/v1"), mode)

    assert error is None
    assert "".join(received) == "".join(PIECES)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_with_done_completes_and_gives_a_result(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), end="done"))
    service = chat_service(fault_server.url + "/v1")

    received, error = collect(service, mode)

    assert error is None
    assert "".join(received) == "".join(PIECES)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_error_event_inside_a_200_stream_raises_with_the_server_message(fault_server, mode):
    error_event = {"error": "Input validation error: too many tokens", "error_type": "validation"}
    fault_server.route(
        CHAT_PATH,
        lambda _: SSE([*chat_chunks("partial "), error_event], end="done", fault="error-event"),
    )

    received, error = collect(chat_service(fault_server.url + "/v1"), mode)

    assert received == ["partial "]
    assert isinstance(error, HFStreamError)
    assert "too many tokens" in str(error)
    assert error.error_type == "validation"


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_error_event_opening_a_stream_raises(fault_server, mode):
    error_event = {"error": {"message": "provider overloaded", "http_status_code": 503}}
    fault_server.route(CHAT_PATH, lambda _: SSE([error_event], end="eof", fault="error-event"))

    received, error = collect(chat_service(fault_server.url + "/v1"), mode)

    assert received == []
    assert isinstance(error, HFStreamError)
    assert error.status_code == 503
    assert "provider overloaded" in str(error)


# --- TGI /generate_stream: the end of the body is the end of the stream --------------------------


def tgi_service(base_url: str) -> TextGenService:
    config = fast_config(base_url)
    return TextGenService(
        base_url=base_url, api="tgi", client=HFClient(config), async_client=AsyncHFClient(config)
    )


def stream_text(service: TextGenService, mode: str) -> tuple[list[str], HFError | None]:
    if mode == "stream":
        return drain(service.stream("Say it", GenerationParams()))
    return asyncio.run(adrain(service.astream("Say it", GenerationParams())))


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_tgi_stream_without_done_is_complete(fault_server, mode):
    fault_server.route("/generate_stream", lambda _: SSE(tgi_events(*PIECES), end="eof"))

    received, error = stream_text(tgi_service(fault_server.url), mode)

    assert error is None
    assert "".join(received) == "".join(PIECES)


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("end", ["reset", "cut"])
def test_tgi_stream_broken_mid_way_raises(fault_server, mode, end):
    fault_server.route("/generate_stream", lambda _: SSE(tgi_events(*PIECES), end=end))

    received, error = stream_text(tgi_service(fault_server.url), mode)

    assert isinstance(error, HFStreamError)
    assert "".join(received) in ("", "one ", "one two ", "one two three")


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_tgi_error_event_raises(fault_server, mode):
    events = [*tgi_events("one ", "two")[:1], {"error": "Request failed during generation"}]
    fault_server.route("/generate_stream", lambda _: SSE(events, end="eof", fault="error-event"))

    _, error = stream_text(tgi_service(fault_server.url), mode)

    assert isinstance(error, HFStreamError)
    assert "Request failed during generation" in str(error)


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_tgi_stream_closed_at_an_event_boundary_is_not_complete(fault_server, mode):
    """A close-delimited body (no chunked framing) cut between two events looks like a clean end.

    Only the content can tell: TGI's last event carries ``generated_text``. Without it, the stream
    must not be presented as complete.
    """
    events = tgi_events(*PIECES)[:2]  # the final event (with generated_text) never comes
    body = "".join(f"data: {json.dumps(event)}\n\n" for event in events).encode()
    fault_server.route(
        "/generate_stream",
        lambda _: Respond(200, body, {"connection": "close"}, "text/event-stream", "cut-at-eof"),
    )

    received, error = stream_text(tgi_service(fault_server.url), mode)

    assert "".join(received) in ("", "one ", "one two ")
    assert isinstance(error, HFStreamError)


# --- after [DONE]: the rest of the body is read, so the connection goes back to the pool ---------


def stream_times(service, mode, times):
    """Run ``times`` streams in a row (one event loop for the async ones); their texts."""
    if mode == "stream":
        return [collect(service, mode) for _ in range(times)]

    async def run():
        return [await adrain(service.astream(MESSAGES, {}), CONTENT) for _ in range(times)]

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_streams_in_a_row_reuse_one_connection(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), end="done"))
    service = chat_service(fault_server.url + "/v1")

    results = stream_times(service, mode, 5)

    assert [("".join(received), error) for received, error in results] == [
        ("".join(PIECES), None)
    ] * 5
    # Reading past [DONE] to the end of the body lets each stream hand its connection back.
    assert fault_server.connections_total == 1


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_events_after_done_are_ignored(fault_server, mode):
    late = b"data: " + json.dumps(chat_chunks("late")[0]).encode() + b"\n\n"
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), after_done=late * 3))
    service = chat_service(fault_server.url + "/v1")

    received, error = collect(service, mode)

    assert error is None
    assert "".join(received) == "".join(PIECES)


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("stall", [0.2, 2.0])
def test_a_server_that_stalls_after_done_still_gives_the_whole_answer(fault_server, mode, stall):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), stall_after_done=stall))
    service = chat_service(fault_server.url + "/v1", timeout=0.5)

    started = time.monotonic()
    received, error = collect(service, mode)
    elapsed = time.monotonic() - started

    assert error is None
    assert "".join(received) == "".join(PIECES)
    # The read timeout bounds the wait for the end of the body; a stall past it is not an error.
    assert elapsed < min(stall, 0.5) + 1.0
