"""Send a planned list of batches as one bulk job: concurrent, halved on 413, all or nothing.

:class:`BatchEngine` is the engine under every batched route (embeddings, rerank). A service plans
its input into :class:`~hfbridge.wire.embeddings.Batch` values and gives the engine, per call, the
function that sends one batch through the route loop and returns that batch's answer; the engine:

- runs the plan inside one :func:`~hfbridge.transport.jobs.bulk_job` (429s and loading 503s are
  backpressure, retried until ``job_timeout``; every request waits its turn in the transport's
  per-key limiter, which finds how many may be in flight; ``max_concurrency`` is only this
  service's ceiling);
- sync: a large plan runs the async engine on a private event loop in a thread of its own
  (:func:`in_private_loop`), a small one uses a thread pool; async: one task per batch;
- splits a batch the server refuses as too large (``too_large_error(exc)``: 413, or what the
  service says means the same) into halves, down to one item, and sends the halves;
- stops sending after an error that would fail every request (``HFError.stops_batch``);
- returns every answered (sub-)batch with its answer, in input order, only when every position
  has one; otherwise raises :class:`~hfbridge.errors.HFBatchError` naming the positions without
  an answer. Nothing partial is ever returned.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hfbridge._constants import EMBED_LOOP_MIN_BATCHES
from hfbridge.errors import HFBatchError, HFError, HFPayloadTooLargeError
from hfbridge.inference.bulk import check_concurrency, ranges
from hfbridge.inference.progress import Progress, ProgressCallback, check_show_progress
from hfbridge.transport.jobs import BulkJob, bulk_job, validate_job_timeout
from hfbridge.wire.embeddings import Batch

logger = logging.getLogger("hfbridge.inference")

_AnswerT = TypeVar("_AnswerT")
_Result = TypeVar("_Result")

__all__ = ["BatchEngine", "Done", "in_private_loop", "is_payload_too_large"]

Done = list[tuple[Batch, _AnswerT]]
"""Every answered (sub-)batch with its answer, ordered by first input position."""


def in_private_loop(job: Coroutine[Any, Any, _Result]) -> _Result:
    """Run ``job`` to its end on a new event loop in a thread of its own; its result or error.

    A large sync job runs on the async engine this way: one thread of aiohttp requests costs
    about half the CPU of a pool of httpx threads (BENCHMARKS.md figure 8), and a thread of its
    own works whether or not the caller's thread runs an event loop. The thread runs in a copy of
    the caller's context, so an enclosing bulk job holds.
    """
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(job))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            outcome.append(exc)

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name="hfbridge-batch-loop")
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: _Result = outcome[0]
    return result


def is_payload_too_large(exc: HFError) -> bool:
    """The default verdict on "this batch is too large": HTTP 413."""
    return isinstance(exc, HFPayloadTooLargeError)


_Outcome = Any  # the batch's answer, its HFError, or None: not sent


class _Job:
    """Bookkeeping of one call: answers and errors by batch, progress, early stop."""

    def __init__(self, send: Any, total: int, progress: Progress, bulk: BulkJob) -> None:
        self.send = send  # one batch -> its answer (a coroutine function on the async path)
        self.total = total
        self.answered: list[tuple[Batch, Any]] = []
        self.errors: dict[int, HFError] = {}
        self.first_error: HFError | None = None
        self.stopped = False
        self.bulk = bulk
        self._progress = progress
        self._lock = threading.Lock()

    def note(self, error: HFError) -> None:
        """Remember a failure as it happens (from any thread); a fatal one stops the job."""
        with self._lock:
            if self.first_error is None:
                self.first_error = error
            if error.stops_batch:  # it would fail every request of the job
                self.stopped = True

    def record(self, outcomes: list[tuple[Batch, _Outcome]]) -> None:
        """Store the outcome of each (sub-)batch."""
        for batch, outcome in outcomes:
            if outcome is None:
                continue
            if isinstance(outcome, HFError):
                for index in batch.indices:
                    self.errors[index] = outcome
            else:
                self.answered.append((batch, outcome))
            self._progress.advance(len(batch))

    def result(self, what: str, unit: str) -> list[tuple[Batch, Any]]:
        """Every answered batch in input order, or :class:`HFBatchError` naming the missing."""
        done = [False] * self.total
        for batch, _ in self.answered:
            for index in batch.indices:
                done[index] = True
        missing = [index for index, answered in enumerate(done) if not answered]
        if not missing:
            return sorted(self.answered, key=lambda pair: pair[0].indices[0])
        failed = len(self.errors)
        unsent = len(missing) - failed
        cause = self.first_error
        message = (
            f"{what} failed for {len(missing)} of {self.total} {unit}(s) (input positions "
            f"{ranges(missing)}); no partial result is returned."
        )
        if self.bulk.remaining() <= 0:
            message += (
                f" The job reached its deadline (job_timeout={self.bulk.job_timeout:g} s) after "
                f"{self.bulk.backpressure} rate-limit answer(s): raise job_timeout, or send fewer "
                f"{unit}s per call."
            )
        elif unsent:
            message += f" {unsent} {unit}(s) were not sent after an error that fails every request."
        if cause is not None:
            message += f" First error: {cause.message}"
        error = HFBatchError(
            message, failed_indices=missing, errors=dict(self.errors), total=self.total
        )
        raise error from cause


@dataclass(eq=False)
class BatchEngine(Generic[_AnswerT]):
    """The batch engine of one service (a handle: it holds the service's concurrency bounds).

    Each call of :meth:`run` (:meth:`arun`) is given ``send``: the function that sends one batch
    through the route loop and returns its answer.

    Args:
        max_concurrency: the most requests of this service in flight (a ceiling).
        job_timeout: seconds one call may take (``None``: the default of bulk jobs).
        too_large: the error for one item the server refuses even on its own.
        split_on: whether an error means "this batch is too large" (default: HTTP 413).
        what, unit: how messages and the progress bar name the work ("Embedding", "text").
        show_progress, progress: the progress bar setting and callback (:class:`Progress`).
        sync_only: a sync client given alone carries every sync request (no private loop).
    """

    max_concurrency: int
    job_timeout: float | None
    too_large: Callable[[Batch, HFError], HFError]
    split_on: Callable[[HFError], bool] = is_payload_too_large
    what: str = "Embedding"
    unit: str = "text"
    show_progress: bool | None = None
    progress: ProgressCallback | None = None
    sync_only: bool = False

    def __post_init__(self) -> None:
        # The verdict on the bulk settings every batched service shares, given once here.
        self.max_concurrency = check_concurrency("max_concurrency", self.max_concurrency)
        if self.job_timeout is not None:
            self.job_timeout = validate_job_timeout(self.job_timeout)
        self.show_progress = check_show_progress(self.show_progress)
        self._thread_slots = threading.BoundedSemaphore(self.max_concurrency)
        self._loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._loop_slots = weakref.WeakKeyDictionary()

    def _progress(self, total: int, batches: int, show: bool | None, bulk: BulkJob) -> Progress:
        return Progress(
            total, requests=batches, show=self.show_progress if show is None else show,
            job=bulk, callback=self.progress, desc=self.what, unit=self.unit,
        )  # fmt: skip

    def _refused(self, batch: Batch, exc: HFError) -> HFError | None:
        """The batch's error, or ``None`` when it is to be split in two and sent again."""
        if not self.split_on(exc):
            return exc
        if len(batch) > 1:
            logger.debug("%s too large for %d items: splitting it in two", self.what, len(batch))
            return None
        return self.too_large(batch, exc)

    # --- sync ---

    def run(
        self,
        plan: Sequence[Batch],
        total: int,
        send: Callable[[Batch], _AnswerT],
        asend: Callable[[Batch], Awaitable[_AnswerT]],
        show_progress: bool | None = None,
    ) -> Done[_AnswerT]:
        """Send every batch of ``plan`` (over ``total`` input positions); see the module doc.

        ``asend`` carries a large plan on the private event loop; ``send`` a small one.
        """
        if not plan:
            return []
        if len(plan) >= EMBED_LOOP_MIN_BATCHES and not self.sync_only:
            return in_private_loop(self.arun(plan, total, asend, show_progress))
        with bulk_job(self.job_timeout) as bulk:
            progress = self._progress(total, len(plan), show_progress, bulk)
            job = _Job(send, total, progress, bulk)
            try:
                if len(plan) == 1 or self.max_concurrency == 1:
                    for batch in plan:
                        job.record(self._send(batch, job))
                else:
                    self._run_threads(plan, job)
            finally:
                progress.close()
        return job.result(self.what, self.unit)

    def _run_threads(self, plan: Sequence[Batch], job: _Job) -> None:
        workers = min(self.max_concurrency, len(plan))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfbridge-batch")
        try:
            # Each thread runs in a copy of this context: its requests belong to the bulk job.
            futures = [
                pool.submit(contextvars.copy_context().run, self._send, batch, job)
                for batch in plan
            ]
            for future in as_completed(futures):
                job.record(future.result())
        except BaseException:
            job.stopped = True  # queued batches see it and return without sending
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def _send(self, batch: Batch, job: _Job) -> list[tuple[Batch, _Outcome]]:
        """Send one batch (split when too large); failures become outcomes, never exceptions."""
        try:
            with self._thread_slots:
                if job.stopped:
                    return [(batch, None)]
                answer = job.send(batch)
        except HFError as exc:
            error = self._refused(batch, exc)
            if error is None:
                left, right = batch.split()
                return self._send(left, job) + self._send(right, job)
        else:
            return [(batch, answer)]
        job.note(error)
        return [(batch, error)]

    # --- async ---

    def _slots(self) -> asyncio.Semaphore:
        """This service's concurrency bound on the running loop (one semaphore per loop)."""
        loop = asyncio.get_running_loop()
        slots = self._loop_slots.get(loop)
        if slots is None:
            slots = asyncio.Semaphore(self.max_concurrency)
            self._loop_slots[loop] = slots
        return slots

    async def arun(
        self,
        plan: Sequence[Batch],
        total: int,
        asend: Callable[[Batch], Awaitable[_AnswerT]],
        show_progress: bool | None = None,
    ) -> Done[_AnswerT]:
        """Async :meth:`run`: one task per batch; the halves of a split run concurrently."""
        if not plan:
            return []
        slots = self._slots()
        with bulk_job(self.job_timeout) as bulk:
            progress = self._progress(total, len(plan), show_progress, bulk)
            job = _Job(asend, total, progress, bulk)

            async def run(batch: Batch) -> None:
                job.record(await self._asend(batch, job, slots))

            tasks = [asyncio.ensure_future(run(batch)) for batch in plan]  # inherit the job
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                job.stopped = True
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            finally:
                progress.close()
        return job.result(self.what, self.unit)

    async def _asend(
        self, batch: Batch, job: _Job, slots: asyncio.Semaphore
    ) -> list[tuple[Batch, _Outcome]]:
        try:
            async with slots:
                if job.stopped:
                    return [(batch, None)]
                answer = await job.send(batch)
        except HFError as exc:
            error = self._refused(batch, exc)
            if error is None:
                left, right = batch.split()
                first, second = await asyncio.gather(
                    self._asend(left, job, slots), self._asend(right, job, slots)
                )
                return first + second
        else:
            return [(batch, answer)]
        job.note(error)
        return [(batch, error)]
