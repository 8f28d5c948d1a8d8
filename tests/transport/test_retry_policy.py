"""The pure retry rules: Retry-After parsing, waits, caps, backoff, what is retryable."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from hfbridge.errors import (
    HFConfigError,
    HFConnectionError,
    HFModelLoadingError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFStreamError,
    HFTimeoutError,
    error_from_response,
)
from hfbridge.transport import RetryPolicy
from hfbridge.transport.retry import compute_wait, is_retryable, parse_retry_after

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("120", 120.0, id="integer-seconds"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1.5", 1.5, id="float-seconds"),
        pytest.param("  7 ", 7.0, id="padded"),
        pytest.param(formatdate(NOW + 30, usegmt=True), 30.0, id="http-date-future"),
        pytest.param(formatdate(NOW - 3600, usegmt=True), 0.0, id="http-date-past"),
        pytest.param(formatdate(NOW + 90), 90.0, id="date-minus-0000-is-utc"),
        pytest.param("Tue, 14 Nov 2023 23:13:20 +0100", 0.0, id="date-with-offset-now"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("Wed, 99 Foo 2024 25:61:00 GMT", None, id="broken-date"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param(None, None, id="absent"),
        pytest.param("-5", None, id="negative"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="infinite"),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, now=NOW) == expected


def test_parse_retry_after_uses_the_clock_when_now_is_not_given():
    import time

    waited = parse_retry_after(formatdate(time.time() + 100, usegmt=True))
    assert waited is not None
    assert 95 <= waited <= 100


def _status(code, **kwargs):
    defaults = {429: HFRateLimitError, 503: HFServerError}
    return defaults.get(code, HFStatusError)("x", status_code=code, **kwargs)


NO_JITTER = RetryPolicy(max_retries=10, jitter=False)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(_status(429, retry_after=3.0), 3.0, id="retry-after-below-cap"),
        pytest.param(_status(429, retry_after=3600.0), 60.0, id="retry-after-capped"),
        pytest.param(_status(503, retry_after=12.0), 12.0, id="503-retry-after"),
        pytest.param(
            HFModelLoadingError("x", status_code=503, estimated_time=20.0), 20.0, id="estimated"
        ),
        pytest.param(
            HFModelLoadingError("x", status_code=503, estimated_time=900.0), 60.0, id="est-capped"
        ),
        pytest.param(
            HFModelLoadingError("x", status_code=503, estimated_time=900.0, retry_after=5.0),
            5.0,
            id="retry-after-beats-estimate",
        ),
        pytest.param(_status(429, retry_after=-4.0), 0.5, id="negative-request-ignored"),
        pytest.param(_status(429, retry_after=float("nan")), 0.5, id="nan-request-ignored"),
        pytest.param(_status(429), 0.5, id="no-request-backoff"),
    ],
)
def test_server_requested_wait_wins_and_is_capped(error, expected):
    assert compute_wait(NO_JITTER, 1, error) == expected


def test_cap_is_the_policy_s():
    policy = RetryPolicy(wait_cap=2.5, jitter=False)
    assert compute_wait(policy, 1, _status(429, retry_after=30.0)) == 2.5
    loading = HFModelLoadingError("x", status_code=503, estimated_time=30.0)
    assert compute_wait(policy, 1, loading) == 2.5


def test_estimated_time_from_a_real_503_body_is_capped():
    error = error_from_response(
        status_code=503,
        headers={"content-type": "application/json"},
        body=b'{"error":"Model x is currently loading","estimated_time":1234.5}',
        method="POST",
        url="https://router.huggingface.co/v1/chat/completions",
    )
    assert isinstance(error, HFModelLoadingError)
    assert error.estimated_time == 1234.5
    assert compute_wait(NO_JITTER, 1, error) == 60.0


def test_exponential_backoff_doubles_up_to_max_backoff():
    waits = [compute_wait(NO_JITTER, attempt, None) for attempt in range(1, 8)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_is_also_bounded_by_the_cap():
    policy = RetryPolicy(initial_delay=1.0, max_backoff=100.0, wait_cap=3.0, jitter=False)
    assert [compute_wait(policy, n, None) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]


def test_a_huge_attempt_number_does_not_overflow():
    assert compute_wait(NO_JITTER, 5000, None) == 8.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6])
def test_jitter_removes_at_most_a_quarter(attempt):
    policy = RetryPolicy()
    full = compute_wait(NO_JITTER, attempt, None)
    assert compute_wait(policy, attempt, None, rand=0.0) == full
    assert compute_wait(policy, attempt, None, rand=1.0) == pytest.approx(0.75 * full)
    rng = random.Random(attempt)  # noqa: S311 - reproducible test data, not security
    draws = [compute_wait(policy, attempt, None, rand=rng.random()) for _ in range(200)]
    assert all(0.75 * full <= wait <= full for wait in draws)
    assert len(set(draws)) > 100  # really jittered, not a constant


def test_jitter_with_the_default_random_source_stays_in_bounds():
    policy = RetryPolicy()
    draws = [compute_wait(policy, 3, None) for _ in range(200)]
    assert all(1.5 <= wait <= 2.0 for wait in draws)
    assert max(draws) - min(draws) > 0.1


@pytest.mark.parametrize("bad", [-1, -10, 1.5, "2", None])
def test_policy_rejects_a_bad_retry_count(bad):
    with pytest.raises(HFConfigError, match="max_retries"):
        RetryPolicy(max_retries=bad)


@pytest.mark.parametrize("name", ["initial_delay", "max_backoff", "wait_cap"])
def test_policy_rejects_negative_delays(name):
    with pytest.raises(HFConfigError, match=name):
        RetryPolicy(**{name: -1.0})


def test_with_max_retries():
    policy = RetryPolicy(max_retries=2, wait_cap=9.0, jitter=False)
    assert policy.with_max_retries(None) is policy
    assert policy.with_max_retries(2) is policy
    five = policy.with_max_retries(5)
    assert (five.max_retries, five.wait_cap, five.jitter) == (5, 9.0, False)
    with pytest.raises(HFConfigError):
        policy.with_max_retries(-1)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status):
    assert is_retryable(HFStatusError("x", status_code=status))


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 418, 422, 501])
def test_other_statuses_are_final(status):
    assert not is_retryable(HFStatusError("x", status_code=status))


def test_connection_failures_are_retryable_but_broken_streams_are_not():
    assert is_retryable(HFConnectionError("refused"))
    assert not is_retryable(HFStreamError("cut"))
    assert not is_retryable(ValueError("bug"))


@pytest.mark.parametrize(
    ("kind", "sent", "default", "opted_in"),
    [
        ("connect", False, True, True),
        ("pool", False, True, True),
        ("write", False, True, True),
        ("read", True, False, True),  # the server may be generating: billed per attempt
        ("idle", True, False, True),
    ],
)
def test_timeouts_are_retried_only_when_the_request_cannot_have_run(kind, sent, default, opted_in):
    error = HFTimeoutError("slow", kind=kind, request_sent=sent)
    assert is_retryable(error) is default
    assert is_retryable(error, RetryPolicy()) is default
    assert is_retryable(error, RetryPolicy(retry_read_timeouts=True)) is opted_in


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (HFStatusError("x", status_code=429, retry_after=60.0), True),
        (HFStatusError("x", status_code=429, retry_after=61.0), False),
        (HFStatusError("x", status_code=503, retry_after=3600.0), False),
        (HFModelLoadingError("x", status_code=503, estimated_time=420.0), False),
        (HFModelLoadingError("x", status_code=503, estimated_time=20.0), True),
    ],
)
def test_a_wait_above_the_cap_is_not_retried(error, retried):
    assert is_retryable(error, RetryPolicy(wait_cap=60.0)) is retried


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"api";r=0;t=55', 55.0),
        ('"api";r=3;t=55', None),
        ('"resolvers" ; r = 0 ; t = 7', 7.0),
        ("garbage", None),
        (None, None),
    ],
)
def test_hub_ratelimit_header(header, expected):
    from hfbridge.transport.retry import parse_ratelimit

    assert parse_ratelimit(header) == expected
