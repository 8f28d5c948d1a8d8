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

from typing import Any, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr, ValidationError
from llama_index.core.callbacks.schema import CBEventType, EventPayload
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)
from llama_index_instrumentation import get_dispatcher  # what llama_index.core re-exports

from hfbridge._constants import EMBED_BATCH_SIZE, EMBED_CONCURRENCY, EMBED_MAX_BATCH_BYTES
from hfbridge.errors import config_error_from
from hfbridge.inference.credentials import HeadersSetting
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.transport import AsyncHFClient, HFClient

__all__ = ["HFEmbedding"]

dispatcher = get_dispatcher(__name__)


class HFEmbedding(BaseEmbedding):
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

    model: str = Field(default="default", description="Model id, id:provider, or alias.")
    embed_batch_size: int = Field(
        default=EMBED_BATCH_SIZE, gt=0, le=2048, description="Texts per request, at most."
    )
    base_url: str | None = Field(default=None, description="A self-hosted server's URL.")
    api: Literal["openai", "feature-extraction"] | None = Field(
        default=None, description="Body format for base_url (default: openai)."
    )
    provider_model_id: str | None = Field(
        default=None, description="The provider's own model id (provider routes only)."
    )
    token: SecretStr | None = Field(
        default=None, exclude=True, description="HF token; default: HF_TOKEN or the saved login."
    )
    bill_to: str | None = Field(default=None, description="Organization to bill (X-HF-Bill-To).")
    timeout: float | None = Field(default=None, description="Read timeout in seconds.")
    max_retries: int | None = Field(default=None, description="Retries per request.")
    default_headers: HeadersSetting = Field(
        default=None, description="Extra headers; credential ones are secrets."
    )
    aliases: dict[str, str] | None = Field(default=None, description="Alias overrides.")
    max_batch_bytes: int = Field(
        default=EMBED_MAX_BATCH_BYTES, description="Request body bytes, at most."
    )
    max_concurrency: int = Field(
        default=EMBED_CONCURRENCY,
        description="Most requests in flight (a ceiling: the limiter adapts below it).",
    )
    job_timeout: float | None = Field(
        default=None, description="Seconds one call may take, 429s retried until then (1800)."
    )
    normalize: bool | None = Field(default=None, description="L2-normalise (feature-extraction).")
    truncate: bool | None = Field(default=None, description="Truncate long inputs.")
    truncation_direction: Literal["left", "right"] | None = Field(default=None)
    prompt_name: str | None = Field(default=None, description="Server-side prompt to apply.")
    dimensions: int | None = Field(default=None, description="Output dimensions, if supported.")
    encoding_format: Literal["float", "base64"] | None = Field(
        default=None, description="Wire format of vectors (OpenAI-style routes)."
    )
    query_instruction: str | None = Field(
        default=None, description="Prefix for queries; None: the model family's; '': none."
    )
    text_instruction: str | None = Field(
        default=None, description="Prefix for texts; None: the model family's; '': none."
    )
    client: HFClient | None = Field(default=None, exclude=True, repr=False)
    async_client: AsyncHFClient | None = Field(default=None, exclude=True, repr=False)

    _service: EmbeddingService = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        if "model_name" in data and "model" not in data:
            data["model"] = data.pop("model_name")
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error_from(exc, "HFEmbedding") from None
        # Built here, not in a validator, so HFConfigError reaches the caller as itself.
        self._service = self._build_service()

    def _build_service(self) -> EmbeddingService:
        service = EmbeddingService(
            model=self.model,
            base_url=self.base_url,
            api=self.api,
            provider_model_id=self.provider_model_id,
            token=self.token.get_secret_value() if self.token is not None else None,
            bill_to=self.bill_to,
            timeout=self.timeout,
            max_retries=self.max_retries,
            headers=self.default_headers,
            aliases=self.aliases,
            normalize=self.normalize,
            truncate=self.truncate,
            truncation_direction=self.truncation_direction,
            prompt_name=self.prompt_name,
            dimensions=self.dimensions,
            encoding_format=self.encoding_format,
            batch_size=self.embed_batch_size,
            max_batch_bytes=self.max_batch_bytes,
            max_concurrency=self.max_concurrency,
            job_timeout=self.job_timeout,
            query_instruction=self.query_instruction,
            document_instruction=self.text_instruction,
            client=self.client,
            async_client=self.async_client,
        )
        self.__dict__["model_name"] = service.model_id
        return service

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _SERVICE_FIELDS:
            super().__setattr__(name, value)
            return
        # A changed setting rebuilds the engine at once, so a bad value fails here (and is undone).
        previous = getattr(self, name)
        super().__setattr__(name, value)
        try:
            self._service = self._build_service()
        except BaseException:
            super().__setattr__(name, previous)
            raise

    def __getstate__(self) -> dict[Any, Any]:
        # The token, the clients and the engine (connection pools, locks) never travel in a
        # pickle; LlamaIndex unpickles by calling __init__ again, which rebuilds the engine and
        # finds the token as usual (HF_TOKEN, saved login).
        clone = self.model_copy()
        clone.__dict__.update(token=None, client=None, async_client=None)
        clone.__pydantic_private__ = {}
        state: dict[Any, Any] = super(HFEmbedding, clone).__getstate__()
        return state

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex records for this component."""
        return "HFEmbedding"

    @property
    def service(self) -> EmbeddingService:
        """The framework-free engine behind this model."""
        return self._service

    # --- the methods BaseEmbedding calls ---

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._service.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._service.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._service.embed_documents([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._service.aembed_documents([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._service.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._service.aembed_documents(texts)

    # --- whole-list batching ---

    def _engine_owns_batching(self) -> bool:
        return self.embeddings_cache is None and self.rate_limiter is None

    @dispatcher.span
    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        """Embed ``texts`` in one engine job (batched by count and bytes, concurrent, in order)."""
        if not self._engine_owns_batching():
            return super().get_text_embedding_batch(texts, show_progress, **kwargs)
        if not texts:
            return []
        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}
        ) as event:
            embeddings = self._service.embed_documents(texts, show_progress=show_progress or None)
            event.on_end(payload={EventPayload.CHUNKS: texts, EventPayload.EMBEDDINGS: embeddings})
        dispatcher.event(EmbeddingEndEvent(chunks=texts, embeddings=embeddings))
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
        model_dict = self.to_payload()
        dispatcher.event(EmbeddingStartEvent(model_dict=model_dict))
        with self.callback_manager.event(
            CBEventType.EMBEDDING, payload={EventPayload.SERIALIZED: model_dict}
        ) as event:
            embeddings = await self._service.aembed_documents(
                texts, show_progress=show_progress or None
            )
            event.on_end(payload={EventPayload.CHUNKS: texts, EventPayload.EMBEDDINGS: embeddings})
        dispatcher.event(EmbeddingEndEvent(chunks=texts, embeddings=embeddings))
        return embeddings


# Settings the engine is built from: ours plus embed_batch_size (not callback_manager & co).
_SERVICE_FIELDS = frozenset(HFEmbedding.model_fields) - (
    frozenset(BaseEmbedding.model_fields) - {"embed_batch_size"}
)
