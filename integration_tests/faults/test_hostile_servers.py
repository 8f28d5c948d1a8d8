"""Hostile or broken servers (issue 17): each fault here used to hang a call, exhaust memory, fail a
call that could have succeeded, or end in an untyped error.

- a body left open after ``[DONE]``: the stream ends at once (the drain is bounded in time);
- response headers trickled one byte at a time: ``timeout`` bounds the wait for them;
- a stream that only sends keep-alive comments: ``stream_idle_timeout`` (per client and per call);
- a line of many MiB, a gzip bomb: typed errors naming the cap (``max_line_bytes``,
  ``max_body_bytes``) and how to raise it;
- a server closing idle keep-alive connections just as they are reused: zero failures with
  ``max_retries=0``, the request resent once on a new connection;
- redirects to unusable locations and redirect loops: typed, never retried.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from faultserver import (
    SSE,
    Close,
    KeepAliveStream,
    Raw,
    Redirect,
    Request,
    Respond,
    chat_body,
    chat_chunks,
    json_reply,
)
from support import ANSWER, CHAT_PATH, MESSAGES, MODES, chat_service, healthy_chat, run_chat

from hfbridge.errors import (
    HFResponseError,
    HFResponseTooLargeError,
    HFStreamError,
    HFTimeoutError,
)
from hfbridge.inference.chat import CallOptions
from hfbridge.langchain import ChatHF, HFTextGen
from hfbridge.llama_index import HFLLM
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, RetryPolicy

NO_RETRY = RetryPolicy(max_retries=0)
PIECES = ("one ", "two ", "three")


def stream_text(service: Any, mode: str, options: CallOptions | None = None) -> str:
    """Consume a chat stream in ``mode`` ("stream" or "astream") and return its text."""
    if mode == "stream":
        return "".join(delta.content for delta in service.stream(MESSAGES, {}, options))

    async def collect() -> str:
        return "".join([d.content async for d in service.astream(MESSAGES, {}, options)])

    return asyncio.run(collect())


# --- the end of a stream --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_body_left_open_after_done_does_not_hold_the_stream(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES), stall_after_done=20.0))
    service = chat_service(fault_server.url + "/v1", timeout=30.0)  # the read timeout is long

    started = time.monotonic()
    text = stream_text(service, mode)

    assert text == "".join(PIECES)
    assert time.monotonic() - started < 2.0  # not the 30 s read timeout, nor the 20 s stall


# --- the answer's headers -------------------------------------------------------------------------

TRICKLED_HEAD = b"".join([
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n",
    b"x-padding: " + b"a" * 200 + b"\r\n",
    b"content-length: 2\r\n\r\n{}",
])  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_headers_trickled_byte_by_byte_are_bounded_by_the_timeout(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: Raw(TRICKLED_HEAD, trickle=True, pause=0.2))
    service = chat_service(fault_server.url + "/v1", timeout=1.0, retry=NO_RETRY)

    started = time.monotonic()
    with pytest.raises(HFTimeoutError) as caught:
        run_chat(service, mode)
    elapsed = time.monotonic() - started

    assert elapsed < 2.5  # the trickle alone would take 50 s
    assert "response headers within 1 s" in str(caught.value)
    assert caught.value.request_sent is True
    assert fault_server.by_path[CHAT_PATH] == 1


# --- a stream that only keeps itself alive --------------------------------------------------------


@pytest.mark.parametrize("mode", ["stream", "astream"])
@pytest.mark.parametrize("events", [0, 2])
def test_keep_alive_comments_do_not_reset_the_idle_timeout(fault_server, mode, events):
    fault_server.route(
        CHAT_PATH, lambda _: KeepAliveStream(chat_chunks(*PIECES)[:events], pause=0.1)
    )
    # Per client: comments every 0.1 s keep every read well inside the 5 s read timeout.
    service = chat_service(fault_server.url + "/v1", timeout=5.0, stream_idle_timeout=0.6)

    started = time.monotonic()
    expected = HFTimeoutError if events == 0 else HFStreamError
    with pytest.raises(expected) as caught:
        stream_text(service, mode)
    elapsed = time.monotonic() - started

    assert 0.5 < elapsed < 2.0
    assert "no event for 0.6 s" in str(caught.value)
    assert "stream_idle_timeout" in str(caught.value)
    if events == 0:
        assert caught.value.kind == "idle"
    else:
        assert f"after {events} event(s)" in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 1  # the server has the request: not retried


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_the_idle_timeout_can_be_set_per_call(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: KeepAliveStream([], pause=0.1))
    service = chat_service(fault_server.url + "/v1", timeout=5.0)  # idle: the 5 s timeout

    started = time.monotonic()
    with pytest.raises(HFTimeoutError, match=r"no event for 0\.4 s"):
        stream_text(service, mode, CallOptions(stream_idle_timeout=0.4))
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_slow_stream_whose_events_keep_coming_is_not_idle(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks(*PIECES, "four"), pause=0.3))
    service = chat_service(fault_server.url + "/v1", timeout=5.0, stream_idle_timeout=0.6)

    assert stream_text(service, mode) == "".join(PIECES) + "four"  # 1.2 s in all, 0.3 s apart


# --- size caps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_a_huge_stream_line_is_refused_with_a_typed_error(fault_server, mode):
    huge = b"data: " + b"x" * (3 * 1024 * 1024) + b"\n\n"  # never ends within the cap
    fault_server.route(CHAT_PATH, lambda _: Raw(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + huge
    ))  # fmt: skip
    service = chat_service(fault_server.url + "/v1", max_line_bytes=1024 * 1024)

    with pytest.raises(HFResponseTooLargeError) as caught:
        stream_text(service, mode)

    assert caught.value.limit == 1024 * 1024
    assert caught.value.setting == "max_line_bytes"
    assert "max_line_bytes=" in str(caught.value)  # how to raise it


def _gzip_bomb(decoded: int) -> bytes:
    """A gzip body of ``decoded`` zero bytes, built without holding them (about 1/1000 the size)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip container
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(decoded // len(block))]
    return b"".join([*parts, compressor.flush()])


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return _gzip_bomb(256 * 1024 * 1024)


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "astream"])
@pytest.mark.parametrize("status", [200, 500])
def test_a_gzip_bomb_is_stopped_at_the_body_cap(fault_server, gzip_bomb, mode, status):
    assert len(gzip_bomb) < 300 * 1024
    headers = {"content-encoding": "gzip"}
    fault_server.route(
        CHAT_PATH, lambda _: Respond(status, gzip_bomb, headers, content_type="application/json")
    )
    service = chat_service(fault_server.url + "/v1", retry=NO_RETRY)

    with pytest.raises(HFResponseTooLargeError) as caught:
        run_chat(service, mode)

    assert caught.value.limit == 64 * 1024 * 1024
    assert caught.value.setting == "max_body_bytes"
    assert "max_body_bytes=" in str(caught.value)


def test_a_gzipped_answer_under_the_cap_is_read(fault_server):
    body = gzip.compress(json.dumps(chat_body(ANSWER)).encode())
    fault_server.route(CHAT_PATH, lambda _: Respond(200, body, {"content-encoding": "gzip"}))
    assert run_chat(chat_service(fault_server.url + "/v1"), "sync") == ANSWER


# --- keep-alive connections closed by the server as they are reused -------------------------------


def _second_request_closes() -> Callable[[Request], Any]:
    """Serve the first request of each connection; close on the second, without answering."""
    served: dict[int, int] = {}

    def answer(request: Request) -> Any:
        served[request.connection] = served.get(request.connection, 0) + 1
        if served[request.connection] > 1:
            return Close(fault="closed-on-reuse")
        return healthy_chat(request)

    return answer


class _Resends(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("hfbridge resend"):
            self.count += 1


@pytest.fixture
def resends():
    handler = _Resends()
    logger = logging.getLogger("hfbridge.transport")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


CALLS = 2000


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("server", ["closes-on-reuse", "short-idle-timeout"])
def test_stale_keep_alive_connections_never_fail_a_call(
    fault_server, resends, fault_report, mode, server
):
    if server == "closes-on-reuse":
        fault_server.route(CHAT_PATH, _second_request_closes())
    else:
        fault_server.route(CHAT_PATH, healthy_chat)
        fault_server.idle_close = (0.0, 0.003)
    config = ClientConfig.create(base_url=fault_server.url + "/v1", max_retries=0)
    client, async_client = HFClient(config), AsyncHFClient(config)
    body = {"model": "m", "messages": list(MESSAGES)}

    def sync_calls() -> list[str]:
        return [
            client.request("POST", "chat/completions", json=body).json()["choices"][0]["message"]
            ["content"]
            for _ in range(CALLS)
        ]

    async def async_calls() -> list[str]:
        answers = []
        for _ in range(CALLS):
            response = await async_client.request("POST", "chat/completions", json=body)
            answers.append(response.json()["choices"][0]["message"]["content"])
        return answers

    answers = sync_calls() if mode == "sync" else asyncio.run(async_calls())

    assert answers == [ANSWER] * CALLS  # max_retries=0, and not one call failed
    assert resends.count > 0  # the race did happen: requests were resent on a new connection
    if server == "closes-on-reuse":
        assert resends.count == fault_server.faults["closed-on-reuse"]
    fault_report(
        f"stale keep-alive ({server}, {mode})",
        calls=CALLS, resends=resends.count, idle_closes=fault_server.idle_closes,
        connections=fault_server.connections_total,
    )  # fmt: skip


# --- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    "location", ["http://[::1", "ftp://example.com/x", "http://exa mple.com/", "javascript:x()"]
)
def test_an_unusable_redirect_location_is_a_typed_error(fault_server, mode, location):
    fault_server.route(CHAT_PATH, lambda _: Redirect(location, 307, fault="bad-redirect"))

    with pytest.raises(HFResponseError) as caught:
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert "cannot be followed" in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 1  # not retried


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_redirect_loop_is_a_typed_error_not_retried(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: Redirect(CHAT_PATH, 307, fault="redirect-loop"))

    with pytest.raises(HFResponseError, match="redirected more than 20 times"):
        run_chat(chat_service(fault_server.url + "/v1"), mode)

    assert fault_server.by_path[CHAT_PATH] == 21  # one chain of 20 redirects, not 3 x 21


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cross_origin_redirect_drops_credential_headers(fault_server, mode):
    target = f"http://localhost:{fault_server.port}/elsewhere"
    fault_server.route(CHAT_PATH, lambda _: Redirect(target, 307))
    fault_server.route("/elsewhere", lambda _: json_reply(200, chat_body(ANSWER)))
    headers = {"x-api-key": "hdr-key-0a1b2c3d", "x-trace": "t1"}
    service = chat_service(fault_server.url + "/v1", headers=headers)

    assert run_chat(service, mode) == ANSWER

    first, = fault_server.requests_to(CHAT_PATH)
    followed, = fault_server.requests_to("/elsewhere")
    assert first.headers["x-api-key"] == "hdr-key-0a1b2c3d"
    assert "x-api-key" not in followed.headers
    assert "authorization" not in followed.headers
    assert followed.headers["x-trace"] == "t1"


@pytest.mark.parametrize(
    ("adapter", "where"),
    [("ChatHF", "instance"), ("ChatHF", "call"), ("HFLLM", "instance"), ("HFLLM", "call"),
     ("HFTextGen", "instance"), ("HFTextGen", "call")],
)  # fmt: skip
def test_adapters_take_the_idle_timeout_per_instance_and_per_call(fault_server, adapter, where):
    fault_server.route(CHAT_PATH, lambda _: KeepAliveStream([], pause=0.1))
    fault_server.route("/v1/completions", lambda _: KeepAliveStream([], pause=0.1))
    base = fault_server.url + "/v1"
    setting = {"stream_idle_timeout": 0.4}
    instance = setting if where == "instance" else {}
    call = setting if where == "call" else {}
    streams = {
        "ChatHF": lambda: ChatHF(model="m", base_url=base, timeout=5, **instance).stream,
        "HFLLM": lambda: HFLLM(model="m", base_url=base, timeout=5, **instance).stream_complete,
        "HFTextGen": lambda: HFTextGen(model="m", base_url=base, timeout=5, **instance).stream,
    }
    stream = streams[adapter]()
    started = time.monotonic()
    with pytest.raises(HFTimeoutError, match=r"no event for 0\.4 s"):
        list(stream("hi", **call))
    assert time.monotonic() - started < 2.0
