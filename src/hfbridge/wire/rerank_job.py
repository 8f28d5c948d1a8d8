"""A rerank job: its input checked once, planned into batches, its answers merged. No I/O.

:class:`RerankJob` is the validated value of one call (the query, the documents, the parameters,
for one :class:`~hfbridge.wire.rerank.RerankFormat`): bad input raises
:class:`~hfbridge.errors.HFConfigError` when it is built, before any request. :func:`plan_rerank`
splits the documents into batches within a count and a byte limit (the embeddings planner, sized
with the format's real body); each batch becomes one
:class:`~hfbridge.wire.rerank.RerankBatchRequest`; :func:`merge_answers` folds the batches'
answers into one :class:`Ranking` over the caller's documents: input positions restored,
``top_n`` applied across batches, nothing partial (:class:`~hfbridge.errors.HFResponseError`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hfbridge._constants import RERANK_BATCH_SIZE, RERANK_MAX_BATCH_BYTES
from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.embeddings import Batch, body_size, json_size, plan_batches
from hfbridge.wire.rerank import (
    BatchAnswer,
    RerankBatchRequest,
    RerankFormat,
    RerankParams,
    RerankResult,
    check_params,
)

__all__ = [
    "Ranking",
    "RerankJob",
    "check_documents",
    "check_query",
    "merge_answers",
    "plan_rerank",
]


# --- input validation ----------------------------------------------------------------------------


def check_query(query: Any) -> str:
    """Return ``query`` if it is a non-blank string that can be sent; else HFConfigError."""
    if not isinstance(query, str):
        raise HFConfigError(f"the query must be a string, got {type(query).__name__}.")
    if not query.strip():
        raise HFConfigError(
            "the query is empty: a reranker scores documents against a query, so give it the "
            "question or search text."
        )
    try:
        json_size(query)
    except UnicodeEncodeError as exc:
        raise HFConfigError(
            f"the query cannot be sent: it is not valid UTF-8 ({exc.reason}). Remove lone "
            "surrogate characters from it."
        ) from None
    return query


def check_documents(documents: Any) -> list[str]:
    """Return ``documents`` as a list if it is a non-empty sequence of strings; else HFConfigError.

    Empty strings are documents like any other (they score low). Texts that cannot be encoded are
    refused by :func:`plan_rerank`, which names their index.
    """
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise HFConfigError(
            f"documents must be a list of strings, got {type(documents).__name__}: wrap a single "
            "document in a list."
        )
    if not documents:
        raise HFConfigError("documents is empty: give at least one document to rerank.")
    for index, document in enumerate(documents):
        if not isinstance(document, str):
            raise HFConfigError(
                f"documents[{index}] must be a string, got {type(document).__name__}: pass each "
                "document's text (e.g. Document.page_content or node.get_content())."
            )
    return list(documents)


# --- batching plan -------------------------------------------------------------------------------


def plan_rerank(  # noqa: PLR0913 - the request's parts plus the two limits
    query: str,
    texts: Sequence[str],
    *,
    fmt: RerankFormat,
    params: RerankParams,
    model: str = "",
    batch_size: int = RERANK_BATCH_SIZE,
    max_batch_bytes: int = RERANK_MAX_BATCH_BYTES,
) -> list[Batch]:
    """Split ``texts`` into batches of at most ``batch_size`` texts and ``max_batch_bytes`` bytes.

    Sizes are those of ``fmt``'s real body for this query (a text-classification pair repeats the
    query per document). A text too large on its own still gets a batch of its own; the plan never
    drops or reorders documents. A document that cannot be encoded raises HFConfigError.
    """
    base = body_size(fmt.build_body(query, [], model=model, params=params))
    one = body_size(fmt.build_body(query, [""], model=model, params=params))
    return plan_batches(
        texts,
        batch_size=batch_size,
        max_batch_bytes=max_batch_bytes,
        base_bytes=base,
        text_overhead=one - base - json_size(""),
    )


# --- merge ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ranking:
    """A whole job's result over the caller's documents.

    ``results`` are the kept documents, best first (ties in input order), at most ``top_n``;
    ``scores`` holds every score the servers returned, by input position (``None`` for a document
    a server left out under ``top_n``); ``total_tokens`` sums the batches' reported usage (``None``
    when any batch reported none).
    """

    results: tuple[RerankResult, ...]
    scores: tuple[float | None, ...]
    total_tokens: int | None = None


def merge_answers(
    batches: Sequence[Batch], answers: Sequence[BatchAnswer], *, total: int, top_n: int | None
) -> Ranking:
    """Fold the batches' answers into one ranking of ``total`` documents.

    Batch-local indexes are mapped back to input positions; a position scored twice, or fewer
    scores than the ranking needs (every document, or ``top_n`` of them), raise HFResponseError.
    """
    if len(batches) != len(answers):
        raise HFResponseError(
            f"{len(answers)} rerank answer(s) for {len(batches)} batch(es): nothing is returned."
        )
    scores: list[float | None] = [None] * total
    merged: list[RerankResult] = []
    for batch, answer in zip(batches, answers, strict=True):
        for result in answer.results:
            if not 0 <= result.index < len(batch):
                raise HFResponseError(
                    f"a rerank result has index {result.index} in a batch of {len(batch)}: "
                    "nothing is returned."
                )
            position = batch.indices[result.index]
            if not 0 <= position < total or scores[position] is not None:
                raise HFResponseError(
                    f"document {position} was scored twice or lies outside the {total} "
                    "documents: nothing is returned."
                )
            scores[position] = result.score
            merged.append(RerankResult(position, result.score))
    wanted = total if top_n is None else min(top_n, total)
    if len(merged) < wanted:
        raise HFResponseError(
            f"the rerank answers scored {len(merged)} of {total} document(s), {wanted} were "
            "needed: nothing is returned."
        )
    merged.sort(key=lambda result: (-result.score, result.index))
    kept = merged if top_n is None else merged[:top_n]
    tokens = [answer.total_tokens for answer in answers]
    total_tokens = None if None in tokens else sum(t or 0 for t in tokens)
    return Ranking(tuple(kept), tuple(scores), total_tokens)


# --- the job -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RerankJob:
    """One rerank call, validated: build it with :meth:`create`."""

    query: str
    documents: tuple[str, ...]
    params: RerankParams

    @classmethod
    def create(
        cls, query: Any, documents: Any, *, fmt: RerankFormat, params: RerankParams
    ) -> RerankJob:
        """Check the query, the documents and the parameters for ``fmt``; HFConfigError if bad.

        ``params`` comes from :meth:`RerankParams.create` (which checks each value); here they are
        checked against what ``fmt`` can send.
        """
        checked_query = check_query(query)
        checked = check_documents(documents)
        check_params(fmt, params)
        return cls(checked_query, tuple(checked), params)

    def plan(
        self,
        fmt: RerankFormat,
        *,
        model: str = "",
        batch_size: int = RERANK_BATCH_SIZE,
        max_batch_bytes: int = RERANK_MAX_BATCH_BYTES,
    ) -> list[Batch]:
        """The batches of this job for ``fmt`` (see :func:`plan_rerank`)."""
        return plan_rerank(
            self.query,
            self.documents,
            fmt=fmt,
            params=self.params,
            model=model,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
        )

    def request(self, batch: Batch) -> RerankBatchRequest:
        """The request that carries ``batch``."""
        return RerankBatchRequest(self.query, batch.texts, self.params)

    def merge(self, batches: Sequence[Batch], answers: Sequence[BatchAnswer]) -> Ranking:
        """The job's ranking from its batches' answers (see :func:`merge_answers`)."""
        return merge_answers(batches, answers, total=len(self.documents), top_n=self.params.top_n)
