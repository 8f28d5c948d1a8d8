"""Planning a chat call: everything decided before its first request.

:class:`ChatPlanning` turns messages and parameters into what the route loop sends:

- the request, validated once for either chat route (:class:`HFConfigError` before any request;
  on the router, which keeps no responses, also a ``previous_response_id``);
- the targets in order, and why: the configured model, or, when the request needs a capability
  (tools, a JSON schema), the catalog's route to providers that have it
  (:func:`~hfbridge.catalog.plan_route`; a self-hosted ``base_url`` skips the catalog);
- the checks a call must pass first: images go only to a model (or server) that takes them, tools
  only to a model that calls them (:class:`~hfbridge.errors.HFCapabilityError`);
- the body as the server honours it: a named ``tool_choice`` goes to a self-hosted server that
  ignores it (llama.cpp: learnt once per ``base_url``, see :mod:`hfbridge.inference.server_kinds`)
  as that tool alone with ``"required"``, on either route (:mod:`hfbridge.wire.tool_choice`).

:meth:`ChatPlanning.plan` is the one sequence both a call and a stream (on its first iteration)
go through.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from hfbridge.catalog.aliases import BUILTIN_ALIASES
from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFCapabilityError, HFConfigError
from hfbridge.inference.chat_profile import ChatProfile
from hfbridge.inference.server_kinds import aserver_kind, server_kind
from hfbridge.wire.chat import has_image_parts
from hfbridge.wire.chat_completions import ChatRequest, chat_request
from hfbridge.wire.responses import ResponsesRequest, is_server_tool, responses_request
from hfbridge.wire.route import Target
from hfbridge.wire.tool_choice import IGNORES_NAMED_CHOICE, force_named_tool, named_tool

logger = logging.getLogger("hfbridge.inference")

AnyRequest = ChatRequest | ResponsesRequest
"""A validated request of either chat route (chat completions, or the Responses API)."""


class CallPlan(NamedTuple):
    """What the route loop sends: the request as the server honours it, where, and why there."""

    request: AnyRequest
    targets: list[Target]
    route: str


def _needs(params: Mapping[str, Any]) -> tuple[bool, bool]:
    tools = bool(params.get("tools")) and params.get("tool_choice") != "none"
    response_format = params.get("response_format")
    schema = isinstance(response_format, Mapping) and response_format.get("type") == "json_schema"
    return tools, schema


class ChatPlanning(ChatProfile):
    """The decisions of a chat call made before any request (see the module docstring)."""

    _primary: list[Target]

    def plan(self, request: AnyRequest, messages: Sequence[Mapping[str, Any]]) -> CallPlan:
        """Check ``messages``, settle the body for the server, then choose the targets."""
        self.check_images(messages)
        served = self._served_request(request)
        targets, route = self.targets(request.params)
        return CallPlan(served, targets, route)

    async def aplan(self, request: AnyRequest, messages: Sequence[Mapping[str, Any]]) -> CallPlan:
        """Async form of :meth:`plan`."""
        await self.acheck_images(messages)
        served = await self._aserved_request(request)
        targets, route = await self.atargets(request.params)
        return CallPlan(served, targets, route)

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

    def check_tools_supported(self) -> None:
        """Fail before any request when the model cannot call tools.

        Raises :class:`~hfbridge.errors.HFCapabilityError` when the pinned provider lacks tool
        support, or no live provider has it. Rerouting to a capable provider happens per call.
        """
        self.candidates({"tools": [{"type": "function", "function": {"name": "probe"}}]})

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
            self._image_verdict(None, await self.acapabilities())

    # --- the request, and the body as the server honours it ---

    def _request(
        self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any], *,
        stream: bool = False, include_usage: bool = True,
    ) -> AnyRequest:  # fmt: skip
        if self.use_responses_api:
            # llama.cpp reads only the chat-style response_format: a self-hosted server gets both.
            # The router keeps no responses: previous_response_id is refused there, sent elsewhere.
            return responses_request(
                messages, params, stream=stream, mirror_response_format=self.custom_endpoint,
                stateless=not self.custom_endpoint,
            )  # fmt: skip
        # What only the Responses API can honour is refused here, not sent to be ignored.
        tools = params.get("tools")
        if isinstance(tools, list) and any(is_server_tool(tool) for tool in tools):
            raise HFConfigError(
                "tools of type 'mcp' (or another server-side tool) run on the server through "
                "the Responses API only: set use_responses_api=True, or bind function tools."
            )
        if params.get("previous_response_id") is not None:
            raise HFConfigError(
                "previous_response_id belongs to the Responses API: a chat completions server "
                "ignores it, so the model would answer without the earlier turns. Send the "
                "conversation's messages instead, or set use_responses_api=True with a base_url "
                "server that stores responses."
            )
        return chat_request(
            messages, params, model=self._primary[0].model, stream=stream,
            include_usage=include_usage,
        )  # fmt: skip

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

    def _served_request(self, request: AnyRequest) -> AnyRequest:
        body = self.for_server(request.body)
        return request if body is request.body else request.with_body(body)

    async def _aserved_request(self, request: AnyRequest) -> AnyRequest:
        body = await self.afor_server(request.body)
        return request if body is request.body else request.with_body(body)


def _forced(payload: Mapping[str, Any], kind: str | None) -> Mapping[str, Any]:
    if kind not in IGNORES_NAMED_CHOICE:
        return payload
    logger.debug("hfbridge: %s ignores a named tool_choice: sending that tool, 'required'", kind)
    return force_named_tool(payload)
