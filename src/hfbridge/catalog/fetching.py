"""How the catalog asks the router and the Hub: one GET for a JSON answer, or a paged listing.

Every request has the catalog's timeout and retry budget (``CATALOG_TIMEOUT``,
``CATALOG_MAX_RETRIES``). A 404 or 401 answering a question about one model means "no such
model" where the caller says so (``missing_ok``): the Hub answers 401 for a repository it will not
show (private, gated or missing), as ``huggingface_hub`` reads it. A Hub listing is followed
through its ``Link: next`` pages, which must make progress (:class:`_Pages`).

What is asked, and when (the cache), is :mod:`hfbridge.catalog.catalog` and
:mod:`hfbridge.catalog.answers`.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urljoin

from hfbridge._constants import CATALOG_MAX_RETRIES, CATALOG_TIMEOUT
from hfbridge._redact import redact_url
from hfbridge.errors import HFAuthenticationError, HFNotFoundError, HFResponseError
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, HFResponse

HUB_PAGE_SIZE = 500  # huggingface.js's page size cap; the server's is undocumented
"""Most models hfbridge asks for in one page of a Hub listing."""
HUB_MAX_PAGES = 200
"""Most pages of one Hub listing (100,000 models at 500 a page, the size hfbridge asks for)."""
_MISSING = (HFNotFoundError, HFAuthenticationError)


def catalog_config(config: ClientConfig | None) -> ClientConfig:
    """``config`` (the other client's: same token and TLS settings) with the catalog's retries."""
    if config is None:
        return ClientConfig.create(max_retries=CATALOG_MAX_RETRIES)
    return dataclasses.replace(config, retry=config.retry.with_max_retries(CATALOG_MAX_RETRIES))


def get_json(
    client: HFClient, url: str, params: dict[str, Any] | None = None, *, missing_ok: bool = False
) -> Any:
    """The JSON body of ``GET url``; ``None`` for a missing model when ``missing_ok``."""
    try:
        return client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT).json()
    except _MISSING:
        if missing_ok:
            return None
        raise


async def aget_json(
    client: AsyncHFClient,
    url: str,
    params: dict[str, Any] | None = None,
    *,
    missing_ok: bool = False,
) -> Any:
    """Async form of :func:`get_json`."""
    try:
        response = await client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT)
    except _MISSING:
        if missing_ok:
            return None
        raise
    return response.json()


def get_pages(client: HFClient, url: str, params: dict[str, Any], limit: int | None) -> list[Any]:
    """Every model of a Hub listing (at most ``limit``), page after page."""
    pages = _Pages(url, limit)
    response = client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT)
    while (next_url := pages.add(response)) is not None:
        response = client.request("GET", next_url, timeout=CATALOG_TIMEOUT)
    return pages.items()


async def aget_pages(
    client: AsyncHFClient, url: str, params: dict[str, Any], limit: int | None
) -> list[Any]:
    """Async form of :func:`get_pages`."""
    pages = _Pages(url, limit)
    response = await client.request("GET", url, params=params, timeout=CATALOG_TIMEOUT)
    while (next_url := pages.add(response)) is not None:
        response = await client.request("GET", next_url, timeout=CATALOG_TIMEOUT)
    return pages.items()


def _page(response: HFResponse) -> list[Any]:
    body = response.json()
    if not isinstance(body, list):
        raise HFResponseError(
            f"{response.url} should list models as a JSON array but sent {type(body).__name__}: "
            "check HF_ENDPOINT.",
            request_id=response.request_id,
        )
    return body


def _next(response: HFResponse) -> str | None:
    # The Link URL carries the query and an opaque cursor: follow it verbatim (relative ones too).
    return urljoin(response.url, response.next_url) if response.next_url else None


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
