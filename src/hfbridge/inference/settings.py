"""The settings every adapter inherits, declared once, and the one holder of its service.

Field sets (pydantic; LangChain's and LlamaIndex's models are pydantic v2 models, so both
frameworks inherit the same declarations):

- :class:`ConnectionSettings`: where requests go and how (``model``, ``base_url``, ``token``,
  ``bill_to``, ``timeout``, ``stream_idle_timeout``, ``max_retries``, ``default_headers``,
  ``aliases``, ``verify``, ``use_cache``, ``job_timeout``) and what is injected instead of being
  built (``client``, ``async_client``, ``transport``, ``catalog``). ``model_name`` is accepted for
  ``model`` and ``api_key`` for ``token``, in every adapter.
- :class:`EmbeddingSettings`: the options of an embeddings route, batching and instructions.
- :class:`RerankSettings`: the options of a rerank route (``top_n``, TEI's flags) and batching.
- :class:`ChatSettings`: the options of a chat model beyond its sampling parameters (which API
  it speaks: ``use_responses_api``).

The lifecycle, once for all adapters (:class:`ServiceHolder`):

- the service is built at construction, so a bad setting raises
  :class:`~hfbridge.errors.HFConfigError` there, before any request;
- it is built from a snapshot of the fields (:meth:`ServiceHolder.connection_args`, then
  :meth:`~hfbridge.inference.connection.Connection.create`), so a later change of a mutable value
  (a dict of headers) does not leak into it;
- assigning one of the adapter's own settings rebuilds it at once; a value it refuses raises there
  and the previous value is restored;
- copies (``copy``, ``deepcopy``, ``model_copy(update=...)``) build their own on first use;
- pickles never carry the token, the clients, the catalog or the service: they are rebuilt where
  the pickle is loaded, finding the token the usual way.

The token rule, one for all: a token passed by the user (``token=`` or ``api_key=``) is explicit,
and only an explicit token is sent to a self-hosted ``base_url``; without one, the field shows the
token the transport will use (``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, then the token file, by
:func:`~hfbridge.transport.auth.resolve_token`), which goes to Hugging Face hosts only.
"""

from __future__ import annotations

import copy
import functools
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
)

from hfbridge._constants import (
    EMBED_CONCURRENCY,
    EMBED_MAX_BATCH_BYTES,
    RERANK_BATCH_SIZE,
    RERANK_MAX_BATCH_BYTES,
)
from hfbridge.errors import config_error_from
from hfbridge.inference.connection import Connection, ConnectionArgs
from hfbridge.inference.credentials import HeadersSetting
from hfbridge.inference.service import CallOptions
from hfbridge.transport import AsyncHFClient, HFClient, Secret
from hfbridge.transport.auth import resolve_token
from hfbridge.transport.jobs import validate_job_timeout
from hfbridge.wire.params import RULES as SAMPLING_RULES
from hfbridge.wire.params import check_param, check_params

ServiceT = TypeVar("ServiceT")

CALL_OPTION_KEYS = ("timeout", "max_retries", "extra_headers", "stream_idle_timeout")
"""Per-call keyword arguments of every adapter that shape the HTTP call rather than the body."""
CALL_OPTION_KEYS_SET = frozenset(CALL_OPTION_KEYS)

_INJECTED = frozenset({"client", "async_client", "transport", "catalog"})
"""Settings that hold live objects: never serialised, never pickled."""


def implicit_token() -> SecretStr | None:
    """The token the transport finds without being given one (see the module docstring)."""
    secret, _ = resolve_token(None)
    return SecretStr(secret.get_secret_value()) if secret else None


def model_field(
    default: str | None, description: str = "Model id, model:provider, or alias."
) -> Any:
    """The ``model`` field (``model_name`` accepted), for adapters whose default differs."""
    return Field(
        default=default,
        validation_alias=AliasChoices("model", "model_name"),
        description=description,
    )


class ConnectionSettings(BaseModel):
    """Where requests go and how: the connection settings every adapter has."""

    # defer_build: a model's validators are built on its first instantiation, not at import, so
    # the mixins (never instantiated) cost nothing and an adapter costs only where it is used.
    model_config = ConfigDict(
        arbitrary_types_allowed=True, populate_by_name=True, protected_namespaces=(),
        defer_build=True,
    )  # fmt: skip

    model: str | None = model_field(None)
    base_url: str | None = Field(
        default=None, description="A self-hosted server's root; None: Hugging Face's router."
    )
    token: SecretStr | None = Field(
        default_factory=implicit_token,
        validation_alias=AliasChoices("token", "api_key"),
        exclude=True,
        description="Hugging Face token (api_key accepted); default: HF_TOKEN or the saved login.",
    )
    bill_to: str | None = Field(default=None, description="Organisation billed (X-HF-Bill-To).")
    timeout: float | None = Field(
        default=None,
        description="Seconds to wait for the answer's headers, and for any silence in a body "
        "(120).",
    )
    stream_idle_timeout: float | None = Field(
        default=None,
        description="Seconds a stream may go without an event (keep-alive comments do not "
        "count); None: timeout. Per call too: stream(..., stream_idle_timeout=...).",
    )
    max_retries: int | None = Field(default=None, description="Retries after the first try (2).")
    default_headers: HeadersSetting = Field(
        default=None,
        description="Headers sent with every request. Credential headers (Authorization, "
        "x-api-key, ...) are secrets: masked in repr and dumps, left out of pickles, sent where a "
        "token may go.",
    )
    aliases: dict[str, str] | None = Field(
        default=None, description="Alias overrides, e.g. {'default': 'org/name'}."
    )
    verify: bool | str | None = Field(
        default=None, description="TLS verification: False, or a CA bundle path; None: on."
    )
    use_cache: bool | None = Field(
        default=None, description="hf-inference's x-use-cache (None: the server's default)."
    )
    job_timeout: float | None = Field(
        default=None,
        description="Seconds one bulk call (batch, embed_documents) may take; 429s are retried "
        "until then (1800).",
    )
    client: HFClient | None = Field(default=None, exclude=True, repr=False)
    """An ``HFClient`` to send through, with its own settings; never serialised."""
    async_client: AsyncHFClient | None = Field(default=None, exclude=True, repr=False)
    """An ``AsyncHFClient`` to send through; never serialised."""
    transport: Any = Field(default=None, exclude=True, repr=False)
    """An httpx transport for the clients built from these settings (``MockTransport``)."""
    catalog: Any = Field(default=None, exclude=True, repr=False)
    """The catalog used for routing (default: the process-wide one); never serialised."""

    @field_validator("token", mode="before")
    @classmethod
    def _token_value(cls, value: Any) -> Any:
        return value.get_secret_value() if isinstance(value, Secret) else value

    @property
    def explicit_token(self) -> bool:
        """Whether the token was passed by the user (and may go to a self-hosted server)."""
        return "token" in self.model_fields_set and self.token is not None

    def pop_call_options(self, call: dict[str, Any]) -> CallOptions | None:
        """Take the call's transport keywords (:data:`CALL_OPTION_KEYS`) out of ``call``."""
        if CALL_OPTION_KEYS_SET.isdisjoint(call):
            return self.call_options()
        return self.call_options(*(call.pop(key, None) for key in CALL_OPTION_KEYS))

    def call_options(
        self,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        stream_idle_timeout: float | None = None,
    ) -> CallOptions | None:
        """One call's transport settings: the call's own, over the adapter's.

        The clients built from these settings carry ``timeout`` and ``max_retries`` already, so a
        call without its own needs none (``None``); an injected client has its own settings, which
        this adapter's still override for the calls it makes.
        """
        if self.client is not None or self.async_client is not None:
            timeout = self.timeout if timeout is None else timeout
            max_retries = self.max_retries if max_retries is None else max_retries
            stream_idle_timeout = (
                self.stream_idle_timeout if stream_idle_timeout is None else stream_idle_timeout
            )
        if (
            timeout is None
            and max_retries is None
            and headers is None
            and stream_idle_timeout is None
        ):
            return None
        return CallOptions(
            timeout=timeout, max_retries=max_retries, headers=headers,
            stream_idle_timeout=stream_idle_timeout,
        )  # fmt: skip

    def connection_args(self) -> ConnectionArgs:
        """A snapshot of the connection settings, as :meth:`Connection.create` takes them."""
        token = self.token.get_secret_value() if self.explicit_token and self.token else None
        headers = self.default_headers
        aliases = self.aliases
        return ConnectionArgs(
            token=token, base_url=self.base_url, bill_to=self.bill_to, timeout=self.timeout,
            max_retries=self.max_retries, headers=dict(headers) if headers else None,
            stream_idle_timeout=self.stream_idle_timeout,
            use_cache=self.use_cache, verify=True if self.verify is None else self.verify,
            client=self.client,
            async_client=self.async_client, transport=self.transport,
            aliases=dict(aliases) if aliases else None, catalog=self.catalog,
        )  # fmt: skip


class EmbeddingSettings(BaseModel):
    """The options of an embeddings route, its batching and its instructions."""

    model_config = ConfigDict(defer_build=True)

    api: Literal["openai", "feature-extraction"] | None = Field(
        default=None, description="Body format for base_url (default: openai)."
    )
    provider_model_id: str | None = Field(
        default=None, description="The provider's own model id (provider routes only)."
    )
    max_batch_bytes: int = Field(
        default=EMBED_MAX_BATCH_BYTES, description="Request body bytes, at most."
    )
    max_concurrency: int = Field(
        default=EMBED_CONCURRENCY,
        description="Most requests in flight (a ceiling: the limiter adapts below it).",
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

    def embedding_args(self) -> dict[str, Any]:
        """The route options, as :class:`~hfbridge.inference.embeddings.EmbeddingService` takes."""
        args = {name: getattr(self, name) for name in EmbeddingSettings.model_fields}
        args["job_timeout"] = getattr(self, "job_timeout", None)  # a connection setting
        return args


class RerankSettings(BaseModel):
    """The options of a rerank route and its batching (both rerank adapters declare them here).

    Values are checked by :class:`~hfbridge.inference.rerank.RerankService` when the adapter is
    built (:class:`~hfbridge.errors.HFConfigError`), before any request.
    """

    model_config = ConfigDict(defer_build=True)

    api: Literal["tei", "cohere", "text-ranking", "text-classification"] | None = Field(
        default=None,
        description="Wire format: with base_url 'tei' (default) or 'cohere'; on Hugging Face "
        "'text-classification' (default) or 'text-ranking'.",
    )
    top_n: int | None = Field(
        default=3, description="Keep the best top_n documents (None: all, best first)."
    )
    raw_scores: bool | None = Field(default=None, description="Logits instead of sigmoid (TEI).")
    truncate: bool | None = Field(default=None, description="Truncate long inputs (TEI).")
    truncation_direction: Literal["left", "right"] | None = Field(default=None)
    label: str | None = Field(
        default=None, description="The class meaning 'relevant' (multi-label text-classification)."
    )
    batch_size: int = Field(
        default=RERANK_BATCH_SIZE, description="Documents per request, at most."
    )
    max_batch_bytes: int = Field(
        default=RERANK_MAX_BATCH_BYTES, description="Request body bytes, at most."
    )
    max_concurrency: int = Field(
        default=EMBED_CONCURRENCY,
        description="Most requests in flight (a ceiling: the limiter adapts below it).",
    )
    show_progress: bool | None = Field(
        default=None, description="tqdm bar; None: for long jobs with a terminal or notebook."
    )

    def rerank_args(self) -> dict[str, Any]:
        """The route options, as :class:`~hfbridge.inference.rerank.RerankService` takes them."""
        args = {name: getattr(self, name) for name in RerankSettings.model_fields}
        args["job_timeout"] = getattr(self, "job_timeout", None)  # a connection setting
        return args


class ChatSettings(BaseModel):
    """The options every chat adapter (LangChain ``ChatHF``, LlamaIndex ``HFLLM``) shares."""

    model_config = ConfigDict(defer_build=True)

    use_responses_api: bool = Field(
        default=False,
        description="Call the OpenAI Responses API (POST /v1/responses) instead of chat "
        "completions: the router and llama.cpp's llama-server serve it (remote MCP tools, "
        "reasoning summaries); the answers read the same.",
    )


class ServiceHolder(ConnectionSettings, Generic[ServiceT]):
    """The lifecycle of an adapter's service (see the module docstring), for every adapter.

    A subclass implements :meth:`build_service` (and may extend :meth:`check_settings`); the
    settings are the fields it declares beyond its framework's base class.
    """

    framework_fields: ClassVar[frozenset[str]] = frozenset()
    """The framework base class's fields (callbacks, tags, ...): changing them rebuilds nothing."""
    checks_sampling: ClassVar[bool] = False
    """Whether the adapter has sampling settings (``temperature``, ``top_p``...): their values are
    judged as given by :mod:`hfbridge.wire.params`, at construction and on assignment, before
    pydantic converts them (``True`` would become ``1``)."""

    _held: Any = PrivateAttr(default=None)
    _memo: dict[Any, Any] = PrivateAttr(default_factory=dict)
    """Values derived from the settings, built on first use, dropped when a setting changes."""

    def __init__(self, /, **data: Any) -> None:
        if self.checks_sampling:
            check_params(data)
        try:
            super().__init__(**data)
        except ValidationError as exc:  # a value of the wrong type: one error type for bad input
            raise config_error_from(exc, type(self).__name__) from None
        self.check_settings()

    @classmethod
    def accepted_arguments(cls) -> frozenset[str]:
        """Every keyword the constructor takes: the field names and their other spellings."""
        return _accepted_arguments(cls)

    # --- what an adapter provides ---

    @abstractmethod
    def build_service(self, connection: Connection) -> ServiceT:
        """The service for these settings over ``connection``."""

    def check_settings(self) -> None:
        """Build the service (and what else a subclass checks): a bad setting raises here."""
        if self.job_timeout is not None:
            validate_job_timeout(self.job_timeout)
        self.service  # noqa: B018 - building it is the check

    # --- the lifecycle ---

    @property
    def service(self) -> ServiceT:
        """The framework-free service this adapter sends through (built once per settings)."""
        private = self.__pydantic_private__  # a slot: quicker than pydantic's private lookup
        held = private["_held"] if private else None
        if held is None:
            held = self.build_service(Connection.create(**self.connection_args()))
            self._held = held
        return cast("ServiceT", held)

    def memoized(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()``, computed once per settings (LangChain asks for some values per call)."""
        memo: dict[Any, Any] = self.__pydantic_private__["_memo"]  # type: ignore[index]
        try:
            return memo[key]
        except KeyError:
            value = memo[key] = build()
            return value

    def _forget(self) -> None:
        # New containers: a copy of this model may still share the old ones.
        self._held = None
        self._memo = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if self.checks_sampling and name in SAMPLING_RULES:
            check_param(name, value)
        if name not in _settings_of(type(self)):
            super().__setattr__(name, value)
            return
        previous = getattr(self, name)
        super().__setattr__(name, value)
        self._forget()
        try:
            self.check_settings()
        except BaseException:
            super().__setattr__(name, previous)
            self._forget()
            raise

    def __copy__(self) -> Any:
        copied = super().__copy__()
        copied._forget()  # noqa: SLF001 - model_copy(update=...) skips __setattr__
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        # Live objects are shared, not copied (a client's pool, a catalog's cache), and the
        # service is not copied at all (it holds locks): the copy builds its own.
        memo = {} if memo is None else memo
        for name in _INJECTED:
            value = getattr(self, name)
            memo[id(value)] = value
        private = self.__pydantic_private__
        object.__setattr__(self, "__pydantic_private__", {"_held": None, "_memo": {}})
        try:
            copied = super().__deepcopy__(memo)
        finally:
            object.__setattr__(self, "__pydantic_private__", private)
        return copied

    def __getstate__(self) -> dict[Any, Any]:
        # The token, live objects and the service stay behind (see the module docstring).
        clone = copy.copy(self)
        dropped = dict.fromkeys(_INJECTED)
        clone.__dict__.update(token=None, **dropped)
        state: dict[Any, Any] = super(ServiceHolder, clone).__getstate__()
        state["__pydantic_private__"] = {"_held": None, "_memo": {}}
        return state


@functools.cache
def _accepted_arguments(cls: type[ServiceHolder[Any]]) -> frozenset[str]:
    names = set(cls.model_fields)
    for field in cls.model_fields.values():
        if field.alias:
            names.add(field.alias)
        if isinstance(field.validation_alias, AliasChoices):
            choices = field.validation_alias.choices
            names.update(choice for choice in choices if isinstance(choice, str))
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
    return frozenset(names)


@functools.cache
def _settings_of(cls: type[ServiceHolder[Any]]) -> frozenset[str]:
    """The fields whose change rebuilds the service of ``cls``."""
    return frozenset(cls.model_fields) - cls.framework_fields
