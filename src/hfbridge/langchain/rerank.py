"""LangChain ``BaseDocumentCompressor`` that reranks documents on Hugging Face or your server.

A thin pydantic shell over :class:`hfbridge.inference.rerank.RerankService`, which picks the
route, batches (by count and bytes), sends under the adaptive limiter, halves batches the server
refuses as too large, and merges the scores back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict

from hfbridge.inference.settings import RerankSettings, ServiceHolder, model_field
from hfbridge.langchain._base import LangChainSerialisation

if TYPE_CHECKING:
    from hfbridge.inference.connection import Connection
    from hfbridge.inference.rerank import RerankService
    from hfbridge.wire.rerank_job import Ranking

__all__ = ["RELEVANCE_SCORE", "HFReranker"]

RELEVANCE_SCORE = "relevance_score"
"""The metadata key of each kept document's score (as LangChain's other rerankers name it)."""

if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[RerankService]
else:
    _Holder = ServiceHolder


class HFReranker(_Holder, RerankSettings, LangChainSerialisation, BaseDocumentCompressor):
    """Rerank retrieved documents with a Hugging Face cross-encoder, for LangChain.

    Backends: with no ``base_url``, ``model`` (an id, ``id:hf-inference``, or the rerank aliases
    ``default``, ``large``, ``small``) runs on hf-inference (``api="text-classification"`` of
    (query, document) pairs, or ``"text-ranking"``). With ``base_url``, requests go to TEI's
    ``POST /rerank`` (``api="tei"``, the default; llama-server too) or to ``POST /v1/rerank``
    (``api="cohere"``: vLLM, llama-server, Jina-style servers).

    :meth:`compress_documents` returns the best ``top_n`` documents (``None``: all), best first,
    each a copy with its score in ``metadata["relevance_score"]``; the input is not changed. Long
    lists are sent in batches (``batch_size`` documents, ``max_batch_bytes`` bytes) as many at a
    time as the server allows; a failure raises (:class:`~hfbridge.errors.HFBatchError` names the
    documents without a score): never a partial ranking. An empty list gives an empty list
    without a request; an empty query raises :class:`~hfbridge.errors.HFConfigError`.

    Example:
        .. code-block:: python

            from langchain_classic.retrievers import ContextualCompressionRetriever
            from hfbridge.langchain import HFReranker

            reranker = HFReranker(base_url="http://127.0.0.1:8080", top_n=3)
            retriever = ContextualCompressionRetriever(
                base_compressor=reranker, base_retriever=vectorstore.as_retriever(k=20)
            )
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    model: str | None = model_field(
        None, "Rerank model id or alias (None: 'default'; with base_url: left out of the body)."
    )

    def build_service(self, connection: Connection) -> RerankService:
        """The framework-free engine behind this reranker."""
        # Imported on first use: the rerank engine is not part of importing the adapter.
        from hfbridge.inference.rerank import RerankService  # noqa: PLC0415

        return RerankService(model=self.model, connection=connection, **self.rerank_args())

    @property
    def model_id(self) -> str:
        """The resolved model id (aliases expanded; '' for a self-hosted server's only model)."""
        return self.service.model_id

    def rerank(self, query: str, documents: Sequence[str]) -> list[tuple[int, float]]:
        """``(input position, score)`` of the best ``top_n`` of ``documents``, best first."""
        return [(r.index, r.score) for r in self.service.rerank(query, documents).results]

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The best ``top_n`` documents for ``query``, best first, scores in their metadata."""
        del callbacks  # the retriever reports the call; nothing of ours to add
        if not documents:
            return []
        ranking = self.service.rerank(query, _texts(documents))
        return _kept(documents, ranking)

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """Async :meth:`compress_documents` (natively async: no thread)."""
        del callbacks
        if not documents:
            return []
        ranking = await self.service.arerank(query, _texts(documents))
        return _kept(documents, ranking)


def _texts(documents: Sequence[Any]) -> list[Any]:
    """Each document's text (a non-Document is passed on, and refused by the service by index)."""
    return [doc.page_content if isinstance(doc, Document) else doc for doc in documents]


def _kept(documents: Sequence[Document], ranking: Ranking) -> list[Document]:
    kept = []
    for result in ranking.results:
        document = documents[result.index]
        metadata = {**document.metadata, RELEVANCE_SCORE: result.score}
        kept.append(document.model_copy(update={"metadata": metadata}))
    return kept
