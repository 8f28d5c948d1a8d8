"""Chat completions as a framework-free service: the one place adapters send chat requests.

:class:`ChatService` resolves the model (alias, ``model:provider``, policy), asks the catalog for a
route when the request needs a capability (tools, a JSON schema), sends through the shared
transport, fails over once to the next capable provider on a provider error, and returns typed
results with the metadata adapters report (provider that served, request id, cost estimate).
Self-hosted endpoints (``base_url``) skip the catalog: the model name is sent verbatim.

A named ``tool_choice`` goes to a self-hosted server that ignores it (llama.cpp: learnt once per
``base_url``, see :mod:`hfbridge.inference.server_kinds`) as that tool alone with ``"required"``.
Inline reasoning (``<think>``) is split out by the route (:mod:`hfbridge.wire.chat_completions`).

With ``use_responses_api=True`` the same calls go to the OpenAI Responses API (``POST
/v1/responses``, :mod:`hfbridge.wire.responses`) through the same loop: the answers are the same
:class:`~hfbridge.wire.chat.ChatCompletion` values (what only the Responses API has, such as
server-run MCP calls, is in ``completion.extra["response"]``), routing and failover are the same.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from typing_extensions import Unpack

from hfbridge.catalog.aliases import BUILTIN_ALIASES, resolve_model
from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFCapabilityError, HFConfigError, HFStatusError
from hfbridge.inference.connection import Connection, ConnectionArgs, OnConnection
from hfbridge.inference.server_kinds import aserver_kind, note_answer, server_kind
from hfbridge.inference.service import (
    PROVIDER_HEADERS,
    CallOptions,
    RouteService,
    Served,
    ServedStream,
)
from hfbridge.wire.chat import ChatCompletion, Usage, has_image_parts
from hfbridge.wire.chat_completions import CHAT_COMPLETIONS, ChatRequest, chat_request
from hfbridge.wire.responses import (
    RESPONSES,
    ResponsesRequest,
    is_server_tool,
    responses_request,
)
from hfbridge.wire.responses_stream import ResponsesStreamFold
from hfbridge.wire.route import Target
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta, StreamRecord
from hfbridge.wire.tool_choice import IGNORES_NAMED_CHOICE, force_named_tool, named_tool

logger = logging.getLogger("hfbridge.inference")

_UNPRICED: Any = object()  # "the cost is still to be asked of the catalog" (None: unpriced)

__all__ = [
    "PROVIDER_HEADERS",
    "AnyRequest",
    "AsyncChatStream",
    "CallOptions",
    "ChatResult",
    "ChatService",
    "ChatStream",
]


AnyRequest = ChatRequest | ResponsesRequest
"""A validated request of either chat route (chat completions, or the Responses API)."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished chat call and where it ran."""

    completion: ChatCompletion
    model: str
    provider: str | None
    request_id: str | None
    cost_usd: float | None = None
    route: str = ""


def _needs(params: Mapping[str, Any]) -> tuple[bool, bool]:
    tools = bool(params.get("tools")) and params.get("tool_choice") != "none"
    response_format = params.get("response_format")
    schema = isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"
    return tools, schema


class ChatService(OnConnection):
    """Send chat completions for one configured model over the shared transport.

    Args:
        model: a model id, ``model:provider``, ``model:fastest|cheapest|preferred``, or an alias
            (``default``, ``large``, ``small``, ``agent``); ``None`` means ``default``.
        base_url: a self-hosted OpenAI-compatible root (``.../v1``); ``None`` uses the router.
        aliases: per-instance alias overrides (``{"default": "org/name"}``).
        client, async_client: clients to use instead of ones built from the settings.
        catalog: the catalog used for routing (default: the process-wide one).
        use_responses_api: send to ``/v1/responses`` instead of ``/v1/chat/completions``.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        connection: Connection | None = None,
        use_responses_api: bool = False,
        **settings: Unpack[ConnectionArgs],
    ) -> None:
        self.connection = connection or Connection.create(**settings)
        self.custom_endpoint = self.connection.self_hosted
        self.spec = resolve_model(
            model, kind="chat", overrides=self.connection.aliases,
            custom_endpoint=self.custom_endpoint,
        )  # fmt: skip
        self.use_responses_api = use_responses_api
        route = RESPONSES if use_responses_api else CHAT_COMPLETIONS
        self.routes: RouteService[Any, ChatCompletion, StreamDelta] = RouteService(
            route, self.connection
        )
        self._specs: dict[Target, ModelSpec] = {}
        self._primary = [self._target(self.spec)]

    def __repr__(self) -> str:
        return f"ChatService(model={self.spec.router_model!r}, {self.client.config!r})"

    def for_model(self, model: str | None) -> ChatService:
        """The service for another model over the same connection."""
        return ChatService(
            model=model, connection=self.connection, use_responses_api=self.use_responses_api
        )

    def __call__(self, model: str | None = None) -> ChatService:
        """Deprecated: ``ChatHF.service`` is a property; ``service(model)`` is :meth:`for_model`."""
        warnings.warn(
            "ChatHF.service is a property now: use .service, or .service_for(model) for another "
            "model.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self if model is None else self.for_model(model)

    @property
    def catalog(self) -> Any:
        """The catalog used for routing (``None``: the process-wide one)."""
        return self.connection.catalog

    # --- routing ---

    def _wire_model(self, spec: ModelSpec) -> str:
        return spec.model_id if self.custom_endpoint else spec.router_model

    def _target(self, spec: ModelSpec) -> Target:
        target = Target(
            model=self._wire_model(spec), model_id=spec.model_id, provider=spec.provider,
            base_url=self.connection.base_url,
        )  # fmt: skip
        self._specs[target] = spec
        return target

    def targets(self, params: Mapping[str, Any]) -> tuple[list[Target], str]:
        """:meth:`candidates` as the route loop's targets."""
        if not any(_needs(params)):
            return self._primary, "as configured"
        specs, reason = self.candidates(params)
        return [self._target(spec) for spec in specs], reason

    async def atargets(self, params: Mapping[str, Any]) -> tuple[list[Target], str]:
        """Async form of :meth:`targets`."""
        if not any(_needs(params)):
            return self._primary, "as configured"
        specs, reason = await self.acandidates(params)
        return [self._target(spec) for spec in specs], reason

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

    def _result(
        self, served: Served[ChatCompletion], route: str, *, cost: Any = _UNPRICED
    ) -> ChatResult:
        """The result; ``cost`` when already known (async paths price it beforehand)."""
        target = served.target
        if self.custom_endpoint:
            note_answer(self.client.config.base_url, served.headers)
        provider = served.provider
        if cost is _UNPRICED:
            cost = self._cost(self._specs.get(target, self.spec), provider, served.result.usage)
        return ChatResult(
            completion=served.result,
            model=target.model or "",
            provider=provider,
            request_id=served.request_id,
            cost_usd=cost,
            route=route,
        )

    # --- what the server honours ---

    def for_server(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """``payload`` as this server honours it (see :mod:`hfbridge.wire.tool_choice`)."""
        if not self.custom_endpoint or named_tool(payload) is None:
            return payload
        return _forced(payload, server_kind(self.client))

    async def afor_server(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Async form of :meth:`for_server`."""
        if not self.custom_endpoint or named_tool(payload) is None:
            return payload
        return _forced(payload, await aserver_kind(self.async_client))

    def _request(
        self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any], *,
        stream: bool = False, include_usage: bool = True,
    ) -> AnyRequest:  # fmt: skip
        if self.use_responses_api:
            # llama.cpp reads only the chat-style response_format: a self-hosted server gets both.
            return responses_request(
                messages, params, stream=stream, mirror_response_format=self.custom_endpoint
            )
        tools = params.get("tools")
        if isinstance(tools, list) and any(is_server_tool(tool) for tool in tools):
            raise HFConfigError(
                "tools of type 'mcp' (or another server-side tool) run on the server through "
                "the Responses API only: set use_responses_api=True, or bind function tools."
            )
        return chat_request(
            messages, params, model=self._primary[0].model, stream=stream,
            include_usage=include_usage,
        )  # fmt: skip

    def _served_request(self, request: AnyRequest) -> AnyRequest:
        if isinstance(request, ResponsesRequest):
            return request
        return _with_body(request, self.for_server(request.body))

    async def _aserved_request(self, request: AnyRequest) -> AnyRequest:
        if isinstance(request, ResponsesRequest):
            return request
        return _with_body(request, await self.afor_server(request.body))

    @contextmanager
    def explained(self) -> Iterator[None]:
        """Re-raise an :class:`HFStatusError` of the block as :meth:`explain` rewords it."""
        try:
            yield
        except HFStatusError as exc:
            explained = self.explain(exc)
            if explained is exc:
                raise
            raise explained from exc

    def explain(self, exc: HFStatusError) -> HFStatusError:
        """``exc``, reworded when it says that a self-hosted server has no Responses route."""
        if not (self.use_responses_api and self.custom_endpoint) or exc.status_code not in (
            404,
            405,
        ):
            return exc
        return type(exc)(
            f"{exc.message}\nThe server at {self.connection.base_url} answered "
            f"{exc.status_code} on /responses: it has no Responses API (TGI and older vLLM do "
            "not), or does not know the model. Set use_responses_api=False to call chat "
            "completions.",
            status_code=exc.status_code, body=exc.body, request_id=exc.request_id, url=exc.url,
            model=exc.model, provider=exc.provider, error_code=exc.error_code,
        )  # fmt: skip

    async def _aresult(self, served: Served[ChatCompletion], route: str) -> ChatResult:
        """Async form of :meth:`_result` (no sync catalog request on the event loop)."""
        return self._result(served, route, cost=await self._served_cost(served))

    async def _served_cost(self, served: Served[ChatCompletion]) -> float | None:
        spec = self._specs.get(served.target, self.spec)
        return await self._acost(spec, served.provider, served.result.usage)

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

    def profile(self) -> dict[str, Any]:
        """What the model can do, as LangChain's ``ModelProfile`` keys (known keys only).

        Router models: from the catalog (:func:`~hfbridge.catalog.profile.router_profile`: the
        pinned provider's flags, else any live provider's; the smallest live context window).
        A ``base_url``: what the server says about itself (:mod:`hfbridge.inference.server_facts`,
        asked once per server). Either may make one bounded request the first time.
        """
        if self.custom_endpoint:
            from hfbridge.inference.server_facts import server_facts  # noqa: PLC0415

            return dict(server_facts(self.client, self.spec.model_id))
        from hfbridge.catalog.profile import router_profile  # noqa: PLC0415 - router path only

        return router_profile(self.capabilities())

    async def aprofile(self) -> dict[str, Any]:
        """Async form of :meth:`profile` (no sync request on the event loop)."""
        if self.custom_endpoint:
            from hfbridge.inference.server_facts import aserver_facts  # noqa: PLC0415

            return dict(await aserver_facts(self.async_client, self.spec.model_id))
        from hfbridge.catalog import acapabilities  # noqa: PLC0415 - router path only
        from hfbridge.catalog.profile import router_profile  # noqa: PLC0415

        return router_profile(await acapabilities(self.spec, catalog=self.catalog))

    # --- images: only to a model (or server) that takes them ---

    def _no_images(self, where: str) -> HFCapabilityError:
        return HFCapabilityError(
            f"the request holds an image, but {where} takes no image input. Use model='vision' "
            f"({BUILTIN_ALIASES['chat']['vision']}) or another model whose catalogue entry lists "
            "image input (`hfbridge models`), or send text only.",
            model=self.spec.model_id, provider=self.spec.provider, capability="image input",
        )  # fmt: skip

    def _image_verdict(self, facts: Mapping[str, Any] | None, caps: Any) -> None:
        if self.custom_endpoint:
            if facts is not None and facts.get("image_inputs") is False:
                where = f"the server at {self.connection.base_url} (no vision projector loaded)"
                raise self._no_images(where)
        elif caps is not None and caps.supports_images is False:
            raise self._no_images(f"model {self.spec.model_id} (catalogue: text input only)")

    def check_images(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Raise :class:`HFCapabilityError` before the call when images go to a text-only model.

        Router models: the catalogue's ``input_modalities``; a ``base_url``: what the server says
        (llama.cpp ``/props`` ``modalities.vision``, ``/v1/models`` ``input_modalities``; asked
        once per server). Unknown passes: the server decides.
        """
        if not has_image_parts(messages):
            return
        if self.custom_endpoint:
            from hfbridge.inference.server_facts import server_facts  # noqa: PLC0415

            self._image_verdict(server_facts(self.client, self.spec.model_id), None)
        else:
            self._image_verdict(None, self.capabilities())

    async def acheck_images(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Async form of :meth:`check_images`."""
        if not has_image_parts(messages):
            return
        if self.custom_endpoint:
            from hfbridge.inference.server_facts import aserver_facts  # noqa: PLC0415

            facts = await aserver_facts(self.async_client, self.spec.model_id)
            self._image_verdict(facts, None)
        else:
            from hfbridge.catalog import acapabilities  # noqa: PLC0415 - router path only

            self._image_verdict(None, await acapabilities(self.spec, catalog=self.catalog))

    def count_tokens(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> int:
        """Tokens of ``messages`` (and ``tools``) as the next call counts its prompt.

        Counted by a self-hosted server that offers a counter (:mod:`hfbridge.inference.
        token_count`), else estimated with a :class:`~hfbridge.inference.token_count.
        TokenEstimateWarning`.
        """
        from hfbridge.inference.token_count import count_messages  # noqa: PLC0415 - on use

        client = self.client if self.custom_endpoint else None
        return count_messages(client, self.spec.model_id, messages, tools)

    def count_text_tokens(self, text: str) -> int:
        """Tokens of ``text`` as it is (no chat template), counted like :meth:`count_tokens`."""
        from hfbridge.inference.token_count import count_text  # noqa: PLC0415 - on use

        client = self.client if self.custom_endpoint else None
        return count_text(client, self.spec.model_id, text)

    def context_window(self, default: int) -> int:
        """The context window a call may rely on (one verdict for every adapter), else ``default``.

        The profile's ``max_input_tokens``: a pinned provider's window; unpinned, the smallest
        live provider's (the router may pick any of them, so a larger one is not safe for a
        limit); a ``base_url`` server's own (llama.cpp ``n_ctx``, vLLM ``max_model_len``) once
        its facts were learnt (:meth:`profile`, ``ChatHF.refresh_profile()``): this never asks a
        self-hosted server itself, so that bad input still fails before any request.
        """
        if self.custom_endpoint:
            from hfbridge.inference.server_facts import known_facts  # noqa: PLC0415

            facts = known_facts(self.client.config.base_url, self.spec.model_id)
            length = None if facts is None else facts.get("max_input_tokens")
            return length if isinstance(length, int) and length > 0 else default
        length = self.profile().get("max_input_tokens")
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
        request = self._request(messages, params)
        self.check_images(messages)
        request = self._served_request(request)
        targets, route = self.targets(params)
        with self.explained():
            return self._result(self.routes.call(request, targets, options), route)

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
    ) -> ChatResult:
        """Async form of :meth:`complete`."""
        request = self._request(messages, params)
        await self.acheck_images(messages)
        request = await self._aserved_request(request)
        targets, route = await self.atargets(params)
        with self.explained():
            return await self._aresult(await self.routes.acall(request, targets, options), route)

    def stream(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
        *,
        include_usage: bool = True,
    ) -> ChatStream:
        """A streamed completion; iterate the returned :class:`ChatStream` for deltas.

        The request is validated here, before any request; it is sent on iteration.
        """
        request = self._request(messages, params, stream=True, include_usage=include_usage)
        return ChatStream(self, request, options, sync=True, messages=messages)

    def astream(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
        *,
        include_usage: bool = True,
    ) -> AsyncChatStream:
        """Async form of :meth:`stream`."""
        request = self._request(messages, params, stream=True, include_usage=include_usage)
        return ChatStream(self, request, options, sync=False, messages=messages)


def _with_body(request: ChatRequest, body: Mapping[str, Any]) -> AnyRequest:
    return request if body is request.body else request.with_body(body)


def _price(caps: Any, provider: str | None, usage: Usage | None) -> float | None:
    from hfbridge.catalog import estimate_cost  # noqa: PLC0415

    info = next((p for p in caps.providers if p.provider == provider), None)
    assert usage is not None  # noqa: S101 - checked by _priced
    return estimate_cost(info, usage.prompt_tokens, usage.completion_tokens)


def _structured_method(caps: Any) -> str:
    if caps is not None and caps.supports_structured_output is False:
        return "function_calling"
    return "json_schema"


def _forced(payload: Mapping[str, Any], kind: str | None) -> Mapping[str, Any]:
    if kind not in IGNORES_NAMED_CHOICE:
        return payload
    logger.debug("hfbridge: %s ignores a named tool_choice: sending that tool, 'required'", kind)
    return force_named_tool(payload)


class ChatStream(ServedStream[StreamDelta, ChatResult]):
    """Deltas, then :meth:`result` gives the assembled :class:`ChatResult`.

    Iterate with ``for`` after :meth:`ChatService.stream`, ``async for`` after ``astream``.
    """

    def __init__(
        self, service: ChatService, request: AnyRequest, options: CallOptions | None, *,
        sync: bool, messages: Sequence[Mapping[str, Any]] = (),
    ) -> None:  # fmt: skip
        self.route = ""
        self._messages = messages
        self.request = request
        self._service = service
        self._cost: Any = _UNPRICED  # an async stream is priced when it ends (asynchronously)
        if sync:
            inner: Any = service.routes.stream(request, self._plan, options)
            super().__init__(inner, self._finished)
        else:
            inner = service.routes.astream(request, self._aplan, options)
            super().__init__(inner, self._finished, aend=self._aprice)

    def _plan(self) -> list[Target]:
        # Asked on iteration, like the server's reading of the body (it may take a request).
        self._service.check_images(self._messages)
        self.inner.request = self._service._served_request(self.request)  # noqa: SLF001
        targets, self.route = self._service.targets(self.request.params)
        return targets

    async def _aplan(self) -> list[Target]:
        await self._service.acheck_images(self._messages)
        self.inner.request = await self._service._aserved_request(self.request)  # noqa: SLF001
        targets, self.route = await self._service.atargets(self.request.params)
        return targets

    async def _aprice(self, served: Served[ChatCompletion]) -> None:
        # result() is sync and must not ask the catalog on the event loop: priced here.
        self._cost = await self._service._served_cost(served)  # noqa: SLF001 - same module

    def _finished(self, served: Served[ChatCompletion]) -> ChatResult:
        return self._service._result(served, self.route, cost=self._cost)  # noqa: SLF001

    def __iter__(self) -> Iterator[StreamDelta]:
        with self._service.explained():
            yield from super().__iter__()

    async def __aiter__(self) -> AsyncIterator[StreamDelta]:
        with self._service.explained():
            async for delta in super().__aiter__():
                yield delta

    @property
    def accumulator(self) -> StreamRecord:
        """The stream's record so far (text, reasoning and tool calls per choice)."""
        fold = self.inner.fold
        if isinstance(fold, ChunkAccumulator | ResponsesStreamFold):
            return fold
        return ChunkAccumulator()


AsyncChatStream = ChatStream
"""The same class, made by :meth:`ChatService.astream` (iterate with ``async for``)."""
