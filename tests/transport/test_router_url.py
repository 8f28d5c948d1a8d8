"""HFBRIDGE_ROUTER_URL: the router moved to a gateway or a mirror, and who gets the token."""

from __future__ import annotations

import httpx
import pytest

from hfbridge.catalog import Catalog
from hfbridge.errors import HFAuthenticationError, HFConfigError, HFStreamError
from hfbridge.transport import (
    AsyncHFClient,
    ClientConfig,
    HFClient,
    hf_inference_url,
    provider_url,
    router_url,
    router_v1_url,
)

TOKEN = "hf_routerMovedTestToken0123456789"
GATEWAY = "https://llm-gateway.corp.example:8443/hf"


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HFBRIDGE_ROUTER_URL", GATEWAY + "/")
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def recorder(status: int = 200, body: object = None):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body if body is not None else {"ok": True})

    return seen, httpx.MockTransport(handler)


def test_unset_the_router_is_hugging_faces():
    assert router_url() == "https://router.huggingface.co"
    assert router_v1_url() == "https://router.huggingface.co/v1"
    assert ClientConfig.create().base_url == "https://router.huggingface.co/v1"
    assert ClientConfig.create().router_origin is None


@pytest.mark.usefixtures("moved")
def test_every_router_url_moves():
    assert router_url() == GATEWAY
    assert ClientConfig.create().base_url == f"{GATEWAY}/v1"
    assert provider_url("together", "/v1/embeddings") == f"{GATEWAY}/together/v1/embeddings"
    assert hf_inference_url("org/m", "feature-extraction") == (
        f"{GATEWAY}/hf-inference/models/org/m/pipeline/feature-extraction"
    )
    assert Catalog(cache_dir=False).router_url == f"{GATEWAY}/v1"


@pytest.mark.usefixtures("moved")
def test_the_moved_router_receives_the_discovered_token():
    seen, transport = recorder()
    with HFClient(transport=transport) as client:
        client.request("POST", "chat/completions", json={"model": "m"})
    assert seen[0].url == f"{GATEWAY}/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.usefixtures("moved")
async def test_async_too():
    seen, transport = recorder()
    async with AsyncHFClient(transport=transport) as client:
        await client.request("POST", "chat/completions", json={"model": "m"})
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.usefixtures("moved")
@pytest.mark.parametrize(
    "url",
    [
        "https://llm-gateway.corp.example/v1/chat/completions",  # same host, another port
        "http://llm-gateway.corp.example:8443/v1/chat/completions",  # another scheme's port 80
        "https://other.corp.example:8443/v1/chat/completions",
    ],
)
def test_no_other_origin_gets_the_discovered_token(url):
    seen, transport = recorder()
    with HFClient(transport=transport) as client:
        client.request("POST", url, json={})
    assert "authorization" not in seen[0].headers


def test_without_the_variable_a_gateway_url_gets_no_discovered_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    seen, transport = recorder()
    with HFClient(transport=transport, base_url=f"{GATEWAY}/v1") as client:
        client.request("POST", "chat/completions", json={})
    assert "authorization" not in seen[0].headers


def test_a_bad_router_url_fails_before_any_request(monkeypatch):
    monkeypatch.setenv("HFBRIDGE_ROUTER_URL", "ftp://nope")
    with pytest.raises(HFConfigError, match="HFBRIDGE_ROUTER_URL"):
        ClientConfig.create()


@pytest.mark.usefixtures("moved")
def test_errors_from_the_moved_router_get_the_routers_advice():
    _, transport = recorder(401, {"error": "Invalid username or password."})
    with HFClient(transport=transport, max_retries=0) as client, pytest.raises(
        HFAuthenticationError
    ) as caught:
        client.request("POST", "chat/completions", json={"model": "m"})
    assert "HF_TOKEN" in str(caught.value)  # not the self-hosted server advice


def test_a_vllm_style_error_event_inside_a_stream_raises():
    # vLLM (and hyperbolic behind the router) report errors as {"object": "error", ...}
    body = (
        b'data: {"object":"error","message":"This model\'s maximum context length is 4096",'
        b'"type":"BadRequestError","param":null,"code":400}\n\n'
    )

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    client = HFClient(transport=httpx.MockTransport(handler), base_url="http://h/v1")
    with client, pytest.raises(HFStreamError, match="maximum context length") as caught:
        list(client.stream("POST", "chat/completions", json={}))
    assert (caught.value.status_code, caught.value.error_type) == (400, "BadRequestError")
