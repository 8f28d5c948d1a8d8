"""The control law of adaptive concurrency: how many requests may be in flight for one key.

Pure arithmetic on a clock and a random draw that the caller passes in (no locks, no I/O), so it is
tested with a fake clock. :mod:`hfbridge.transport.limiter` applies it to real requests.

AIMD on the in-flight window, as TCP does with its congestion window:

- **Slow start**: until the first sign of pressure, each good answer that found the window full
  adds one slot (the window doubles every round trip), so a job reaches a generous limit within a
  few round trips.
- **Additive increase**: after that, a good answer adds ``1 / window`` (one slot per round trip).
  Only answers that found the window full count: a window nobody fills proves nothing.
- **Multiplicative decrease**: a 429 or a 503 cuts the window to a random 50-70% of itself (the
  jitter keeps processes that share one limit from cutting in lock step), at most once per
  window: answers to requests sent before the last cut do not cut again.
- **Pause**: a ``Retry-After`` (or a loading model's ``estimated_time``) stops every request of
  the key until then; a later, longer pause extends it, a shorter one never shortens it.

The window stays between 1 and ``ceiling``; a pause longer than ``wait_cap`` is capped.
"""

from __future__ import annotations

from dataclasses import dataclass

from hfbridge._constants import (
    LIMITER_CEILING,
    LIMITER_DECREASE,
    LIMITER_INITIAL_WINDOW,
    RETRY_WAIT_CAP,
)


@dataclass
class AIMDWindow:
    """The in-flight window of one key, and its pause.

    Attributes:
        window: how many requests may be in flight (a float; :meth:`allowed` rounds it down).
        ceiling: the window never grows past this.
        slow_start: True until the first cut.
        epoch: how many cuts so far; a request remembers the epoch it was sent in.
        paused_until: clock time before which no request may start.
    """

    window: float = float(LIMITER_INITIAL_WINDOW)
    ceiling: float = float(LIMITER_CEILING)
    decrease: tuple[float, float] = LIMITER_DECREASE
    wait_cap: float = RETRY_WAIT_CAP
    slow_start: bool = True
    epoch: int = 0
    paused_until: float = 0.0
    cuts: int = 0
    pauses: int = 0

    def allowed(self) -> int:
        """Requests that may be in flight now (at least one)."""
        return max(1, int(self.window))

    def paused(self, now: float) -> float:
        """Seconds of pause left at ``now`` (0.0 when not paused)."""
        return max(0.0, self.paused_until - now)

    def on_success(self, *, window_full: bool) -> None:
        """A good answer; ``window_full``: its request was sent while the window was full."""
        if not window_full:
            return
        step = 1.0 if self.slow_start else 1.0 / self.window
        self.window = min(self.ceiling, self.window + step)

    def on_backpressure(
        self, now: float, *, sent_in_epoch: int, wait: float | None, draw: float
    ) -> bool:
        """A 429 or 503 for a request sent in epoch ``sent_in_epoch``; True when it cut the window.

        ``wait``: the server's ``Retry-After`` / ``estimated_time`` in seconds, if any.
        ``draw``: a uniform random number in [0, 1) choosing the cut within ``decrease``.
        """
        if wait is not None and wait > 0:
            until = now + min(wait, self.wait_cap)
            if until > self.paused_until:
                self.paused_until = until
                self.pauses += 1
        if sent_in_epoch != self.epoch:
            return False  # this window was already cut for the same congestion
        low, high = self.decrease
        self.window = max(1.0, min(self.window, self.ceiling) * (low + (high - low) * draw))
        self.slow_start = False
        self.epoch += 1
        self.cuts += 1
        return True
