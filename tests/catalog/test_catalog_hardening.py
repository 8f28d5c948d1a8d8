"""The catalog against a hostile or broken Hub and router (issue 17).

The Hub listing must progress through its ``Link: next`` pages (a page pointing at itself used to
be followed forever, each request carrying the token) and stops at a page cap; provider names and
prices from the catalogue are checked before they reach log lines, headers or a cost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from hfbridge.catalog import Catalog, capabilities, estimate_cost
from hfbridge.catalog.catalog import HUB_MAX_PAGES
from hfbridge.catalog.models import parse_hub_model, parse_router_model
from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient

HUB = "https://huggingface.co/api"
TOKEN = "hf_catalogHardeningToken012345"


class Listing:
    """A Hub ``/api/models`` whose ``Link: next`` is chosen per page."""

    def __init__(self, next_of: Any, items: Any = None) -> None:
        self.next_of = next_of
        self.items = items or (lambda page: [{"id": f"org/m{page}"}])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        page = int(request.url.params.get("cursor", "0"))
        headers = {}
        target = self.next_of(page, request)
        if target is not None:
            headers["link"] = f'<{target}>; rel="next"'
        return httpx.Response(200, json=self.items(page), headers=headers)


def catalog_for(listing: Listing) -> Catalog:
    transport = httpx.MockTransport(listing)
    return Catalog(
        HFClient(token=TOKEN, transport=transport),
        AsyncHFClient(token=TOKEN, transport=transport),
        cache_dir=False,
    )


def list_models(catalog: Catalog, mode: str, **filters: Any) -> Any:
    if mode == "sync":
        return catalog.hub_models(**filters)
    return asyncio.run(catalog.ahub_models(**filters))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_listing_whose_next_page_is_itself_stops_at_once(mode):
    listing = Listing(lambda _page, request: str(request.url))
    with pytest.raises(HFResponseError, match="page already read"):
        list_models(catalog_for(listing), mode, inference_provider="all")
    assert len(listing.requests) == 1  # not 12,000 requests in 4 s


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_listing_cycling_between_pages_stops(mode):
    listing = Listing(lambda page, _request: f"{HUB}/models?cursor={(page + 1) % 3}")
    with pytest.raises(HFResponseError, match="page already read"):
        list_models(catalog_for(listing), mode)
    assert len(listing.requests) == 4  # the first page, cursors 1, 2 and 0, then cursor 1 again


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_listing_that_never_ends_stops_at_the_page_cap(mode):
    listing = Listing(lambda page, _request: f"{HUB}/models?cursor={page + 1}")
    with pytest.raises(HFResponseError, match=f"did not end within {HUB_MAX_PAGES} pages"):
        list_models(catalog_for(listing), mode)
    assert len(listing.requests) == HUB_MAX_PAGES


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_empty_pages_that_still_point_further_stop(mode):
    listing = Listing(lambda page, _request: f"{HUB}/models?cursor={page + 1}", lambda _page: [])
    with pytest.raises(HFResponseError, match="without models"):
        list_models(catalog_for(listing), mode)
    assert len(listing.requests) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_listing_that_progresses_is_read_whole(mode):
    listing = Listing(lambda page, _request: f"{HUB}/models?cursor={page + 1}" if page < 4 else None)
    models = list_models(catalog_for(listing), mode)
    assert [model.id for model in models] == [f"org/m{page}" for page in range(5)]


def test_a_next_page_on_another_origin_gets_no_token():
    listing = Listing(
        lambda page, _request: "https://mirror.example/api/models?cursor=1" if page == 0 else None
    )
    catalog_for(listing).hub_models()
    first, second = listing.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in second.headers


def test_catalog_urls_are_checked_at_construction():
    with pytest.raises(HFConfigError, match="router_url"):
        Catalog(router_url="not a url", cache_dir=False)
    with pytest.raises(HFConfigError, match="hub_url"):
        Catalog(hub_url="https://user:pw@hub.example/api", cache_dir=False)


# --- provider names and prices ------------------------------------------------------------------


def router_entry(**provider: Any) -> dict[str, Any]:
    base = {"provider": "together", "status": "live", "pricing": {"input": 1.0, "output": 2.0}}
    return {"id": "org/m", "providers": [{**base, **provider}]}


@pytest.mark.parametrize(
    "name", ["together\r\nX-Injected: 1", "Together", "a b", "", "x" * 65, 7, None]
)
def test_provider_names_that_are_not_slugs_are_dropped(caplog, name):
    body = router_entry()
    body["providers"].append({"provider": name, "status": "live"})
    with caplog.at_level(logging.DEBUG, logger="hfbridge.catalog"):
        model = parse_router_model(body, "org/m")
    assert model is not None
    assert [provider.provider for provider in model.providers] == ["together"]
    assert all("\r" not in record.getMessage() for record in caplog.records)
    mapping = [{"provider": "together", "status": "live"}, {"provider": name, "status": "live"}]
    hub = parse_hub_model({"id": "org/m", "inferenceProviderMapping": mapping})
    assert hub is not None
    assert [entry.provider for entry in hub.inference_provider_mapping] == ["together"]


@pytest.mark.parametrize("price", ['"inf"', '"Infinity"', '"nan"', "-1", '"-0.5"', "1e400"])
def test_prices_that_are_not_finite_and_positive_read_as_unknown(price):
    entry = json.dumps(router_entry(pricing={"input": "PRICE", "output": 2.0}))
    text = entry.replace('"PRICE"', price)  # as the server writes it (1e400 reads as infinity)
    model = parse_router_model(json.loads(text), "org/m")
    assert model is not None
    pricing = model.providers[0].pricing
    assert pricing is not None
    assert pricing.input is None
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=text.encode()))
    catalog = Catalog(HFClient(transport=transport), cache_dir=False)
    info = capabilities("org/m", catalog=catalog).provider_info("together")
    assert estimate_cost(info, 1000, 1000) is None  # never inf, never nan


def test_a_provider_named_by_the_server_in_a_header_is_checked():
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"choices": [{"message": {"content": "ok"}}]}
        return httpx.Response(200, json=body, headers={"x-inference-provider": "bad\r\nname"})

    transport = httpx.MockTransport(answer)
    catalog_transport = httpx.MockTransport(lambda _: httpx.Response(200, json=router_entry()))
    service = ChatService(
        model="org/m", client=HFClient(transport=transport),
        catalog=Catalog(HFClient(transport=catalog_transport), cache_dir=False),
    )  # fmt: skip
    assert service.complete([{"role": "user", "content": "hi"}], {}).provider is None
