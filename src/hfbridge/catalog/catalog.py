"""The catalog client: which models and providers exist, and what each can do.

Two sources: the router's ``/v1/models`` (chat models, with per-provider status, context, pricing,
tool and structured-output support, latency, throughput) and the Hub's ``/api/models`` (any task,
status ``warm``, provider mappings). Answers are cached in memory for ``ttl`` seconds and on disk
(``cache_dir``) so that a new process does not refetch.

Failures: a failed fetch is remembered for ``failure_ttl`` seconds, during which the same question
answers at once (from a stale copy when there is one, else with the same error) instead of waiting
on the network again. Offline (``offline=True`` or ``HF_HUB_OFFLINE=1``), only the cache answers.

The methods here raise :class:`~hfbridge.errors.HFError` when they cannot answer; the
never-raising helpers adapters use are :func:`hfbridge.catalog.capability` and
:func:`hfbridge.catalog.plan_route`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode, urljoin

from hfbridge._constants import (
    CATALOG_FAILURE_TTL,
    CATALOG_MAX_RETRIES,
    CATALOG_TIMEOUT,
    CATALOG_TTL,
    HUB_OFFLINE_ENV,
)
from hfbridge._redact import redact_url
from hfbridge._urls import validate_base_url
from hfbridge.catalog.cache import Entry, TTLCache, default_cache_dir
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
from hfbridge.errors import (
    HFAuthenticationError,
    HFConfigError,
    HFConnectionError,
    HFError,
    HFNotFoundError,
    HFResponseError,
)
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, HFResponse, router_v1_url
from hfbridge.transport.config import hub_api_url

logger = logging.getLogger("hfbridge.catalog")

_HUB_PAGE_MAX = 500  # huggingface.js's page size cap; the server's is undocumented
HUB_MAX_PAGES = 200
"""Most pages of one Hub listing (100,000 models at 500 a page, the size hfbridge asks for)."""
_HUB_MODEL_EXPAND = ("inference", "inferenceProviderMapping", "pipeline_tag")
_ROUTER_LIST = "router/models"
_SEND = object()


class CatalogUnavailableWarning(UserWarning):
    """The catalog could not be reached; hfbridge goes on with conservative defaults."""


@dataclass(frozen=True)
class _RouterIndex:
    models: list[RouterModel]
    by_id: dict[str, RouterModel] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {model.id: model for model in self.models})


def _index(body: Any) -> _RouterIndex:
    return _RouterIndex(parse_router_models(body))


def _scope(key: str) -> str:
    """The service a cache key belongs to (``router`` or ``hub``)."""
    return key.partition("/")[0]


def _env_offline() -> bool:
    return os.environ.get(HUB_OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@lru_cache(maxsize=1024)
def _model_id(model_id: str) -> str:
    """The bare id of ``model_id`` (a ``:provider`` suffix is dropped); HFConfigError if invalid."""
    return parse_model_spec(model_id).model_id


def _page(response: HFResponse) -> list[Any]:
    body = response.json()
    if not isinstance(body, list):
        raise HFResponseError(
            f"{response.url} should list models as a JSON array but sent {type(body).__name__}: "
            "check HF_ENDPOINT.",
            request_id=response.request_id,
        )
    return body


class _Pages:
    """A Hub listing followed through its ``Link: next`` pages, which must make progress.

    A next page already read (a listing pointing at itself), a page without models that still
    points further, or more than :data:`HUB_MAX_PAGES` pages raise :class:`HFResponseError`:
    never a loop of requests, never a partial list passed off as whole.
    """

    def __init__(self, url: str, limit: int | None) -> None:
        self.url = url
        self.limit = limit
        self._items: list[Any] = []
        self._seen: set[str] = set()

    def add(self, response: HFResponse) -> str | None:
        """Take one page; return the next page's URL, or ``None`` when the listing is complete."""
        page = _page(response)
        self._items.extend(page)
        self._seen.add(response.url)
        next_url = _next(response)
        if next_url is None or (self.limit is not None and len(self._items) >= self.limit):
            return None
        problem = ""
        if next_url in self._seen:
            problem = "points its next page at a page already read"
        elif not page:
            problem = "sent a page without models that still points to a next one"
        elif len(self._seen) >= HUB_MAX_PAGES:
            problem = f"did not end within {HUB_MAX_PAGES} pages ({len(self._items)} models)"
        if problem:
            raise HFResponseError(
                f"The Hub's model listing at {redact_url(self.url)} {problem}: the listing does "
                "not progress, so nothing is returned. Narrow the filters or pass limit=...; "
                "check HF_ENDPOINT if it points at a mirror.",
                request_id=response.request_id,
            )
        return next_url

    def items(self) -> list[Any]:
        """The models read, at most ``limit``."""
        return self._items[: self.limit] if self.limit is not None else self._items


def _catalog_config(config: ClientConfig | None) -> ClientConfig:
    """``config`` (the other client's: same token and TLS settings) with the catalog's retries."""
    if config is None:
        return ClientConfig.create(max_retries=CATALOG_MAX_RETRIES)
    return dataclasses.replace(config, retry=config.retry.with_max_retries(CATALOG_MAX_RETRIES))


def _next(response: HFResponse) -> str | None:
    # The Link URL carries the query and an opaque cursor: follow it verbatim (relative ones too).
    return urljoin(response.url, response.next_url) if response.next_url else None


class Catalog:
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
        directory = (
            None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
        )
        self.cache = TTLCache(ttl=ttl, directory=directory, clock=clock)
        self.offline = _env_offline() if offline is None else offline
        self.failure_ttl = failure_ttl
        self.router_url = validate_base_url(router_url or router_v1_url(), what="router_url")
        self.hub_url = (
            validate_base_url(hub_url, what="hub_url") if hub_url is not None else hub_api_url()
        )
        self._failures: dict[str, tuple[float, HFError]] = {}
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
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
            self._client = HFClient(_catalog_config(other))
        return self._client

    @property
    def async_client(self) -> AsyncHFClient:
        """The client of the async methods (from the sync one's settings when only it was given)."""
        if self._async_client is None:
            other = self._client.config if self._client is not None else None
            self._async_client = AsyncHFClient(_catalog_config(other))
        return self._async_client

    # --- warnings --------------------------------------------------------------------------------

    def warn_once(self, key: str, message: str, category: type[Warning]) -> None:
        """``warnings.warn(message)`` the first time ``key`` is seen by this catalog."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        warnings.warn(message, category, stacklevel=4)

    def warn_unavailable(self, error: BaseException, *, stale: bool = False) -> None:
        """Warn once per catalog (once per process for the default one) that it is unreachable."""
        what = "using cached data past its TTL" if stale else "using conservative defaults"
        self.warn_once(
            "unavailable",
            f"hfbridge: the model catalog is unreachable ({type(error).__name__}: {error}); "
            f"{what}: provider capabilities, context lengths and prices are unknown, and requests "
            "go to the router as configured. Set HF_HUB_OFFLINE=1 to skip the catalog, or check "
            "the network. This warning is shown once.",
            CatalogUnavailableWarning,
        )

    # --- the cache protocol shared by sync and async ---------------------------------------------

    def _lookup(
        self, key: str, parse: Callable[[Any], Any], refresh: bool
    ) -> tuple[Entry | None, Any]:
        """``(entry, value)``: value is the answer when no request is needed, else ``_SEND``."""
        entry = self.cache.get(key, parse)
        if entry is not None and not refresh and self.cache.is_fresh(entry):
            return entry, entry.value
        if self.offline:
            if entry is not None:
                return entry, entry.value
            raise HFConnectionError(
                f"The catalog is offline ({HUB_OFFLINE_ENV}=1 or offline=True) and has no cached "
                f"copy of {key!r}: unset {HUB_OFFLINE_ENV} once the network is back."
            )
        failure = self._failures.get(key) or self._failures.get(_scope(key))
        if failure is not None and not refresh and self.cache.clock() < failure[0]:
            if entry is not None:
                return entry, entry.value
            raise failure[1]
        return entry, _SEND

    def _store(self, key: str, body: Any, parse: Callable[[Any], Any]) -> Any:
        self._failures.pop(key, None)
        self._failures.pop(_scope(key), None)
        return self.cache.put(key, body, parse(body)).value

    def _failed(self, key: str, entry: Entry | None, error: HFError, refresh: bool) -> Any:
        # No answer at all means the host is unreachable: every question to it fails the same
        # way, so remember it for the whole host (an HTTP error only concerns this question).
        scope = _scope(key) if isinstance(error, HFConnectionError) else key
        self._failures[scope] = (self.cache.clock() + self.failure_ttl, error)
        if entry is None or refresh:
            raise error
        self.warn_unavailable(error, stale=True)
        return entry.value

    def _get(
        self, key: str, fetch: Callable[[], Any], parse: Callable[[Any], Any], refresh: bool
    ) -> Any:
        entry, value = self._lookup(key, parse, refresh)
        if value is not _SEND:
            return value
        try:
            body = fetch()
        except HFError as error:
            return self._failed(key, entry, error, refresh)
        return self._store(key, body, parse)

    async def _aget(
        self, key: str, fetch: Callable[[], Any], parse: Callable[[Any], Any], refresh: bool
    ) -> Any:
        # The disk cache is read and written on a worker thread: no file I/O on the event loop.
        on_disk = self.cache.directory is not None
        if on_disk and not self.cache.in_memory(key):
            entry, value = await asyncio.to_thread(self._lookup, key, parse, refresh)
        else:
            entry, value = self._lookup(key, parse, refresh)
        if value is not _SEND:
            return value
        try:
            body = await fetch()
        except HFError as error:
            return self._failed(key, entry, error, refresh)
        if on_disk:
            return await asyncio.to_thread(self._store, key, body, parse)
        return self._store(key, body, parse)

    def cached_router_model(self, model_id: str) -> tuple[bool, RouterModel | None]:
        """``(True, model)`` when the in-memory cache can answer (fresh or stale), without I/O.

        ``(False, None)`` when it cannot: the sync helpers ask this from a running event loop
        instead of fetching (:func:`hfbridge.catalog.capabilities`).
        """
        model_id = _model_id(model_id)
        listed = self.cache.peek(_ROUTER_LIST)
        if listed is not None:
            return True, listed.value.by_id.get(model_id)
        entry = self.cache.peek(f"router/model/{model_id}")
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

    # --- requests --------------------------------------------------------------------------------

    def _json(
        self, url: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        try:
            return self.client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT).json()
        except (HFNotFoundError, HFAuthenticationError):
            if missing_ok:
                return None
            raise

    async def _ajson(
        self, url: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Any:
        try:
            response = await self.async_client.request(
                "GET", url, params=params, timeout=CATALOG_TIMEOUT
            )
        except (HFNotFoundError, HFAuthenticationError):
            if missing_ok:
                return None
            raise
        return response.json()

    def _pages(self, url: str, params: dict[str, Any], limit: int | None) -> list[Any]:
        pages = _Pages(url, limit)
        response = self.client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT)
        while (next_url := pages.add(response)) is not None:
            response = self.client.request("GET", next_url, timeout=CATALOG_TIMEOUT)
        return pages.items()

    async def _apages(self, url: str, params: dict[str, Any], limit: int | None) -> list[Any]:
        pages = _Pages(url, limit)
        client = self.async_client
        response = await client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT)
        while (next_url := pages.add(response)) is not None:
            response = await client.request("GET", next_url, timeout=CATALOG_TIMEOUT)
        return pages.items()

    # --- router ----------------------------------------------------------------------------------

    def router_models(self, refresh: bool = False) -> list[RouterModel]:
        """Every chat model the router lists, with its providers."""
        url = f"{self.router_url}/models"
        index: _RouterIndex = self._get(_ROUTER_LIST, lambda: self._json(url), _index, refresh)
        return list(index.models)

    async def arouter_models(self, refresh: bool = False) -> list[RouterModel]:
        """Async form of :meth:`router_models`."""
        url = f"{self.router_url}/models"
        index: _RouterIndex = await self._aget(
            _ROUTER_LIST, lambda: self._ajson(url), _index, refresh
        )
        return list(index.models)

    def _listed(self, model_id: str, refresh: bool) -> tuple[bool, RouterModel | None]:
        """``(True, model)`` when the full list is fresh in the cache (no request needed)."""
        entry = None if refresh else self.cache.get(_ROUTER_LIST, _index)
        if entry is not None and (self.cache.is_fresh(entry) or self.offline):
            return True, entry.value.by_id.get(model_id)
        return False, None

    def router_model(self, model_id: str, refresh: bool = False) -> RouterModel | None:
        """One model's router entry, or ``None`` when the router does not list it.

        Uses the full list when it is cached, else ``/v1/models/{id}``; a 404 there is checked
        against the full list (then cached for every later lookup).
        """
        model_id = _model_id(model_id)
        listed, model = self._listed(model_id, refresh)
        if listed:
            return model
        url = f"{self.router_url}/models/{quote(model_id, safe='/')}"
        found: RouterModel | None = self._get(
            f"router/model/{model_id}",
            lambda: self._json(url, missing_ok=True),
            lambda body: parse_router_model(body, model_id),
            refresh,
        )
        if found is None:
            index: _RouterIndex = self._get(
                _ROUTER_LIST, lambda: self._json(f"{self.router_url}/models"), _index, refresh
            )
            found = index.by_id.get(model_id)
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
        url = f"{self.router_url}/models/{quote(model_id, safe='/')}"
        found: RouterModel | None = await self._aget(
            f"router/model/{model_id}",
            lambda: self._ajson(url, missing_ok=True),
            lambda body: parse_router_model(body, model_id),
            refresh,
        )
        if found is None:
            index: _RouterIndex = await self._aget(
                _ROUTER_LIST, lambda: self._ajson(f"{self.router_url}/models"), _index, refresh
            )
            found = index.by_id.get(model_id)
        return found

    # --- Hub -------------------------------------------------------------------------------------

    def _hub_query(  # noqa: PLR0913 - the Hub's filters
        self,
        *,
        inference_provider: str | Sequence[str] | None,
        pipeline_tag: str | None,
        search: str | None,
        sort: str | None,
        limit: int | None,
        expand: Iterable[str],
    ) -> tuple[str, dict[str, Any]]:
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise HFConfigError(f"limit must be a positive integer, got {limit!r}.")
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
            params["limit"] = min(limit, _HUB_PAGE_MAX)
        expansions = list(expand)
        if expansions:
            params["expand[]"] = expansions
        key = f"hub/models?{urlencode(sorted(params.items()), doseq=True)}&max={limit}"
        return key, params

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
        key, params = self._hub_query(
            inference_provider=inference_provider, pipeline_tag=pipeline_tag, search=search,
            sort=sort, limit=limit, expand=expand,
        )  # fmt: skip
        url = f"{self.hub_url}/models"
        result: list[HubModel] = self._get(
            key, lambda: self._pages(url, params, limit), parse_hub_models, refresh
        )
        return result

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
        key, params = self._hub_query(
            inference_provider=inference_provider, pipeline_tag=pipeline_tag, search=search,
            sort=sort, limit=limit, expand=expand,
        )  # fmt: skip
        url = f"{self.hub_url}/models"
        result: list[HubModel] = await self._aget(
            key, lambda: self._apages(url, params, limit), parse_hub_models, refresh
        )
        return result

    def _hub_model_request(self, model_id: str) -> tuple[str, str, dict[str, Any]]:
        model_id = _model_id(model_id)
        url = f"{self.hub_url}/models/{quote(model_id, safe='/')}"
        return f"hub/model/{model_id}", url, {"expand[]": list(_HUB_MODEL_EXPAND)}

    def hub_model(self, model_id: str, refresh: bool = False) -> HubModel | None:
        """A model's Hub status and provider mapping; ``None`` if the Hub has no such model."""
        key, url, params = self._hub_model_request(model_id)
        model: HubModel | None = self._get(
            key, lambda: self._json(url, params, missing_ok=True), parse_hub_model, refresh
        )
        return model

    async def ahub_model(self, model_id: str, refresh: bool = False) -> HubModel | None:
        """Async form of :meth:`hub_model`."""
        key, url, params = self._hub_model_request(model_id)
        model: HubModel | None = await self._aget(
            key, lambda: self._ajson(url, params, missing_ok=True), parse_hub_model, refresh
        )
        return model

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
