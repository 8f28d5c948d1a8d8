"""Embeddings as a framework-free service: the one engine under both adapters.

:class:`EmbeddingService` turns its settings into a route (:func:`select_route`), prefixes the
model family's instructions, splits the input into batches by item count *and* request bytes
(:func:`~hfbridge.wire.embeddings.plan_batches`), sends them concurrently (tasks for the async
API; for the sync API, a large job runs the async engine on a private event loop in a thread of its
own, a small one uses a thread pool, so both work inside a running event loop) and puts every
vector back at its input position. How many requests are in flight is the transport limiter's call
(:mod:`hfbridge.transport.limiter`: it grows while answers are fine and shrinks on 429/503, shared
by every job on the same model and host); ``max_concurrency`` is only its ceiling for this service.

Failure rules: a call is a bulk job (:func:`~hfbridge.transport.jobs.bulk_job`): 429s and loading
503s are backpressure, retried until ``job_timeout``; other errors are retried by the transport up
to ``max_retries``. A 413 splits its batch in half and sends the halves, down to one text. Any
other failure marks that batch's texts as failed; the job then raises
:class:`~hfbridge.errors.HFBatchError` naming them. A job never returns a list with holes,
duplicates or moved vectors: ``len(texts)`` vectors in order, or raises.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import weakref
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

from typing_extensions import Unpack

from hfbridge._constants import (
    EMBED_BATCH_SIZE,
    EMBED_CONCURRENCY,
    EMBED_LOOP_MIN_BATCHES,
    EMBED_MAX_BATCH_BYTES,
)
from hfbridge._redact import redact_url
from hfbridge.errors import (
    HFBatchError,
    HFConfigError,
    HFError,
    HFPayloadTooLargeError,
    HFResponseError,
)
from hfbridge.inference.bulk import ranges
from hfbridge.inference.connection import Connection, ConnectionArgs, OnConnection
from hfbridge.inference.embedding_routes import EmbeddingRoute, check_params, select_route
from hfbridge.inference.progress import Progress, ProgressCallback, check_show_progress
from hfbridge.inference.routes import get_route
from hfbridge.inference.service import RouteService
from hfbridge.transport.jobs import BulkJob, bulk_job, validate_job_timeout
from hfbridge.wire.embeddings import (
    OPENAI_EMBEDDING_PROVIDERS,
    ROUTES_BY_API,
    Batch,
    EmbeddingParams,
    EmbeddingRequest,
    Vector,
    apply_instruction,
    body_size,
    instructions_for,
    json_size,
    plan_batches,
)

logger = logging.getLogger("hfbridge.inference")
_Result = TypeVar("_Result")

__all__ = [
    "OPENAI_EMBEDDING_PROVIDERS",
    "EmbeddingRoute",
    "EmbeddingService",
    "ProgressCallback",
    "select_route",
]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise HFConfigError(f"{name} must be a positive integer, got {value!r}.")
    return value


def _instruction(name: str, value: str | None, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise HFConfigError(f"{name} must be a string ('' for none), got {type(value).__name__}.")
    return value


def _in_private_loop(job: Coroutine[Any, Any, _Result]) -> _Result:
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
    thread = threading.Thread(target=context.run, args=(run,), name="hfbridge-embed-loop")
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: _Result = outcome[0]
    return result


_Outcome = list[Vector] | HFError | None  # vectors, the batch's error, or None: not sent


class _Job:
    """Bookkeeping of one call: vectors by input position, errors, progress, early stop."""

    def __init__(self, total: int, progress: Progress, bulk: BulkJob) -> None:
        self.vectors: list[Vector | None] = [None] * total
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
        """Store the outcome of each (sub-)batch at its input positions."""
        for batch, outcome in outcomes:
            if outcome is None:
                continue
            if isinstance(outcome, HFError):
                for index in batch.indices:
                    self.errors[index] = outcome
            else:
                for index, vector in zip(batch.indices, outcome, strict=True):
                    self.vectors[index] = vector
            self._progress.advance(len(batch))

    def result(self) -> list[Vector]:
        """Every vector in input order, or :class:`HFBatchError` naming the missing positions."""
        missing = [index for index, vector in enumerate(self.vectors) if vector is None]
        if not missing:
            vectors = [vector for vector in self.vectors if vector is not None]
            widths = sorted({len(vector) for vector in vectors})
            if len(widths) > 1:
                raise HFResponseError(
                    f"the server returned embeddings of different sizes {widths} within one job: "
                    "the endpoint may route to several models. No result is returned."
                )
            return vectors
        total, failed = len(self.vectors), len(self.errors)
        unsent = len(missing) - failed
        cause = self.first_error
        message = (
            f"Embedding failed for {len(missing)} of {total} text(s) (input positions "
            f"{ranges(missing)}); no partial result is returned."
        )
        if self.bulk.remaining() <= 0:
            message += (
                f" The job reached its deadline (job_timeout={self.bulk.job_timeout:g} s) after "
                f"{self.bulk.backpressure} rate-limit answer(s): raise job_timeout, or send fewer "
                "texts per call."
            )
        elif unsent:
            message += f" {unsent} text(s) were not sent after an error that fails every request."
        if cause is not None:
            message += f" First error: {cause.message}"
        error = HFBatchError(message, failed_indices=missing, errors=dict(self.errors), total=total)
        raise error from cause


class EmbeddingService(OnConnection):
    """Embed texts for one configured model and route over the shared transport.

    Args:
        model: a model id (``org/name``, optionally ``:hf-inference|together|scaleway|deepinfra``),
            an embeddings alias (``default``, ``large``, ``small``), or with ``base_url`` the
            server's model name. ``None`` means ``default``.
        base_url: a self-hosted server: its OpenAI root (``http://host:8080/v1``) by default, or
            the full feature-extraction URL with ``api='feature-extraction'``.
        api: ``'openai'`` or ``'feature-extraction'`` (only meaningful with ``base_url``).
        provider_model_id: the ``model`` sent to a provider route (default: the HF id).
        normalize, truncate, truncation_direction, prompt_name: feature-extraction options.
        dimensions: output size, on OpenAI-style routes and custom feature-extraction servers.
        encoding_format: ``'float'`` or ``'base64'`` on OpenAI-style routes (decoded either way).
        batch_size, max_batch_bytes: limits of one request (items, body bytes).
        max_concurrency: the most requests of this service in flight at once (sync and async
            alike); the transport's limiter decides how many below that ceiling.
        job_timeout: seconds one call may take (default 1800); 429s and loading 503s are
            retried until then. :class:`HFBatchError` names the texts not done at the deadline.
        query_instruction, document_instruction: prefixes for queries and documents; ``None``
            uses the known family's (E5 ``query: ``/``passage: ``, BGE, nomic, ...) unless
            ``prompt_name`` asks the server to apply its own; ``''`` turns them off.
        show_progress: a tqdm bar (texts, rate, 429s met): ``None`` shows it for long jobs when a
            terminal or notebook is attached and tqdm is installed (``hfbridge[progress]``).
        progress: called after each batch with ``(texts done, texts in the job)``.
        connection: the connection to send through; else one is built from ``settings``
            (``base_url``, ``token``, ``client``, ... as
            :class:`~hfbridge.inference.connection.ConnectionArgs`).
    """

    def __init__(  # noqa: PLR0913 - the embedding settings, passed through by adapters
        self,
        *,
        model: str | None = None,
        api: str | None = None,
        provider_model_id: str | None = None,
        normalize: bool | None = None,
        truncate: bool | None = None,
        truncation_direction: str | None = None,
        prompt_name: str | None = None,
        dimensions: int | None = None,
        encoding_format: str | None = None,
        batch_size: int = EMBED_BATCH_SIZE,
        max_batch_bytes: int = EMBED_MAX_BATCH_BYTES,
        max_concurrency: int = EMBED_CONCURRENCY,
        job_timeout: float | None = None,
        query_instruction: str | None = None,
        document_instruction: str | None = None,
        show_progress: bool | None = None,
        progress: ProgressCallback | None = None,
        connection: Connection | None = None,
        **settings: Unpack[ConnectionArgs],
    ) -> None:
        self.batch_size = _positive_int("batch_size", batch_size)
        self.max_batch_bytes = _positive_int("max_batch_bytes", max_batch_bytes)
        self.max_concurrency = _positive_int("max_concurrency", max_concurrency)
        self.job_timeout = None if job_timeout is None else validate_job_timeout(job_timeout)
        self.params = EmbeddingParams.create(
            normalize=normalize,
            truncate=truncate,
            truncation_direction=truncation_direction,
            prompt_name=prompt_name,
            dimensions=dimensions,
            encoding_format=encoding_format,
        )
        self.connection = connection or Connection.create(**settings)
        self.route = select_route(
            model=model, base_url=self.connection.base_url, api=api,
            provider_model_id=provider_model_id, aliases=self.connection.aliases,
        )  # fmt: skip
        check_params(self.route, self.params)
        family = instructions_for(self.route.model_id) if prompt_name is None else None
        self.query_instruction = _instruction(
            "query_instruction", query_instruction, family.query if family else ""
        )
        self.document_instruction = _instruction(
            "document_instruction", document_instruction, family.document if family else ""
        )
        self.show_progress = check_show_progress(show_progress)
        self.progress = progress
        self.routes: RouteService[EmbeddingRequest, list[Vector], Vector] = RouteService(
            get_route(ROUTES_BY_API[self.route.api]), self.connection
        )
        self._targets = [self.route.target]
        empty = EmbeddingRequest((), self.params)
        self._base_bytes = body_size(self.routes.route.build(empty, self.route.target, False))  # noqa: FBT003
        # A sync client given alone (its own transport, say) must carry every sync request.
        self._sync_only = self.connection.sync_only
        self._thread_slots = threading.BoundedSemaphore(self.max_concurrency)
        self._loop_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._loop_slots = weakref.WeakKeyDictionary()

    # A service is a handle (clients, a semaphore bounding its requests in flight): a copied
    # adapter shares it, as it shares the connection pools; a deep copy used to fail on the lock.
    def __copy__(self) -> EmbeddingService:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> EmbeddingService:
        return self

    def __repr__(self) -> str:
        return (
            f"EmbeddingService(model={self.route.model_id!r}, route={self.route.kind}, "
            f"url={redact_url(self.route.url)!r})"
        )

    @property
    def model_id(self) -> str:
        """The resolved model: an HF id, or the self-hosted server's model name."""
        return self.route.model_id

    # --- public API ---

    def embed_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[Vector]:
        """One vector per text, in order (document instruction applied)."""
        return self._run(self._prepare(texts, self.document_instruction), show_progress)

    def embed_query(self, text: str) -> Vector:
        """The vector of one query (query instruction applied)."""
        return self._run(self._prepare_one(text), show_progress=False)[0]

    async def aembed_documents(
        self, texts: Sequence[str], *, show_progress: bool | None = None
    ) -> list[Vector]:
        """Async :meth:`embed_documents`."""
        return await self._arun(self._prepare(texts, self.document_instruction), show_progress)

    async def aembed_query(self, text: str) -> Vector:
        """Async :meth:`embed_query`."""
        return (await self._arun(self._prepare_one(text), show_progress=False))[0]

    # --- preparation ---

    @staticmethod
    def _prepare(texts: Sequence[str], instruction: str) -> list[str]:
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise HFConfigError(
                f"texts must be a list of strings, got {type(texts).__name__}: "
                "wrap a single text in a list, or use embed_query."
            )
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise HFConfigError(f"texts[{index}] must be a string, got {type(text).__name__}.")
        return apply_instruction(texts, instruction)

    def _prepare_one(self, text: str) -> list[str]:
        if not isinstance(text, str):
            raise HFConfigError(f"the query must be a string, got {type(text).__name__}.")
        return apply_instruction([text], self.query_instruction)

    def _plan(self, texts: list[str]) -> list[Batch]:
        return plan_batches(
            texts,
            batch_size=self.batch_size,
            max_batch_bytes=self.max_batch_bytes,
            base_bytes=self._base_bytes,
        )

    def _progress(self, total: int, batches: int, show: bool | None, bulk: BulkJob) -> Progress:
        return Progress(
            total, requests=batches, show=self.show_progress if show is None else show,
            job=bulk, callback=self.progress,
        )  # fmt: skip

    def _too_large(self, batch: Batch, exc: HFPayloadTooLargeError) -> HFPayloadTooLargeError:
        """The error for one text the server refuses even alone."""
        hint = ", or set truncate=True" if "truncate" in self.route.supported_params else ""
        error = HFPayloadTooLargeError(
            f"The text at input position {batch.indices[0]} ({json_size(batch.texts[0])} bytes in "
            f"the request) is too large for {redact_url(self.route.url)} even on its own (HTTP "
            f"413): shorten or split it{hint}. Server said: {exc.message}",
            status_code=exc.status_code, body=exc.body, request_id=exc.request_id, url=exc.url,
            model=exc.model, provider=exc.provider, error_code=exc.error_code,
        )  # fmt: skip
        error.__cause__ = exc
        return error

    # --- sync engine ---

    def _run(self, texts: list[str], show_progress: bool | None) -> list[Vector]:
        plan = self._plan(texts)
        if not plan:
            return []
        if len(plan) >= EMBED_LOOP_MIN_BATCHES and not self._sync_only:
            return _in_private_loop(self._arun(texts, show_progress))
        with bulk_job(self.job_timeout) as bulk:
            progress = self._progress(len(texts), len(plan), show_progress, bulk)
            job = _Job(len(texts), progress, bulk)
            try:
                if len(plan) == 1 or self.max_concurrency == 1:
                    for batch in plan:
                        job.record(self._send(batch, job))
                else:
                    self._run_threads(plan, job)
            finally:
                progress.close()
        return job.result()

    def _run_threads(self, plan: list[Batch], job: _Job) -> None:
        workers = min(self.max_concurrency, len(plan))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfbridge-embed")
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
        """Send one batch (split on 413); failures become outcomes, never exceptions."""
        try:
            with self._thread_slots:
                if job.stopped:
                    return [(batch, None)]
                request = EmbeddingRequest(batch.texts, self.params)
                vectors = self.routes.call(request, self._targets).result
        except HFPayloadTooLargeError as exc:
            if len(batch) > 1:
                left, right = batch.split()
                logger.debug("HTTP 413 for %d texts: splitting the batch in two", len(batch))
                return self._send(left, job) + self._send(right, job)
            error: HFError = self._too_large(batch, exc)
        except HFError as exc:
            error = exc
        else:
            return [(batch, vectors)]
        job.note(error)
        return [(batch, error)]

    # --- async engine ---

    def _slots(self) -> asyncio.Semaphore:
        """This service's concurrency bound on the running loop (one semaphore per loop)."""
        loop = asyncio.get_running_loop()
        slots = self._loop_slots.get(loop)
        if slots is None:
            slots = asyncio.Semaphore(self.max_concurrency)
            self._loop_slots[loop] = slots
        return slots

    async def _arun(self, texts: list[str], show_progress: bool | None) -> list[Vector]:
        plan = self._plan(texts)
        if not plan:
            return []
        slots = self._slots()
        with bulk_job(self.job_timeout) as bulk:
            progress = self._progress(len(texts), len(plan), show_progress, bulk)
            job = _Job(len(texts), progress, bulk)

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
        return job.result()

    async def _asend(
        self, batch: Batch, job: _Job, slots: asyncio.Semaphore
    ) -> list[tuple[Batch, _Outcome]]:
        """Async :meth:`_send`: the halves of a 413 split run concurrently."""
        try:
            async with slots:
                if job.stopped:
                    return [(batch, None)]
                request = EmbeddingRequest(batch.texts, self.params)
                vectors = (await self.routes.acall(request, self._targets)).result
        except HFPayloadTooLargeError as exc:
            if len(batch) > 1:
                left, right = batch.split()
                logger.debug("HTTP 413 for %d texts: splitting the batch in two", len(batch))
                first, second = await asyncio.gather(
                    self._asend(left, job, slots), self._asend(right, job, slots)
                )
                return first + second
            error: HFError = self._too_large(batch, exc)
        except HFError as exc:
            error = exc
        else:
            return [(batch, vectors)]
        job.note(error)
        return [(batch, error)]
