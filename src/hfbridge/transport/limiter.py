"""Adaptive concurrency: one limiter per (host, model, provider), shared by the whole process.

Every request hfbridge sends passes through the limiter of its key (:func:`limiter_for`): threads
of the sync API and tasks of any event loop alike wait their turn in one FIFO queue, so every
adapter instance, and every bulk job, that talks to the same model on the same host shares one
window. The window follows :class:`~hfbridge.transport.control.AIMDWindow`: it grows while
answers come back fine and shrinks on 503s (and on 429s nothing can be measured from, or that
ask for no wait: ``Retry-After: 0`` is not a rate); once 429s have shown the server's rate,
:class:`~hfbridge.transport.control.RatePacer` spaces request starts evenly just below it
instead of pausing the key for each ``Retry-After``. A pause (a ``Retry-After`` with no rate to
pace at, a loading model's ``estimated_time``) stops the whole key.

A request takes a :class:`Ticket` (:meth:`Limiter.acquire` / :meth:`Limiter.aacquire`), which
waits while the window is full, the pacer's interval has not passed or the key is paused, at most
until the bulk job's deadline (at once when a pause outlasts it), and gives it back with its
outcome (:meth:`Limiter.release`). Only the head of the queue waits on the pacer's clock; the
others sleep until they reach the head. The uncontended path is a lock and a few additions.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from hfbridge._redact import redact_url
from hfbridge.errors import HFRateLimitError, HFTimeoutError
from hfbridge.transport.control import AIMDWindow, RatePacer
from hfbridge.transport.retry import is_congestion, server_requested_wait

Outcome = Literal["ok", "rate_limited", "backpressure", "other", "unanswered"]
"""How a request ended for its limiter: ``"other"`` is an answer that failed (a 500, a 401),
``"unanswered"`` a request that got none (a connection error, a timeout, a cancellation)."""
LimiterKey = tuple[str, str | None, str | None]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A request's place in the window: the epoch it was sent in and whether the window was full."""

    epoch: int
    full: bool


@dataclass
class LimiterStats:
    """What one key's limiter has seen since the process started."""

    window: float
    in_flight: int
    waiting: int
    sent: int
    ok: int
    backpressure: int
    cuts: int
    pauses: int
    paced_rate: float
    """Requests per second the pacer allows now (0.0: not pacing)."""


class _Waiter:
    """One thread or task waiting for a slot; ``grant`` hands it one (under the limiter's lock)."""

    __slots__ = ("event", "future", "granted", "loop", "ticket")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.event: threading.Event | None = None if loop else threading.Event()
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.granted = False
        self.ticket: Ticket | None = None

    def grant(self, ticket: Ticket) -> None:
        self.granted, self.ticket = True, ticket
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(_resolve, self.future)

    def rearm(self) -> None:
        """Ready to be woken again (lock held): a cleared event, or a fresh future."""
        if self.event is not None:
            self.event.clear()
        elif self.loop is not None and (self.future is None or self.future.done()):
            self.future = self.loop.create_future()

    def wake(self) -> None:
        """Wake without a slot (the pause ended or the deadline moved): it looks again."""
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(_resolve, self.future)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class Limiter:
    """The in-flight window of one (host, model, provider) key; thread- and loop-safe."""

    def __init__(
        self,
        key: LimiterKey,
        *,
        law: AIMDWindow | None = None,
        pacer: RatePacer | None = None,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.key = key
        self.law = law or AIMDWindow()
        self.pacer = pacer or RatePacer()
        self._clock = clock
        self._draw = draw
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()
        self._sent = self._ok = self._backpressure = 0

    def __repr__(self) -> str:
        host, model, provider = self.key
        return f"Limiter({redact_url(host)!r}, model={model!r}, provider={provider!r})"

    # --- taking and giving back a slot ---

    def _try_take(self, now: float, ignore_pause: bool = False) -> Ticket | None:
        """A ticket if a request may start now (lock held)."""
        law, pacer = self.law, self.pacer
        if (
            self._in_flight >= law.allowed()
            or (law.paused_until > now and not ignore_pause)
            or pacer.delay(now) > 0
        ):
            return None
        pacer.on_start(now)
        self._in_flight += 1
        self._sent += 1
        return Ticket(law.epoch, self._in_flight >= law.allowed())

    def try_acquire(self, *, ignore_pause: bool = False) -> Ticket | None:
        """A ticket if a request may start now with nobody waiting ahead; never waits."""
        with self._lock:
            return None if self._waiters else self._try_take(self._clock(), ignore_pause)

    def next_chance(self) -> float:
        """Seconds until the key's pause and the pacer's interval have both passed (0.0: now).

        A full window may still hold a request back after that.
        """
        with self._lock:
            now = self._clock()
            return max(self.law.paused(now), self.pacer.delay(now))

    def _dispatch(self, now: float) -> tuple[float, float]:
        """Hand free slots to waiters in order (lock held); the pause and pacing delay left.

        When the pacer holds the queue back, its head is woken to time its wait (it may have gone
        to sleep on a full window, with no timeout); the others sleep until they reach the head.
        """
        while self._waiters:
            ticket = self._try_take(now)
            if ticket is None:
                break
            self._waiters.popleft().grant(ticket)
        delay = self.pacer.delay(now)
        if delay > 0 and self._waiters:  # the head may be asleep with no timeout (a full window)
            self._waiters[0].wake()
        return self.law.paused(now), delay

    def acquire(self, deadline: float | None = None, *, ignore_pause: bool = False) -> Ticket:
        """Wait for a slot (sync); :class:`HFTimeoutError` when ``deadline`` passes first.

        ``ignore_pause``: the caller has just waited out the server's ``Retry-After`` itself (a
        retry after its policy's wait), so only the window applies to it.
        """
        with self._lock:
            if not self._waiters:
                ticket = self._try_take(self._clock(), ignore_pause)
                if ticket is not None:
                    return ticket
            waiter = _Waiter(None)
            self._waiters.append(waiter)
        while True:
            ticket, timeout = self._look(waiter, deadline)
            if ticket is not None:
                return ticket
            assert waiter.event is not None  # noqa: S101 - a thread waiter
            waiter.event.wait(timeout)

    async def aacquire(
        self, deadline: float | None = None, *, ignore_pause: bool = False
    ) -> Ticket:
        """Async :meth:`acquire` (any event loop)."""
        with self._lock:
            if not self._waiters:
                ticket = self._try_take(self._clock(), ignore_pause)
                if ticket is not None:
                    return ticket
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop)
        with self._lock:
            self._waiters.append(waiter)
        try:
            while True:
                ticket, timeout = self._look(waiter, deadline)
                if ticket is not None:
                    return ticket
                assert waiter.future is not None  # noqa: S101 - rearmed by _look
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:  # the slot came as the task was cancelled: give it back
                    self._in_flight -= 1
                    self._dispatch(self._clock())
                elif waiter in self._waiters and self._waiters[0] is waiter:
                    self._waiters.popleft()  # the head may be the one timing the pacer's wait
                    if self._waiters:
                        self._waiters[0].wake()
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
            raise

    def _look(self, waiter: _Waiter, deadline: float | None) -> tuple[Ticket | None, float | None]:
        """Hand out free slots; ``waiter``'s ticket, or how long it may sleep before looking again.

        Raises :class:`HFTimeoutError` (and drops the waiter) once ``deadline`` has passed, or at
        once when the key's pause ends after it (sleeping into the deadline would only delay the
        same error).
        """
        with self._lock:
            now = self._clock()
            pause, delay = self._dispatch(now)
            if waiter.granted:
                return waiter.ticket, None
            if deadline is not None and (now >= deadline or now + pause >= deadline):
                self._waiters.remove(waiter)
                if self._waiters:
                    self._waiters[0].wake()
                raise self._deadline_error(pause if now < deadline else None)
            waiter.rearm()
            head = self._waiters[0] is waiter
            return None, _timeout(max(pause, delay if head else 0.0), deadline, now)

    def release(self, ticket: Ticket, outcome: Outcome, wait: float | None = None) -> None:
        """Give the slot back with the request's outcome (``wait``: a server-requested pause).

        A 429 (``"rate_limited"``) goes to the pacer first; only when it has no rate to pace at
        (or pacing failed, or the server asked for no wait) does it cut the window and pause the
        key. Other backpressure (503s) always does. A failed answer (``"other"``) was admitted
        by the server and counts in the pacer's measured rate; a request with no answer does not.
        """
        with self._lock:
            self._in_flight -= 1
            law, now = self.law, self._clock()
            if outcome == "ok":
                self._ok += 1
                law.on_success(window_full=ticket.full or bool(self._waiters))
                if self.pacer.on_ok(now):  # pacing starts: it replaces the pause
                    law.paused_until = min(law.paused_until, now)
                    law.slow_start = True  # the window must not hold the paced rate down
                    self._wake_all()
            elif outcome in ("rate_limited", "backpressure"):
                self._backpressure += 1
                self._on_backpressure(ticket, outcome, wait, now)
            elif outcome == "other":
                self.pacer.on_admitted(now)
            if self._waiters:
                self._dispatch(now)

    def _on_backpressure(
        self, ticket: Ticket, outcome: Outcome, wait: float | None, now: float
    ) -> None:
        """A 429/503 (lock held): the pacer absorbs it, or the window is cut and the key pauses.

        A 429 that asks for no wait (``Retry-After: 0``) is not a rate for the pacer: the server
        says a retry may go at once, so it is not telling the client to send slower. Read as
        one, such 429s cut the paced rate again and again (each to 90-95% of the last), whatever
        the rate: 26 of them among 256 calls took a key from 31 to 0.9 requests per second.
        They get the window's law, as a 503 does.
        """
        law = self.law
        if outcome == "rate_limited" and (wait is None or wait > 0):
            new_epoch = ticket.epoch == law.epoch
            verdict = self.pacer.on_rate_limited(now, new_epoch=new_epoch, draw=self._draw())
            if verdict == "cut" and new_epoch:
                law.epoch += 1  # answers to requests sent before this cut do not cut again
            if verdict != "pause":
                return
        paused_until = law.paused_until
        law.on_backpressure(now, sent_in_epoch=ticket.epoch, wait=wait, draw=self._draw())
        if law.paused_until > paused_until:
            self.pacer.paused_until(law.paused_until)
            self._wake_all()  # they re-time their wait to the new pause

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.wake()

    def retry_wait(self, error: BaseException, requested: float) -> float:
        """How long a request that met ``error`` sleeps before its retry (bulk jobs).

        0.0 for a 429 while the key is paced and not paused: the retry queues like any request
        and the pacer spaces it, so the server's ``Retry-After`` is honoured by the rate, not by
        a full stop (:mod:`hfbridge.transport.control`). Otherwise ``requested`` (the server's
        wait or the policy's backoff).
        """
        with self._lock:
            now = self._clock()
            if (
                isinstance(error, HFRateLimitError)
                and self.pacer.pacing
                and self.law.paused_until <= now
            ):
                return 0.0
            return requested

    def _deadline_error(self, pause: float | None = None) -> HFTimeoutError:
        host, model, _ = self.key
        target = f" (model '{model}')" if model else ""
        why = (
            "the bulk job's deadline passed while this request waited its turn for "
            if pause is None
            else f"the server asked to wait {pause:.1f} s more, past the bulk job's deadline, for "
        )
        return HFTimeoutError(
            f"{why}{redact_url(host)}{target}: the server's rate limit allows less than the job "
            "needs in that time. Raise job_timeout=..., or send fewer texts per call."
        )

    def stats(self) -> LimiterStats:
        """A snapshot of this key's state and counters."""
        with self._lock:
            return LimiterStats(
                window=self.law.window, in_flight=self._in_flight, waiting=len(self._waiters),
                sent=self._sent, ok=self._ok, backpressure=self._backpressure,
                cuts=self.law.cuts + self.pacer.cuts, pauses=self.law.pauses,
                paced_rate=self.pacer.current_rate(self._clock()),
            )  # fmt: skip


def _timeout(pause: float, deadline: float | None, now: float) -> float | None:
    """How long a waiter sleeps before looking again: to the pause's end or the deadline."""
    bounds = [value for value in (pause or None, None if deadline is None else deadline - now)
              if value is not None]  # fmt: skip
    return max(0.0, min(bounds)) if bounds else None


def outcome_of(error: BaseException) -> tuple[Outcome, float | None]:
    """How a failed request counts for its limiter: backpressure (with the wait asked), or not."""
    if is_congestion(error):
        kind: Outcome = "rate_limited" if isinstance(error, HFRateLimitError) else "backpressure"
        return kind, server_requested_wait(error)
    return "other", None


# --- the process-wide registry ---

_limiters: dict[LimiterKey, Limiter] = {}
_registry_lock = threading.Lock()


@lru_cache(maxsize=256)
def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def limiter_for(url: str, model: str | None = None, provider: str | None = None) -> Limiter:
    """The process-wide limiter for requests to ``url``'s host about ``model`` on ``provider``."""
    key = (_origin(url), model, provider)
    limiter = _limiters.get(key)
    if limiter is None:
        with _registry_lock:
            limiter = _limiters.setdefault(key, Limiter(key))
    return limiter


def limiter_stats() -> dict[LimiterKey, LimiterStats]:
    """Every key's limiter state, for diagnostics and benchmarks."""
    with _registry_lock:
        limiters = list(_limiters.values())
    return {limiter.key: limiter.stats() for limiter in limiters}


def reset_limiters() -> None:
    """Forget every key's window (tests; a process after ``fork``)."""
    with _registry_lock:
        _limiters.clear()
