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

Rate pacing (:class:`RatePacer`), beside the window, for 429s. A window bounds how many requests
are in flight, not how fast they start: against a strict token bucket (R requests per second,
evenly, nothing banked) any two requests that arrive within 1/R of each other meet a 429, and a
full-second pause per ``Retry-After`` wastes a second of the bucket each time (a bulk job got 0.10
of the allowed rate). So once a 429 has come and the key has seen successes, the pacer measures
the rate the server admitted (answers it did not refuse, successes and errors alike, per second
over the last ~10 answers' worth of time),
spaces request starts evenly at 90-95% of it, and probes upward slowly while answers stay fine.

- **A 429 while paced** cuts the paced rate (once per epoch, like the window) to 90-95% of the
  lower of the paced rate and the measured admitted rate; the key is not paused and the window
  not cut: the server still gets no more than it has just shown it admits, spread evenly, which
  is what a ``Retry-After`` asks of a client that keeps working (the request that met the 429 is
  retried through the pacer, not after its own sleep: see ``Limiter.retry_wait``).
- **Pause only without a usable rate**: a 429 before any success (nothing to measure), or
  ``PACER_STRIKES`` paced 429s in a row with no success between them (pacing failed), pauses the
  key for the ``Retry-After`` as before; the first success after that starts pacing again.
- **Slow start**: the first estimate, from a handful of answers, is usually far too low, so until
  its first paced 429 the pacer multiplies its rate by 1.5 every 100 ms (while it holds requests
  back: an idle key does not grow a rate nobody tried).
- **Slow start restart**: after ``PACER_RESTART`` (1 s and 16 intervals) with no 429, slow start
  resumes from the current rate, gently (x1.5 per 500 ms): processes sharing one limit each
  measure only their own part of it, and the additive probe alone held four of them at 0.61-0.73
  of it; a 429 in this gentle slow start cuts like a paced one.
- A 503 (loading, overloaded) is not a rate: it keeps the window-and-pause law. Nor is a 429 that
  asks for no wait (``Retry-After: 0``): the limiter gives it the window's law too (see
  ``Limiter._on_backpressure``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from hfbridge._constants import (
    LIMITER_CEILING,
    LIMITER_DECREASE,
    LIMITER_INITIAL_WINDOW,
    PACER_PROBE,
    PACER_RESTART,
    PACER_SHARE,
    PACER_SLOW_START,
    PACER_STRIKES,
    PACER_WINDOW,
    RETRY_WAIT_CAP,
)

PacerVerdict = Literal["cut", "paced", "pause"]
_MIN_SPAN = 0.01  # seconds: a rate measured over less than this is not believed
_MAX_GROWTH = 16.0  # the paced rate never probes past this multiple of its last cut


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


@dataclass
class RatePacer:
    """The paced start rate of one key (0: not pacing) and what it is measured from.

    Attributes:
        rate: paced requests per second at the last cut (0.0 while not pacing); it grows with
            time since the cut (:meth:`current_rate`).
        slow_start: True until the first paced 429, and again after a quiet spell (restarted).
        restarted: the slow start was restarted after ``restart``'s quiet spell (slower steps).
        cut_at: clock time of the last cut (or of the start of pacing).
        next_start: clock time before which the next request may not start.
        strikes: paced 429s since the last success.
        waiting: a 429 came with nothing to measure: the first success starts pacing.
    """

    share: tuple[float, float] = PACER_SHARE
    window: tuple[float, float] = PACER_WINDOW
    probe: float = PACER_PROBE
    slow_start_step: tuple[float, float] = PACER_SLOW_START
    restart: tuple[float, float, float] = PACER_RESTART
    max_strikes: int = PACER_STRIKES
    rate: float = 0.0
    slow_start: bool = False
    restarted: bool = False
    cut_at: float = 0.0
    next_start: float = 0.0
    strikes: int = 0
    waiting: bool = False
    since: float | None = None
    cuts: int = 0
    """429s that cut (or started) the paced rate."""
    _oks: deque[float] = field(default_factory=deque, repr=False)
    _failed: bool = field(default=False, repr=False)

    @property
    def pacing(self) -> bool:
        """True while request starts are paced."""
        return self.rate > 0

    def current_rate(self, now: float) -> float:
        """Requests per second allowed at ``now``: the last cut's rate grown since (0: none)."""
        if self.rate <= 0:
            return 0.0
        elapsed = max(0.0, now - self.cut_at)
        if self.slow_start:  # rebased at every start (:meth:`on_start`)
            factor, step = self.slow_start_step
            step = self.restart[2] if self.restarted else step
            return self.rate * float(factor ** min(elapsed / step, 64.0))
        growth = 1.0 + self.probe * (elapsed + elapsed * elapsed / 2)
        return self.rate * min(growth, _MAX_GROWTH)

    def delay(self, now: float) -> float:
        """Seconds before the next request may start (0.0 when not pacing)."""
        return max(0.0, self.next_start - now) if self.rate > 0 else 0.0

    def on_start(self, now: float) -> None:
        """A request starts at ``now``: the next one goes no sooner than one interval later.

        No catch-up after a late start: two starts closer than the interval are what a strict
        bucket refuses. In slow start the rate grows only while the pacer holds requests back (a
        start within one interval of its slot); a late start keeps the rate and restarts the
        growth from it, so an idle key does not grow a rate nobody has tried.
        """
        if self.since is None:
            self.since = now
        if self.rate <= 0:
            return
        rate = self.current_rate(now)
        seconds, intervals, _ = self.restart
        if not self.slow_start and now - self.cut_at >= max(seconds, intervals / rate):
            # No 429 for a while: the limit may be well above this rate (another process sharing
            # it slowed down, or this one measured only its own part): probe multiplicatively,
            # gently. (Measured: the additive probe alone held 4 processes at 0.61-0.73 of one
            # shared limit on loopback; x1.5 per 100 ms again cost strict buckets share.)
            self.rate, self.slow_start, self.cut_at, self.restarted = rate, True, now, True
        if self.slow_start:
            if now - self.next_start >= 1.0 / rate:
                rate = self.rate
            self.rate, self.cut_at = rate, now
        self.next_start = max(self.next_start, now) + 1.0 / rate

    def estimate(self, now: float) -> float | None:
        """The rate the server admitted lately (answers not refused per second), or None if none.

        Measured over the last ~10 answers' worth of time (bounded by ``window``), and never over
        time before :attr:`since` (the first request, or the end of the last pause).
        """
        low, high = self.window
        rate = self.current_rate(now)
        span = min(max(10.0 / rate, low), high) if rate > 0 else high
        start = now - span
        oks = self._oks
        while oks and oks[0] <= start - high:
            oks.popleft()
        if self.since is not None:
            start = max(start, self.since)
        count = sum(1 for stamp in reversed(oks) if stamp > start) if oks else 0
        if count == 0:
            return None
        return count / max(now - start, _MIN_SPAN)

    def on_admitted(self, now: float) -> None:
        """A failed answer at ``now`` that the server did not refuse (a 500, a 401, a timeout).

        It got past the server's rate limit as a success does, so it counts in :meth:`estimate`:
        measuring successes alone read a key whose answers were half errors as admitting half its
        rate, and each 429 cut the paced rate to half.
        """
        self._oks.append(now)

    def on_ok(self, now: float) -> bool:
        """A success at ``now``; True when it starts pacing (the caller lifts its pause)."""
        self._oks.append(now)
        self.strikes = 0
        if not self.waiting or self.rate > 0:
            return False
        estimate = self.estimate(now)
        if estimate is None:  # pragma: no cover - a success was just recorded
            return False
        self.waiting = False
        self._start(now, estimate, slow_start=True)
        return True

    def on_rate_limited(self, now: float, *, new_epoch: bool, draw: float) -> PacerVerdict:
        """A 429 at ``now``; ``new_epoch``: its request went out after the last cut.

        ``"cut"``: pacing absorbs it and the rate was cut (a new epoch); ``"paced"``: pacing
        absorbs it as it is (its request went out before the last cut); ``"pause"``: pause the
        key for its ``Retry-After`` (no rate to pace at yet, or pacing failed).
        """
        if self.rate > 0 and not new_epoch:
            return "paced"  # this rate was already cut for the same overshoot
        estimate = self.estimate(now)
        if self.rate <= 0:
            if estimate is None:
                self.waiting = True
                return "pause"
            self._start(now, estimate * self._share(draw), slow_start=True)
            self.cuts += 1
            return "cut"
        self.strikes += 1
        if self.strikes >= self.max_strikes:
            self.rate, self.waiting, self.strikes, self._failed = 0.0, True, 0, True
            return "pause"
        current = self.current_rate(now)
        # In the first slow start the limit lies between this step and the one before; otherwise
        # (a restarted slow start grows gently) it is at most what the server admitted lately.
        # (Measured on loopback: tolerating a few 429s before cutting, or cutting from the paced
        # rate rather than the admitted one, did worse against a strict bucket: each refusal
        # there also wastes the token that refills while the bucket is full.)
        if self.slow_start and not self.restarted:
            base = current / self.slow_start_step[0] ** 0.5
        else:
            base = min(current, estimate) if estimate is not None else current
        self._start(now, base * self._share(draw), slow_start=False)
        self.cuts += 1
        return "cut"

    def paused_until(self, until: float) -> None:
        """The key pauses until ``until``; after failed pacing, the rate is measured from then on.

        (A pause before pacing ever started keeps the old successes: the answers still in flight
        when the first 429 came are what the first estimate is made of.)
        """
        if self._failed:
            self.since, self._failed = until, False

    def _share(self, draw: float) -> float:
        low, high = self.share
        return low + (high - low) * draw

    def _start(self, now: float, rate: float, *, slow_start: bool) -> None:
        self.rate, self.slow_start, self.cut_at, self.restarted = rate, slow_start, now, False
        self.next_start = max(self.next_start, now + 1.0 / rate) if rate > 0 else now
