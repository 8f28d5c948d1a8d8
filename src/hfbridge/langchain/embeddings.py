"""LangChain ``Embeddings`` backed by Hugging Face: hf-inference, providers, or your own server.

A thin pydantic shell over :class:`hfbridge.inference.embeddings.EmbeddingService`, which does
the routing, batching (by count and bytes), bounded concurrency, ordering and error handling.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from hfbridge._constants import EMBED_BATCH_SIZE, EMBED_CONCURRENCY, EMBED_MAX_BATCH_BYTES
from hfbridge.errors import config_error_from
from hfbridge.inference.credentials import HeadersSetting, token_secret_name
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.transport import AsyncHFClient, HFClient

__all__ = ["HFEmbeddings"]


class HFEmbeddings(BaseModel, Embeddings):
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

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", protected_namespaces=(), validate_default=True
    )

    model: str = Field(default="default", description="Model id, id:provider, or alias.")
    base_url: str | None = Field(default=None, description="A self-hosted server's URL.")
    api: Literal["openai", "feature-extraction"] | None = Field(
        default=None, description="Body format for base_url (default: openai)."
    )
    provider_model_id: str | None = Field(
        default=None, description="The provider's own model id (provider routes only)."
    )
    token: SecretStr | None = Field(
        default=None, description="HF token; default: HF_TOKEN or the saved login."
    )
    bill_to: str | None = Field(default=None, description="Organization to bill (X-HF-Bill-To).")
    timeout: float | None = Field(default=None, description="Read timeout in seconds.")
    max_retries: int | None = Field(default=None, description="Retries per request.")
    default_headers: HeadersSetting = Field(
        default=None, description="Extra headers; credential ones are secrets."
    )
    aliases: dict[str, str] | None = Field(default=None, description="Alias overrides.")
    batch_size: int = Field(default=EMBED_BATCH_SIZE, description="Texts per request, at most.")
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
    document_instruction: str | None = Field(
        default=None, description="Prefix for documents; None: the model family's; '': none."
    )
    show_progress: bool | None = Field(
        default=None, description="tqdm bar; None: for long jobs with a terminal or notebook."
    )
    client: HFClient | None = Field(default=None, exclude=True, repr=False)
    async_client: AsyncHFClient | None = Field(default=None, exclude=True, repr=False)

    _service: EmbeddingService = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error_from(exc, "HFEmbeddings") from None
        # Built here, not in a validator, so HFConfigError reaches the caller as itself.
        self._service = self._build_service()

    def _build_service(self) -> EmbeddingService:
        return EmbeddingService(
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
            batch_size=self.batch_size,
            max_batch_bytes=self.max_batch_bytes,
            max_concurrency=self.max_concurrency,
            job_timeout=self.job_timeout,
            query_instruction=self.query_instruction,
            document_instruction=self.document_instruction,
            show_progress=self.show_progress,
            client=self.client,
            async_client=self.async_client,
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
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
        # pickle; unpickling rebuilds the engine, finding the token as usual (HF_TOKEN, login).
        state: dict[Any, Any] = super().__getstate__()
        dropped = {"token": None, "client": None, "async_client": None}
        return {**state, "__dict__": {**state["__dict__"], **dropped}, "__pydantic_private__": {}}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._service = self._build_service()

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Constructor arguments that hold secrets, and the environment variable for each.

        ``HF_TOKEN`` for Hugging Face; ``HFBRIDGE_BASE_URL_TOKEN`` for a self-hosted ``base_url``.
        """
        return {"token": token_secret_name(self.base_url)}

    @property
    def service(self) -> EmbeddingService:
        """The framework-free engine behind this model."""
        return self._service

    @property
    def model_id(self) -> str:
        """The resolved model id (aliases expanded)."""
        return self._service.model_id

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (the model family's document instruction is prepended)."""
        return self._service.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (the model family's query instruction is prepended)."""
        return self._service.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`."""
        return await self._service.aembed_documents(texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await self._service.aembed_query(text)
