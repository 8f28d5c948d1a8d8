"""MockTransport servers answering from recordings, shared by the Responses, profile and vision tests.

- :class:`RecordedResponses`: ``/v1/responses`` from ``tests/fixtures/responses`` (a recording for
  calls, another for streams); a GET (what the server says about itself) answers 404.
- :func:`router_catalogue`: the router's ``/v1/models`` (and ``/v1/models/{id}``) from the recorded
  catalogue; :func:`routed_service` builds a :class:`ChatService` over a handler that uses it.
"""

import json
from pathlib import Path

import httpx

from hfbridge.catalog import Catalog
from hfbridge.inference.chat import ChatService
from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = FIXTURES / "responses"
ROUTER_MODELS = json.loads((FIXTURES / "catalog/router_models.json").read_text())
TOKEN = "hf_testtoken123456"


class RecordedResponses:
    """Answers ``/v1/responses`` with ``whole`` for calls and ``stream`` for streams."""

    def __init__(self, whole="llamacpp_text.json", stream="llamacpp_text_stream.sse"):
        self.whole, self.stream, self.bodies = whole, stream, []

    def __call__(self, request):
        if request.method == "GET":  # what the server says about itself: nothing here
            return httpx.Response(404, json={"error": "not found"})
        assert request.url.path == "/v1/responses", request.url.path
        body = json.loads(request.content)
        self.bodies.append(body)
        if body.get("stream"):
            content = (RECORDED / self.stream).read_bytes()
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=content)
        return httpx.Response(200, content=(RECORDED / self.whole).read_bytes())


def router_catalogue(request):
    """The router's catalogue routes, answered from the recorded catalogue."""
    if request.url.path == "/v1/models":
        return httpx.Response(200, json=ROUTER_MODELS)
    model_id = request.url.path.removeprefix("/v1/models/")
    match = [m for m in ROUTER_MODELS["data"] if m.get("id") == model_id]
    return httpx.Response(200, json=match[0]) if match else httpx.Response(404, json={})


def routed_service(model, handler, **kwargs):
    """A router ChatService over ``handler`` (no retries), with a catalog of its own."""
    transport = httpx.MockTransport(handler)
    client = HFClient(token=TOKEN, max_retries=0, transport=transport)
    async_client = AsyncHFClient(token=TOKEN, max_retries=0, transport=transport)
    catalog = Catalog(client, async_client, cache_dir=False)
    return ChatService(
        model=model, client=client, async_client=async_client, catalog=catalog, **kwargs
    )
