"""What the configured chat model can do, and how much it holds: the facts adapters read.

:class:`ChatProfile` is the base of :class:`~hfbridge.inference.chat.ChatService`: one model
(``spec``) on one connection, and what is known about it without sending a chat request. Router
models are answered by the catalog (capabilities, LangChain's profile keys, the structured-output
method); a ``base_url`` by what the server says about itself (:mod:`hfbridge.inference.
server_facts`). Token counts and the context window are here too: a self-hosted server counts
(:mod:`hfbridge.inference.token_count`), the router gets a labelled estimate.

The catalog is imported on use: a self-hosted endpoint never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hfbridge.catalog.spec import ModelSpec
from hfbridge.inference.connection import Connection, OnConnection
from hfbridge.wire.route import Target


class ChatProfile(OnConnection):
    """One chat model on one connection, and what it can do (see the module docstring)."""

    connection: Connection
    spec: ModelSpec
    """The configured model (alias and policy resolved)."""
    custom_endpoint: bool
    """Whether requests go to a self-hosted ``base_url`` (no catalog; the name sent verbatim)."""
    use_responses_api: bool
    """Whether calls go to ``/v1/responses`` instead of ``/v1/chat/completions``."""
    _specs: dict[Target, ModelSpec]
    # The spec behind each target planned so far: an answer is priced by the model that served.

    @property
    def catalog(self) -> Any:
        """The catalog used for routing (``None``: the process-wide one)."""
        return self.connection.catalog

    def spec_of(self, target: Target) -> ModelSpec:
        """The model spec a planned ``target`` stands for (the configured one if unknown)."""
        return self._specs.get(target, self.spec)

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

    # --- how much it holds ---

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

    def text_token_ids(self, text: str) -> list[int] | None:
        """The token ids of ``text`` from a self-hosted server's tokenizer; ``None`` elsewhere.

        The same request :meth:`count_text_tokens` counts with (``len`` of the ids is its count);
        the router has no tokenizer, and hfbridge does not guess ids.
        """
        from hfbridge.inference.token_count import text_token_ids  # noqa: PLC0415 - on use

        client = self.client if self.custom_endpoint else None
        return text_token_ids(client, self.spec.model_id, text)

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


def _structured_method(caps: Any) -> str:
    if caps is not None and caps.supports_structured_output is False:
        return "function_calling"
    return "json_schema"
