"""Retries as the clients perform them (sync and async): attempts, sleeps, final errors, logs."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest
from tests.transport.conftest import Script, reply, sse_reply

from hfbridge.errors import (
    HFBadRequestError,
    HFConfigError,
    HFConnectionError,
    HFModelLoadingError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFTimeoutError,
)
from hfbridge.transport import ClientConfig, RetryPolicy

OK = reply(200, {"ok": True})
BUSY = reply(503, {"error": "Service temporarily unavailable"})


def no_jitter(max_retries: int) -> ClientConfig:
    config = ClientConfig.create(token="hf_retrytestretrytest")
    return dataclasses.replace(config, retry=RetryPolicy(max_retries=max_retries, jitter=False))


@pytest.mark.parametrize(
    ("failures", "sleeps"),
    [(0, []), (2, [0.5, 1.0]), (4, [0.5, 1.0, 2.0, 4.0])],
)
def test_failures_before_success(harness, failures, sleeps):
    script = Script(*([BUSY] * failures), OK)
    response = harness.request(script, client={"config": no_jitter(4)})
    assert response.json() == {"ok": True}
    assert script.calls == failures + 1
    assert harness.sleeps == sleeps


def test_every_attempt_resends_the_same_request(harness):
    script = Script(BUSY, BUSY, OK)
    harness.request(script, json={"model": "m", "messages": []}, client={"config": no_jitter(4)})
    assert script.json_bodies() == [{"model": "m", "messages": []}] * 3
    assert {request.headers["authorization"] for request in script.requests} == {
        "Bearer hf_retrytestretrytest"
    }


def test_jittered_sleeps_stay_within_bounds(harness):
    script = Script(BUSY, BUSY, BUSY, OK)
    harness.request(script, client={"max_retries": 3})
    assert len(harness.sleeps) == 3
    for sleep, full in zip(harness.sleeps, [0.5, 1.0, 2.0], strict=True):
        assert 0.75 * full <= sleep <= full


def test_rate_limit_past_the_budget_raises_with_retry_after(harness):
    script = Script(reply(429, {"error": "Too many requests"}, headers={"retry-after": "3"}))
    with pytest.raises(HFRateLimitError) as caught:
        harness.request(script, client={"max_retries": 2})
    assert script.calls == 3
    assert harness.sleeps == [3.0, 3.0]
    assert caught.value.retry_after == 3.0
    assert caught.value.status_code == 429
    assert "retry after 3 s" in str(caught.value)


def test_retry_after_date_is_honoured(harness):
    # A date in the past means "now": no wait at all, but still a retry.
    script = Script(
        reply(
            429, {"error": "slow down"}, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
        ),
        OK,
    )
    harness.request(script, client={"max_retries": 1})
    assert harness.sleeps == [0.0]


def test_retry_after_on_a_503_is_honoured(harness):
    script = Script(reply(503, {"error": "maintenance"}, headers={"retry-after": "7"}), OK)
    harness.request(script, client={"max_retries": 1})
    assert harness.sleeps == [7.0]


def test_a_retry_after_above_the_cap_fails_fast_with_the_servers_figure(harness):
    script = Script(reply(429, {"error": "later"}, headers={"retry-after": "86400"}), OK)
    with pytest.raises(HFRateLimitError) as caught:
        harness.request(script, client={"max_retries": 2})
    assert harness.sleeps == []  # not waited at the cap, twice: not waited at all
    assert script.calls == 1
    assert caught.value.retry_after == 86400.0
    assert "retry after 86400 s" in str(caught.value)


def test_a_retry_after_at_the_cap_is_waited(harness):
    script = Script(reply(429, {"error": "later"}, headers={"retry-after": "60"}), OK)
    harness.request(script, client={"max_retries": 1})
    assert harness.sleeps == [60.0]


def test_model_loading_waits_the_estimated_time_unless_above_the_cap(harness):
    loading = reply(503, {"error": "Model m is currently loading", "estimated_time": 20.0})
    long_loading = reply(503, {"error": "Model m is currently loading", "estimated_time": 420.0})
    script = Script(loading, long_loading, long_loading)
    with pytest.raises(HFModelLoadingError) as caught:
        harness.request(script, client={"max_retries": 2})
    assert harness.sleeps == [20.0]
    assert caught.value.estimated_time == 420.0
    assert "about 420 s" in str(caught.value)
    assert script.calls == 2


@pytest.mark.parametrize("estimate", ["-3", "NaN", "Infinity", "1e999"])
def test_a_nonsense_loading_estimate_reads_as_none(harness, estimate):
    body = f'{{"error": "Model m is currently loading", "estimated_time": {estimate}}}'
    script = Script(reply(503, body.encode()), OK)
    harness.request(script, client={"config": no_jitter(1)})
    assert len(harness.sleeps) == 1
    assert 0 < harness.sleeps[0] <= 8  # backoff, not the server's nonsense
    script = Script(reply(503, body.encode()))
    with pytest.raises(HFModelLoadingError) as caught:
        harness.request(script, client={"max_retries": 0})
    assert caught.value.estimated_time is None
    message = str(caught.value)
    assert "no estimate given" in message
    for nonsense in ("-3", "nan", "inf"):
        assert f"about {nonsense}" not in message


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retried_statuses(harness, status):
    script = Script(reply(status, {"error": "transient"}), OK)
    assert harness.request(script, client={"config": no_jitter(1)}).json() == {"ok": True}
    assert script.calls == 2
    assert harness.sleeps == [0.5]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_final_statuses_are_not_retried(harness, status):
    script = Script(reply(status, {"error": "final"}), OK)
    with pytest.raises(HFStatusError) as caught:
        harness.request(script, client={"max_retries": 4})
    assert caught.value.status_code == status
    assert script.calls == 1
    assert harness.sleeps == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), HFConnectionError),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            HFConnectionError,
        ),
        (httpx.ConnectTimeout("timed out"), HFTimeoutError),
        (httpx.PoolTimeout("no connection free"), HFTimeoutError),
        (httpx.WriteTimeout("the server does not read"), HFTimeoutError),
    ],
)
def test_transport_failures_are_retried_then_typed(harness, failure, expected):
    script = Script(failure)
    with pytest.raises(expected) as caught:
        harness.request(script, client={"config": no_jitter(2)})
    assert script.calls == 3
    assert harness.sleeps == [0.5, 1.0]
    assert "chat/completions" in str(caught.value)
    assert isinstance(caught.value.__cause__, type(failure))
    if expected is HFTimeoutError:
        assert "timeout=" in str(caught.value)  # tells the user what to raise
        assert caught.value.request_sent is False


def test_a_read_timeout_after_the_request_was_sent_is_not_retried(harness):
    script = Script(httpx.ReadTimeout("The read operation timed out"), OK)
    with pytest.raises(HFTimeoutError) as caught:
        harness.request(script, client={"config": no_jitter(2)})
    assert script.calls == 1  # a generation may be billed per attempt
    assert harness.sleeps == []
    assert caught.value.kind == "read"
    assert caught.value.request_sent is True
    assert "not retried" in str(caught.value)
    assert "timeout=" in str(caught.value)


def test_read_timeouts_are_retried_when_the_policy_says_so(harness):
    config = dataclasses.replace(
        no_jitter(2), retry=dataclasses.replace(no_jitter(2).retry, retry_read_timeouts=True)
    )
    script = Script(httpx.ReadTimeout("The read operation timed out"), OK)
    assert harness.request(script, client={"config": config}).json() == {"ok": True}
    assert script.calls == 2


def test_connect_error_then_success(harness):
    script = Script(httpx.ConnectError("refused"), OK)
    assert harness.request(script, client={"max_retries": 1}).json() == {"ok": True}
    assert script.calls == 2


@pytest.mark.parametrize(
    ("client_retries", "call_retries", "attempts"), [(0, 3, 4), (4, 0, 1), (1, None, 2)]
)
def test_per_call_max_retries_overrides_the_client(harness, client_retries, call_retries, attempts):
    script = Script(BUSY)
    with pytest.raises(HFServerError):
        harness.request(script, client={"max_retries": client_retries}, max_retries=call_retries)
    assert script.calls == attempts
    assert len(harness.sleeps) == attempts - 1


def test_negative_max_retries_on_the_client_is_a_config_error(harness):
    with pytest.raises(HFConfigError, match="max_retries"):
        harness.client(Script(OK), max_retries=-1)


def test_negative_max_retries_on_a_call_fails_before_any_request(harness):
    script = Script(OK)
    with pytest.raises(HFConfigError, match="max_retries"):
        harness.request(script, max_retries=-1)
    assert script.calls == 0


def test_streams_are_retried_before_their_first_event(harness):
    body = b'data: {"n":1}\n\ndata: [DONE]\n\n'
    script = Script(
        BUSY, reply(429, {"error": "busy"}, headers={"retry-after": "2"}), sse_reply(body)
    )
    events = harness.stream(script, client={"config": no_jitter(3)})
    assert events == [{"n": 1}]
    assert script.calls == 3
    assert harness.sleeps == [0.5, 2.0]


def test_stream_retry_budget_exhausted(harness):
    script = Script(BUSY)
    with pytest.raises(HFServerError):
        harness.stream(script, client={"config": no_jitter(1)})
    assert script.calls == 2


def test_each_retry_is_logged_at_debug(harness, caplog):
    caplog.set_level(logging.DEBUG, logger="hfbridge")
    script = Script(BUSY, reply(429, {"error": "x"}, headers={"retry-after": "1.25"}), OK)
    harness.request(script, client={"config": no_jitter(2)})
    retries = [record for record in caplog.records if "retry" in record.getMessage()]
    assert [record.levelno for record in retries] == [logging.DEBUG, logging.DEBUG]
    first, second = (record.getMessage() for record in retries)
    assert "attempt 1" in first
    assert "HFServerError" in first
    assert "0.50 s" in first
    assert "attempt 2" in second
    assert "HFRateLimitError" in second
    assert "1.25 s" in second


def test_no_retry_log_when_nothing_is_retried(harness, caplog):
    caplog.set_level(logging.DEBUG, logger="hfbridge")
    with pytest.raises(HFBadRequestError):
        harness.request(Script(reply(400, {"error": "bad"})))
    assert not [record for record in caplog.records if "retry" in record.getMessage()]
