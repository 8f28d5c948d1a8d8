"""The catalog client: which models and providers exist, and what each can do.

Two sources: the router's ``/v1/models`` (chat models, with per-provider status, context, pricing,
tool and structured-output support, latency, throughput) and the Hub's ``/api/models`` (any task,
status ``warm``, provider mappings). This module holds the questions: for each, its cache key, its
URL and how its answer is parsed. How an answer is cached, refreshed and remembered when its fetch
fails is :mod:`hfbridge.catalog.answers` (the base class of :class:`Catalog`); how a request is
sent and a Hub listing paged is :mod:`hfbridge.catalog.fetching`.

The methods here raise :class:`~hfbridge.errors.HFError` when they cannot answer; the
never-raising helpers adapters use are :func:`hfbridge.catalog.capability` and
:func:`hfbridge.catalog.plan_route`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote, urlencode

from hfbridge._constants import CATALOG_FAILURE_TTL, CATALOG_TTL
from hfbridge._urls import validate_base_url
from hfbridge.catalog.answers import CachedAnswers, CatalogUnavailableWarning
from hfbridge.catalog.fetching import (
    HUB_MAX_PAGES,
    HUB_PAGE_SIZE,
    aget_json,
    aget_pages,
    catalog_config,
    get_json,
    get_pages,
)
from hfbridge.catalog.models import (
    HubModel,
    ModelStatus,
    ProviderMapping,
    RouterModel,
    parse_hub_model,
    parse_hub_models,
    parse_router_model,
    parse_router_models,
)
from hfbridge.catalog.spec import parse_model_spec
from hfbridge.errors._checks import positive_int
from hfbridge.transport import AsyncHFClient, HFClient, router_v1_url
from hfbridge.transport.config import hub_api_url

__all__ = ["HUB_MAX_PAGES", "Catalog", "CatalogUnavailableWarning", "default_catalog"]

logger = logging.getLogger("hfbridge.catalog")

_HUB_MODEL_EXPAND = ("inference", "inferenceProviderMapping", "pipeline_tag")
_ROUTER_LIST = "router/models"
_ROUTER_MODEL = "router/model/"  # + the model id: the key of its /v1/models/{id} answer


@dataclass(frozen=True)
class _RouterIndex:
    models: list[RouterModel]
    by_id: dict[str, RouterModel] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {model.id: model for model in self.models})


def _index(body: Any) -> _RouterIndex:
    return _RouterIndex(parse_router_models(body))


@lru_cache(maxsize=1024)
def _model_id(model_id: str) -> str:
    """The bare id of ``model_id`` (a ``:provider`` suffix is dropped); HFConfigError if invalid."""
    return parse_model_spec(model_id).model_id


class Catalog(CachedAnswers):
    """Router and Hub catalogue client with a TTL cache in memory and on disk.

    Args:
        client, async_client: clients for the sync and async methods (each defaults to one built
            from the other's settings, else to a default client with a short timeout).
        ttl: seconds an answer stays fresh.
        cache_dir: directory of the on-disk cache; ``None`` means ``$HFBRIDGE_CACHE_DIR/catalog``
            or ``<HF home>/hfbridge/catalog``; ``False`` keeps the cache in memory only.
        offline: answer from the cache only (default: ``HF_HUB_OFFLINE``).
        clock: wall-clock seconds (injectable for tests).
        failure_ttl: seconds a failed fetch is remembered before the network is tried again.
        router_url, hub_url: roots of the router (``.../v1``; default ``HFBRIDGE_ROUTER_URL``'s or
            Hugging Face's) and of the Hub API (``.../api``; default ``HF_ENDPOINT``'s).
    """

    def __init__(  # noqa: PLR0913 - the catalog's settings
        self,
        client: HFClient | None = None,
        async_client: AsyncHFClient | None = None,
        *,
        ttl: float = CATALOG_TTL,
        cache_dir: str | os.PathLike[str] | Literal[False] | None = None,
        offline: bool | None = None,
        clock: Callable[[], float] = time.time,
        failure_ttl: float = CATALOG_FAILURE_TTL,
        router_url: str | None = None,
        hub_url: str | None = None,
    ) -> None:
        self._client = client
        self._async_client = async_client
        super().__init__(
            ttl=ttl, cache_dir=cache_dir, offline=offline, clock=clock, failure_ttl=failure_ttl
        )
        self.router_url = validate_base_url(router_url or router_v1_url(), what="router_url")
        self.hub_url = (
            validate_base_url(hub_url, what="hub_url") if hub_url is not None else hub_api_url()
        )
        self._prefetching: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        where = self.cache.directory or "memory only"
        return f"Catalog(ttl={self.cache.ttl}, cache={where}, offline={self.offline})"

    def __copy__(self) -> Catalog:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Catalog:
        # Shared state (cache, locks, clients): a copied model keeps using the same catalog.
        return self

    # --- clients ---------------------------------------------------------------------------------

    @property
    def client(self) -> HFClient:
        """The client of the sync methods (from the async one's settings when only it was given)."""
        if self._client is None:
            other = self._async_client.config if self._async_client is not None else None
            self._client = HFClient(catalog_config(other))
        return self._client

    @property
    def async_client(self) -> AsyncHFClient:
        """The client of the async methods (from the sync one's settings when only it was given)."""
        if self._async_client is None:
            other = self._client.config if self._client is not None else None
            self._async_client = AsyncHFClient(catalog_config(other))
        return self._async_client

    # --- router ----------------------------------------------------------------------------------

    def _router_index(self, refresh: bool) -> _RouterIndex:
        url = f"{self.router_url}/models"
        return self._get(_ROUTER_LIST, lambda: get_json(self.client, url), _index, refresh)

    async def _arouter_index(self, refresh: bool) -> _RouterIndex:
        url = f"{self.router_url}/models"
        return await self._aget(
            _ROUTER_LIST, lambda: aget_json(self.async_client, url), _index, refresh
        )

    def router_models(self, refresh: bool = False) -> list[RouterModel]:
        """Every chat model the router lists, with its providers."""
        return list(self._router_index(refresh).models)

    async def arouter_models(self, refresh: bool = False) -> list[RouterModel]:
        """Async form of :meth:`router_models`."""
        return list((await self._arouter_index(refresh)).models)

    def _listed(self, model_id: str, refresh: bool) -> tuple[bool, RouterModel | None]:
        """``(True, model)`` when the full list is fresh in the cache (no request needed)."""
        entry = None if refresh else self.cache.get(_ROUTER_LIST, _index)
        if entry is not None and (self.cache.is_fresh(entry) or self.offline):
            return True, entry.value.by_id.get(model_id)
        return False, None

    def _router_model_request(
        self, model_id: str
    ) -> tuple[str, str, Callable[[Any], RouterModel | None]]:
        url = f"{self.router_url}/models/{quote(model_id, safe='/')}"
        return _ROUTER_MODEL + model_id, url, lambda body: parse_router_model(body, model_id)

    def router_model(self, model_id: str, refresh: bool = False) -> RouterModel | None:
        """One model's router entry, or ``None`` when the router does not list it.

        Uses the full list when it is cached, else ``/v1/models/{id}``; a 404 there is checked
        against the full list (then cached for every later lookup).
        """
        model_id = _model_id(model_id)
        listed, model = self._listed(model_id, refresh)
        if listed:
            return model
        key, url, parse = self._router_model_request(model_id)
        found = self._get(key, lambda: get_json(self.client, url, missing_ok=True), parse, refresh)
        if found is None:
            found = self._router_index(refresh).by_id.get(model_id)
        return found

    async def arouter_model(self, model_id: str, refresh: bool = False) -> RouterModel | None:
        """Async form of :meth:`router_model`."""
        model_id = _model_id(model_id)
        if self.cache.directory is None or self.cache.in_memory(_ROUTER_LIST):
            listed, model = self._listed(model_id, refresh)
        else:  # the disk cache is read on a worker thread, not on the event loop
            listed, model = await asyncio.to_thread(self._listed, model_id, refresh)
        if listed:
            return model
        key, url, parse = self._router_model_request(model_id)
        found = await self._aget(
            key, lambda: aget_json(self.async_client, url, missing_ok=True), parse, refresh
        )
        if found is None:
            found = (await self._arouter_index(refresh)).by_id.get(model_id)
        return found

    def cached_router_model(self, model_id: str) -> tuple[bool, RouterModel | None]:
        """``(True, model)`` when the in-memory cache can answer (fresh or stale), without I/O.

        ``(False, None)`` when it cannot: the sync helpers ask this from a running event loop
        instead of fetching (:func:`hfbridge.catalog.capabilities`).
        """
        model_id = _model_id(model_id)
        listed = self.cache.peek(_ROUTER_LIST)
        if listed is not None:
            return True, listed.value.by_id.get(model_id)
        entry = self.cache.peek(_ROUTER_MODEL + model_id)
        if entry is not None and entry.value is not None:
            return True, entry.value
        return False, None

    def prefetch_router_model(self, model_id: str) -> None:
        """Start fetching ``model_id``'s entry on the running event loop (never waits for it)."""
        loop = asyncio.get_running_loop()
        if model_id in self._prefetching:
            return
        self._prefetching.add(model_id)

        async def fetch() -> None:
            try:
                await self.arouter_model(model_id)
            except Exception as error:  # noqa: BLE001 - a prefetch only warms the cache
                logger.debug("hfbridge: catalog prefetch of %s failed: %r", model_id, error)
            finally:
                self._prefetching.discard(model_id)

        task = loop.create_task(fetch())
        self._tasks.add(task)  # a task is only weakly held by the loop
        task.add_done_callback(self._tasks.discard)

    # --- Hub -------------------------------------------------------------------------------------

    def _hub_models_request(  # noqa: PLR0913 - the Hub's filters
        self,
        *,
        inference_provider: str | Sequence[str] | None,
        pipeline_tag: str | None,
        search: str | None,
        sort: str | None,
        limit: int | None,
        expand: Iterable[str],
    ) -> tuple[str, str, dict[str, Any]]:
        if limit is not None:
            positive_int("limit", limit)
        params: dict[str, Any] = {}
        if inference_provider:
            providers = (
                [inference_provider]
                if isinstance(inference_provider, str)
                else list(inference_provider)
            )
            params["inference_provider"] = ",".join(providers)
        filters = {"pipeline_tag": pipeline_tag, "search": search, "sort": sort}
        params.update({name: value for name, value in filters.items() if value})
        if limit is not None:
            params["limit"] = min(limit, HUB_PAGE_SIZE)
        expansions = list(expand)
        if expansions:
            params["expand[]"] = expansions
        key = f"hub/models?{urlencode(sorted(params.items()), doseq=True)}&max={limit}"
        return key, f"{self.hub_url}/models", params

    def hub_models(  # noqa: PLR0913 - the Hub's filters
        self,
        *,
        inference_provider: str | Sequence[str] | None = None,
        pipeline_tag: str | None = None,
        search: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        expand: Iterable[str] = (),
        refresh: bool = False,
    ) -> list[HubModel]:
        """Hub models matching the filters, following ``Link`` pagination up to ``limit`` models.

        ``inference_provider`` is a slug, several slugs, or ``"all"`` (served by at least one
        provider); ``expand`` selects properties (``inference``, ``inferenceProviderMapping``, ...).
        """
        key, url, params = self._hub_models_request(
            inference_provider=inference_provider, pipeline_tag=pipeline_tag, search=search,
            sort=sort, limit=limit, expand=expand,
        )  # fmt: skip
        return self._get(
            key, lambda: get_pages(self.client, url, params, limit), parse_hub_models, refresh
        )

    async def ahub_models(  # noqa: PLR0913 - the Hub's filters
        self,
        *,
        inference_provider: str | Sequence[str] | None = None,
        pipeline_tag: str | None = None,
        search: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        expand: Iterable[str] = (),
        refresh: bool = False,
    ) -> list[HubModel]:
        """Async form of :meth:`hub_models`."""
        key, url, params = self._hub_models_request(
            inference_provider=inference_provider, pipeline_tag=pipeline_tag, search=search,
            sort=sort, limit=limit, expand=expand,
        )  # fmt: skip
        return await self._aget(
            key,
            lambda: aget_pages(self.async_client, url, params, limit),
            parse_hub_models,
            refresh,
        )

    def _hub_model_request(self, model_id: str) -> tuple[str, str, dict[str, Any]]:
        model_id = _model_id(model_id)
        url = f"{self.hub_url}/models/{quote(model_id, safe='/')}"
        return f"hub/model/{model_id}", url, {"expand[]": list(_HUB_MODEL_EXPAND)}

    def hub_model(self, model_id: str, refresh: bool = False) -> HubModel | None:
        """A model's Hub status and provider mapping; ``None`` if the Hub has no such model."""
        key, url, params = self._hub_model_request(model_id)
        return self._get(
            key,
            lambda: get_json(self.client, url, params, missing_ok=True),
            parse_hub_model,
            refresh,
        )

    async def ahub_model(self, model_id: str, refresh: bool = False) -> HubModel | None:
        """Async form of :meth:`hub_model`."""
        key, url, params = self._hub_model_request(model_id)
        return await self._aget(
            key,
            lambda: aget_json(self.async_client, url, params, missing_ok=True),
            parse_hub_model,
            refresh,
        )

    def model_status(self, model_id: str, refresh: bool = False) -> ModelStatus | None:
        """``"warm"`` (a provider serves it), ``"cold"`` (none does), ``None`` (no such model)."""
        model = self.hub_model(model_id, refresh)
        return None if model is None else model.status

    async def amodel_status(self, model_id: str, refresh: bool = False) -> ModelStatus | None:
        """Async form of :meth:`model_status`."""
        model = await self.ahub_model(model_id, refresh)
        return None if model is None else model.status

    def provider_mapping(self, model_id: str, refresh: bool = False) -> list[ProviderMapping]:
        """Providers mapped to the model on the Hub (any status), in the Hub's order."""
        model = self.hub_model(model_id, refresh)
        return [] if model is None else list(model.inference_provider_mapping)

    async def aprovider_mapping(
        self, model_id: str, refresh: bool = False
    ) -> list[ProviderMapping]:
        """Async form of :meth:`provider_mapping`."""
        model = await self.ahub_model(model_id, refresh)
        return [] if model is None else list(model.inference_provider_mapping)


_default: Catalog | None = None
_default_lock = threading.Lock()


def default_catalog() -> Catalog:
    """The process-wide catalog (created on first use with the default settings)."""
    global _default  # noqa: PLW0603 - one lazily created catalog per process
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Catalog()
    return _default
