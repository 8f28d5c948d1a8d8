"""``ChatHF``: a LangChain chat model backed by Hugging Face inference.

It sends through :class:`~hfbridge.inference.chat.ChatService`: the Inference Providers router
(with capability-aware routing when tools or a JSON schema are needed) or any self-hosted
OpenAI-compatible endpoint (TGI, vLLM, llama.cpp) given by ``base_url``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import (
    BaseChatModel,
    LangSmithParams,
    LanguageModelInput,
    ModelProfile,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from hfbridge._constants import TEXTGEN_BATCH_CONCURRENCY
from hfbridge.catalog.profile import check_profile
from hfbridge.errors import HFCapabilityError, HFConfigError
from hfbridge.inference.chat import CallOptions, ChatService
from hfbridge.inference.connection import Connection
from hfbridge.inference.settings import CALL_OPTION_KEYS_SET, ChatSettings, ServiceHolder
from hfbridge.langchain._base import LangChainSerialisation, ls_params, refuse_unknown
from hfbridge.langchain._convert import (
    delta_to_chunk,
    final_chunk,
    messages_to_wire,
    stop_list,
    to_chat_result,
    tool_params,
    tools_to_wire,
    v1_chunk,
)
from hfbridge.transport.jobs import bulk_job
from hfbridge.wire.chat import build_chat_payload

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig
    from langchain_core.tools import BaseTool

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

_PROBE = ({"role": "user", "content": "."},)
_IGNORED_CALL_KEYS = frozenset({"stream", "ls_structured_output_format"})
_LS_CALL_KEYS = frozenset({"model", "temperature", "max_tokens", "max_new_tokens", "stop"})


if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[ChatService]
else:
    _Holder = ServiceHolder


class ChatHF(_Holder, ChatSettings, LangChainSerialisation, BaseChatModel):
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

    # The connection settings (model, base_url, token, bill_to, timeout, max_retries,
    # default_headers, aliases, verify, use_cache, client, async_client, transport, catalog) are
    # ServiceHolder's, declared once for every adapter (hfbridge.inference.settings).
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra body fields (provider-specific parameters)."""
    extra_body: dict[str, Any] | None = None
    """More body fields, merged after ``model_kwargs``."""

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

    checks_sampling = True
    framework_fields = frozenset(BaseChatModel.model_fields)
    _profile_given: bool = PrivateAttr(default=False)
    """Whether ``profile=`` came from the user (then :meth:`refresh_profile` keeps it)."""

    def __init__(self, **kwargs: Any) -> None:
        refuse_unknown(
            ChatHF, kwargs,
            "pass provider-specific body fields in model_kwargs={...} or extra_body={...}.",
        )  # fmt: skip
        given = kwargs.get("profile")
        if given is not None:  # before pydantic, whose own check would not be an HFConfigError
            check_profile(given)
        super().__init__(**kwargs)
        self._profile_given = given is not None

    # --- settings -------------------------------------------------------------------------------

    def build_service(self, connection: Connection) -> ChatService:
        """The :class:`ChatService` this model sends through."""
        return ChatService(
            model=self.model, connection=connection, use_responses_api=self.use_responses_api
        )

    def check_settings(self) -> None:
        """Raise :class:`HFConfigError` for a setting no request could succeed with."""
        super().check_settings()
        for name, extra in (("model_kwargs", self.model_kwargs), ("extra_body", self.extra_body)):
            clash = sorted(RESERVED_BODY_KEYS & set(extra or {}))
            if clash:
                raise HFConfigError(
                    f"{name} may not set {clash}: use the model argument and invoke/stream instead."
                )
        build_chat_payload(None, _PROBE, params=self._default_params)

    def service_for(self, model: str | None) -> ChatService:
        """The service for another model (a per-call ``model=``), sharing the connection."""
        if model is None:
            return self.service
        service = self.memoized(("service", model), lambda: self.service.for_model(model))
        return cast("ChatService", service)

    @property
    def _default_params(self) -> dict[str, Any]:
        return dict(self.memoized("default_params", self._sampling_values))

    def _sampling_values(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in SAMPLING_FIELDS}
        return {name: value for name, value in values.items() if value is not None}

    @property
    def model_id(self) -> str:
        """The model string requests carry (aliases resolved once, by the service)."""
        return cast("str", self.memoized("model_id", self._resolved_model_id))

    def _resolved_model_id(self) -> str:
        spec = self.service.spec
        return spec.model_id if self.base_url is not None else spec.router_model

    # --- LangChain metadata ---------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "hfbridge-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return dict(self.memoized("identifying_params", self._identity))

    def _identity(self) -> dict[str, Any]:
        return {"model": self.model_id, "base_url": self.base_url, **self._default_params}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        if stop is None and _LS_CALL_KEYS.isdisjoint(kwargs):
            # The common call: nothing overrides the instance; LangChain asks once per call.
            cached: LangSmithParams = self.memoized("ls_params", self._instance_ls_params)
            return cached.copy()
        return self._ls_params(stop, kwargs)

    def _instance_ls_params(self) -> LangSmithParams:
        return self._ls_params(None, {})

    def _ls_params(self, stop: list[str] | None, kwargs: Mapping[str, Any]) -> LangSmithParams:
        return ls_params(
            str(kwargs.get("model") or self.model_id), "chat",
            kwargs.get("temperature", self.temperature),
            kwargs.get("max_tokens", kwargs.get("max_new_tokens", self.max_tokens)),
            stop_list(stop if stop is not None else kwargs.get("stop", self.stop)) or (),
        )  # fmt: skip

    def _resolve_model_profile(self) -> ModelProfile | None:
        # At construction, only what holds without a request; refresh_profile() asks the catalog
        # (router) or the server (base_url). The catalog still routes every call that needs a
        # capability, whatever the profile says.
        return ModelProfile(text_inputs=True, text_outputs=True)

    def refresh_profile(self) -> ModelProfile | None:
        """Resolve ``profile`` now, for the model and provider calls will use, and return it.

        Router models: from the catalog (tool calling, structured output, the smallest live
        provider's context window as ``max_input_tokens``, image inputs); a ``base_url``: from the
        server's ``/v1/models`` and ``/props`` (one bounded request each, once per server). What
        cannot be learnt stays absent (LangChain reads an absent key as unknown). A ``profile=``
        given by the user is kept as it is. ``create_agent`` and ``SummarizationMiddleware`` read
        ``model.profile``: call this before handing the model to them.
        """
        if not getattr(self, "_profile_given", False):
            self.profile = cast("ModelProfile", self.service.profile())
        return self.profile

    async def arefresh_profile(self) -> ModelProfile | None:
        """Async form of :meth:`refresh_profile` (asks without blocking the event loop)."""
        if not getattr(self, "_profile_given", False):
            self.profile = cast("ModelProfile", await self.service.aprofile())
        return self.profile

    # --- token counts ---------------------------------------------------------------------------

    def get_num_tokens_from_messages(
        self,
        messages: list[BaseMessage],
        tools: Sequence[Any] | None = None,
    ) -> int:
        """Tokens of ``messages`` (and ``tools``) as the next call's ``prompt_tokens``.

        A self-hosted llama.cpp, vLLM or TGI server counts them (chat template and tools
        applied); elsewhere (the router) the count is an estimate, about four characters a
        token, and a ``TokenEstimateWarning`` says so once. ``transformers`` is not needed.
        With ``custom_get_token_ids`` set, LangChain's own count with that encoder.
        """
        if self.custom_get_token_ids is not None:
            return super().get_num_tokens_from_messages(messages, tools)
        wire_tools = tools_to_wire(tools) if tools else None
        return self.service.count_tokens(messages_to_wire(messages), wire_tools)

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` as it is, counted like :meth:`get_num_tokens_from_messages`.

        Where a server counts, this is ``len(get_token_ids(text))`` (the same ``/tokenize``).
        """
        if self.custom_get_token_ids is not None:
            return len(self.custom_get_token_ids(text))
        return self.service.count_text_tokens(text)

    def get_token_ids(self, text: str) -> list[int]:
        """The token ids of ``text`` from the model's own tokenizer, never GPT-2's.

        ``custom_get_token_ids`` if set; else a self-hosted llama.cpp, vLLM or TGI server's
        ``/tokenize`` (the request :meth:`get_num_tokens` counts with). The router has no
        tokenizer and hfbridge downloads none: there, and from a server that does not tokenize,
        :class:`~hfbridge.errors.HFCapabilityError` says so before any guess is made.
        """
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        service = self.service
        ids = service.text_token_ids(text)
        if ids is None:
            where = (
                f"the server at {service.connection.base_url} did not tokenize it"
                if service.custom_endpoint
                else "the Hugging Face router has no tokenizer"
            )
            raise HFCapabilityError(
                f"token ids of {service.spec.model_id} cannot be given: {where}, and hfbridge "
                "does not download one (nor use GPT-2's, whose ids are another model's). Count "
                "with get_num_tokens (an estimate there), or pass custom_get_token_ids= your "
                "tokenizer's encode.",
                model=service.spec.model_id, provider=service.spec.provider,
                capability="token ids",
            )  # fmt: skip
        return ids

    # --- requests -------------------------------------------------------------------------------

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
    ) -> tuple[ChatService, list[dict[str, Any]], dict[str, Any], CallOptions | None, bool]:
        call = {key: value for key, value in kwargs.items() if key not in _IGNORED_CALL_KEYS}
        service = self.service_for(call.pop("model", None))
        if CALL_OPTION_KEYS_SET.isdisjoint(call):
            options = self.memoized("call_options", self.call_options)
        else:
            options = self.pop_call_options(call)
        include_usage = bool(call.pop("stream_usage", self.stream_usage))
        extra_body = call.pop("extra_body", None) or {}
        if "max_new_tokens" in call:
            call["max_tokens"] = call.pop("max_new_tokens")
        params = {
            **self.memoized("default_params", self._sampling_values), **self.model_kwargs,
            **(self.extra_body or {}), **call, **extra_body,
        }  # fmt: skip
        params["stop"] = stop_list(stop if stop is not None else params.get("stop"))
        if "tools" in params or "tool_choice" in params:
            tools, choice = params.pop("tools", None) or [], params.pop("tool_choice", None)
            params.update(tool_params(tools, choice))
        return service, messages_to_wire(messages), params, options, include_usage

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
        to_chunk = v1_chunk if self.output_version == "v1" else delta_to_chunk
        for delta in stream:
            chunk = to_chunk(delta)
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
        to_chunk = v1_chunk if self.output_version == "v1" else delta_to_chunk
        async for delta in stream:
            chunk = to_chunk(delta)
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
            self.service_for(kwargs.get("model")).check_tools_supported()
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
        chosen = method or self.service_for(kwargs.get("model")).structured_output_method()
        from hfbridge.langchain._structured import structured_runnable  # noqa: PLC0415 - on use

        return structured_runnable(
            self, schema, method=chosen, include_raw=include_raw, strict=strict,
            bind_kwargs=kwargs,
        )  # fmt: skip


def _with_ceiling(
    config: RunnableConfig | list[RunnableConfig] | None,
) -> RunnableConfig | list[RunnableConfig]:
    """``config`` with hfbridge's ``max_concurrency`` ceiling where the caller set none."""
    if isinstance(config, list):
        return [_with_ceiling(item) for item in config]  # type: ignore[misc]
    chosen: RunnableConfig = {**(config or {})}
    chosen.setdefault("max_concurrency", TEXTGEN_BATCH_CONCURRENCY)
    return chosen
