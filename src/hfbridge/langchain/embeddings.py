"""LangChain ``Embeddings`` backed by Hugging Face: hf-inference, providers, or your own server.

A thin pydantic shell over :class:`hfbridge.inference.embeddings.EmbeddingService`, which does
the routing, batching (by count and bytes), bounded concurrency, ordering and error handling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field

from hfbridge._constants import EMBED_BATCH_SIZE
from hfbridge.inference.settings import EmbeddingSettings, ServiceHolder, model_field
from hfbridge.langchain._base import LangChainSerialisation

if TYPE_CHECKING:
    from hfbridge.inference.connection import Connection
    from hfbridge.inference.embeddings import EmbeddingService

__all__ = ["HFEmbeddings"]


if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[EmbeddingService]
else:
    _Holder = ServiceHolder


class HFEmbeddings(_Holder, EmbeddingSettings, LangChainSerialisation, Embeddings):
    """Hugging Face embeddings for LangChain.

    Backends: with no ``base_url``, ``model`` (an id, ``id:provider``, or the ``default``,
    ``large``, ``small`` aliases) runs on hf-inference feature-extraction, or on the OpenAI-style
    route of a pinned ``together``, ``scaleway`` or ``deepinfra``. With ``base_url``, requests go
    to ``{base_url}/embeddings`` (TEI, vLLM, llama.cpp), or to ``base_url`` itself with
    ``api="feature-extraction"`` (e.g. TEI ``http://host:8080/embed``).

    Texts are sent in batches of at most ``batch_size`` texts and ``max_batch_bytes`` body bytes,
    as many at a time as the server's rate limit allows (found by the transport's limiter, at most
    ``max_concurrency``); 429s are retried until ``job_timeout``. The result has one vector per
    text, in order, or the call raises (:class:`~hfbridge.errors.HFBatchError` names the texts
    that failed). Options a route
    does not support raise :class:`~hfbridge.errors.HFConfigError` at construction.

    Example:
        .. code-block:: python

            from hfbridge.langchain import HFEmbeddings

            embeddings = HFEmbeddings(model="intfloat/multilingual-e5-small")
            vectors = embeddings.embed_documents(["first text", "second text"])
            local = HFEmbeddings(base_url="http://127.0.0.1:8080/v1", model="e5-small")
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    # The connection and embedding settings are declared once for every adapter
    # (hfbridge.inference.settings); these are LangChain's own spellings.
    model: str = model_field("default")
    batch_size: int = Field(default=EMBED_BATCH_SIZE, description="Texts per request, at most.")
    document_instruction: str | None = Field(
        default=None, description="Prefix for documents; None: the model family's; '': none."
    )
    show_progress: bool | None = Field(
        default=None, description="tqdm bar; None: for long jobs with a terminal or notebook."
    )

    def build_service(self, connection: Connection) -> EmbeddingService:
        """The framework-free engine behind this model."""
        # Imported on first use: the embeddings engine is not part of importing the adapter.
        from hfbridge.inference.embeddings import EmbeddingService  # noqa: PLC0415

        return EmbeddingService(
            model=self.model, batch_size=self.batch_size,
            document_instruction=self.document_instruction, show_progress=self.show_progress,
            connection=connection, **self.embedding_args(),
        )  # fmt: skip

    @property
    def model_id(self) -> str:
        """The resolved model id (aliases expanded)."""
        return self.service.model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (the model family's document instruction is prepended)."""
        return self.service.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (the model family's query instruction is prepended)."""
        return self.service.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return await self.service.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await self.service.aembed_query(text)
