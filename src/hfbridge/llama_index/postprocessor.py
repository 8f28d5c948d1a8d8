"""LlamaIndex ``BaseNodePostprocessor`` that reranks nodes on Hugging Face or your own server.

The same engine as the LangChain reranker (:class:`hfbridge.inference.rerank.RerankService`):
batches by count and bytes, the adaptive limiter, 413 halving, scores merged in the caller's
order. Unlike LlamaIndex's TEI postprocessor, any number of nodes works (not one request of all of
them), 429s are retried, and the async path is natively async (no thread).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

from hfbridge.errors import HFConfigError
from hfbridge.inference.settings import RerankSettings, ServiceHolder, model_field

if TYPE_CHECKING:
    from hfbridge.inference.connection import Connection
    from hfbridge.inference.rerank import RerankService
    from hfbridge.wire.rerank_job import Ranking

__all__ = ["RETRIEVAL_SCORE", "HFRerank"]

RETRIEVAL_SCORE = "retrieval_score"
"""The metadata key of a node's retrieval score when ``keep_retrieval_score`` is set."""

dispatcher = get_dispatcher(__name__)

if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[RerankService]
else:
    _Holder = ServiceHolder


class HFRerank(_Holder, RerankSettings, BaseNodePostprocessor):
    """Rerank retrieved nodes with a Hugging Face cross-encoder, for LlamaIndex.

    Backends as :class:`hfbridge.langchain.HFReranker`: hf-inference by model id or rerank alias
    (``default``, ``large``, ``small``), or with ``base_url`` a TEI (``api="tei"``, default) or
    Cohere-style (``api="cohere"``) server. The text of each node is
    ``node.get_content(metadata_mode=MetadataMode.EMBED)``, as LlamaIndex's own rerankers send it.

    Returns the best ``top_n`` nodes (``None``: all), best first, as new ``NodeWithScore`` values
    whose ``score`` is the reranker's; with ``keep_retrieval_score=True`` the retrieval score is
    kept in the node's ``metadata["retrieval_score"]`` (the node itself is shared with the input,
    as in LlamaIndex's rerankers). No nodes: no request, no nodes. A failure raises
    (:class:`~hfbridge.errors.HFBatchError`), never a partial ranking.

    Example:
        .. code-block:: python

            from hfbridge.llama_index import HFRerank

            rerank = HFRerank(base_url="http://127.0.0.1:8080", top_n=3)
            engine = index.as_query_engine(similarity_top_k=20, node_postprocessors=[rerank])
    """

    model: str | None = model_field(
        None, "Rerank model id or alias (None: 'default'; with base_url: left out of the body)."
    )
    keep_retrieval_score: bool = Field(
        default=False, description="Keep the retrieval score in metadata['retrieval_score']."
    )

    framework_fields = frozenset(BaseNodePostprocessor.model_fields) | {"keep_retrieval_score"}

    @classmethod
    def class_name(cls) -> str:
        """LlamaIndex's name of this component."""
        return "HFRerank"

    def build_service(self, connection: Connection) -> RerankService:
        """The framework-free engine behind this postprocessor."""
        from hfbridge.inference.rerank import RerankService  # noqa: PLC0415 - on first use

        return RerankService(model=self.model, connection=connection, **self.rerank_args())

    @property
    def model_id(self) -> str:
        """The resolved model id (aliases expanded; '' for a self-hosted server's only model)."""
        return self.service.model_id

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        with self._reported(query, nodes) as kept:
            kept.extend(self._kept(nodes, self.service.rerank(query, texts)))
        return kept

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query, texts = self._inputs(nodes, query_bundle)
        if not nodes:
            return []
        with self._reported(query, nodes) as kept:
            kept.extend(self._kept(nodes, await self.service.arerank(query, texts)))
        return kept

    @contextlib.contextmanager
    def _reported(self, query: str, nodes: list[NodeWithScore]) -> Iterator[list[NodeWithScore]]:
        """LlamaIndex's ReRank events and RERANKING callback around one rerank; the kept nodes."""
        model = self.service.model_id
        dispatcher.event(
            ReRankStartEvent(
                query=QueryBundle(query), nodes=nodes, top_n=self.top_n or len(nodes),
                model_name=model,
            )
        )  # fmt: skip
        payload: dict[str, Any] = {
            EventPayload.NODES: nodes, EventPayload.MODEL_NAME: model,
            EventPayload.QUERY_STR: query, EventPayload.TOP_K: self.top_n,
        }  # fmt: skip
        kept: list[NodeWithScore] = []
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            yield kept
            event.on_end(payload={EventPayload.NODES: kept})
        dispatcher.event(ReRankEndEvent(nodes=kept))

    # --- conversions ---

    @staticmethod
    def _inputs(
        nodes: list[NodeWithScore], query_bundle: QueryBundle | None
    ) -> tuple[str, list[Any]]:
        if query_bundle is None:
            raise HFConfigError(
                "HFRerank needs the query: call postprocess_nodes(nodes, query_str=...) or pass "
                "a QueryBundle (a query engine does)."
            )
        texts = [
            item.node.get_content(metadata_mode=MetadataMode.EMBED)
            if isinstance(item, NodeWithScore)
            else item
            for item in nodes
        ]
        return query_bundle.query_str, texts

    def _kept(self, nodes: list[NodeWithScore], ranking: Ranking) -> list[NodeWithScore]:
        kept = []
        for result in ranking.results:
            item = nodes[result.index]
            if self.keep_retrieval_score:
                item.node.metadata[RETRIEVAL_SCORE] = item.score
            kept.append(NodeWithScore(node=item.node, score=result.score))
        return kept
