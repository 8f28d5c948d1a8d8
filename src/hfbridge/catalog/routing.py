"""Pick ``model:provider`` for what a request needs (tools, a JSON schema, a long prompt).

Rules (:func:`plan_route`):

- No need: the spec goes as configured (``:fastest``/``:cheapest``/``:preferred`` and pins pass
  through to the router, which applies them).
- Catalog unreachable, or the model not in the router's catalogue: as configured (never blocks).
- A pinned provider the catalog says lacks a need: :class:`~hfbridge.errors.HFCapabilityError`
  naming the providers that have it. Unknown support (a missing field) is not a refusal.
- Otherwise: pin the best live provider that has every need, by the spec's policy (``cheapest``:
  lowest output price; ``fastest`` or none: highest throughput; ``preferred``: catalogue order),
  with up to two more as failover targets. Tool calling and context length are requirements;
  structured output is a preference (providers without it still serve through the router).
  Providers whose support is unknown come after those known to have it. No live provider able to
  serve: :class:`~hfbridge.errors.HFCapabilityError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from hfbridge.catalog.capability import (
    ModelCapabilities,
    ProviderInfo,
    acapabilities,
    capabilities,
)
from hfbridge.catalog.catalog import Catalog
from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFCapabilityError, HFError

MAX_FALLBACKS = 2
_TOKENS_PER_UNIT = 1_000_000  # catalog prices are USD per million tokens
Verdict = Literal["yes", "no", "unknown"]


@dataclass(frozen=True, slots=True)
class RoutePlan:
    """Where to send a request: ``primary`` first, then ``fallbacks`` on a provider error."""

    primary: ModelSpec
    fallbacks: list[ModelSpec] = field(default_factory=list)
    reason: str = ""

    @property
    def candidates(self) -> list[ModelSpec]:
        """``primary`` followed by the fallbacks."""
        return [self.primary, *self.fallbacks]


@dataclass(frozen=True, slots=True)
class _Needs:
    tools: bool
    structured_output: bool
    min_context: int | None

    def __bool__(self) -> bool:
        return self.tools or self.structured_output or bool(self.min_context)

    def describe(self) -> str:
        parts = ["tool calling"] if self.tools else []
        if self.structured_output:
            parts.append("structured output")
        if self.min_context:
            parts.append(f"a {self.min_context}-token context")
        return " + ".join(parts)

    def hard(self, info: ProviderInfo) -> list[tuple[str, Verdict]]:
        """Verdicts for the requirements (tools, context), by name."""
        verdicts: list[tuple[str, Verdict]] = []
        if self.tools:
            verdicts.append(("tool calling", _flag(info.supports_tools)))
        if self.min_context:
            length = info.context_length
            verdict: Verdict = (
                "unknown" if length is None else "yes" if length >= self.min_context else "no"
            )
            verdicts.append(("context", verdict))
        return verdicts


def _flag(value: bool | None) -> Verdict:
    return "unknown" if value is None else "yes" if value else "no"


def _policy_key(info: ProviderInfo, policy: str | None) -> tuple[float, float]:
    if policy == "cheapest":
        output = info.output_price if info.output_price is not None else math.inf
        return output, info.input_price if info.input_price is not None else math.inf
    if policy == "preferred":
        return 0.0, 0.0  # the catalogue order (a stable sort keeps it)
    return (-info.throughput if info.throughput is not None else math.inf), 0.0


def _policy_text(policy: str | None) -> str:
    return {
        "cheapest": "lowest output price",
        "preferred": "first in the catalogue's order",
    }.get(policy or "", "highest throughput")


def _missing_text(spec: ModelSpec, info: ProviderInfo, missing: list[str], needs: _Needs) -> str:
    texts = []
    for name in missing:
        if name == "context":
            texts.append(
                f"serves only {info.context_length} tokens of context, fewer than the "
                f"{needs.min_context} this request needs"
            )
        else:
            texts.append(f"does not support {name}")
    return f"provider '{info.provider}' " + " and ".join(texts) + f" for model {spec.model_id}"


def _pinned(spec: ModelSpec, caps: ModelCapabilities, needs: _Needs) -> RoutePlan:
    info = caps.pinned
    if info is None:
        return RoutePlan(
            spec, [], f"provider '{spec.provider}' is not in the catalogue for {spec.model_id}: "
            "sent as configured",
        )  # fmt: skip
    missing = [name for name, verdict in needs.hard(info) if verdict == "no"]
    if needs.structured_output and info.supports_structured_output is False:
        missing.append("structured output")
    if not missing:
        return RoutePlan(
            spec, [], f"{needs.describe()}: pinned provider '{info.provider}' as configured"
        )
    capable = [
        other.provider
        for other in caps.live_providers
        if all(verdict == "yes" for _, verdict in needs.hard(other))
        and not (needs.structured_output and other.supports_structured_output is not True)
    ]
    message = _missing_text(spec, info, missing, needs)
    if capable:
        message += (
            f"; providers that do: {', '.join(capable)}; pin one with "
            f"'{spec.model_id}:{capable[0]}' or drop ':{info.provider}'"
        )
    else:
        message += f"; no live provider of {spec.model_id} does: {_suggestion(missing)}"
    if "structured output" in missing:
        message += " (or use with_structured_output(method='function_calling'))"
    raise HFCapabilityError(
        message + ".",
        model=spec.model_id,
        provider=info.provider,
        capability=missing[0],
        capable_providers=tuple(capable),
    )


def _suggestion(missing: list[str]) -> str:
    if "tool calling" in missing:
        return (
            "use the 'agent' alias (a model served with tool calling) or pick one from "
            "`hfbridge models --tools`"
        )
    if "context" in missing:
        return "shorten the prompt or pick a model with a longer context (`hfbridge models`)"
    return "pick another model (`hfbridge models`)"


def _no_provider(spec: ModelSpec, caps: ModelCapabilities, needs: _Needs) -> HFCapabilityError:
    live = caps.live_providers
    if not live:
        statuses = ", ".join(
            f"{info.provider}={info.status or 'unknown'}" for info in caps.providers
        )
        hint = _suggestion(["tool calling"] if needs.tools else [])
        return HFCapabilityError(
            f"no live provider serves model {spec.model_id} "
            f"(catalogue: {statuses or 'no providers'}); retry later or {hint}.",
            model=spec.model_id,
            capability=needs.describe(),
        )
    missing = sorted(
        {name for info in live for name, verdict in needs.hard(info) if verdict == "no"}
    )
    details = []
    if "tool calling" in missing:
        details.append("supports tool calling")
    if "context" in missing:
        longest = max((info.context_length or 0) for info in live)
        details.append(f"accepts a {needs.min_context}-token context; the longest is {longest}")
    return HFCapabilityError(
        f"no live provider of model {spec.model_id} {' and '.join(details)} "
        f"(live: {', '.join(info.provider for info in live)}); {_suggestion(missing)}.",
        model=spec.model_id,
        capability=missing[0] if missing else needs.describe(),
    )


def decide_route(
    spec: ModelSpec,
    caps: ModelCapabilities,
    *,
    needs_tools: bool = False,
    needs_structured_output: bool = False,
    min_context: int | None = None,
) -> RoutePlan:
    """The route for ``spec`` given what the catalog says (``caps``); pure, no I/O."""
    needs = _needs(needs_tools, needs_structured_output, min_context)
    if not needs:
        return RoutePlan(spec, [], "no capability needed: sent as configured")
    if not caps.available:
        return RoutePlan(
            spec, [], "catalog unavailable: sent as configured, capabilities unchecked"
        )
    if not caps.known:
        return RoutePlan(
            spec, [], f"{spec.model_id} is not in the router's catalogue: sent as configured"
        )
    if spec.provider:
        return _pinned(spec, caps, needs)
    ranked: list[tuple[tuple[int, int, float, float], ProviderInfo]] = []
    for info in caps.live_providers:
        verdicts = [verdict for _, verdict in needs.hard(info)]
        if "no" in verdicts:
            continue
        unverified = int("unknown" in verdicts)
        structured = (
            {True: 0, None: 1, False: 2}[info.supports_structured_output]
            if needs.structured_output
            else 0
        )
        ranked.append(((unverified, structured, *_policy_key(info, spec.policy)), info))
    if not ranked:
        raise _no_provider(spec, caps, needs)
    ranked.sort(key=lambda item: item[0])  # stable: ties keep the catalogue's order
    chosen = [info for _, info in ranked[: 1 + MAX_FALLBACKS]]
    best = chosen[0]
    fallbacks = [spec.with_provider(info.provider) for info in chosen[1:]]
    reason = (
        f"{needs.describe()}: chose '{best.provider}' ({_policy_text(spec.policy)}) among "
        f"{len(ranked)} live provider(s) able to serve"
    )
    if ranked[0][0][0]:
        reason += " (support not confirmed by the catalogue)"
    if fallbacks:
        reason += f"; fallbacks: {', '.join(info.provider for info in chosen[1:])}"
    return RoutePlan(spec.with_provider(best.provider), fallbacks, reason)


def _needs(tools: bool, structured: bool, min_context: int | None) -> _Needs:
    return _Needs(
        bool(tools), bool(structured), min_context if min_context and min_context > 0 else None
    )


def plan_route(
    spec: ModelSpec,
    *,
    needs_tools: bool = False,
    needs_structured_output: bool = False,
    min_context: int | None = None,
    catalog: Catalog | None = None,
) -> RoutePlan:
    """Choose ``model:provider`` (and failover targets) for a request's needs.

    Raises :class:`~hfbridge.errors.HFCapabilityError` only on the catalogue's evidence: a pinned
    provider that lacks a need, or no live provider able to serve. Catalog trouble never raises:
    the spec goes as configured.
    """
    if _needs(needs_tools, needs_structured_output, min_context):
        caps = capabilities(spec, catalog=catalog)
    else:  # nothing to check: no catalog lookup
        caps = ModelCapabilities(spec.model_id, spec.provider)
    return decide_route(
        spec, caps, needs_tools=needs_tools, needs_structured_output=needs_structured_output,
        min_context=min_context,
    )  # fmt: skip


async def aplan_route(
    spec: ModelSpec,
    *,
    needs_tools: bool = False,
    needs_structured_output: bool = False,
    min_context: int | None = None,
    catalog: Catalog | None = None,
) -> RoutePlan:
    """Async form of :func:`plan_route`."""
    if _needs(needs_tools, needs_structured_output, min_context):
        caps = await acapabilities(spec, catalog=catalog)
    else:  # nothing to check: no catalog lookup
        caps = ModelCapabilities(spec.model_id, spec.provider)
    return decide_route(
        spec, caps, needs_tools=needs_tools, needs_structured_output=needs_structured_output,
        min_context=min_context,
    )  # fmt: skip


def is_failover_error(exc: BaseException) -> bool:
    """Whether another provider may succeed where this one failed (``HFError.fails_over``).

    5xx (including 503 "model is loading" once the transport's retries are spent) and 422 (the
    provider rejected a feature, e.g. tools), as status errors or as error events opening a stream:
    the policy table in :mod:`hfbridge.errors`.
    """
    return isinstance(exc, HFError) and exc.fails_over


def estimate_cost(
    provider_info: ProviderInfo | None, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """USD cost of a call from its token usage and the provider's prices; ``None`` if unpriced.

    A provider marked ``is_free`` (a promotion) costs 0. A price the call needs but the catalogue
    lacks makes the estimate ``None`` rather than a wrong number.
    """
    if provider_info is None:
        return None
    if provider_info.is_free:
        return 0.0
    total = 0.0
    for tokens, price in (
        (prompt_tokens, provider_info.input_price),
        (completion_tokens, provider_info.output_price),
    ):
        if tokens:
            if price is None:
                return None
            total += tokens * price / _TOKENS_PER_UNIT
    if provider_info.input_price is None and provider_info.output_price is None:
        return None
    return total
