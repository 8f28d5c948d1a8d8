"""Chat as a framework-free service: the one place adapters send chat requests, called or streamed.

:class:`ChatService` resolves the model (alias, ``model:provider``, policy) and offers the entry
points: :meth:`~ChatService.complete` and :meth:`~ChatService.stream` (and their async forms). Each
validates the request, then plans the call (:mod:`hfbridge.inference.chat_plan`: capability and
image checks, the catalog's route when the request needs tools or a JSON schema, the body as the
server honours it), sends it through the route loop (:class:`~hfbridge.inference.service.
RouteService`: transport retries, one failover to the next capable provider on a provider error),
and reads the answer (:mod:`hfbridge.inference.chat_result`: provider that served, request id, cost
estimate). What the model can do (capabilities, profile, token counts, context window) is in
:mod:`hfbridge.inference.chat_profile`; :class:`ChatService` stands on all three.
Self-hosted endpoints (``base_url``) skip the catalog: the model name is sent verbatim.
Inline reasoning (``<think>``) is split out by the route (:mod:`hfbridge.wire.chat_completions`).

With ``use_responses_api=True`` the same calls go to the OpenAI Responses API (``POST
/v1/responses``, :mod:`hfbridge.wire.responses`) through the same loop: the answers are the same
:class:`~hfbridge.wire.chat.ChatCompletion` values (what only the Responses API has, such as
server-run MCP calls, is in ``completion.extra["response"]``), routing and failover are the same.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from typing_extensions import Unpack

from hfbridge.catalog.aliases import resolve_model
from hfbridge.catalog.spec import ModelSpec
from hfbridge.inference.chat_plan import AnyRequest, ChatPlanning
from hfbridge.inference.chat_result import UNPRICED, ChatReading, ChatResult
from hfbridge.inference.connection import Connection, ConnectionArgs
from hfbridge.inference.service import (
    PROVIDER_HEADERS,
    CallOptions,
    RouteService,
    Served,
    ServedStream,
)
from hfbridge.wire.chat import ChatCompletion
from hfbridge.wire.chat_completions import CHAT_COMPLETIONS
from hfbridge.wire.responses import RESPONSES
from hfbridge.wire.responses_stream import ResponsesStreamFold
from hfbridge.wire.route import Target
from hfbridge.wire.stream import ChunkAccumulator, StreamDelta, StreamRecord

__all__ = [
    "PROVIDER_HEADERS",
    "AnyRequest",
    "AsyncChatStream",
    "CallOptions",
    "ChatResult",
    "ChatService",
    "ChatStream",
]


class ChatService(ChatPlanning, ChatReading):
    """Send chat completions for one configured model over the shared transport.

    Args:
        model: a model id, ``model:provider``, ``model:fastest|cheapest|preferred``, or an alias
            (``default``, ``large``, ``small``, ``agent``); ``None`` means ``default``.
        base_url: a self-hosted OpenAI-compatible root (``.../v1``); ``None`` uses the router.
        aliases: per-instance alias overrides (``{"default": "org/name"}``).
        client, async_client: clients to use instead of ones built from the settings.
        catalog: the catalog used for routing (default: the process-wide one).
        use_responses_api: send to ``/v1/responses`` instead of ``/v1/chat/completions``.

    Besides the calls below it answers what the model can do
    (:class:`~hfbridge.inference.chat_profile.ChatProfile`) and where a call would go
    (:class:`~hfbridge.inference.chat_plan.ChatPlanning`).
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

    # --- calls ---

    def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
    ) -> ChatResult:
        """One non-streamed completion (with failover across the route's providers)."""
        plan = self.plan(self._request(messages, params), messages)
        with self.explained():
            served = self.routes.call(plan.request, plan.targets, options)
            return self.result_of(served, plan.route)

    async def acomplete(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        options: CallOptions | None = None,
    ) -> ChatResult:
        """Async form of :meth:`complete`."""
        plan = await self.aplan(self._request(messages, params), messages)
        with self.explained():
            served = await self.routes.acall(plan.request, plan.targets, options)
            return await self.aresult_of(served, plan.route)

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
        self._cost: Any = UNPRICED  # an async stream is priced when it ends (asynchronously)
        if sync:
            inner: Any = service.routes.stream(request, self._plan, options)
            super().__init__(inner, self._finished)
        else:
            inner = service.routes.astream(request, self._aplan, options)
            super().__init__(inner, self._finished, aend=self._aprice)

    def _plan(self) -> list[Target]:
        # Asked on iteration, like the server's reading of the body (it may take a request).
        plan = self._service.plan(self.request, self._messages)
        self.inner.request, self.route = plan.request, plan.route
        return plan.targets

    async def _aplan(self) -> list[Target]:
        plan = await self._service.aplan(self.request, self._messages)
        self.inner.request, self.route = plan.request, plan.route
        return plan.targets

    async def _aprice(self, served: Served[ChatCompletion]) -> None:
        # result() is sync and must not ask the catalog on the event loop: priced here.
        self._cost = await self._service.aserved_cost(served)

    def _finished(self, served: Served[ChatCompletion]) -> ChatResult:
        return self._service.result_of(served, self.route, cost=self._cost)

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
