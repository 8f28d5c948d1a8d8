"""What each request carries, and where the token may go (sync and async)."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.transport.conftest import Script, reply

from hfbridge.errors import HFConfigError

TOKEN = "hf_HeaderTestToken0123456789"
LOCAL = "http://127.0.0.1:8080/v1"
OK = reply(200, {"ok": True})


def sent(harness, url="chat/completions", method="POST", client=None, **call):
    script = Script(OK)
    harness.request(script, method, url, client=client or {}, **call)
    assert script.calls == 1
    return script.requests[0]


@pytest.fixture
def env_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.mark.usefixtures("env_token")
@pytest.mark.parametrize(
    "url",
    [
        "chat/completions",
        "https://router.huggingface.co/together/v1/chat/completions",
        "https://huggingface.co/api/models?search=llama",
        "https://router.huggingface.co/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction",
    ],
)
def test_a_discovered_token_goes_to_hugging_face(harness, url):
    request = sent(harness, url)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_token_file_counts_as_discovered(harness, monkeypatch, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    monkeypatch.setenv("HF_TOKEN_PATH", str(token_file))
    assert sent(harness).headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in sent(harness, client={"base_url": LOCAL}).headers


@pytest.mark.usefixtures("env_token")
def test_a_discovered_token_never_goes_to_a_custom_endpoint(harness):
    request = sent(harness, client={"base_url": LOCAL, "bill_to": "my-org"})
    assert request.url == "http://127.0.0.1:8080/v1/chat/completions"
    assert "authorization" not in request.headers
    assert "x-hf-bill-to" not in request.headers


def test_an_explicit_token_goes_to_its_custom_endpoint(harness):
    request = sent(harness, client={"base_url": LOCAL, "token": TOKEN})
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_explicit_token_for_one_endpoint_does_not_go_to_another(harness):
    request = sent(
        harness, "http://10.0.0.9:9000/v1/embeddings", client={"base_url": LOCAL, "token": TOKEN}
    )
    assert "authorization" not in request.headers


def test_an_explicit_token_still_goes_to_hugging_face(harness):
    request = sent(
        harness,
        "https://huggingface.co/api/models",
        "GET",
        client={"base_url": LOCAL, "token": TOKEN},
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.usefixtures("env_token")
def test_the_hf_endpoint_host_receives_the_token(harness, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.internal.example")
    request = sent(harness, "https://hub.internal.example/api/models", "GET")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_no_token_no_authorization(harness):
    assert "authorization" not in sent(harness).headers


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_drops_the_token(harness, status):
    def handler(request):
        if request.url.host == "router.huggingface.co":
            return httpx.Response(
                status, headers={"location": "https://mirror.example.org/v1/chat/completions"}
            )
        return httpx.Response(200, json={"ok": True})

    script = Script(handler)
    response = harness.request(script, client={"token": TOKEN})
    assert response.json() == {"ok": True}
    first, second = script.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert second.url.host == "mirror.example.org"
    assert "authorization" not in second.headers
    assert TOKEN not in str(second.headers.raw)


def test_a_redirect_within_the_host_keeps_the_token(harness):
    def handler(request):
        if request.url.path == "/v1/old":
            return httpx.Response(307, headers={"location": "/v1/new"})
        return httpx.Response(200, json={"ok": True})

    script = Script(handler)
    harness.request(script, "POST", "old", client={"token": TOKEN})
    assert [request.url.path for request in script.requests] == ["/v1/old", "/v1/new"]
    assert script.requests[1].headers["authorization"] == f"Bearer {TOKEN}"


def test_bill_to(harness):
    request = sent(harness, client={"token": TOKEN, "bill_to": "huggingface"})
    assert request.headers["x-hf-bill-to"] == "huggingface"
    assert "x-hf-bill-to" not in sent(harness, client={"token": TOKEN}).headers


def test_user_agent(harness):
    user_agent = sent(harness).headers["user-agent"]
    assert user_agent.startswith("hfbridge/")
    assert "python/" in user_agent
    assert "httpx/" in user_agent


@pytest.mark.parametrize(("use_cache", "value"), [(True, "true"), (False, "false"), (None, None)])
def test_use_cache(harness, use_cache, value):
    assert sent(harness, client={"use_cache": use_cache}).headers.get("x-use-cache") == value


def test_extra_headers_from_the_client_and_the_call(harness):
    request = sent(
        harness,
        client={"headers": {"X-Team": "search", "X-Both": "client"}},
        headers={"X-Call": "1", "X-Both": "call"},
    )
    assert request.headers["x-team"] == "search"
    assert request.headers["x-call"] == "1"
    assert request.headers.get_list("x-both") == ["call"]


def test_json_body_keeps_model_first_and_is_compact_utf8(harness):
    messages = [{"role": "user", "content": "héllo ✓"}]
    body = {"model": "Qwen/Qwen2.5-72B-Instruct:together", "messages": messages, "stream": False,
            "temperature": 0.2}  # fmt: skip
    request = sent(harness, json=body)
    assert request.content.startswith(b'{"model":"Qwen/Qwen2.5-72B-Instruct:together",')
    assert "héllo ✓".encode() in request.content
    assert json.loads(request.content) == body
    assert list(json.loads(request.content)) == ["model", "messages", "stream", "temperature"]
    assert request.headers["content-type"] == "application/json"


def test_query_params(harness):
    request = sent(
        harness, "https://huggingface.co/api/models", "GET", params={"search": "llama", "limit": 5}
    )
    assert request.url.params["search"] == "llama"
    assert request.url.params["limit"] == "5"
    assert request.content == b""


def test_relative_and_absolute_urls(harness):
    assert str(sent(harness, "/models").url) == "https://router.huggingface.co/v1/models"
    assert str(sent(harness, "models", client={"base_url": LOCAL + "/"}).url) == LOCAL + "/models"
    absolute = "https://router.huggingface.co/together/v1/chat/completions"
    assert str(sent(harness, absolute, client={"base_url": LOCAL}).url) == absolute


def test_per_call_timeout(harness):
    request = sent(harness, timeout=3.0)
    assert request.extensions["timeout"] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    default = sent(harness).extensions["timeout"]
    assert default["read"] == 120.0
    assert default["connect"] == 10.0


@pytest.mark.parametrize("url", ["https://ex\tample.com/v1/models", "models/a\x00b"])
def test_an_invalid_url_is_a_config_error_before_sending(harness, url):
    script = Script(OK)
    with pytest.raises(HFConfigError, match="not a valid URL"):
        harness.request(script, "GET", url)
    with pytest.raises(HFConfigError, match="not a valid URL"):
        harness.stream(script, url)
    assert script.calls == 0
