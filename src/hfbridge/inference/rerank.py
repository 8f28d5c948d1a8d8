"""Reranking as a framework-free service: the one engine under both rerank adapters.

:class:`RerankService` picks a rerank route for its settings (:func:`select_rerank_route`),
checks each call's input once (:class:`~hfbridge.wire.rerank_job.RerankJob`: an empty query,
documents that are not strings or ``top_n < 1`` raise :class:`~hfbridge.errors.HFConfigError`
before any request), plans the documents into batches by count and bytes, and sends them through
the route loop with the :class:`~hfbridge.inference.batches.BatchEngine` embeddings use: as one
bulk job, under the transport's per-key adaptive limiter (``max_concurrency`` is only its
ceiling), sync or async. A batch the server refuses as too large (413, or TEI's 422 "batch size
... > maximum allowed batch size") is halved and resent. The batches' answers are merged into one
:class:`~hfbridge.wire.rerank_job.Ranking` over the caller's documents: best first (ties in input
order), at most ``top_n``, every score at its input position; or the call raises
(:class:`~hfbridge.errors.HFBatchError` naming the documents without a score,
:class:`~hfbridge.errors.HFResponseError` for an answer that cannot be matched). Nothing partial.

Routes (``api``):

- with ``base_url``: ``"tei"`` (default; TEI ``POST /rerank``, llama-server too) or ``"cohere"``
  (``POST /v1/rerank``: vLLM, llama-server, Jina-style servers); ``"text-ranking"`` and
  ``"text-classification"`` send hf-inference bodies to ``base_url`` itself (a dedicated
  Inference Endpoint).
- without: hf-inference on the router by model id (an id, ``id:hf-inference`` or a rerank alias),
  as ``"text-classification"`` of (query, document) pairs (default: the documented way, hub-docs
  PR #1541) or ``"text-ranking"`` (``.../pipeline/text-ranking``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from typing_extensions import Unpack

from hfbridge._constants import (
    EMBED_CONCURRENCY,
    HF_INFERENCE_PROVIDER,
    RERANK_BATCH_SIZE,
    RERANK_MAX_BATCH_BYTES,
)
from hfbridge._redact import redact_url
from hfbridge.catalog.aliases import resolve_model
from hfbridge.errors import (
    HFConfigError,
    HFError,
    HFPayloadTooLargeError,
    HFStatusError,
    HFUnprocessableError,
)
from hfbridge.errors._checks import positive_int
from hfbridge.inference.batches import BatchEngine, Done, is_payload_too_large
from hfbridge.inference.connection import Connection, ConnectionArgs, OnConnection
from hfbridge.inference.progress import ProgressCallback
from hfbridge.inference.routes import get_route
from hfbridge.inference.service import RouteService
from hfbridge.wire.embeddings import Batch, json_size
from hfbridge.wire.rerank import (
    FORMATS,
    BatchAnswer,
    RerankAPI,
    RerankBatchRequest,
    RerankFormat,
    RerankParams,
    check_params,
)
from hfbridge.wire.rerank_job import Ranking, RerankJob
from hfbridge.wire.route import Target

__all__ = ["Ranking", "RerankRoute", "RerankService", "is_batch_too_large", "select_rerank_route"]

_SELF_HOSTED: tuple[RerankAPI, ...] = ("tei", "cohere")


@dataclass(frozen=True, slots=True)
class RerankRoute:
    """The chosen rerank format and where its requests go."""

    api: RerankAPI
    target: Target

    @property
    def format(self) -> RerankFormat:
        """The wire format (bodies, answers) of this route."""
        return FORMATS[self.api]

    @property
    def url(self) -> str:
        """The URL every request of this route goes to."""
        return self.format.url(self.target)

    @property
    def model_id(self) -> str:
        """The Hub id, or the self-hosted server's model name."""
        return self.target.model_id or ""


def _check_api(api: Any) -> RerankAPI | None:
    if api is None or api in get_args(RerankAPI):
        return api  # type: ignore[no-any-return]
    raise HFConfigError(
        f"api must be one of {', '.join(map(repr, get_args(RerankAPI)))} or None, got {api!r}."
    )


def select_rerank_route(
    *,
    model: str | None,
    base_url: str | None = None,
    api: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> RerankRoute:
    """Pick the rerank route for the settings (module docstring); HFConfigError when they clash.

    ``base_url`` must already be validated (the connection's root). A self-hosted model name is
    sent as is (``None``: left out of the body, for single-model servers such as TEI).
    """
    chosen = _check_api(api)
    if base_url is not None:
        spec = (
            None
            if model is None
            else resolve_model(model, kind="rerank", overrides=aliases, custom_endpoint=True)
        )
        name = spec.model_id if spec is not None else None
        target = Target(model=name, model_id=name, base_url=base_url)
        return RerankRoute(chosen or "tei", target)
    if chosen in _SELF_HOSTED:
        raise HFConfigError(
            f"api={chosen!r} reaches a self-hosted rerank server: pass its base_url (e.g. "
            "'http://127.0.0.1:8080'), or drop api to rerank on Hugging Face by model id."
        )
    spec = resolve_model(model, kind="rerank", overrides=aliases)
    if spec.policy is not None or (spec.provider or HF_INFERENCE_PROVIDER) != HF_INFERENCE_PROVIDER:
        raise HFConfigError(
            f"model {spec.router_model!r}: on Hugging Face, rerank models run on hf-inference "
            f"only (no provider routes rerank): use {spec.model_id!r} or "
            f"'{spec.model_id}:hf-inference', or pass the base_url of your own server."
        )
    target = Target(model=spec.model_id, model_id=spec.model_id, provider=HF_INFERENCE_PROVIDER)
    return RerankRoute(chosen or "text-classification", target)


def is_batch_too_large(exc: HFError) -> bool:
    """Whether ``exc`` says the batch holds too many texts: 413, or TEI's 422 "batch size".

    TEI answers 413 for a batch past ``--max-client-batch-size``; older TEI versions and some
    proxies answer 422 with the same validation message (``batch size 33 > maximum allowed batch
    size 32``). Any other 422 is a real refusal.
    """
    if is_payload_too_large(exc):
        return True
    if not isinstance(exc, HFUnprocessableError):
        return False
    said = f"{exc.message} {exc.body or ''}".lower()
    return "batch size" in said


class RerankService(OnConnection):
    """Rerank documents against a query for one configured model and route.

    Args:
        model: a rerank model id (``org/name``, optionally ``:hf-inference``), a rerank alias
            (``default``, ``large``, ``small``), or with ``base_url`` the server's model name
            (``None``: the ``default`` alias on Hugging Face; left out of the body when
            self-hosted).
        api: the wire format (see the module docstring); ``None`` picks by ``base_url``.
        top_n: keep only the best ``top_n`` documents (``None``: all, best first); a call's own
            ``top_n`` overrides it.
        raw_scores, truncate, truncation_direction: TEI options (``raw_scores`` also on
            text-classification); ``label``: the class meaning "relevant" for a text-classification
            model that answers several labels.
        batch_size, max_batch_bytes: limits of one request (documents, body bytes).
        max_concurrency: the most requests of this service in flight (the limiter adapts below).
        job_timeout: seconds one call may take; 429s and loading 503s are retried until then.
        show_progress, progress: a tqdm bar for long jobs; a ``(done, total)`` callback.
        connection: the connection to send through; else one is built from ``settings``.
    """

    def __init__(  # noqa: PLR0913 - the rerank settings, passed through by adapters
        self,
        *,
        model: str | None = None,
        api: str | None = None,
        top_n: int | None = None,
        raw_scores: bool | None = None,
        truncate: bool | None = None,
        truncation_direction: str | None = None,
        label: str | None = None,
        batch_size: int = RERANK_BATCH_SIZE,
        max_batch_bytes: int = RERANK_MAX_BATCH_BYTES,
        max_concurrency: int = EMBED_CONCURRENCY,
        job_timeout: float | None = None,
        show_progress: bool | None = None,
        progress: ProgressCallback | None = None,
        connection: Connection | None = None,
        **settings: Unpack[ConnectionArgs],
    ) -> None:
        self.batch_size = positive_int("batch_size", batch_size)
        self.max_batch_bytes = positive_int("max_batch_bytes", max_batch_bytes)
        self.params = RerankParams.create(
            top_n=top_n, raw_scores=raw_scores, truncate=truncate,
            truncation_direction=truncation_direction, label=label,
        )  # fmt: skip
        self.connection = connection or Connection.create(**settings)
        self.route = select_rerank_route(
            model=model, base_url=self.connection.base_url, api=api,
            aliases=self.connection.aliases,
        )  # fmt: skip
        fmt = self.route.format
        check_params(fmt, self.params)
        fmt.url(self.route.target)  # a target the format cannot reach: refused here
        self.routes: RouteService[RerankBatchRequest, BatchAnswer, None] = RouteService(
            get_route(f"rerank-{self.route.api}"), self.connection
        )
        self._targets = [self.route.target]
        self.engine: BatchEngine[BatchAnswer] = BatchEngine(
            max_concurrency=max_concurrency, job_timeout=job_timeout,
            too_large=self._too_large, split_on=is_batch_too_large, what="Reranking",
            unit="document", show_progress=show_progress, progress=progress,
            sync_only=self.connection.sync_only,
        )  # fmt: skip

    # A service is a handle (clients, the engine's bounds): copies of an adapter share it.
    def __copy__(self) -> RerankService:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> RerankService:
        return self

    def __repr__(self) -> str:
        return (
            f"RerankService(model={self.route.model_id!r}, api={self.route.api!r}, "
            f"url={redact_url(self.route.url)!r})"
        )

    @property
    def max_concurrency(self) -> int:
        """The most requests of this service in flight (its engine's ceiling)."""
        return self.engine.max_concurrency

    @property
    def job_timeout(self) -> float | None:
        """Seconds one call may take (``None``: the default of bulk jobs)."""
        return self.engine.job_timeout

    @property
    def model_id(self) -> str:
        """The resolved model: a Hub id, or the self-hosted server's model name ('' if none)."""
        return self.route.model_id

    # --- public API ---

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        show_progress: bool | None = None,
    ) -> Ranking:
        """Score ``documents`` against ``query``: the best first, at most ``top_n``.

        ``top_n`` (``None``: the service's) applies to the whole list, across batches.
        """
        job, plan = self._job(query, documents, top_n)
        send = self._sender(job)
        done = self.engine.run(plan, len(job.documents), send[0], send[1], show_progress)
        return self._merge(job, done)

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        show_progress: bool | None = None,
    ) -> Ranking:
        """Async :meth:`rerank`."""
        job, plan = self._job(query, documents, top_n)
        done = await self.engine.arun(plan, len(job.documents), self._sender(job)[1], show_progress)
        return self._merge(job, done)

    # --- the job ---

    def _job(self, query: Any, documents: Any, top_n: int | None) -> tuple[RerankJob, list[Batch]]:
        params = self.params
        if top_n is not None:
            params = dataclasses.replace(params, top_n=RerankParams.create(top_n=top_n).top_n)
        fmt = self.route.format
        job = RerankJob.create(query, documents, fmt=fmt, params=params)
        plan = job.plan(
            fmt, model=self.route.target.model or "", batch_size=self.batch_size,
            max_batch_bytes=self.max_batch_bytes,
        )  # fmt: skip
        return job, plan

    def _sender(self, job: RerankJob) -> tuple[Any, Any]:
        def send(batch: Batch) -> BatchAnswer:
            return self.routes.call(job.request(batch), self._targets).result

        async def asend(batch: Batch) -> BatchAnswer:
            return (await self.routes.acall(job.request(batch), self._targets)).result

        return send, asend

    @staticmethod
    def _merge(job: RerankJob, done: Done[BatchAnswer]) -> Ranking:
        return job.merge([batch for batch, _ in done], [answer for _, answer in done])

    def _too_large(self, batch: Batch, exc: HFError) -> HFError:
        """The error for one document the server refuses even alone."""
        if not isinstance(exc, HFStatusError):  # the engine splits on statuses only
            return exc
        hint = ", or set truncate=True" if "truncate" in self.route.format.accepts else ""
        error = HFPayloadTooLargeError(
            f"The document at input position {batch.indices[0]} ({json_size(batch.texts[0])} "
            f"bytes in the request) is too large for {redact_url(self.route.url)} even on its "
            f"own: shorten or split it{hint}. Server said: {exc.message}",
            status_code=exc.status_code, body=exc.body, request_id=exc.request_id, url=exc.url,
            model=exc.model, provider=exc.provider, error_code=exc.error_code,
        )  # fmt: skip
        error.__cause__ = exc
        return error
