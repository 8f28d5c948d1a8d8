"""Bulk jobs: calls where 429s and loading 503s are backpressure, bounded by a deadline.

Inside :func:`bulk_job` (``embed_documents``, ``batch``, ``generate`` and the Ray stages open one
themselves; wrap your own fan-out of ``ainvoke``/``acomplete`` calls in it too), the transport
retries a 429 or a loading/overloaded 503 for as long as the job's deadline allows, instead of
counting it against ``max_retries``; any other error keeps its usual retry budget. Requests wait
their turn in the key's limiter at most until the deadline. The job is a context variable, so
tasks started inside it (and threads started with a copy of the context) belong to it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hfbridge._constants import JOB_TIMEOUT
from hfbridge.errors._checks import positive_seconds

__all__ = ["BulkJob", "bulk_job", "current_job", "validate_job_timeout"]


def validate_job_timeout(value: object) -> float:
    """``value`` as seconds; :class:`HFConfigError` unless it is a positive finite number."""
    return positive_seconds(
        "job_timeout", value,
        advice=f"it bounds how long a bulk call keeps retrying rate limits "
        f"(default {JOB_TIMEOUT:.0f} s).",
    )  # fmt: skip


@dataclass
class BulkJob:
    """One bulk call: its deadline (``time.monotonic()`` clock) and what its requests met."""

    job_timeout: float
    deadline: float
    backpressure: int = 0
    """429 and 503 answers met by the job's requests (each was retried)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remaining(self, now: float | None = None) -> float:
        """Seconds left before the deadline (negative once it has passed)."""
        return self.deadline - (time.monotonic() if now is None else now)

    def note_backpressure(self) -> None:
        """Count one 429/503 (from any thread)."""
        with self._lock:
            self.backpressure += 1


_CURRENT: contextvars.ContextVar[BulkJob | None] = contextvars.ContextVar(
    "hfbridge_bulk_job", default=None
)


def current_job() -> BulkJob | None:
    """The bulk job the running code belongs to, if any."""
    return _CURRENT.get()


@contextmanager
def bulk_job(job_timeout: float | None = None) -> Iterator[BulkJob]:
    """Run the block as one bulk job ending ``job_timeout`` seconds from now (default 1800).

    Inside an enclosing job, the earlier deadline holds and the enclosing job is reused, so nested
    bulk calls (a Ray stage calling ``embed_documents``) share one deadline and one count.
    """
    seconds = JOB_TIMEOUT if job_timeout is None else validate_job_timeout(job_timeout)
    outer = _CURRENT.get()
    if outer is not None and outer.remaining() <= seconds:
        yield outer
        return
    job = BulkJob(job_timeout=seconds, deadline=time.monotonic() + seconds)
    token = _CURRENT.set(job)
    try:
        yield job
    finally:
        _CURRENT.reset(token)
