"""A fake router and Hub over httpx.MockTransport, serving tests/fixtures/catalog."""

import json
from pathlib import Path

import httpx
import pytest

from hfbridge.catalog import Catalog
from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "catalog"
ROUTER = "https://router.huggingface.co/v1"
HUB = "https://huggingface.co/api"


def load(name):
    return json.loads((FIXTURES / name).read_text())


class Clock:
    def __init__(self, now=1_780_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class FakeHF:
    """Answers like router.huggingface.co and huggingface.co/api; records every request."""

    def __init__(self):
        self.requests = []
        self.down = False  # every request fails to connect
        self.crash = False  # every request raises a non-HTTP error (like pytest-socket's)
        self.status = {}  # path -> forced status code
        self.router_single = True  # serve /v1/models/{id} (else 404 for every id)

    def paths(self):
        return [request.url.path for request in self.requests]

    def count(self, path):
        return self.paths().count(path)

    def __call__(self, request):  # noqa: PLR0911 - one answer per route
        self.requests.append(request)
        path = request.url.path
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.crash:
            raise RuntimeError("A test tried to use socket.socket.")
        if path in self.status:
            return httpx.Response(self.status[path], json={"error": "forced"})
        if path == "/v1/models":
            return httpx.Response(200, json=load("router_models.json"))
        if path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            if self.router_single and model_id == "openai/gpt-oss-120b":
                return httpx.Response(200, json=load("router_model_gpt-oss-120b.json"))
            return httpx.Response(404, json={"error": f"Model {model_id} not found"})
        if path == "/api/models":
            page = load(
                "hub_models_page2.json"
                if "cursor" in request.url.params
                else "hub_models_page1.json"
            )
            return httpx.Response(200, json=page["body"], headers=page["headers"])
        if path.startswith("/api/models/"):
            name = path.rsplit("/", 1)[-1]
            file = FIXTURES / f"hub_model_{name}.json"
            if file.exists():
                return httpx.Response(200, json=json.loads(file.read_text()))
            return httpx.Response(404, json={"error": "Repository not found"})
        return httpx.Response(404, json={"error": "no route"})


def make_catalog(fake, *, clock=None, cache_dir=None, **kwargs):
    transport = httpx.MockTransport(fake)
    return Catalog(
        HFClient(transport=transport, max_retries=0, token="hf_test"),
        AsyncHFClient(transport=transport, max_retries=0, token="hf_test"),
        cache_dir=cache_dir if cache_dir is not None else False,
        clock=clock or Clock(),
        router_url=ROUTER,
        hub_url=HUB,
        offline=kwargs.pop("offline", False),
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No alias config or offline flag leaks in from the environment or the repository."""
    for name in ("HFBRIDGE_ALIASES", "HF_HUB_OFFLINE", "HFBRIDGE_CACHE_DIR", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def fake():
    return FakeHF()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def new_catalog():
    """``new_catalog(fake, clock=..., cache_dir=..., **kwargs)``: a Catalog over ``fake``."""
    return make_catalog


@pytest.fixture
def body():
    """``body(name)``: a recorded body from tests/fixtures/catalog."""
    return load


@pytest.fixture
def catalog(fake, clock, tmp_path):
    return make_catalog(fake, clock=clock, cache_dir=tmp_path / "cache")
