"""Embeddings as a framework-free service: the one engine under both adapters.

:class:`EmbeddingService` turns its settings into a route (:func:`select_route`), prefixes the
model family's instructions, splits the input into batches by item count *and* request bytes
(:func:`~hfbridge.wire.embeddings.plan_batches`), sends them concurrently (tasks for the async
API; for the sync API, a large job runs the async engine on a private event loop in a thread of its
own, a small one uses a thread pool, so both work inside a running event loop: the
:class:`~hfbridge.inference.batches.BatchEngine` every batched route shares) and puts every
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

from collections.abc import Sequence
from typing import Any

from typing_extensions import Unpack

from hfbridge._constants import (
    EMBED_BATCH_SIZE,
    EMBED_CONCURRENCY,
    EMBED_MAX_BATCH_BYTES,
)
from hfbridge._redact import redact_url
from hfbridge.errors import (
    HFConfigError,
    HFError,
    HFPayloadTooLargeError,
    HFResponseError,
)
from hfbridge.errors._checks import positive_int
from hfbridge.inference.batches import BatchEngine, Done
from hfbridge.inference.connection import Connection, ConnectionArgs, OnConnection
from hfbridge.inference.embedding_routes import EmbeddingRoute, check_params, select_route
from hfbridge.inference.progress import ProgressCallback
from hfbridge.inference.routes import get_route
from hfbridge.inference.service import RouteService
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

__all__ = [
    "OPENAI_EMBEDDING_PROVIDERS",
    "EmbeddingRoute",
    "EmbeddingService",
    "ProgressCallback",
    "select_route",
]


def _instruction(name: str, value: str | None, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise HFConfigError(f"{name} must be a string ('' for none), got {type(value).__name__}.")
    return value


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
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_batch_bytes = positive_int("max_batch_bytes", max_batch_bytes)
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
        self.routes: RouteService[EmbeddingRequest, list[Vector], Vector] = RouteService(
            get_route(ROUTES_BY_API[self.route.api]), self.connection
        )
        self._targets = [self.route.target]
        empty = EmbeddingRequest((), self.params)
        self._base_bytes = body_size(self.routes.route.build(empty, self.route.target, False))  # noqa: FBT003
        # A sync client given alone (its own transport, say) must carry every sync request.
        self.engine: BatchEngine[list[Vector]] = BatchEngine(
            max_concurrency=max_concurrency, job_timeout=job_timeout, too_large=self._too_large,
            what="Embedding", unit="text", show_progress=show_progress, progress=progress,
            sync_only=self.connection.sync_only,
        )  # fmt: skip

    @property
    def max_concurrency(self) -> int:
        """The most requests of this service in flight (its engine's ceiling)."""
        return self.engine.max_concurrency

    @property
    def job_timeout(self) -> float | None:
        """Seconds one call may take (``None``: the default of bulk jobs)."""
        return self.engine.job_timeout

    @property
    def show_progress(self) -> bool | None:
        """The progress bar setting (``None``: shown for long jobs when someone watches)."""
        return self.engine.show_progress

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

    def _too_large(self, batch: Batch, exc: HFError) -> HFError:
        """The error for one text the server refuses even alone (an HTTP 413)."""
        if not isinstance(exc, HFPayloadTooLargeError):  # the engine splits on 413 only
            return exc
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

    # --- sending ---

    def _run(self, texts: list[str], show_progress: bool | None) -> list[Vector]:
        plan = self._plan(texts)
        return self._place(
            self.engine.run(plan, len(texts), self._send, self._asend, show_progress)
        )

    async def _arun(self, texts: list[str], show_progress: bool | None) -> list[Vector]:
        plan = self._plan(texts)
        return self._place(await self.engine.arun(plan, len(texts), self._asend, show_progress))

    def _send(self, batch: Batch) -> list[Vector]:
        return self.routes.call(EmbeddingRequest(batch.texts, self.params), self._targets).result

    async def _asend(self, batch: Batch) -> list[Vector]:
        request = EmbeddingRequest(batch.texts, self.params)
        return (await self.routes.acall(request, self._targets)).result

    @staticmethod
    def _place(done: Done[list[Vector]]) -> list[Vector]:
        """Every vector at its input position (the engine answered every position)."""
        vectors = [vector for _, answer in done for vector in answer]
        widths = sorted({len(vector) for vector in vectors})
        if len(widths) > 1:
            raise HFResponseError(
                f"the server returned embeddings of different sizes {widths} within one job: "
                "the endpoint may route to several models. No result is returned."
            )
        return vectors
