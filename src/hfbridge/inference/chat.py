"""Chat completions as a framework-free service: the one place adapters send chat requests.

:class:`ChatService` resolves the model (alias, ``model:provider``, policy), asks the catalog for a
route when the request needs a capability (tools, a JSON schema), sends through the shared
transport, fails over once to the next capable provider on a provider error, and returns typed
results with the metadata adapters report (provider that served, request id, cost estimate).
Self-hosted endpoints (``base_url``) skip the catalog: the model name is sent verbatim.

A named ``tool_choice`` goes to a self-hosted server that ignores it (llama.cpp: learnt once per
``base_url``, see :mod:`hfbridge.inference.server_kinds`) as that tool alone with ``"required"``.

Models known to write their reasoning inline (``<think>...</think>``, the DeepSeek-R1 family; see
:mod:`hfbridge.wire.reasoning`) have it moved from the content to the reasoning, in streams too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfbridge.catalog.aliases import resolve_model
from hfbridge.catalog.spec import ModelSpec, is_provider_slug
from hfbridge.errors import HFError
from hfbridge.inference.server_kinds import aserver_kind, note_answer, server_kind
from hfbridge.transport import AsyncHFClient, CallContext, ClientConfig, HFClient, Secret
from hfbridge.wire.chat import ChatCompletion, Usage, build_chat_payload, parse_chat_completion
from hfbridge.wire.reasoning import ThinkSplitter, split_completion, thinks_inline
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta
from hfbridge.wire.stream_end import CHOICES_FINISHED
from hfbridge.wire.tool_choice import IGNORES_NAMED_CHOICE, force_named_tool, named_tool

logger = logging.getLogger("hfbridge.inference")

CHAT_ROUTE = "chat/completions"
_NO_EVENT: Any = object()  # a stream's JSON events may be null, so None cannot mean "no event"
_UNPRICED: Any = object()  # "the cost is still to be asked of the catalog" (None: unpriced)
PROVIDER_HEADERS = ("x-inference-provider", "x-hf-provider")


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished chat call and where it ran."""

    completion: ChatCompletion
    model: str
    provider: str | None
    request_id: str | None
    cost_usd: float | None = None
    route: str = ""


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call transport settings (``None``: the client's)."""

    timeout: float | None = None
    max_retries: int | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)  # may carry a key
    stream_idle_timeout: float | None = None


def _needs(params: Mapping[str, Any]) -> tuple[bool, bool]:
    tools = bool(params.get("tools")) and params.get("tool_choice") != "none"
    response_format = params.get("response_format")
    schema = isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"
    return tools, schema


class ChatService:
    """Send chat completions for one configured model over the shared transport.

    Args:
        model: a model id, ``model:provider``, ``model:fastest|cheapest|preferred``, or an alias
            (``default``, ``large``, ``small``, ``agent``); ``None`` means ``default``.
        base_url: a self-hosted OpenAI-compatible root (``.../v1``); ``None`` uses the router.
        aliases: per-instance alias overrides (``{"default": "org/name"}``).
        client, async_client: clients to use instead of ones built from the settings.
        catalog: the catalog used for routing (default: the process-wide one).
    """

    def __init__(  # noqa: PLR0913 - the public settings, passed through by adapters
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        token: str | Secret | None = None,
        bill_to: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        client: HFClient | None = None,
        async_client: AsyncHFClient | None = None,
        catalog: Any = None,
    ) -> None:
        config = (client.config if client is not None else None) or ClientConfig.create(
            token=token,
            base_url=base_url,
            bill_to=bill_to,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        self.custom_endpoint = base_url is not None
        self.spec = resolve_model(
            model, kind="chat", overrides=aliases, custom_endpoint=self.custom_endpoint
        )
        self.client = client or HFClient(config)
        self.async_client = async_client or AsyncHFClient(config)
        self.catalog = catalog

    def __repr__(self) -> str:
        return f"ChatService(model={self.spec.router_model!r}, {self.client.config!r})"

    # --- routing ---

    def _wire_model(self, spec: ModelSpec) -> str:
        return spec.model_id if self.custom_endpoint else spec.router_model

    def candidates(self, params: Mapping[str, Any]) -> tuple[list[ModelSpec], str]:
        """The models to try in order (primary first) and why."""
        needs_tools, needs_schema = _needs(params)
        if self.custom_endpoint or not (needs_tools or needs_schema):
            return [self.spec], "as configured"
        from hfbridge.catalog import plan_route  # noqa: PLC0415 - router path only

        plan = plan_route(
            self.spec,
            needs_tools=needs_tools,
            needs_structured_output=needs_schema,
            catalog=self.catalog,
        )
        return [plan.primary, *plan.fallbacks], plan.reason

    async def acandidates(self, params: Mapping[str, Any]) -> tuple[list[ModelSpec], str]:
        """Async form of :meth:`candidates`."""
        needs_tools, needs_schema = _needs(params)
        if self.custom_endpoint or not (needs_tools or needs_schema):
            return [self.spec], "as configured"
        from hfbridge.catalog import aplan_route  # noqa: PLC0415 - router path only

        plan = await aplan_route(
            self.spec,
            needs_tools=needs_tools,
            needs_structured_output=needs_schema,
            catalog=self.catalog,
        )
        return [plan.primary, *plan.fallbacks], plan.reason

    def _priced(self, provider: str | None, usage: Usage | None) -> bool:
        return not self.custom_endpoint and usage is not None and provider is not None

    def _cost(self, spec: ModelSpec, provider: str | None, usage: Usage | None) -> float | None:
        if not self._priced(provider, usage):
            return None
        from hfbridge.catalog import capabilities  # noqa: PLC0415

        return _price(capabilities(spec.with_provider(None), catalog=self.catalog), provider, usage)

    async def _acost(
        self, spec: ModelSpec, provider: str | None, usage: Usage | None
    ) -> float | None:
        """Async form of ``_cost``: the catalog is asked without blocking the event loop."""
        if not self._priced(provider, usage):
            return None
        from hfbridge.catalog import acapabilities  # noqa: PLC0415

        caps = await acapabilities(spec.with_provider(None), catalog=self.catalog)
        return _price(caps, provider, usage)

    @staticmethod
    def fail_over(exc: HFError, spec: ModelSpec, remaining: int) -> bool:
        """Whether to try the next candidate after ``exc`` on ``spec`` (logged when so).

        One decision for calls and streams: only provider errors fail over, and only while
        candidates remain; otherwise the caller re-raises ``exc``.
        """
        if remaining <= 0:
            return False
        from hfbridge.catalog import is_failover_error  # noqa: PLC0415

        if not is_failover_error(exc):
            return False
        logger.warning("hfbridge: %s failed (%s); failing over", spec, type(exc).__name__)
        return True

    # --- what the server honours ---

    def for_server(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` as this server honours it (see :mod:`hfbridge.wire.tool_choice`)."""
        if not self.custom_endpoint or named_tool(payload) is None:
            return payload
        return _forced(payload, server_kind(self.client))

    async def afor_server(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Async form of :meth:`for_server`."""
        if not self.custom_endpoint or named_tool(payload) is None:
            return payload
        return _forced(payload, await aserver_kind(self.async_client))

    def _provider(self, spec: ModelSpec, headers: Mapping[str, str]) -> str | None:
        if self.custom_endpoint:
            return None
        if spec.provider:
            return spec.provider
        named = next((headers[h] for h in PROVIDER_HEADERS if h in headers), None)
        return named if is_provider_slug(named) else None  # a server's header, checked

    def _result(  # noqa: PLR0913 - a result's parts
        self, spec: ModelSpec, completion: ChatCompletion, headers: Mapping[str, str],
        request_id: str | None, route: str, *, cost: Any = _UNPRICED,
    ) -> ChatResult:  # fmt: skip
        """The result; ``cost`` when already known (async paths price it beforehand)."""
        if self.custom_endpoint:
            note_answer(self.client.config.base_url, headers)
        provider = self._provider(spec, headers)
        if cost is _UNPRICED:
            cost = self._cost(spec, provider, completion.usage)
        return ChatResult(
            completion=completion,
            model=self._wire_model(spec),
            provider=provider,
            request_id=request_id,
            cost_usd=cost if isinstance(cost, float) else None,
            route=route,
        )

    async def _aresult(
        self, spec: ModelSpec, completion: ChatCompletion, headers: Mapping[str, str],
        request_id: str | None, route: str,
    ) -> ChatResult:  # fmt: skip
        """Async form of :meth:`_result` (no sync catalog request on the event loop)."""
        cost = await self._acost(spec, self._provider(spec, headers), completion.usage)
        return self._result(spec, completion, headers, request_id, route, cost=cost)

    # --- capabilities (from the catalog; unknown for self-hosted endpoints) ---

    def capabilities(self) -> Any:
        """The catalog's ``ModelCapabilities``, or ``None`` for a self-hosted endpoint."""
        if self.custom_endpoint:
            return None
        from hfbridge.catalog import capabilities  # noqa: PLC0415

        return capabilities(self.spec, catalog=self.catalog)

    def supports_tools(self) -> bool | None:
        """Whether the model (pinned provider, else any live one) calls tools; ``None``: unknown."""
        caps = self.capabilities()
        return None if caps is None else caps.supports_tools

    async def acapabilities(self) -> Any:
        """Async form of :meth:`capabilities`."""
        if self.custom_endpoint:
            return None
        from hfbridge.catalog import acapabilities  # noqa: PLC0415

        return await acapabilities(self.spec, catalog=self.catalog)

    async def astructured_output_method(self) -> str:
        """Async form of :meth:`structured_output_method`."""
        return _structured_method(await self.acapabilities())

    def structured_output_method(self) -> str:
        """The default structured-output method for this model.

        ``json_schema`` where the provider supports native structured output, or where that is
        unknown (self-hosted servers and the router pass it through); else ``function_calling``.
        """
        return _structured_method(self.capabilities())

    def context_window(self, default: int) -> int:
        """The model's context length from the catalog, else ``default``."""
        caps = self.capabilities()
        length = None if caps is None else caps.context_length
        return length if isinstance(length, int) and length > 0 else default

    def check_tools_supported(self) -> None:
        """Fail before any request when the model cannot call tools.

        Raises :class:`~hfbridge.errors.HFCapabilityError` when the pinned provider lacks tool
        support, or no live provider has it. Rerouting to a capable provider happens per call.
        """
        self.candidates({"tools": [{"type": "function", "function": {"name": "probe"}}]})

    # --- calls ---

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
    ) -> ChatResult:
        """One non-streamed completion (with failover across the route's providers)."""
        options = options or CallOptions()
        payload = build_chat_payload(self._wire_model(self.spec), messages, params=params)
        payload = self.for_server(payload)
        candidates, route = self.candidates(params)
        for position, spec in enumerate(candidates):
            payload["model"] = self._wire_model(spec)
            try:
                response = self.client.request(
                    "POST", CHAT_ROUTE, json=payload, headers=options.headers,
                    timeout=options.timeout, max_retries=options.max_retries,
                    context=CallContext(model=payload["model"], provider=spec.provider),
                )  # fmt: skip
            except HFError as exc:
                if self.fail_over(exc, spec, len(candidates) - position - 1):
                    continue
                raise
            completion = _inline_reasoning(payload["model"], parse_chat_completion(response.json()))
            return self._result(spec, completion, response.headers, response.request_id, route)
        raise AssertionError("unreachable: the last candidate re-raises")  # pragma: no cover

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
    ) -> ChatResult:
        """Async form of :meth:`complete`."""
        options = options or CallOptions()
        payload = build_chat_payload(self._wire_model(self.spec), messages, params=params)
        payload = await self.afor_server(payload)
        candidates, route = await self.acandidates(params)
        for position, spec in enumerate(candidates):
            payload["model"] = self._wire_model(spec)
            try:
                response = await self.async_client.request(
                    "POST", CHAT_ROUTE, json=payload, headers=options.headers,
                    timeout=options.timeout, max_retries=options.max_retries,
                    context=CallContext(model=payload["model"], provider=spec.provider),
                )  # fmt: skip
            except HFError as exc:
                if self.fail_over(exc, spec, len(candidates) - position - 1):
                    continue
                raise
            completion = _inline_reasoning(payload["model"], parse_chat_completion(response.json()))
            return await self._aresult(
                spec, completion, response.headers, response.request_id, route
            )
        raise AssertionError("unreachable: the last candidate re-raises")  # pragma: no cover

    def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
        *,
        include_usage: bool = True,
    ) -> ChatStream:
        """A streamed completion; iterate the returned :class:`ChatStream` for deltas."""
        payload = build_chat_payload(
            self._wire_model(self.spec), messages, params=params, stream=True,
            include_usage=include_usage,
        )  # fmt: skip
        return ChatStream(self, payload, params, options or CallOptions())

    def astream(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
        *,
        include_usage: bool = True,
    ) -> AsyncChatStream:
        """Async form of :meth:`stream`."""
        payload = build_chat_payload(
            self._wire_model(self.spec), messages, params=params, stream=True,
            include_usage=include_usage,
        )  # fmt: skip
        return AsyncChatStream(self, payload, params, options or CallOptions())


def _price(caps: Any, provider: str | None, usage: Usage | None) -> float | None:
    from hfbridge.catalog import estimate_cost  # noqa: PLC0415

    info = next((p for p in caps.providers if p.provider == provider), None)
    assert usage is not None  # noqa: S101 - checked by _priced
    return estimate_cost(info, usage.prompt_tokens, usage.completion_tokens)


def _structured_method(caps: Any) -> str:
    if caps is not None and caps.supports_structured_output is False:
        return "function_calling"
    return "json_schema"


def _forced(payload: dict[str, Any], kind: str | None) -> dict[str, Any]:
    if kind not in IGNORES_NAMED_CHOICE:
        return payload
    logger.debug("hfbridge: %s ignores a named tool_choice: sending that tool, 'required'", kind)
    return force_named_tool(payload)


def _inline_reasoning(model: str | None, completion: ChatCompletion) -> ChatCompletion:
    """``completion`` with ``<think>`` reasoning split out, for a model known to write it inline."""
    return split_completion(completion) if thinks_inline(model, completion.model) else completion


class _StreamBase:
    """State shared by the sync and async streams: the accumulator and the serving route."""

    def __init__(
        self, service: ChatService, payload: dict[str, Any], params: Mapping[str, Any],
        options: CallOptions,
    ) -> None:  # fmt: skip
        self.service = service
        self.payload = payload
        self.params = params
        self.options = options
        self.accumulator = ChunkAccumulator()
        self.spec = service.spec
        self.route = ""
        self.request_id: str | None = None
        self.headers: Mapping[str, str] = {}
        self.finished = False
        self.cost: Any = _UNPRICED  # known once an async stream has ended
        self._thinks: bool | None = None  # decided at the first chunk (its model name counts)
        self._splitters: dict[int, ThinkSplitter] = {}

    def _split(self, deltas: list[StreamDelta]) -> list[StreamDelta]:
        """``deltas`` with inline reasoning moved out of the content (decided at the first)."""
        thinks = self._thinks
        if thinks is None:
            thinks = self._thinks = thinks_inline(self.payload.get("model"), self.accumulator.model)
        if thinks:
            for delta in deltas:
                if delta.content:
                    splitter = self._splitters.setdefault(delta.choice_index, ThinkSplitter())
                    reasoning, delta.content = splitter.feed(delta.content)
                    delta.reasoning += reasoning
        return deltas

    def _held_back(self) -> list[StreamDelta]:
        """At the end of the stream: text the reasoning splitters still held."""
        deltas = []
        for index, splitter in sorted(self._splitters.items()):
            reasoning, content = splitter.flush()
            if reasoning or content:
                deltas.append(StreamDelta(choice_index=index, content=content, reasoning=reasoning))
        return deltas

    def _context(self, spec: ModelSpec) -> CallContext:
        self.payload["model"] = self.service._wire_model(spec)  # noqa: SLF001 - same module family
        return CallContext(model=self.payload["model"], provider=spec.provider)

    def result(self) -> ChatResult:
        """The assembled result; only valid once the stream has been consumed to its end."""
        if not self.finished:
            raise HFError(
                "The stream has not finished: consume it fully before asking for the result."
            )
        completion = self.accumulator.completion()
        if self._thinks:
            completion = split_completion(completion)
        return self.service._result(  # noqa: SLF001 - same module family
            self.spec, completion, self.headers, self.request_id, self.route, cost=self.cost
        )


class ChatStream(_StreamBase):
    """Iterator of :class:`StreamDelta`; :meth:`result` gives the assembled :class:`ChatResult`."""

    def __iter__(self) -> Iterator[StreamDelta]:
        self.payload = self.service.for_server(self.payload)
        candidates, self.route = self.service.candidates(self.params)
        for position, spec in enumerate(candidates):
            events = self.service.client.stream(
                "POST", CHAT_ROUTE, json=self.payload, headers=self.options.headers,
                timeout=self.options.timeout, max_retries=self.options.max_retries,
                context=self._context(spec), end=CHOICES_FINISHED,
                idle_timeout=self.options.stream_idle_timeout,
            )  # fmt: skip
            iterator = iter(events)
            try:
                first = next(iterator, _NO_EVENT)
            except HFError as exc:
                if self.service.fail_over(exc, spec, len(candidates) - position - 1):
                    continue
                raise
            self.spec, self.headers, self.request_id = spec, events.headers, events.request_id
            add = self.accumulator.add
            try:
                if first is not _NO_EVENT:
                    yield from self._split(add(first))
                for event in iterator:
                    deltas = add(event)
                    yield from deltas if self._thinks is False else self._split(deltas)
            finally:
                events.close()
            yield from self._held_back()
            self.finished = True
            return


class AsyncChatStream(_StreamBase):
    """Async iterator of :class:`StreamDelta`; :meth:`result` once consumed."""

    async def __aiter__(self) -> AsyncIterator[StreamDelta]:
        self.payload = await self.service.afor_server(self.payload)
        candidates, self.route = await self.service.acandidates(self.params)
        for position, spec in enumerate(candidates):
            events = self.service.async_client.stream(
                "POST", CHAT_ROUTE, json=self.payload, headers=self.options.headers,
                timeout=self.options.timeout, max_retries=self.options.max_retries,
                context=self._context(spec), end=CHOICES_FINISHED,
                idle_timeout=self.options.stream_idle_timeout,
            )  # fmt: skip
            iterator = events.__aiter__()
            try:
                first = await anext(iterator, _NO_EVENT)
            except HFError as exc:
                if self.service.fail_over(exc, spec, len(candidates) - position - 1):
                    continue
                raise
            self.spec, self.headers, self.request_id = spec, events.headers, events.request_id
            add = self.accumulator.add
            try:
                if first is not _NO_EVENT:
                    for delta in self._split(add(first)):
                        yield delta
                async for event in iterator:
                    deltas = add(event)
                    for delta in deltas if self._thinks is False else self._split(deltas):
                        yield delta
            finally:
                await events.aclose()
            for delta in self._held_back():
                yield delta
            # Priced here, asynchronously: result() is sync and must not ask the catalog.
            service = self.service
            self.cost = await service._acost(  # noqa: SLF001 - same module family
                spec, service._provider(spec, self.headers), self.accumulator.usage  # noqa: SLF001
            )
            self.finished = True
            return
