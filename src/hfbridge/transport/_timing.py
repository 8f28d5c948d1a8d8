"""The time limits the clients enforce beyond httpx's per-read timeouts.

httpx bounds each read (and connect, write, pool wait) separately, so a server that trickles one
byte at a time, or sends only keep-alive comments, is never "silent" long enough to time out.
hfbridge adds three limits, each a moment (``time.monotonic()``) the reads must finish by:

- the answer's headers, ``timeout`` seconds after an attempt starts;
- the next event of a stream, ``stream_idle_timeout`` seconds after the caller asks for it
  (comments and partial lines do not count);
- the rest of a body after ``[DONE]``, read only to keep the connection (a short grace).

Sync (own pools): the read timeout httpx passes down to the socket is a :class:`Deadline`, a
``float`` that also carries the moment; the network stream under httpcore
(:mod:`hfbridge.transport._network`) shortens each socket read to it. Async: a timer cancels the
waiting task at the moment (:func:`within`, :class:`AsyncWatch`), as ``asyncio.timeout`` does, with
a cost per stream and per call rather than per event.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")


class Deadline(float):
    """A per-read timeout in seconds (the ``float`` value) that may also carry a deadline.

    ``at`` is the ``time.monotonic()`` moment every read must end by (``None``: none), ``span``
    the length of that wait and ``what`` its name for errors (``"response headers"``, ``"event"``).
    One object serves a whole request: httpcore reads the timeout once for the headers and once for
    the body, and the clients move ``at`` as the request progresses.
    """

    __slots__ = ("at", "span", "what")

    at: float | None
    span: float
    what: str

    def __new__(cls, seconds: float) -> Deadline:
        deadline = super().__new__(cls, seconds)
        deadline.at = None
        deadline.span = 0.0
        deadline.what = ""
        return deadline

    def set(self, seconds: float, what: str) -> None:
        """Reads must end ``seconds`` from now (``what`` names the wait)."""
        self.at = time.monotonic() + seconds
        self.span = seconds
        self.what = what

    def clear(self) -> None:
        """Back to the per-read timeout only."""
        self.at = None

    def expired(self) -> bool:
        """Whether the deadline is set and past."""
        at = self.at
        return at is not None and time.monotonic() >= at

    def remaining(self) -> float:
        """Seconds left before the deadline (``inf`` when none is set; may be negative)."""
        at = self.at
        return math.inf if at is None else at - time.monotonic()


class DeadlineExpired(Exception):  # noqa: N818 - a signal, translated by the clients
    """A deadline of this module passed (``what`` and ``seconds`` say which)."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"no {what} within {seconds:g} s")
        self.what = what
        self.seconds = seconds


def _uncancel(task: asyncio.Task[object] | None) -> None:
    uncancel = getattr(task, "uncancel", None)  # Python 3.11+: keep the cancel count balanced
    if uncancel is not None:
        uncancel()


async def within(seconds: float, awaitable: Awaitable[_T], what: str) -> _T:
    """``await awaitable``, or :class:`DeadlineExpired` once ``seconds`` have passed.

    One timer for the whole wait (``asyncio.timeout`` does the same; it is not used because it
    needs Python 3.11).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        if task is not None:
            task.cancel()

    handle = loop.call_at(loop.time() + seconds, expire)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if not expired:
            raise
        _uncancel(task)
        raise DeadlineExpired(what, seconds) from None
    finally:
        handle.cancel()


class AsyncWatch:
    """A stream's idle (and drain) deadline for async reads.

    It costs a few attribute writes per event: one timer per stream re-arms itself while the
    deadline keeps moving.

    Call :meth:`start` before awaiting the next event, :meth:`stop` after it; a wait that lasts
    past the deadline is cancelled and :meth:`check` raises :class:`DeadlineExpired`.
    """

    __slots__ = ("_armed", "_at", "_cancelled", "_handle", "_loop", "_seconds", "_task", "_what")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._at = math.inf
        self._seconds = 0.0
        self._what = ""
        self._task: asyncio.Task[object] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._armed = math.inf
        self._cancelled: asyncio.Task[object] | None = None

    def start(self, seconds: float, what: str) -> None:
        """The wait that begins now must end within ``seconds``."""
        self._seconds, self._what = seconds, what
        self._at = self._loop.time() + seconds
        self._task = asyncio.current_task()
        if self._handle is None or self._at < self._armed:  # a later deadline re-arms lazily
            self._arm()

    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed = self._at
        self._handle = self._loop.call_at(self._at, self._fire)

    def stop(self) -> None:
        """The wait is over (an event arrived)."""
        self._task = None

    def _fire(self) -> None:
        self._handle = None
        task = self._task
        if task is None:
            return  # not waiting: the next start() arms a new timer
        if self._loop.time() < self._at:
            self._arm()
            return
        self._cancelled = task
        task.cancel()

    def check(self) -> None:
        """After a ``CancelledError``: raise :class:`DeadlineExpired` when the watch caused it."""
        task, self._cancelled = self._cancelled, None
        if task is not None:
            _uncancel(task)
            raise DeadlineExpired(self._what, self._seconds)

    def close(self) -> None:
        """Cancel the timer (the stream is over)."""
        self._task = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
