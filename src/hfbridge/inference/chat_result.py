"""What a chat answer becomes: a :class:`ChatResult` priced from the catalog, or a reworded error.

:class:`ChatReading` reads what the route loop hands back (:class:`~hfbridge.inference.service.
Served`): the model and provider that served, the request id, and the cost estimate from the
catalog's price for that provider and the answer's usage (self-hosted servers are not priced, but
their ``Server`` header teaches what they are, :mod:`hfbridge.inference.server_kinds`). An async
call or stream is priced through the async catalog, so no sync catalog request runs on the event
loop. A 404/405 from a self-hosted server on ``/responses`` is reworded to say how to switch back
to chat completions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFStatusError
from hfbridge.inference.chat_profile import ChatProfile
from hfbridge.inference.server_kinds import note_answer
from hfbridge.inference.service import Served
from hfbridge.wire.chat import ChatCompletion, Usage

UNPRICED: Any = object()
"""``cost=`` of :meth:`ChatReading.result_of`: still to ask the catalog (``None``: unpriced)."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished chat call and where it ran."""

    completion: ChatCompletion
    model: str
    provider: str | None
    request_id: str | None
    cost_usd: float | None = None
    route: str = ""


class ChatReading(ChatProfile):
    """Answers and errors of a chat call as the caller gets them (see the module docstring)."""

    def result_of(
        self, served: Served[ChatCompletion], route: str, *, cost: Any = UNPRICED
    ) -> ChatResult:
        """The result; ``cost`` when already known (async paths price it beforehand)."""
        target = served.target
        if self.custom_endpoint:
            note_answer(self.client.config.base_url, served.headers)
        provider = served.provider
        if cost is UNPRICED:
            cost = self._cost(self.spec_of(target), provider, served.result.usage)
        return ChatResult(
            completion=served.result,
            model=target.model or "",
            provider=provider,
            request_id=served.request_id,
            cost_usd=cost,
            route=route,
        )

    async def aresult_of(self, served: Served[ChatCompletion], route: str) -> ChatResult:
        """Async form of :meth:`result_of` (no sync catalog request on the event loop)."""
        return self.result_of(served, route, cost=await self.aserved_cost(served))

    async def aserved_cost(self, served: Served[ChatCompletion]) -> float | None:
        """The cost estimate of ``served``, asked of the async catalog."""
        return await self._acost(self.spec_of(served.target), served.provider, served.result.usage)

    # --- pricing ---

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

    # --- errors ---

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


def _price(caps: Any, provider: str | None, usage: Usage | None) -> float | None:
    from hfbridge.catalog import estimate_cost  # noqa: PLC0415

    info = next((p for p in caps.providers if p.provider == provider), None)
    assert usage is not None  # noqa: S101 - checked by _priced
    return estimate_cost(info, usage.prompt_tokens, usage.completion_tokens)
