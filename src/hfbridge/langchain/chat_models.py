"""``ChatHF``: a LangChain chat model backed by Hugging Face inference.

It sends through :class:`~hfbridge.inference.chat.ChatService`: the Inference Providers router
(with capability-aware routing when tools or a JSON schema are needed) or any self-hosted
OpenAI-compatible endpoint (TGI, vLLM, llama.cpp) given by ``base_url``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, ValidationError
from typing_extensions import Self

from hfbridge._constants import LEGACY_TOKEN_ENV, TEXTGEN_BATCH_CONCURRENCY, TOKEN_ENV
from hfbridge.errors import HFConfigError, config_error_from
from hfbridge.inference.chat import CallOptions, ChatService
from hfbridge.inference.credentials import HeadersSetting, token_secret_name
from hfbridge.langchain._convert import (
    MODEL_PROVIDER,
    delta_to_chunk,
    final_chunk,
    messages_to_wire,
    stop_list,
    to_chat_result,
    tool_params,
)
from hfbridge.langchain._secrets import dump_credentials
from hfbridge.langchain._structured import structured_runnable
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, RetryPolicy
from hfbridge.transport.config import validate_base_url, validate_timeout
from hfbridge.transport.jobs import bulk_job, validate_job_timeout
from hfbridge.wire.chat import build_chat_payload
from hfbridge.wire.params import check_params

SAMPLING_FIELDS: tuple[str, ...] = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "n",
    "reasoning_effort",
)
"""Instance fields sent in the request body when set (per-call keyword arguments win)."""

RESERVED_BODY_KEYS = frozenset({"model", "messages", "stream"})
"""Body keys ChatHF owns; ``model_kwargs`` / ``extra_body`` may not set them."""

CALL_OPTION_KEYS = ("timeout", "max_retries", "extra_headers", "stream_idle_timeout")
"""Per-call keyword arguments that shape the HTTP call rather than the body."""

_PROBE = ({"role": "user", "content": "."},)
_MISSING: Any = object()
_IGNORED_CALL_KEYS = frozenset({"stream", "ls_structured_output_format"})
_OPTION_KEYS = frozenset(CALL_OPTION_KEYS)
_LS_CALL_KEYS = frozenset({"model", "temperature", "max_tokens", "max_new_tokens", "stop"})


class ChatHF(BaseChatModel):
    """Chat with any Hugging Face model: a drop-in for ``ChatOpenAI`` / ``ChatHuggingFace``.

    Example:
        .. code-block:: python

            from hfbridge.langchain import ChatHF

            llm = ChatHF(model="meta-llama/Llama-3.1-8B-Instruct:cheapest", max_tokens=256)
            llm.invoke("Say hi")
            local = ChatHF(model="qwen", base_url="http://127.0.0.1:8080/v1")

    ``model`` is a model id, ``model:provider``, ``model:fastest|cheapest|preferred`` or an alias
    (``default``, ``large``, ``small``, ``agent``). ``token`` defaults to ``HF_TOKEN`` (or the
    token file) and goes to Hugging Face hosts only unless passed explicitly. Settings are checked
    at construction: a bad value raises :class:`~hfbridge.errors.HFConfigError` before any
    request. Retries happen in the transport (``max_retries``), never here.
    """

    model: str | None = Field(default=None, alias="model_name")
    """Model id, ``model:provider``, ``model:policy`` or alias; ``None`` means ``default``."""
    base_url: str | None = None
    """A self-hosted OpenAI-compatible root (``.../v1``); ``None`` uses the router."""
    token: SecretStr | None = Field(
        default_factory=secret_from_env([TOKEN_ENV, LEGACY_TOKEN_ENV], default=None),
        alias="api_key",
    )
    """Hugging Face token (``api_key`` accepted); read from ``HF_TOKEN`` when not given."""
    bill_to: str | None = None
    """Organisation billed for router calls (``X-HF-Bill-To``)."""
    timeout: float | None = None
    """Seconds to wait for the answer's headers, and for any silence in a body (default 120)."""
    stream_idle_timeout: float | None = None
    """Seconds a stream may go without an event (keep-alive comments do not count); default:
    ``timeout``. Per call too: ``stream(..., stream_idle_timeout=...)``."""
    max_retries: int | None = None
    """Retries after the first attempt, done by the transport (default 2)."""
    default_headers: HeadersSetting = None
    """Headers sent with every request. Credential headers (``Authorization``, ``x-api-key``, ...)
    are secrets: masked in ``repr`` and dumps, left out of pickles, sent where a token may go."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields (provider-specific parameters)."""
    extra_body: dict[str, Any] | None = None
    """More body fields, merged after ``model_kwargs``."""
    aliases: dict[str, str] | None = None
    """Per-instance alias overrides, e.g. ``{"default": "Qwen/Qwen2.5-7B-Instruct"}``."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, alias="max_new_tokens")
    """Most tokens to generate (``max_new_tokens`` accepted)."""
    seed: int | None = None
    stop: list[str] | str | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    n: int | None = None
    """Choices per prompt, where the provider supports it."""
    reasoning_effort: str | None = None

    streaming: bool = False
    """Stream under ``invoke`` too (callbacks then see every token)."""
    stream_usage: bool = True
    """Ask for usage in streams (``stream_options.include_usage``)."""
    job_timeout: float | None = None
    """Seconds one ``batch``/``abatch`` call may take; 429s are retried until then (1800)."""

    client: HFClient | None = Field(default=None, exclude=True)
    """An ``HFClient`` to send through, with its own settings (token, headers); not serialised."""
    async_client: AsyncHFClient | None = Field(default=None, exclude=True)
    """An ``AsyncHFClient`` to send through; not serialised."""
    transport: Any = Field(default=None, exclude=True)
    """An httpx transport for both clients built from these settings (e.g. ``MockTransport``)."""
    catalog: Any = Field(default=None, exclude=True)
    """The catalog used for routing (default: the process-wide one); not serialised."""

    _services: dict[tuple[Any, ...], ChatService] = PrivateAttr(default_factory=dict)
    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)
    """Values derived from the settings, built on first use and dropped when a setting changes
    (LangChain asks for some of them several times per call)."""

    model_config = ConfigDict(populate_by_name=True)

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _accepted_arguments())
        if unknown:
            raise HFConfigError(
                f"ChatHF got unknown argument(s) {unknown}: pass provider-specific body fields in "
                "model_kwargs={...} or extra_body={...}."
            )
        check_params(kwargs)  # the values as given: pydantic would turn True into 1
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise config_error_from(exc, "ChatHF") from None
        self._check_settings()

    # --- settings -------------------------------------------------------------------------------

    def _check_settings(self) -> None:
        """Raise :class:`HFConfigError` for a setting no request could succeed with."""
        if self.base_url is not None:
            validate_base_url(self.base_url)
        self.model_id  # noqa: B018 - resolving the model raises on a bad id or unknown alias
        if self.timeout is not None:
            validate_timeout(self.timeout)
        if self.stream_idle_timeout is not None:
            validate_timeout(self.stream_idle_timeout, what="stream_idle_timeout")
        if self.max_retries is not None:
            RetryPolicy(max_retries=self.max_retries)
        if self.job_timeout is not None:
            validate_job_timeout(self.job_timeout)
        for name, extra in (("model_kwargs", self.model_kwargs), ("extra_body", self.extra_body)):
            clash = sorted(RESERVED_BODY_KEYS & set(extra or {}))
            if clash:
                raise HFConfigError(
                    f"{name} may not set {clash}: use the model argument and invoke/stream instead."
                )
        build_chat_payload(None, _PROBE, params=self._default_params)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in _field_names():
            self._memo = {}  # a new dict: a copy of this model may still share the old one

    def __copy__(self) -> Self:
        copied = super().__copy__()
        copied._memo = {}  # noqa: SLF001 - model_copy(update=...) skips __setattr__
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        copied = super().__deepcopy__(memo)
        # Caches, not settings: the copy builds its own services from its (copied) settings.
        copied._memo = {}  # noqa: SLF001 - as in __copy__
        copied._services = {}  # noqa: SLF001
        return copied

    def _memoized(self, key: str, build: Callable[[], Any]) -> Any:
        memo = self._memo
        value = memo.get(key, _MISSING)
        if value is _MISSING:
            value = memo[key] = build()
        return value

    @property
    def _default_params(self) -> dict[str, Any]:
        return dict(self._memoized("default_params", self._sampling_values))

    def _sampling_values(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in SAMPLING_FIELDS}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def model_id(self) -> str:
        """The model string requests carry (aliases resolved once, by the cached service)."""
        model_id: str = self._memoized("model_id", self._resolved_model_id)
        return model_id

    def _resolved_model_id(self) -> str:
        spec = self.service().spec
        return spec.model_id if self.base_url is not None else spec.router_model

    def _service_key(self, model: str | None) -> tuple[Any, ...]:
        return (
            model or self.model, self.base_url, self.token, self._explicit_token, self.bill_to,
            self.timeout, self.max_retries, tuple(sorted((self.default_headers or {}).items())),
            tuple(sorted((self.aliases or {}).items())), id(self.client), id(self.async_client),
            id(self.transport), id(self.catalog),
        )  # fmt: skip

    @property
    def _explicit_token(self) -> bool:
        # A token read from the environment stays implicit so that the transport only sends it
        # to Hugging Face hosts, never to a self-hosted base_url.
        return "token" in self.model_fields_set and self.token is not None

    def service(self, model: str | None = None) -> ChatService:
        """The :class:`ChatService` this model sends through (built once per model, cached)."""
        if model is None:
            default: ChatService = self._memoized("service", self._find_service)
            return default
        return self._find_service(model)

    def _find_service(self, model: str | None = None) -> ChatService:
        key = self._service_key(model)
        cached = self._services.get(key)
        if cached is None:
            client, async_client = self.client, self.async_client
            if self.transport is not None:
                config = ClientConfig.create(**self._client_settings())
                client = client or HFClient(config, transport=self.transport)
                async_client = async_client or AsyncHFClient(config, transport=self.transport)
            cached = ChatService(
                model=model or self.model, aliases=self.aliases, client=client,
                async_client=async_client, catalog=self.catalog, **self._client_settings(),
            )  # fmt: skip
            self._services[key] = cached
        return cached

    def _client_settings(self) -> dict[str, Any]:
        token = self.token.get_secret_value() if self._explicit_token and self.token else None
        return {
            "token": token, "base_url": self.base_url, "bill_to": self.bill_to,
            "timeout": self.timeout, "max_retries": self.max_retries,
            "headers": self.default_headers,
        }  # fmt: skip

    def __getstate__(self) -> dict[Any, Any]:
        # pydantic pickles a SecretStr's value: the token never travels in a pickle, nor do the
        # cached services (connection pools). Unpickled, the model finds HF_TOKEN or the login.
        state: dict[Any, Any] = super().__getstate__()
        private = {**(state.get("__pydantic_private__") or {}), "_services": {}, "_memo": {}}
        dict_ = {**state["__dict__"], "token": None}
        return {**state, "__dict__": dict_, "__pydantic_private__": private}

    # --- LangChain metadata ---------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "hfbridge-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return dict(self._memoized("identifying_params", self._identity))

    def _identity(self) -> dict[str, Any]:
        return {"model": self.model_id, "base_url": self.base_url, **self._default_params}

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Serialised dumps name the token's env variable, never its value.

        ``HF_TOKEN`` for Hugging Face; ``HFBRIDGE_BASE_URL_TOKEN`` for a self-hosted ``base_url``.
        """
        return {"token": token_secret_name(self.base_url)}

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """The ``dumpd``/``dumps`` form: credentials as references (see ``langchain/_secrets``)."""
        dumped: SerializedConstructor | SerializedNotImplemented = dump_credentials(
            super().to_json(), base_url=self.base_url, explicit_token=self._explicit_token
        )
        return dumped

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """ChatHF can be dumped and loaded with ``langchain_core.load``."""
        return True

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        if stop is None and _LS_CALL_KEYS.isdisjoint(kwargs):
            # The common call: nothing overrides the instance; LangChain asks once per call.
            cached: LangSmithParams = self._memoized("ls_params", self._instance_ls_params)
            return cached.copy()
        return self._ls_params(stop, kwargs)

    def _instance_ls_params(self) -> LangSmithParams:
        return self._ls_params(None, {})

    def _ls_params(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=MODEL_PROVIDER,
            ls_model_name=str(kwargs.get("model") or self.model_id),
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_tokens))
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stops = stop_list(stop if stop is not None else kwargs.get("stop", self.stop))
        if stops:
            params["ls_stop"] = stops
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        # Only what holds without a network call: the catalog (asked lazily, per request) is the
        # source of truth for tool and structured-output support of a given model/provider.
        return ModelProfile(text_inputs=True, text_outputs=True)

    # --- requests -------------------------------------------------------------------------------

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> tuple[ChatService, list[dict[str, Any]], dict[str, Any], CallOptions, bool]:
        call = {key: value for key, value in kwargs.items() if key not in _IGNORED_CALL_KEYS}
        service = self.service(call.pop("model", None))
        if _OPTION_KEYS.isdisjoint(call):
            options = self._memoized("call_options", self._instance_call_options)
        else:
            timeout, max_retries, headers, idle = (call.pop(key, None) for key in CALL_OPTION_KEYS)
            options = CallOptions(
                timeout=timeout if timeout is not None else self.timeout,
                max_retries=max_retries if max_retries is not None else self.max_retries,
                headers=headers,
                stream_idle_timeout=idle if idle is not None else self.stream_idle_timeout,
            )
        include_usage = bool(call.pop("stream_usage", self.stream_usage))
        extra_body = call.pop("extra_body", None) or {}
        if "max_new_tokens" in call:
            call["max_tokens"] = call.pop("max_new_tokens")
        params = {
            **self._memoized("default_params", self._sampling_values), **self.model_kwargs,
            **(self.extra_body or {}), **call, **extra_body,
        }  # fmt: skip
        params["stop"] = stop_list(stop if stop is not None else params.get("stop"))
        if "tools" in params or "tool_choice" in params:
            tools, choice = params.pop("tools", None) or [], params.pop("tool_choice", None)
            params.update(tool_params(tools, choice))
        return service, messages_to_wire(messages), params, options, include_usage

    def _instance_call_options(self) -> CallOptions:
        return CallOptions(
            timeout=self.timeout,
            max_retries=self.max_retries,
            stream_idle_timeout=self.stream_idle_timeout,
        )

    # --- bulk ---------------------------------------------------------------------------------

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """LangChain's ``batch`` as one bulk job: 429s retried until ``job_timeout``.

        Every request waits its turn in the transport's limiter, which finds how many may be in
        flight; ``max_concurrency`` in the config (default 64, not LangChain's thread-pool
        default) is the ceiling.
        """
        with bulk_job(self.job_timeout):
            return super().batch(
                inputs, _with_ceiling(config), return_exceptions=return_exceptions, **kwargs
            )

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[AIMessage]:
        """Async :meth:`batch`."""
        with bulk_job(self.job_timeout):
            return await super().abatch(
                inputs, _with_ceiling(config), return_exceptions=return_exceptions, **kwargs
            )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002 - BaseChatModel fires callbacks
        **kwargs: Any,
    ) -> ChatResult:
        service, wire, params, options, _ = self._request(messages, stop, kwargs)
        return to_chat_result(service.complete(wire, params, options))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,  # noqa: ARG002 - as above
        **kwargs: Any,
    ) -> ChatResult:
        service, wire, params, options, _ = self._request(messages, stop, kwargs)
        return to_chat_result(await service.acomplete(wire, params, options))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,  # noqa: ARG002 - BaseChatModel fires on_llm_new_token once per chunk
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        service, wire, params, options, usage = self._request(messages, stop, kwargs)
        stream = service.stream(wire, params, options, include_usage=usage)
        for delta in stream:
            chunk = delta_to_chunk(delta)
            if chunk is not None:
                yield chunk
        yield final_chunk(stream.result())

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,  # noqa: ARG002 - as above
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        service, wire, params, options, usage = self._request(messages, stop, kwargs)
        stream = service.astream(wire, params, options, include_usage=usage)
        async for delta in stream:
            chunk = delta_to_chunk(delta)
            if chunk is not None:
                yield chunk
        yield final_chunk(stream.result())

    # --- tools and structured output ------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (Pydantic classes, functions, ``@tool`` objects or OpenAI dicts).

        Args:
            tools: the tools the model may call.
            tool_choice: ``"auto"``, ``"none"``, ``"required"`` (also ``"any"`` or ``True``), a
                tool's name, or ``{"type": "function", "function": {"name": ...}}``.
            strict: ask the provider to follow each tool's schema exactly.
            parallel_tool_calls: ``False`` asks for at most one call per turn.
            kwargs: more fields bound for every call.

        On the router, fails with :class:`~hfbridge.errors.HFCapabilityError` now (before any
        chat request) when the catalog says no provider of the model calls tools; when only
        some do, each call is routed to one that does.
        """
        params = tool_params(tools, tool_choice, strict=strict)
        if parallel_tool_calls is not None:
            params["parallel_tool_calls"] = parallel_tool_calls
        if params.get("tools") and params.get("tool_choice") != "none" and self.base_url is None:
            self.service(kwargs.get("model")).check_tools_supported()
        return self.bind(**params, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["json_schema", "function_calling", "json_mode"] | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """A runnable returning ``schema``-shaped output (a Pydantic instance or a dict).

        Args:
            schema: a Pydantic class, a TypedDict, or a JSON schema (may be ``None`` for
                ``json_mode``).
            method: ``json_schema`` (native ``response_format``), ``function_calling`` (a forced
                tool call) or ``json_mode``; ``None`` picks ``json_schema`` where the provider
                supports structured output (or it is unknown) and ``function_calling`` otherwise.
            include_raw: return ``{"raw": AIMessage, "parsed": ..., "parsing_error": ...}``
                instead of raising on a parsing error.
            strict: ask the provider to follow the schema exactly.
            kwargs: more fields bound for every call.
        """
        chosen = method or self.service(kwargs.get("model")).structured_output_method()
        return structured_runnable(
            self, schema, method=chosen, include_raw=include_raw, strict=strict,
            bind_kwargs=kwargs,
        )  # fmt: skip


@functools.cache
def _field_names() -> frozenset[str]:
    return frozenset(ChatHF.model_fields)


@functools.cache
def _accepted_arguments() -> frozenset[str]:
    fields = ChatHF.model_fields
    return frozenset(fields) | {field.alias for field in fields.values() if field.alias}


def _with_ceiling(
    config: RunnableConfig | list[RunnableConfig] | None,
) -> RunnableConfig | list[RunnableConfig]:
    """``config`` with hfbridge's ``max_concurrency`` ceiling where the caller set none."""
    if isinstance(config, list):
        return [_with_ceiling(item) for item in config]  # type: ignore[misc]
    chosen: RunnableConfig = {**(config or {})}
    chosen.setdefault("max_concurrency", TEXTGEN_BATCH_CONCURRENCY)
    return chosen
