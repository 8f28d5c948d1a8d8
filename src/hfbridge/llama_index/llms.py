"""LlamaIndex ``FunctionCallingLLM`` over hfbridge's chat service.

:class:`HFLLM` works wherever LlamaIndex's ``OpenAI`` LLM does (``Settings.llm``, query engines,
``FunctionAgent``): the Hugging Face router by default, or any OpenAI-compatible self-hosted server
(TGI, vLLM, llama.cpp) through ``base_url``. Requests, retries and routing belong to
:class:`~hfbridge.inference.chat.ChatService`; this module only maps LlamaIndex's calls onto it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection, dispatcher
from llama_index.core.types import Model, PydanticProgramMode
from pydantic import AliasChoices

from hfbridge._constants import DEFAULT_CONTEXT_WINDOW, DEFAULT_NUM_OUTPUT
from hfbridge.inference.chat import AsyncChatStream, CallOptions, ChatService, ChatStream
from hfbridge.inference.connection import Connection
from hfbridge.inference.settings import ChatSettings, ServiceHolder, model_field
from hfbridge.llama_index import _convert
from hfbridge.wire.chat import json_schema_format
from hfbridge.wire.stream import StreamDelta, StreamRecord

if TYPE_CHECKING:
    from llama_index.core.program.utils import FlexibleModel
    from llama_index.core.prompts import PromptTemplate
    from llama_index.core.tools.types import BaseTool


_SAMPLING_FIELDS = (
    "temperature",
    "max_tokens",
    "top_p",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "reasoning_effort",
)
WireMessages = list[dict[str, Any]]


if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[ChatService]
else:
    _Holder = ServiceHolder


class HFLLM(_Holder, ChatSettings, FunctionCallingLLM):
    """Chat models on Hugging Face (router or self-hosted) as a LlamaIndex function-calling LLM.

    Args:
        model: a model id, ``model:provider``, ``model:fastest|cheapest|preferred``, or an alias
            (``default``, ``large``, ``small``, ``agent``). With ``base_url``, any name the server
            accepts (sent verbatim).
        base_url: an OpenAI-compatible root such as ``http://127.0.0.1:8080/v1``; ``None`` uses the
            Hugging Face router.
        token: the Hugging Face token (default: ``HF_TOKEN`` or the token file). Never shown in
            ``repr``, ``to_dict`` or pickles. Sent to a custom ``base_url`` only when passed here.
            ``api_key`` is accepted as another name for it (as LlamaIndex's ``OpenAI`` takes).
        bill_to: an organisation to bill router calls to.
        timeout, max_retries: read timeout in seconds and retry budget (the transport retries).
        stream_idle_timeout: seconds a stream may go without an event (default: ``timeout``).
        default_headers: extra headers on every request.
        temperature, max_tokens (or ``max_new_tokens``), top_p, seed, stop, frequency_penalty,
            presence_penalty, reasoning_effort: sampling parameters, sent when set.
        additional_kwargs: extra request body fields (provider-specific options).
        context_window: override the context length the catalog reports.
        aliases: per-instance alias overrides, e.g. ``{"default": "Qwen/Qwen2.5-7B-Instruct"}``.
        client, async_client, catalog: instances to use instead of the shared ones (tests inject
            clients over ``httpx.MockTransport``).

    Per call, ``timeout``, ``max_retries``, ``extra_headers`` and ``stream_idle_timeout`` keyword
    arguments tune the transport; any other keyword argument is sent in the request body.

    ``metadata.is_function_calling_model`` comes from the catalog for router models (is there a
    live provider that calls tools?). A self-hosted endpoint is assumed to call tools: you chose
    the server, and a server without tool support answers a tool request with a clear error.
    """

    # The connection settings (base_url, token, bill_to, timeout, ...) are ServiceHolder's,
    # declared once for every adapter (hfbridge.inference.settings).
    model: str = model_field("default")
    # Ranges are checked by hfbridge.wire.params (the same verdicts as ChatHF's and HFTextGen's).
    temperature: float | None = None
    max_tokens: int | None = Field(
        default=None, validation_alias=AliasChoices("max_tokens", "max_new_tokens")
    )
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    reasoning_effort: str | None = None
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra request body fields."
    )
    context_window: int | None = Field(
        default=None, gt=0, description="Context length; default: the catalog's, else 4096."
    )

    checks_sampling = True
    framework_fields = frozenset(FunctionCallingLLM.model_fields)

    @classmethod
    def class_name(cls) -> str:
        """The name LlamaIndex serialises this class under."""
        return "HFLLM"

    # --- configuration ---

    def build_service(self, connection: Connection) -> ChatService:
        """The chat service calls go through (rebuilt after a setting changes)."""
        return ChatService(
            model=self.model, connection=connection, use_responses_api=self.use_responses_api
        )

    @property
    def metadata(self) -> LLMMetadata:
        """Context window, output budget and tool support; computed once per settings."""
        metadata: LLMMetadata = self.memoized("metadata", self._build_metadata)
        return metadata

    def _build_metadata(self) -> LLMMetadata:
        # The catalog never raises (unknowns when it cannot answer) and memoizes its answers.
        service = self.service
        spec = service.spec
        supports_tools = service.supports_tools()
        return LLMMetadata(
            context_window=self.context_window
            or service.context_window(default=DEFAULT_CONTEXT_WINDOW),
            num_output=self.max_tokens or DEFAULT_NUM_OUTPUT,
            is_chat_model=True,
            is_function_calling_model=supports_tools is not False,
            model_name=spec.model_id if service.custom_endpoint else spec.router_model,
            system_role=MessageRole.SYSTEM,
        )

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of ``messages`` as the next call's prompt (LlamaIndex has no such hook).

        A self-hosted llama.cpp, vLLM or TGI server counts them (chat template applied); on the
        router the count is an estimate, and a ``TokenEstimateWarning`` says so once.
        """
        return self.service.count_tokens(_convert.to_wire_messages(messages))

    def _request(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], CallOptions | None]:
        """The body parameters and transport options for one call."""
        params = dict(self.memoized("params", self._instance_params))
        options = self.pop_call_options(kwargs)
        params.update(kwargs)
        return params, options

    def _instance_params(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _SAMPLING_FIELDS},
            **self.additional_kwargs,
        }

    # --- chat and completion ---

    def _chat(self, wire: WireMessages, kwargs: dict[str, Any]) -> ChatResponse:
        params, options = self._request(kwargs)
        return _convert.chat_response(self.service.complete(wire, params, options))

    async def _achat(self, wire: WireMessages, kwargs: dict[str, Any]) -> ChatResponse:
        params, options = self._request(kwargs)
        return _convert.chat_response(await self.service.acomplete(wire, params, options))

    def _stream(self, wire: WireMessages, kwargs: dict[str, Any]) -> ChatStream:
        params, options = self._request(kwargs)
        return self.service.stream(wire, params, options)

    def _astream(self, wire: WireMessages, kwargs: dict[str, Any]) -> AsyncChatStream:
        params, options = self._request(kwargs)
        return self.service.astream(wire, params, options)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One chat completion."""
        return self._chat(_convert.to_wire_messages(messages), kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async form of :meth:`chat`."""
        return await self._achat(_convert.to_wire_messages(messages), kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream a chat completion: each response holds the message so far and its ``delta``.

        A stream that breaks raises :class:`~hfbridge.errors.HFStreamError` from the iterator.
        """
        return _responses(self._stream(_convert.to_wire_messages(messages), kwargs))

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        """Async form of :meth:`stream_chat`."""
        return _aresponses(self._astream(_convert.to_wire_messages(messages), kwargs))

    @llm_completion_callback()
    def complete(
        self,
        prompt: str,
        formatted: bool = False,  # noqa: ARG002 - LlamaIndex's signature; prompts are sent as is
        **kwargs: Any,
    ) -> CompletionResponse:
        """Complete ``prompt`` (sent as one user message)."""
        return _convert.completion_response(self._chat(_user(prompt), kwargs))

    @llm_completion_callback()
    async def acomplete(
        self,
        prompt: str,
        formatted: bool = False,  # noqa: ARG002 - LlamaIndex's signature; prompts are sent as is
        **kwargs: Any,
    ) -> CompletionResponse:
        """Async form of :meth:`complete`."""
        return _convert.completion_response(await self._achat(_user(prompt), kwargs))

    @llm_completion_callback()
    def stream_complete(
        self,
        prompt: str,
        formatted: bool = False,  # noqa: ARG002 - LlamaIndex's signature; prompts are sent as is
        **kwargs: Any,
    ) -> CompletionResponseGen:
        """Stream the completion of ``prompt``: cumulative ``text`` and the ``delta``."""
        responses = _responses(self._stream(_user(prompt), kwargs))
        return (_convert.completion_response(response) for response in responses)

    @llm_completion_callback()
    async def astream_complete(
        self,
        prompt: str,
        formatted: bool = False,  # noqa: ARG002 - LlamaIndex's signature; prompts are sent as is
        **kwargs: Any,
    ) -> CompletionResponseAsyncGen:
        """Async form of :meth:`stream_complete`."""
        responses = _aresponses(self._astream(_user(prompt), kwargs))

        async def completions() -> CompletionResponseAsyncGen:
            async for response in responses:
                yield _convert.completion_response(response)

        return completions()

    # --- tool calling ---

    def _prepare_chat_with_tools(  # noqa: PLR0913, PLR0917 - LlamaIndex's signature
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,  # noqa: ARG002 - LlamaIndex's signature
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The ``chat`` arguments for a turn with ``tools`` bound.

        ``tool_choice`` (``auto``, ``none``, ``required``, a tool name or an OpenAI dict) wins over
        ``tool_required``; ``parallel_tool_calls`` follows ``allow_parallel_tool_calls``.
        """
        messages = list(chat_history or [])  # never extend the caller's history in place
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        prepared: dict[str, Any] = {"messages": messages, **kwargs}
        specs = _convert.wire_tools(tools)
        if specs:
            prepared["tools"] = specs
            prepared["tool_choice"] = _convert.wire_tool_choice(tool_choice, tool_required, specs)
            prepared["parallel_tool_calls"] = allow_parallel_tool_calls
        return prepared

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],  # noqa: ARG002 - LlamaIndex's signature
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,  # noqa: ARG002 - LlamaIndex's signature
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls were allowed."""
        if not allow_parallel_tool_calls:
            _convert.keep_first_tool_call(response.message)
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,  # noqa: ARG002 - LlamaIndex's signature
    ) -> list[ToolSelection]:
        """The tool calls of ``response`` (arguments parsed, partial JSON tolerated).

        Raises ``ValueError`` (LlamaIndex's contract) when there is none and
        ``error_on_no_tool_call`` is true.
        """
        selections = _convert.tool_selections(response.message)
        if not selections and error_on_no_tool_call:
            text = (response.message.content or "")[:200]
            raise ValueError(
                f"Expected at least one tool call, but the model answered with text: {text!r}. "
                "Pass tool_required=True (tool_choice='required') to force a call, or use a model "
                "that calls tools more reliably."
            )
        return selections

    # --- structured output: native json_schema where supported, else a forced tool call ---

    def _uses_json_schema(self) -> bool:
        return (
            self.pydantic_program_mode == PydanticProgramMode.DEFAULT
            and self.service.structured_output_method() == "json_schema"
        )

    async def _auses_json_schema(self) -> bool:
        """Async form of ``_uses_json_schema``: the catalog is asked without blocking the loop."""
        return (
            self.pydantic_program_mode == PydanticProgramMode.DEFAULT
            and await self.service.astructured_output_method() == "json_schema"
        )

    def _schema_call(
        self, output_cls: type[Model], prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None, prompt_args: dict[str, Any],
    ) -> tuple[list[ChatMessage], dict[str, Any]]:  # fmt: skip
        messages = self._extend_messages(prompt.format_messages(llm=self, **prompt_args))
        kwargs = dict(llm_kwargs or {})
        kwargs.pop("tool_choice", None)
        schema = output_cls.model_json_schema()
        kwargs["response_format"] = json_schema_format(output_cls.__name__, schema)
        return messages, kwargs

    def _schema_start(
        self, output_cls: type[Model], prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None, prompt_args: dict[str, Any],
    ) -> tuple[list[ChatMessage], dict[str, Any]]:  # fmt: skip
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        return self._schema_call(output_cls, prompt, llm_kwargs, prompt_args)

    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Predict an ``output_cls`` instance; see the section comment for the method used."""
        if not self._uses_json_schema():
            predicted = super().structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)
            return cast("Model", predicted)
        messages, kwargs = self._schema_start(output_cls, prompt, llm_kwargs, prompt_args)
        return _schema_end(output_cls, self.chat(messages, **kwargs))

    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """Async form of :meth:`structured_predict`."""
        if not await self._auses_json_schema():
            predicted = await super().astructured_predict(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
            return cast("Model", predicted)
        messages, kwargs = self._schema_start(output_cls, prompt, llm_kwargs, prompt_args)
        return _schema_end(output_cls, await self.achat(messages, **kwargs))

    def _structured_stream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None, None]:
        if not self._uses_json_schema():
            return super()._structured_stream_call(output_cls, prompt, llm_kwargs, **prompt_args)
        from llama_index.core.program.streaming_utils import (  # noqa: PLC0415 - json_schema only
            process_streaming_content_incremental,
        )

        messages, kwargs = self._schema_call(output_cls, prompt, llm_kwargs, prompt_args)
        responses = self.stream_chat(messages, **kwargs)

        def objects() -> Generator[Model | FlexibleModel, None, None]:
            current: Model | FlexibleModel | None = None
            for response in responses:
                current = process_streaming_content_incremental(response, output_cls, current)
                yield current

        return objects()

    async def _structured_astream_call(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model | list[Model] | FlexibleModel | list[FlexibleModel], None]:
        if not await self._auses_json_schema():
            return await super()._structured_astream_call(
                output_cls, prompt, llm_kwargs, **prompt_args
            )
        from llama_index.core.program.streaming_utils import (  # noqa: PLC0415 - json_schema only
            process_streaming_content_incremental,
        )

        messages, kwargs = self._schema_call(output_cls, prompt, llm_kwargs, prompt_args)
        responses = await self.astream_chat(messages, **kwargs)

        async def objects() -> AsyncGenerator[Model | FlexibleModel, None]:
            current: Model | FlexibleModel | None = None
            async for response in responses:
                current = process_streaming_content_incremental(response, output_cls, current)
                yield current

        return objects()


def _schema_end(output_cls: type[Model], response: ChatResponse) -> Model:
    result: Model = output_cls.model_validate_json(response.message.content or "")
    dispatcher.event(LLMStructuredPredictEndEvent(output=result))
    return result


def _user(prompt: str) -> WireMessages:
    return [{"role": "user", "content": prompt}]


class _Responses:
    """Stream deltas in, the framework's responses out; the last carries the call's result.

    The final response (request id, provider, cost, usage, as ``chat()`` reports them) takes the
    place of a closing response (a finish reason or usage, nothing new to show), which is held
    back for that: no text ever waits.
    """

    def __init__(self, stream: ChatStream) -> None:
        self._stream = stream
        self._record: StreamRecord | None = None  # the stream's fold, there once it started
        self._held: ChatResponse | None = None

    def take(self, delta: StreamDelta) -> list[ChatResponse]:
        record = self._record = self._record or self._stream.accumulator
        response = _convert.stream_response(delta, record)
        if response is None:
            return []
        out = [] if self._held is None else [self._held]
        closing = not (delta.content or delta.reasoning or delta.tool_calls)
        self._held = response if closing else None
        return out if closing else [*out, response]

    @staticmethod
    def end(stream: ChatStream | AsyncChatStream) -> ChatResponse:
        return _convert.final_response(stream.result())


def _responses(stream: ChatStream) -> ChatResponseGen:
    responses = _Responses(stream)
    for delta in stream:
        yield from responses.take(delta)
    yield responses.end(stream)


async def _aresponses(stream: AsyncChatStream) -> ChatResponseAsyncGen:
    responses = _Responses(stream)
    async for delta in stream:
        for response in responses.take(delta):
            yield response
    yield responses.end(stream)
