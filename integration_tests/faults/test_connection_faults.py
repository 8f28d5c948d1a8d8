"""Faults 4 and 9: connections that die before an answer, refused connections, stalled servers.

A reset (RST) or close (FIN) before the answer is retried to success; a refused connection ends in
``HFConnectionError``; a server that stalls (no answer, or a body that stops) ends in
``HFTimeoutError`` within the configured timeout, in all four call modes.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from faultserver import SSE, SlowBody, Stall, chat_body, chat_chunks
from faultserver import Close as CloseBeforeAnswer
from faultserver import Reset as ResetBeforeAnswer
from support import ANSWER, CHAT_PATH, MODES, Waits, chat_service, healthy_chat, run_chat

from hfbridge.errors import HFConnectionError, HFStreamError, HFTimeoutError
from hfbridge.transport import RetryPolicy

ONE_RETRY = RetryPolicy(max_retries=1, initial_delay=0.01, max_backoff=0.01, wait_cap=0.01)
TIMEOUT = 0.5


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", [ResetBeforeAnswer, CloseBeforeAnswer])
def test_connection_lost_before_the_answer_is_retried(fault_server, mode, fault):
    fault_server.route(CHAT_PATH, healthy_chat)
    fault_server.script(CHAT_PATH, fault(), fault())
    waits = Waits()

    text = run_chat(chat_service(fault_server.url + "/v1", waits=waits), mode)

    assert text == ANSWER
    assert sum(fault_server.faults.values()) == 2
    assert fault_server.by_path[CHAT_PATH] == 3
    assert len(waits.values) == 2  # two retries, each after a backoff wait


@pytest.mark.parametrize("mode", MODES)
def test_connection_lost_every_time_raises_connection_error(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: ResetBeforeAnswer())

    with pytest.raises(HFConnectionError) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=ONE_RETRY), mode)

    assert not isinstance(caught.value, HFTimeoutError)
    assert "failed before an answer arrived" in str(caught.value)
    assert fault_server.by_path[CHAT_PATH] == 2


def _refused_url() -> str:
    """A loopback URL nobody listens on (the port was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("mode", MODES)
def test_connection_refused_raises_connection_error(mode):
    url = _refused_url()
    waits = Waits()
    started = time.monotonic()

    with pytest.raises(HFConnectionError) as caught:
        run_chat(chat_service(url, waits=waits, retry=ONE_RETRY), mode)

    assert time.monotonic() - started < 2.0
    assert not isinstance(caught.value, HFTimeoutError)
    assert "127.0.0.1" in str(caught.value)
    assert "Check the URL and your network" in str(caught.value)
    assert len(waits.values) == 1  # refused is retried like any connection error


@pytest.mark.parametrize("mode", MODES)
def test_server_that_never_answers_times_out_in_time(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: Stall(seconds=30))
    started = time.monotonic()

    with pytest.raises(HFTimeoutError) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=ONE_RETRY, timeout=TIMEOUT), mode)

    elapsed = time.monotonic() - started
    # One attempt of TIMEOUT: the request was sent, so the read timeout is not retried (the
    # server may be generating; a retry could be billed again). Far below the 30 s stall.
    assert elapsed < TIMEOUT + 1.5
    assert elapsed >= TIMEOUT * 0.9
    assert "timed out" in str(caught.value)
    assert "raise timeout=" in str(caught.value)
    assert "not retried" in str(caught.value)
    assert caught.value.request_sent is True
    assert fault_server.faults["stall"] == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_body_that_stops_half_way_times_out_in_time(fault_server, mode):
    body = json.dumps(chat_body(ANSWER)).encode()
    fault_server.route(CHAT_PATH, lambda _: SlowBody(body=body, sent=len(body) // 2, hold=30))
    started = time.monotonic()

    with pytest.raises(HFTimeoutError):
        run_chat(chat_service(fault_server.url + "/v1", retry=ONE_RETRY, timeout=TIMEOUT), mode)

    assert time.monotonic() - started < TIMEOUT + 1.5
    assert fault_server.faults["slow-body"] == 1  # an answer had begun: not retried


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_slow_but_steady_body_is_not_a_timeout(fault_server, mode):
    """The timeout bounds silence, not the whole answer: a body that keeps coming is received."""
    body = json.dumps(chat_body(ANSWER)).encode()
    sent = len(body) - 6
    fault_server.route(CHAT_PATH, lambda _: SlowBody(body=body, sent=sent, drip=TIMEOUT / 5))
    started = time.monotonic()

    text = run_chat(chat_service(fault_server.url + "/v1", retry=ONE_RETRY, timeout=TIMEOUT), mode)

    assert text == ANSWER
    assert time.monotonic() - started > TIMEOUT  # the whole answer took longer than the timeout
    assert fault_server.by_path[CHAT_PATH] == 1


@pytest.mark.parametrize("mode", ["stream", "astream"])
def test_stream_that_stalls_after_its_first_events_times_out(fault_server, mode):
    fault_server.route(CHAT_PATH, lambda _: SSE(chat_chunks("a", "b", "c"), pause=3.0, end="done"))
    started = time.monotonic()

    # The first event was handed out, so the stream is not retried: it reports the cut.
    with pytest.raises(HFStreamError) as caught:
        run_chat(chat_service(fault_server.url + "/v1", retry=ONE_RETRY, timeout=TIMEOUT), mode)

    assert time.monotonic() - started < TIMEOUT + 1.5
    assert "timeout" in str(caught.value).lower()
    assert fault_server.by_path[CHAT_PATH] == 1
