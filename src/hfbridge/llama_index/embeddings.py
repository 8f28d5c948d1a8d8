"""LlamaIndex ``BaseEmbedding`` backed by Hugging Face: hf-inference, providers, or your own server.

The same engine as the LangChain adapter (:class:`hfbridge.inference.embeddings.EmbeddingService`).
LlamaIndex's own batch loop cuts the input into ``embed_batch_size`` chunks and embeds them one
chunk at a time (sync) or all at once (async). Here ``get_text_embedding_batch`` and its async twin
hand the whole list to the engine instead, which batches by ``embed_batch_size`` *and*
``max_batch_bytes``, runs as many requests at once as the rate limit allows (at most
``max_concurrency``), retries 429s until ``job_timeout``, and reports failures by position in the
whole list. With an ``embeddings_cache`` or a ``rate_limiter`` set, LlamaIndex's loop is kept
(it owns those features) and each chunk still goes through the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)
from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

from hfbridge._constants import EMBED_BATCH_SIZE
from hfbridge.inference.settings import EmbeddingSettings, ServiceHolder, model_field

if TYPE_CHECKING:
    from hfbridge.inference.connection import Connection
    from hfbridge.inference.embeddings import EmbeddingService

__all__ = ["HFEmbedding"]

dispatcher = get_dispatcher(__name__)


if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[EmbeddingService]
else:
    _Holder = ServiceHolder


class HFEmbedding(_Holder, EmbeddingSettings, BaseEmbedding):
    """Hugging Face embeddings for LlamaIndex.

    Backends: with no ``base_url``, ``model`` (an id, ``id:provider``, or the ``default``,
    ``large``, ``small`` aliases; ``model_name=`` is accepted too) runs on hf-inference
    feature-extraction, or on the OpenAI-style route of a pinned ``together``, ``scaleway`` or
    ``deepinfra``. With ``base_url``, requests go to ``{base_url}/embeddings`` (TEI, vLLM,
    llama.cpp), or to ``base_url`` itself with ``api="feature-extraction"``.

    ``query_instruction`` / ``text_instruction`` default to the model family's prefixes (E5
    ``query: `` / ``passage: ``, BGE, nomic, ...); pass ``""`` for none. ``model_name`` is set to
    the resolved model id.

    Example:
        .. code-block:: python

            from llama_index.core import Settings
            from hfbridge.llama_index import HFEmbedding

            Settings.embed_model = HFEmbedding(model="BAAI/bge-small-en-v1.5")
    """

    # The connection and embedding settings are declared once for every adapter
    # (hfbridge.inference.settings); these are LlamaIndex's own spellings.
    model: str = model_field("default")
    embed_batch_size: int = Field(
        default=EMBED_BATCH_SIZE, gt=0, le=2048, description="Texts per request, at most."
    )
    text_instruction: str | None = Field(
        default=None, description="Prefix for texts; None: the model family's; '': none."
    )

    framework_fields = frozenset(BaseEmbedding.model_fields) - {"embed_batch_size"}

    def build_service(self, connection: Connection) -> EmbeddingService:
        """The framework-free engine behind this model (``model_name`` follows its model)."""
        # Imported on first use: the embeddings engine is not part of importing the adapter.
        from hfbridge.inference.embeddings import EmbeddingService  # noqa: PLC0415

        service = EmbeddingService(
            model=self.model, batch_size=self.embed_batch_size,
            document_instruction=self.text_instruction, connection=connection,
            **self.embedding_args(),
        )  # fmt: skip
        self.__dict__["model_name"] = service.model_id
        return service

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex records for this component."""
        return "HFEmbedding"

    # --- the methods BaseEmbedding calls ---

    def _get_query_embedding(self, query: str) -> Embedding:
        return self.service.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self.service.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self.service.embed_documents([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self.service.aembed_documents([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self.service.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self.service.aembed_documents(texts)

    # --- whole-list batching ---

    def _engine_owns_batching(self) -> bool:
        return self.embeddings_cache is None and self.rate_limiter is None

    @contextlib.contextmanager
    def _job_events(self, texts: list[str]) -> Iterator[list[Embedding]]:
        """LlamaIndex's start and end events around one job (its embeddings go in the list)."""
        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        embeddings: list[Embedding] = []
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}
        ) as event:
            yield embeddings
            event.on_end(payload={EventPayload.CHUNKS: texts, EventPayload.EMBEDDINGS: embeddings})
        # Validating the event would copy every vector (20,000 x 384 floats: 0.2-0.5 s and
        # ~100 MiB here) to hand observers what they get anyway: the job's checked vectors.
        dispatcher.event(EmbeddingEndEvent.model_construct(chunks=texts, embeddings=embeddings))

    @dispatcher.span
    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Embed ``texts`` in one engine job (batched by count and bytes, concurrent, in order)."""
        if not self._engine_owns_batching():
            return super().get_text_embedding_batch(texts, show_progress, **kwargs)
        if not texts:
            return []
        with self._job_events(texts) as embeddings:
            shown = show_progress or None  # False: LlamaIndex's default, not a refusal
            embeddings.extend(self.service.embed_documents(texts, show_progress=shown))
        return embeddings

    @dispatcher.span
    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Async :meth:`get_text_embedding_batch`."""
        if not self._engine_owns_batching():
            return await super().aget_text_embedding_batch(texts, show_progress, **kwargs)
        if not texts:
            return []
        with self._job_events(texts) as embeddings:
            embeddings.extend(
                await self.service.aembed_documents(texts, show_progress=show_progress or None)
            )
        return embeddings
