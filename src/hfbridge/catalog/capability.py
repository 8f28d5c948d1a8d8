"""What a model (and its pinned provider) can do, from the catalog, without ever failing a call.

:func:`capabilities` is what adapters ask on ``bind_tools``, for LlamaIndex ``metadata`` and to
price a call. It answers from the catalog's in-memory cache when it can (a dictionary lookup), and
when the catalog cannot be reached it returns "unknown" (``known=False``, every helper ``None``)
after one :class:`CatalogUnavailableWarning`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from dataclasses import dataclass, field

from hfbridge.catalog.answers import CatalogUnavailableWarning
from hfbridge.catalog.catalog import Catalog, default_catalog
from hfbridge.catalog.models import RouterModel, RouterProvider, is_live_status
from hfbridge.catalog.spec import ModelSpec, parse_model_spec
from hfbridge.errors import HFConfigError

logger = logging.getLogger("hfbridge.catalog")

__all__ = [
    "AliasWarning",
    "CatalogUnavailableWarning",
    "ModelCapabilities",
    "ProviderInfo",
    "acapabilities",
    "capabilities",
]


class AliasWarning(UserWarning):
    """An alias points at a model that no live provider serves (or that lacks what it promises)."""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One provider's row for a model. Prices are USD per million tokens; ``None`` is unknown."""

    provider: str
    status: str | None = None
    context_length: int | None = None
    input_price: float | None = None
    output_price: float | None = None
    supports_tools: bool | None = None
    supports_structured_output: bool | None = None
    first_token_latency_ms: float | None = None
    throughput: float | None = None
    is_model_author: bool | None = None
    is_free: bool | None = None

    @property
    def is_live(self) -> bool:
        """True when the provider passed the router's latest health check."""
        return is_live_status(self.status)

    @classmethod
    def from_router(cls, entry: RouterProvider) -> ProviderInfo:
        """The row of a router ``/v1/models`` provider entry."""
        pricing = entry.pricing
        return cls(
            provider=entry.provider,
            status=entry.status,
            context_length=entry.context_length,
            input_price=pricing.input if pricing is not None else None,
            output_price=pricing.output if pricing is not None else None,
            supports_tools=entry.supports_tools,
            supports_structured_output=entry.supports_structured_output,
            first_token_latency_ms=entry.first_token_latency_ms,
            throughput=entry.throughput,
            is_model_author=entry.is_model_author,
            is_free=entry.is_free,
        )


def _any_live(values: list[bool | None], known: bool) -> bool | None:
    """True if one live provider has it; False if none can (all say no); None if undecided."""
    if not known:
        return None
    if any(value is True for value in values):
        return True
    return False if all(value is False for value in values) else None


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """What the catalog knows of a model: its providers and what the pinned one (or any) can do.

    Attributes:
        model_id: the model.
        provider: the pinned provider (``model:provider``), else ``None``.
        known: the catalog has the model (``False``: unreachable, or the router does not list it).
        available: the catalog answered (from the network or its cache).
        providers: every provider entry, in the router's order (any status); shared between
            calls, do not mutate.
        input_modalities, output_modalities: e.g. ``("text", "image")``.
        note: why the answer is unknown, when it is.
    """

    model_id: str
    provider: str | None = None
    known: bool = False
    available: bool = False
    providers: list[ProviderInfo] = field(default_factory=list)
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    note: str = ""

    @property
    def live_providers(self) -> list[ProviderInfo]:
        """Providers whose status is ``live``, in the router's order."""
        return [info for info in self.providers if info.is_live]

    def provider_info(self, name: str | None) -> ProviderInfo | None:
        """The row of provider ``name``, if it serves the model."""
        return next((info for info in self.providers if info.provider == name), None)

    @property
    def pinned(self) -> ProviderInfo | None:
        """The pinned provider's row (``None`` when not pinned or not listed)."""
        return self.provider_info(self.provider) if self.provider else None

    @property
    def context_length(self) -> int | None:
        """The pinned provider's context length, else the largest of the live providers'."""
        if self.provider:
            pinned = self.pinned
            return pinned.context_length if pinned is not None else None
        lengths = [info.context_length for info in self.live_providers if info.context_length]
        return max(lengths) if lengths else None

    @property
    def supports_tools(self) -> bool | None:
        """Tool calling: the pinned provider's flag, else whether any live provider has it."""
        if self.provider:
            pinned = self.pinned
            return pinned.supports_tools if pinned is not None else None
        return _any_live([info.supports_tools for info in self.live_providers], self.known)

    @property
    def supports_structured_output(self) -> bool | None:
        """``response_format`` support: the pinned provider's, else whether any live one has it."""
        if self.provider:
            pinned = self.pinned
            return pinned.supports_structured_output if pinned is not None else None
        return _any_live(
            [info.supports_structured_output for info in self.live_providers], self.known
        )

    @property
    def supports_images(self) -> bool | None:
        """Whether the model takes images as input (``None`` when unknown)."""
        return "image" in self.input_modalities if self.known else None


_MEMO_SIZE = 1024
_memo: dict[tuple[int, str | None, str | None], tuple[RouterModel, ModelCapabilities]] = {}


def _build(spec: ModelSpec, model: RouterModel | None, catalog: Catalog) -> ModelCapabilities:
    if model is None:
        return _describe(spec, model, catalog)
    # A cached RouterModel object lives as long as its cache entry: same object, same answer.
    key = (id(model), spec.provider, spec.alias)
    hit = _memo.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    caps = _describe(spec, model, catalog)
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[key] = (model, caps)
    return caps


def _describe(spec: ModelSpec, model: RouterModel | None, catalog: Catalog) -> ModelCapabilities:
    if model is None:
        caps = ModelCapabilities(
            spec.model_id, spec.provider, known=False, available=True,
            note="the router's catalogue does not list this model",
        )  # fmt: skip
    else:
        architecture = model.architecture
        caps = ModelCapabilities(
            model.id,
            spec.provider,
            known=True,
            available=True,
            providers=[ProviderInfo.from_router(entry) for entry in model.providers],
            input_modalities=tuple(architecture.input_modalities) if architecture else (),
            output_modalities=tuple(architecture.output_modalities) if architecture else (),
        )
    if spec.alias:
        _check_alias(spec, caps, catalog)
    return caps


def _check_alias(spec: ModelSpec, caps: ModelCapabilities, catalog: Catalog) -> None:
    """Warn (once) when an alias points at a model that cannot do what the alias promises."""
    if not caps.live_providers:
        problem = "which no live provider serves according to the router's catalogue"
    elif spec.alias == "agent" and not any(info.supports_tools for info in caps.live_providers):
        problem = "which no live provider serves with tool calling, as 'agent' promises"
    else:
        return
    catalog.warn_once(
        f"alias:{spec.alias}:{spec.model_id}",
        f"hfbridge: alias {spec.alias!r} points at {spec.model_id!r}, {problem}. Point the alias "
        "at a served model (HFBRIDGE_ALIASES, hfbridge.toml or aliases=...); `hfbridge models "
        "--tools` lists them.",
        AliasWarning,
    )


def _unavailable(spec: ModelSpec, catalog: Catalog, error: BaseException) -> ModelCapabilities:
    logger.debug("hfbridge: catalog unavailable for %s: %r", spec, error)
    if catalog.offline:
        note = "the catalog is offline and has no cached copy"
    else:
        catalog.warn_unavailable(error)
        note = f"the catalog is unreachable ({type(error).__name__})"
    return ModelCapabilities(spec.model_id, spec.provider, note=note)


def _spec(spec: ModelSpec | str) -> ModelSpec:
    return spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)


def capabilities(spec: ModelSpec | str, *, catalog: Catalog | None = None) -> ModelCapabilities:
    """What ``spec``'s model and pinned provider can do. Never raises on catalog trouble.

    Cheap once cached: the router entry is kept in memory for the catalog's TTL. When the catalog
    cannot answer, the result has ``known=False`` and every helper is ``None`` (unknown), and one
    :class:`CatalogUnavailableWarning` is emitted per catalog (per process for the default one).

    Called on a thread that runs an event loop (a sync helper such as LlamaIndex's ``metadata``
    used from async code), it never blocks the loop with a request: it answers from memory, or
    "unknown" while a fetch starts in the background for the next question. Async code should
    await :func:`acapabilities`. A notebook cell is the exception: the kernel runs every cell on
    its event loop, and a sync call there is sync code that blocks like every other one in the
    cell (``ChatHF.invoke`` does), so it fetches. A configuration error (:class:`HFConfigError`)
    is raised.
    """
    spec = _spec(spec)
    catalog = catalog or default_catalog()
    if _event_loop_running() and not _in_notebook_kernel():
        cached, model = catalog.cached_router_model(spec.model_id)
        if not cached:
            catalog.prefetch_router_model(spec.model_id)
            return ModelCapabilities(
                spec.model_id, spec.provider,
                note="not fetched yet: asked from a running event loop (await acapabilities)",
            )  # fmt: skip
        return _build(spec, model, catalog)
    try:
        model = catalog.router_model(spec.model_id)
    except HFConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - by contract the catalog never fails a call
        return _unavailable(spec, catalog, error)
    return _build(spec, model, catalog)


def _in_notebook_kernel() -> bool:
    # The loop of a Jupyter kernel runs the user's cells on the main thread: a sync call from a
    # cell (bind_tools, capabilities) is the user's sync code, not an async path of ours.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None or threading.current_thread() is not threading.main_thread():
        return False
    shell = get_ipython()
    return shell is not None and "kernel" in getattr(shell, "__class__", type).__module__


def _event_loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def acapabilities(
    spec: ModelSpec | str, *, catalog: Catalog | None = None
) -> ModelCapabilities:
    """Async form of :func:`capabilities`."""
    spec = _spec(spec)
    catalog = catalog or default_catalog()
    try:
        model = await catalog.arouter_model(spec.model_id)
    except HFConfigError:
        raise  # a misconfigured catalog is not "unreachable": say so instead of routing blind
    except Exception as error:  # noqa: BLE001 - by contract the catalog never fails a call
        return _unavailable(spec, catalog, error)
    return _build(spec, model, catalog)
