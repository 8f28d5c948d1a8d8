"""Adaptive concurrency: one limiter per (host, model, provider), shared by the whole process.

Every request hfbridge sends passes through the limiter of its key (:func:`limiter_for`): threads
of the sync API and tasks of any event loop alike wait their turn in one FIFO queue, so every
adapter instance, and every bulk job, that talks to the same model on the same host shares one
window. The window follows :class:`~hfbridge.transport.control.AIMDWindow`: it grows while
answers come back fine and shrinks on 429/503; a ``Retry-After`` pauses the whole key.

A request takes a :class:`Ticket` (:meth:`Limiter.acquire` / :meth:`Limiter.aacquire`), which
waits while the window is full or the key is paused, at most until the bulk job's deadline, and
gives it back with its outcome (:meth:`Limiter.release`). The uncontended path is a lock and a few
additions.
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
from hfbridge.errors import HFTimeoutError
from hfbridge.transport.control import AIMDWindow
from hfbridge.transport.retry import is_congestion, server_requested_wait

Outcome = Literal["ok", "backpressure", "other"]
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
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.key = key
        self.law = law or AIMDWindow()
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
        law = self.law
        if self._in_flight >= law.allowed() or (law.paused_until > now and not ignore_pause):
            return None
        self._in_flight += 1
        self._sent += 1
        return Ticket(law.epoch, self._in_flight >= law.allowed())

    def _dispatch(self, now: float) -> float:
        """Hand free slots to waiters in order (lock held); the pause left, if any."""
        while self._waiters:
            ticket = self._try_take(now)
            if ticket is None:
                break
            self._waiters.popleft().grant(ticket)
        return self.law.paused(now)

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
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
            raise

    def _look(self, waiter: _Waiter, deadline: float | None) -> tuple[Ticket | None, float | None]:
        """Hand out free slots; ``waiter``'s ticket, or how long it may sleep before looking again.

        Raises :class:`HFTimeoutError` (and drops the waiter) once ``deadline`` has passed.
        """
        with self._lock:
            now = self._clock()
            pause = self._dispatch(now)
            if waiter.granted:
                return waiter.ticket, None
            if deadline is not None and now >= deadline:
                self._waiters.remove(waiter)
                raise self._deadline_error()
            waiter.rearm()
            return None, _timeout(pause, deadline, now)

    def release(self, ticket: Ticket, outcome: Outcome, wait: float | None = None) -> None:
        """Give the slot back with the request's outcome (``wait``: a server-requested pause)."""
        with self._lock:
            self._in_flight -= 1
            law, now = self.law, self._clock()
            if outcome == "ok":
                self._ok += 1
                law.on_success(window_full=ticket.full or bool(self._waiters))
            elif outcome == "backpressure":
                self._backpressure += 1
                law.on_backpressure(now, sent_in_epoch=ticket.epoch, wait=wait, draw=self._draw())
                if law.paused_until > now:
                    for waiter in self._waiters:  # they re-time their wait to the new pause
                        waiter.wake()
            if self._waiters:
                self._dispatch(now)

    def _deadline_error(self) -> HFTimeoutError:
        host, model, _ = self.key
        target = f" (model '{model}')" if model else ""
        return HFTimeoutError(
            f"the bulk job's deadline passed while this request waited its turn for "
            f"{redact_url(host)}{target}: the server's rate limit allows less than the job needs "
            "in that time. Raise job_timeout=..., or send fewer texts per call."
        )

    def stats(self) -> LimiterStats:
        """A snapshot of this key's state and counters."""
        with self._lock:
            return LimiterStats(
                window=self.law.window, in_flight=self._in_flight, waiting=len(self._waiters),
                sent=self._sent, ok=self._ok, backpressure=self._backpressure,
                cuts=self.law.cuts, pauses=self.law.pauses,
            )  # fmt: skip


def _timeout(pause: float, deadline: float | None, now: float) -> float | None:
    """How long a waiter sleeps before looking again: to the pause's end or the deadline."""
    bounds = [value for value in (pause or None, None if deadline is None else deadline - now)
              if value is not None]  # fmt: skip
    return max(0.0, min(bounds)) if bounds else None


def outcome_of(error: BaseException) -> tuple[Outcome, float | None]:
    """How a failed request counts for its limiter: backpressure (with the wait asked), or not."""
    if is_congestion(error):
        return "backpressure", server_requested_wait(error)
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
