"""What to retry and how long to wait: small pure functions, driven by tenacity in the client.

What is retried is the error's own verdict (``HFError.retried``: the policy table in
:mod:`hfbridge.errors`): connection errors (refused, reset, closed before an answer), 408, 429,
500, 502, 503 (including "model is loading") and 504, except billing problems (a 429 saying
``insufficient_quota`` does not refill by waiting), and the timeouts of a request the server cannot
have acted on: connect, pool (no free connection) and write timeouts. Two rules of the
:class:`RetryPolicy` come on top (:func:`is_retryable`): read timeouts, and waits above its cap.

What a timeout means. ``timeout`` (120 s by default) bounds, for each attempt, the wait for the
answer's headers from the moment the attempt starts, however slowly a server trickles them, and
every silence while reading a body; a stream also fails when no event arrives for
``stream_idle_timeout`` (keep-alive comments do not count as events). A *read* timeout, once the
request has been sent, is not retried by default: the server may be generating the answer, and
each attempt may be billed. ``RetryPolicy(retry_read_timeouts=True)`` retries them too.

Waits: a server's ``Retry-After`` (seconds or an HTTP date), the Hub's exhausted ``RateLimit`` or a
loading model's ``estimated_time`` sets the wait. A wait above ``wait_cap`` (60 s) is not waited at
all: the error is raised at once, carrying the server's figure (``retry_after``,
``estimated_time``), instead of retrying before the server said it would be ready. Otherwise the
wait grows exponentially with jitter.

A request that provably never reached the server (a kept-alive connection found closed by the
server when it was reused, before any answer byte) is resent once by the transport, without
counting as a retry.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime

from hfbridge._constants import (
    MAX_RETRIES,
    RETRY_INITIAL_DELAY,
    RETRY_MAX_BACKOFF,
    RETRY_WAIT_CAP,
)
from hfbridge.errors import (
    HFConfigError,
    HFError,
    HFModelLoadingError,
    HFStatusError,
    HFTimeoutError,
)

_MAX_EXPONENT = 32  # 2**32 already dwarfs any max_backoff; a larger exponent overflows a float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how to space the attempts.

    ``max_retries`` counts retries after the first attempt (0 disables retrying). ``wait_cap``
    bounds every wait; a server asking for more is not retried. ``retry_read_timeouts`` also
    retries read timeouts of requests already sent (see the module docstring).
    """

    max_retries: int = MAX_RETRIES
    initial_delay: float = RETRY_INITIAL_DELAY
    max_backoff: float = RETRY_MAX_BACKOFF
    wait_cap: float = RETRY_WAIT_CAP
    jitter: bool = True
    retry_read_timeouts: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise HFConfigError(
                f"max_retries must be an integer >= 0, got {self.max_retries!r}: "
                "pass 0 to disable retries."
            )
        for name in ("initial_delay", "max_backoff", "wait_cap"):
            if getattr(self, name) < 0:
                raise HFConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}.")

    def with_max_retries(self, max_retries: int | None) -> RetryPolicy:
        """This policy with another retry count (``None`` keeps the current one)."""
        if max_retries is None or max_retries == self.max_retries:
            return self
        return RetryPolicy(
            max_retries, self.initial_delay, self.max_backoff, self.wait_cap, self.jitter,
            self.retry_read_timeouts,
        )  # fmt: skip


_DEFAULT_POLICY = RetryPolicy()


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unreadable (a negative, NaN or infinite number is
    unreadable: the caller falls back to its own backoff); a date in the past gives ``0.0``.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


_RATELIMIT = re.compile(r'"(\w+)"\s*;\s*r\s*=\s*(\d+)\s*;\s*t\s*=\s*(\d+)')


def parse_ratelimit(value: str | None) -> float | None:
    """Seconds until the quota resets, from the Hub's ``RateLimit`` header, when it is exhausted.

    The header (``"api";r=0;t=55``, IETF ratelimit-headers draft) comes on every answer; only
    ``r=0`` (no requests remaining) means the limit applies, and then ``t`` is the wait.
    """
    match = _RATELIMIT.search(value or "")
    if match is None or match.group(2).lstrip("0"):  # compared as text: no int() of 5,000 digits
        return None
    seconds = float(match.group(3))
    return seconds if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: float | None) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC without a stated local offset (RFC 5322)
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def is_retryable(error: BaseException, policy: RetryPolicy | None = None) -> bool:
    """True when ``error`` is worth another attempt under ``policy`` (the module docstring).

    The error's own verdict (``HFError.retried``), except that ``policy`` may retry read timeouts
    of requests already sent, and never retries a server asking to wait longer than its cap.
    """
    if not isinstance(error, HFError):
        return False
    policy = policy or _DEFAULT_POLICY
    if isinstance(error, HFTimeoutError) and error.request_sent:
        return policy.retry_read_timeouts
    if not error.retried:
        return False
    requested = server_requested_wait(error)
    return requested is None or requested <= policy.wait_cap


def is_backpressure(error: BaseException) -> bool:
    """True when the server asks to wait, not to give up (``HFError.backpressure``).

    A bulk job retries these until its deadline instead of counting them against max_retries.
    """
    return isinstance(error, HFError) and error.backpressure


def is_congestion(error: BaseException) -> bool:
    """True when the limiter cuts its window (``HFError.congestion``)."""
    return isinstance(error, HFError) and error.congestion


def server_requested_wait(error: BaseException) -> float | None:
    """The wait the server asked for: ``Retry-After`` first, else a loading ``estimated_time``."""
    if not isinstance(error, HFStatusError):
        return None
    if error.retry_after is None and isinstance(error, HFModelLoadingError):
        return error.estimated_time
    return error.retry_after


def compute_wait(
    policy: RetryPolicy,
    attempt: int,
    error: BaseException | None,
    *,
    rand: float | None = None,
) -> float:
    """Seconds to sleep before retry number ``attempt`` (1-based) after ``error``.

    A server-requested wait wins (capped at ``policy.wait_cap``, though a larger request is not
    retried at all: :func:`is_retryable`); otherwise exponential backoff
    ``initial_delay * 2**(attempt-1)`` bounded by ``max_backoff``, with up to 25% jitter removed.
    """
    requested = server_requested_wait(error) if error is not None else None
    if requested is not None and requested >= 0:  # a negative or NaN request is ignored
        return min(requested, policy.wait_cap)
    exponent = min(max(0, attempt - 1), _MAX_EXPONENT)
    backoff = min(policy.initial_delay * 2.0**exponent, policy.max_backoff)
    if policy.jitter:
        fraction = random.random() if rand is None else rand  # noqa: S311 - not for security
        backoff *= 1 - 0.25 * fraction
    return min(backoff, policy.wait_cap)
