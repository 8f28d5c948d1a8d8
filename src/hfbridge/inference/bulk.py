"""Run many independent calls as one bulk job: concurrent, ordered, all or nothing.

:func:`run_bulk` (threads) and :func:`arun_bulk` (tasks) call ``call(item)`` for every item inside
one :func:`~hfbridge.transport.jobs.bulk_job`, so 429s and loading 503s are retried until the
job's deadline and every request waits its turn in the transport's limiter (which finds how many
may be in flight; ``max_concurrency`` is the ceiling). The result keeps the input order. If any
item fails, :class:`~hfbridge.errors.HFBatchError` names exactly the positions without a result,
and nothing partial is returned. Used by the text-generation batches (``HFTextGen``); embeddings
have their own engine with the same rules (:mod:`hfbridge.inference.embeddings`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hfbridge.errors import HFBatchError, HFError
from hfbridge.errors._checks import positive_int
from hfbridge.inference.progress import Progress
from hfbridge.transport.jobs import BulkJob, bulk_job

__all__ = ["arun_bulk", "batch_error", "check_concurrency", "positive_int", "ranges", "run_bulk"]

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def check_concurrency(name: str, value: object) -> int:
    """``value`` if it is an integer >= 1; :class:`HFConfigError` otherwise."""
    return positive_int(name, value, meaning="the most requests in flight")


def ranges(indices: Sequence[int], limit: int = 8) -> str:
    """``[1, 2, 3, 7]`` -> ``'1-3, 7'`` (at most ``limit`` ranges, then an ellipsis)."""
    spans: list[str] = []
    start = previous = indices[0]
    for index in [*indices[1:], None]:
        if index is not None and index == previous + 1:
            previous = index
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    return ", ".join(spans[:limit]) + (", ..." if len(spans) > limit else "")


def batch_error(what: str, errors: dict[int, HFError], total: int, job: BulkJob) -> HFBatchError:
    """The error for a bulk job whose positions ``errors`` got no result."""
    failed = sorted(errors)
    first = errors[failed[0]]
    message = (
        f"{what} failed for {len(failed)} of {total} item(s) (input positions {ranges(failed)}); "
        "no partial result is returned."
    )
    if job.remaining() <= 0:
        message += (
            f" The job reached its deadline (job_timeout={job.job_timeout:g} s) after "
            f"{job.backpressure} rate-limit answer(s): raise job_timeout, or send fewer per call."
        )
    error = HFBatchError(
        f"{message} First error: {first.message}", failed_indices=failed, errors=errors,
        total=total,
    )  # fmt: skip
    error.__cause__ = first
    return error


def _progress(total: int, show: bool | None, job: BulkJob, what: str) -> Progress:
    return Progress(total, requests=total, show=show, job=job, desc=what, unit="item")


def run_bulk(  # noqa: PLR0913 - the job's settings
    items: Sequence[_Item],
    call: Callable[[_Item], _Result],
    *,
    max_concurrency: int,
    job_timeout: float | None = None,
    show_progress: bool | None = None,
    what: str = "Generation",
) -> list[_Result]:
    """``[call(item) for item in items]``, concurrently on threads, as one bulk job."""
    results: dict[int, _Result] = {}
    errors: dict[int, HFError] = {}
    with bulk_job(job_timeout) as job:
        progress = _progress(len(items), show_progress, job, what)

        def one(index: int) -> None:
            try:
                results[index] = call(items[index])
            except HFError as exc:
                errors[index] = exc
            progress.advance(1)

        try:
            if len(items) == 1 or max_concurrency == 1:
                for index in range(len(items)):
                    one(index)
            else:
                workers = min(max_concurrency, len(items))
                with ThreadPoolExecutor(workers, thread_name_prefix="hfbridge-bulk") as pool:
                    # each thread runs in a copy of this context: its requests belong to the job
                    futures = [pool.submit(contextvars.copy_context().run, one, index)
                               for index in range(len(items))]  # fmt: skip
                    for future in futures:
                        future.result()  # a non-HF exception surfaces here
        finally:
            progress.close()
        if errors:
            raise batch_error(what, errors, len(items), job)
    return [results[index] for index in range(len(items))]


async def arun_bulk(  # noqa: PLR0913 - the job's settings
    items: Sequence[_Item],
    call: Callable[[_Item], Awaitable[_Result]],
    *,
    max_concurrency: int,
    job_timeout: float | None = None,
    show_progress: bool | None = None,
    what: str = "Generation",
) -> list[_Result]:
    """Async :func:`run_bulk`: tasks under a ``max_concurrency`` semaphore."""
    results: dict[int, _Result] = {}
    errors: dict[int, HFError] = {}
    gate = asyncio.Semaphore(max_concurrency)
    with bulk_job(job_timeout) as job:
        progress = _progress(len(items), show_progress, job, what)

        async def one(index: int) -> None:
            async with gate:
                try:
                    results[index] = await call(items[index])
                except HFError as exc:
                    errors[index] = exc
            progress.advance(1)

        try:
            await asyncio.gather(*(one(index) for index in range(len(items))))
        finally:
            progress.close()
        if errors:
            raise batch_error(what, errors, len(items), job)
    return [results[index] for index in range(len(items))]
