"""The retry loop: tenacity driven by :mod:`hfbridge.transport.retry`'s policy.

Imported only when a first try has failed (``HFClient._with_retries``), so that neither importing
hfbridge nor a call that succeeds at once pays for tenacity.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from hfbridge.transport.retry import RetryPolicy, compute_wait, is_retryable

logger = logging.getLogger("hfbridge.transport")


class _Wait(tenacity.wait.wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return compute_wait(self.policy, retry_state.attempt_number, error)


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    error = retry_state.outcome.exception() if retry_state.outcome else None
    delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
    logger.debug(
        "hfbridge retry: attempt %d failed (%s); retrying in %.2f s",
        retry_state.attempt_number,
        type(error).__name__,
        delay,
    )


def retry_kwargs(policy: RetryPolicy) -> dict[str, Any]:
    """Arguments for ``tenacity.Retrying``/``AsyncRetrying`` that implement ``policy``."""
    return {
        "stop": tenacity.stop_after_attempt(policy.max_retries + 1),
        "wait": _Wait(policy),
        "retry": tenacity.retry_if_exception(lambda error: is_retryable(error, policy)),
        "before_sleep": _log_retry,
        "reraise": True,
    }


def sync_retrying(policy: RetryPolicy, sleep: Callable[[float], None]) -> tenacity.Retrying:
    """A reusable sync retry loop for ``policy``."""
    return tenacity.Retrying(sleep=sleep, **retry_kwargs(policy))


def async_retrying(
    policy: RetryPolicy, sleep: Callable[[float], Awaitable[None]]
) -> tenacity.AsyncRetrying:
    """An async retry loop for ``policy`` (one per call: it keeps per-call state)."""
    return tenacity.AsyncRetrying(sleep=sleep, **retry_kwargs(policy))
