"""The error policy on one screen (hfbridge.errors): each error's verdicts, and that every reader uses them."""

from __future__ import annotations

import pytest

from hfbridge.catalog import is_failover_error
from hfbridge.errors import (
    HFAuthenticationError,
    HFBadRequestError,
    HFConnectionError,
    HFError,
    HFModelLoadingError,
    HFNotFoundError,
    HFPaymentRequiredError,
    HFPermissionError,
    HFQuotaExceededError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFStreamError,
    HFTimeoutError,
    HFUnprocessableError,
)
from hfbridge.transport.retry import RetryPolicy, is_backpressure, is_congestion, is_retryable

# (error, retried, backpressure, congestion, fails_over, stops_batch): the table in hfbridge.errors
POLICY = [
    (HFConnectionError("x"), True, False, False, False, False),
    (HFTimeoutError("x", kind="connect", request_sent=False), True, False, False, False, False),
    (HFTimeoutError("x", kind="read"), False, False, False, False, False),  # sent: maybe billed
    (HFStatusError("x", status_code=408), True, False, False, False, False),
    (HFBadRequestError("x", status_code=400), False, False, False, False, False),
    (HFAuthenticationError("x", status_code=401), False, False, False, False, True),
    (HFPaymentRequiredError("x", status_code=402), False, False, False, False, True),
    (HFPermissionError("x", status_code=403), False, False, False, False, True),
    (HFNotFoundError("x", status_code=404), False, False, False, False, True),
    (HFUnprocessableError("x", status_code=422), False, False, False, True, False),
    (HFRateLimitError("x", status_code=429), True, True, True, False, False),
    (HFQuotaExceededError("x", status_code=429), False, False, False, False, True),
    (HFServerError("x", status_code=500), True, False, False, True, False),
    (HFServerError("x", status_code=501), False, False, False, True, False),
    (HFServerError("x", status_code=503), True, False, True, True, False),
    (HFModelLoadingError("x", status_code=503), True, True, True, True, False),
    (HFStreamError("x", status_code=503), False, False, False, True, False),
    (HFStreamError("x", status_code=400), False, False, False, False, False),
    (HFError("x"), False, False, False, False, False),
]


@pytest.mark.parametrize(
    "row", POLICY, ids=lambda row: f"{type(row[0]).__name__}{getattr(row[0], 'status_code', '') or ''}"
)
def test_each_error_carries_its_verdicts(row):
    error, retried, backpressure, congestion, fails_over, _ = row
    verdicts = (error.retried, error.backpressure, error.congestion, error.fails_over, error.stops_batch)
    assert verdicts == row[1:]
    # Every reader asks the error, so the table is the whole policy.
    assert is_retryable(error) is retried
    assert is_backpressure(error) is backpressure
    assert is_congestion(error) is congestion
    assert is_failover_error(error) is fails_over


def test_other_exceptions_have_no_policy():
    assert not (is_retryable(ValueError()) or is_failover_error(ValueError()) or is_congestion(ValueError()))


def test_changing_a_treatment_is_one_assignment(monkeypatch):
    monkeypatch.setattr(HFRateLimitError, "fails_over", True)
    assert is_failover_error(HFRateLimitError("x", status_code=429))


def test_the_retry_policy_adds_two_rules_on_top_of_the_verdicts():
    read = HFTimeoutError("x", kind="read", request_sent=True)
    assert not is_retryable(read)
    assert is_retryable(read, RetryPolicy(retry_read_timeouts=True))
    # A server asking to wait past the cap is not retried (the error carries its figure).
    assert is_retryable(HFRateLimitError("x", status_code=429, retry_after=5.0))
    too_long = HFRateLimitError("x", status_code=429, retry_after=3600.0)
    assert too_long.retried and not is_retryable(too_long)
    assert is_retryable(too_long, RetryPolicy(wait_cap=7200.0))
