"""The token never leaks, and TLS verification is on unless explicitly turned off.

The token must not appear in the ``repr``/``str`` of any object that holds it, in LangChain
``dumpd``/``dumps`` output (where it is a secret reference to ``HF_TOKEN``), in pickles, in log
records at any level, in exception messages, attributes or tracebacks (even when the server echoes
it back), or in requests to hosts that may not receive it (a discovered token on a self-hosted
URL, any token after a cross-host redirect).
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import ssl
import traceback
from typing import Any

import httpx
import pytest
from langchain_core.load import dumpd, dumps

from hfbridge.catalog import Catalog
from hfbridge.errors import HFAuthenticationError, HFError
from hfbridge.inference.chat import ChatService
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.inference.textgen import TextGenService
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, Secret
from hfbridge.transport._pool import shared_async_client, shared_sync_client

TOKEN = "hf_securityTestToken0123456789abcdefXYZ"
BASE = "http://127.0.0.1:9/v1"
ROUTER = "https://router.huggingface.co/v1"


def holders() -> dict[str, Any]:
    """Every public object that holds an explicitly passed token."""
    client = HFClient(token=TOKEN)
    return {
        "Secret": Secret(TOKEN),
        "ClientConfig": ClientConfig.create(token=TOKEN),
        "HFClient": client,
        "AsyncHFClient": AsyncHFClient(token=TOKEN),
        "ChatService": ChatService(model="org/m", token=TOKEN),
        "EmbeddingService": EmbeddingService(model="org/e", token=TOKEN),
        "TextGenService": TextGenService(model="org/m", token=TOKEN),
        "Catalog": Catalog(client, cache_dir=False),
        "ChatHF": ChatHF(model="org/m", token=TOKEN),
        "ChatHF(api_key)": ChatHF(model="org/m", api_key=TOKEN),
        "HFEmbeddings": HFEmbeddings(model="org/e", token=TOKEN),
        "HFTextGen": HFTextGen(model="org/m", token=TOKEN),
        "HFLLM": HFLLM(model="org/m", token=TOKEN),
        "HFEmbedding": HFEmbedding(model="org/e", token=TOKEN),
    }


HOLDERS = list(holders())


def leaks(text: str | bytes) -> bool:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return TOKEN.encode() in data or TOKEN.encode("utf-16-le") in data


@pytest.mark.parametrize("name", HOLDERS)
def test_token_not_in_repr_or_str(name):
    obj = holders()[name]
    assert not leaks(repr(obj))
    assert not leaks(str(obj))
    assert not leaks(f"{obj!r} {obj!s} {obj}")


@pytest.mark.parametrize("name", ["ChatHF", "HFEmbeddings", "HFTextGen", "HFLLM", "HFEmbedding"])
def test_token_not_in_pydantic_dumps(name):
    obj = holders()[name]
    assert not leaks(repr(obj.model_dump()))
    assert not leaks(obj.model_dump_json())


@pytest.mark.parametrize("name", HOLDERS)
def test_token_not_in_pickles(name):
    obj = holders()[name]
    try:
        data = pickle.dumps(obj)
    except (TypeError, pickle.PicklingError, AttributeError):
        return  # an object that refuses to be pickled cannot leak through a pickle
    assert not leaks(data)
    assert not leaks(repr(pickle.loads(data)))  # noqa: S301 - our own bytes


@pytest.mark.parametrize("name", ["ChatHF", "ChatHF(api_key)", "HFTextGen", "HFEmbeddings"])
def test_langchain_serialisation_keeps_the_token_a_secret_reference(name):
    obj = holders()[name]
    data = dumpd(obj)
    text = dumps(obj)
    assert not leaks(json.dumps(data))
    assert not leaks(text)
    if data.get("type") == "constructor":
        secret = data["kwargs"].get("token") or data["kwargs"].get("api_key")
        assert secret == {"lc": 1, "type": "secret", "id": ["HF_TOKEN"]}


@pytest.mark.parametrize("name", ["HFLLM", "HFEmbedding"])
def test_llama_index_serialisation_hides_the_token(name):
    obj = holders()[name]
    assert not leaks(json.dumps(obj.to_dict(), default=str))
    assert not leaks(obj.to_json())


# --- a failing call whose server echoes the token back -------------------------------------------


def echoing_server(request: httpx.Request) -> httpx.Response:
    auth = request.headers.get("authorization", "")
    body = {
        "error": f"Invalid credentials in Authorization header: '{auth}'",
        "token": auth.removeprefix("Bearer "),
        "details": [f"token {auth[7:]} is not valid", {"received": auth}],
    }
    return httpx.Response(
        401, json=body, headers={"x-error-message": f"bad token {auth[7:]}", "x-request-id": "r1"}
    )


def all_text_of(error: BaseException) -> str:
    parts = [str(error), repr(error), repr(error.args)]
    parts += traceback.format_exception(type(error), error, error.__traceback__)
    parts += [repr(value) for value in vars(error).values()]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        parts.append(all_text_of(cause))
    return "\n".join(parts)


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_token_echoed_by_the_server_stays_out_of_errors_and_logs(caplog, mode):
    transport = httpx.MockTransport(echoing_server)
    client = HFClient(token=TOKEN, base_url=BASE, transport=transport, max_retries=0)
    async_client = AsyncHFClient(token=TOKEN, base_url=BASE, transport=transport, max_retries=0)
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    messages = [{"role": "user", "content": "hi"}]

    def call() -> object:
        if mode == "sync":
            return service.complete(messages, {})
        if mode == "async":
            return asyncio.run(service.acomplete(messages, {}))
        return list(service.stream(messages, {}))

    with caplog.at_level(logging.DEBUG), pytest.raises(HFAuthenticationError) as caught:
        call()

    assert not leaks(all_text_of(caught.value))
    assert "Invalid credentials" in str(caught.value)  # the server's message survives, redacted
    assert not leaks(caplog.text)
    for record in caplog.records:
        assert not leaks(record.getMessage())
        assert not leaks(repr(record.args))


def test_token_stays_out_of_logs_on_retries_and_failover(caplog):
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            503, json={"error": f"overloaded, {request.headers['authorization']}"}
        )

    transport = httpx.MockTransport(flaky)
    client = HFClient(
        token=TOKEN, base_url=BASE, transport=transport, max_retries=2, sleep=lambda _: None
    )
    service = ChatService(model="m", base_url=BASE, client=client)
    with caplog.at_level(logging.DEBUG), pytest.raises(HFError) as caught:
        service.complete([{"role": "user", "content": "hi"}], {})
    assert len(calls) == 3
    assert any("retry" in record.getMessage() for record in caplog.records)
    assert not leaks(caplog.text)
    assert not leaks(all_text_of(caught.value))


# --- where the token goes ------------------------------------------------------------------------


class Recorder:
    def __init__(self, redirect_to: str | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.redirect_to = redirect_to

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.redirect_to and len(self.requests) == 1:
            return httpx.Response(307, headers={"location": self.redirect_to})
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    def authorizations(self) -> list[str | None]:
        return [request.headers.get("authorization") for request in self.requests]


def send(recorder: Recorder, mode: str, **settings: Any) -> None:
    transport = httpx.MockTransport(recorder)
    client = HFClient(transport=transport, **settings)
    async_client = AsyncHFClient(transport=transport, **settings)
    service = ChatService(
        model="org/m", client=client, async_client=async_client, base_url=settings.get("base_url")
    )
    messages = [{"role": "user", "content": "hi"}]
    if mode == "sync":
        service.complete(messages, {})
    else:
        asyncio.run(service.acomplete(messages, {}))


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_env_token_never_goes_to_a_self_hosted_url(monkeypatch, mode):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    recorder = Recorder()
    send(recorder, mode, base_url=BASE)
    assert recorder.authorizations() == [None]
    assert not any(leaks(str(request.headers)) for request in recorder.requests)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_token_file_never_goes_to_a_self_hosted_url(monkeypatch, tmp_path, mode):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    monkeypatch.setenv("HF_TOKEN_PATH", str(path))
    recorder = Recorder()
    send(recorder, mode, base_url=BASE)
    assert recorder.authorizations() == [None]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_env_token_goes_to_the_router(monkeypatch, mode):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    recorder = Recorder()
    send(recorder, mode)
    assert recorder.authorizations() == [f"Bearer {TOKEN}"]
    assert recorder.requests[0].url.host == "router.huggingface.co"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_explicit_token_goes_to_the_url_it_was_passed_for(mode):
    recorder = Recorder()
    send(recorder, mode, base_url=BASE, token=TOKEN)
    assert recorder.authorizations() == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("base_url", "target"),
    [
        (ROUTER, "https://evil.example.com/v1/chat/completions"),
        (ROUTER, "https://router.huggingface.co.evil.example/v1/chat/completions"),
        (BASE, "http://127.0.0.2:9/v1/chat/completions"),
        (BASE, "http://127.0.0.1:10/v1/chat/completions"),  # same host, another port
        (ROUTER, "http://router.huggingface.co/v1/chat/completions"),  # downgraded to http
    ],
)
def test_token_is_dropped_on_cross_origin_redirects(mode, base_url, target):
    recorder = Recorder(redirect_to=target)
    send(recorder, mode, base_url=None if base_url == ROUTER else base_url, token=TOKEN)
    assert recorder.authorizations() == [f"Bearer {TOKEN}", None]
    assert str(recorder.requests[1].url) == target


def test_absolute_url_to_another_host_gets_no_token():
    recorder = Recorder()
    client = HFClient(token=TOKEN, transport=httpx.MockTransport(recorder))
    client.request("GET", "https://example.com/data")
    client.request("GET", "https://huggingface.co/api/models")
    assert recorder.authorizations() == [None, f"Bearer {TOKEN}"]


# --- TLS -----------------------------------------------------------------------------------------


def _sync_ssl_context(client: httpx.Client) -> ssl.SSLContext:
    return client._transport._pool._ssl_context  # type: ignore[attr-defined]


def test_tls_verification_is_on_by_default():
    assert ClientConfig.create().verify is True
    assert HFClient().config.verify is True
    assert AsyncHFClient().config.verify is True
    for service in (ChatService(model="org/m"), EmbeddingService(), TextGenService()):
        assert service.client.config.verify is True
    assert ChatHF(model="org/m").service.client.config.verify is True
    assert HFLLM(model="org/m").service.client.config.verify is True
    context = _sync_ssl_context(HFClient().http)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True


async def test_async_shared_pool_verifies_tls_by_default():
    http = await shared_async_client(True)
    transport = http._transport
    assert transport._verify is True
    session = transport._new_session()
    try:
        assert session.connector._ssl.verify_mode == ssl.CERT_REQUIRED
    finally:
        await session.close()


def test_tls_verification_is_off_only_when_asked():
    unverified = HFClient(verify=False)
    assert unverified.config.verify is False
    assert _sync_ssl_context(unverified.http).verify_mode == ssl.CERT_NONE
    # The default pool is another one, and stays verified.
    assert unverified.http is not shared_sync_client(True)
    assert _sync_ssl_context(shared_sync_client(True)).verify_mode == ssl.CERT_REQUIRED
    assert _sync_ssl_context(HFClient().http).verify_mode == ssl.CERT_REQUIRED


def test_http_library_debug_logs_are_redacted(caplog):
    """httpcore logs response headers at DEBUG: an echoed token must not reach the handlers."""
    Secret(TOKEN)  # known to the redactor, as every token hfbridge holds
    HFClient()  # importing and using the transport installs the filter
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpcore.http11").debug(
            "receive_response_headers.complete return_value=%r",
            (b"HTTP/1.1", 401, [(b"x-error-message", f"bad token {TOKEN}".encode())]),
        )
        logging.getLogger("httpx").info("HTTP Request: %s %s", "GET", f"Bearer {TOKEN}")
    assert len(caplog.records) == 2
    assert not leaks(caplog.text)
    assert "receive_response_headers.complete" in caplog.text
