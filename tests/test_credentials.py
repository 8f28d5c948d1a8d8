"""Credentials survive copies but never leave where they belong (issue 17, credentials).

Each test reproduces one way a token or key used to escape or vanish: a LangChain dump loaded with
``secrets_from_env=True`` handing ``HF_TOKEN`` to a self-hosted server, ``HF_ENDPOINT`` trusted on
every port of its host, ``user:password@`` in ``base_url``, a token echoed in ``x-request-id``, a
deep copy sending no token at all, and keys given in ``default_headers`` shown in ``repr`` and
dumps.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import pickle
from typing import Any

import httpx
import pytest
from langchain_core.load import dumpd, dumps, loads

from hfbridge.errors import HFAuthenticationError, HFConfigError
from hfbridge.inference.chat import ChatService
from hfbridge.inference.embeddings import EmbeddingService
from hfbridge.inference.textgen import TextGenService
from hfbridge.langchain import ChatHF, HFEmbeddings, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding
from hfbridge.transport import AsyncHFClient, ClientConfig, HFClient, SecretHeaders
from hfbridge.transport import client as sync_client_module
from hfbridge.transport._pool import new_sync_client
from hfbridge.transport.config import hub_api_url

HF_TOKEN = "hf_credentialsTestToken0123456789abcd"
LOCAL_KEY = "sk-local-credentials-9f8e7d6c"  # not HF-shaped: only the secret registry can hide it
BASE = "http://127.0.0.1:9/v1"
ROUTER_HOST = "router.huggingface.co"
USER = [{"role": "user", "content": "hi"}]
COMPLETION = {"choices": [{"message": {"role": "assistant", "content": "ok"}}]}


class Recorder:
    """A MockTransport handler recording requests; answers a completion (or ``answer``)."""

    def __init__(self, answer: httpx.Response | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer if self.answer is not None else httpx.Response(200, json=COMPLETION)

    def header(self, name: str, position: int = -1) -> str | None:
        return self.requests[position].headers.get(name)


def loaded(text: str, cls: type, **options: Any) -> Any:
    return loads(text, valid_namespaces=["hfbridge"], allowed_objects=[cls], **options)


# --- LangChain dumps and loads ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
@pytest.mark.parametrize("cls", [ChatHF, HFTextGen])
def test_loading_a_self_hosted_dump_does_not_hand_hf_token_to_that_server(monkeypatch, cls):
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    model = cls(model="m", base_url=BASE)  # found HF_TOKEN, which never goes to BASE
    text = dumps(model)
    assert "HF_TOKEN" not in text

    restored = loaded(text, cls, secrets_from_env=True)

    recorder = Recorder()
    settings = restored.service.client.config if cls is HFTextGen else None
    if cls is ChatHF:
        restored.transport = httpx.MockTransport(recorder)
        restored.invoke("hi")
        assert recorder.header("authorization") is None
    else:
        assert settings is not None
        assert "authorization" not in settings.headers_for(BASE + "/completions")


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
@pytest.mark.parametrize("cls", [ChatHF, HFTextGen])
def test_an_explicit_key_for_a_self_hosted_server_is_not_replaced_by_hf_token(monkeypatch, cls):
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    text = dumps(cls(model="m", base_url=BASE, api_key=LOCAL_KEY))
    assert LOCAL_KEY not in text
    assert '"HFBRIDGE_BASE_URL_TOKEN"' in text

    from_env = loaded(text, cls, secrets_from_env=True)
    assert from_env.token is None  # HFBRIDGE_BASE_URL_TOKEN is not set; HF_TOKEN is not used

    with_key = loaded(text, cls, secrets_map={"HFBRIDGE_BASE_URL_TOKEN": LOCAL_KEY})
    assert with_key.token.get_secret_value() == LOCAL_KEY
    headers = with_key.service.client.config.headers_for(BASE + "/chat/completions")
    assert headers["authorization"] == f"Bearer {LOCAL_KEY}"


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_router_dumps_still_refer_to_hf_token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    text = dumps(ChatHF(model="org/m"))
    assert '"HF_TOKEN"' in text
    restored = loaded(text, ChatHF, secrets_from_env=True)
    assert restored.token.get_secret_value() == HF_TOKEN


# --- HF_ENDPOINT: trust is per origin ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "gets_token"),
    [
        ("https://hub.internal.example/api/models", True),
        ("https://hub.internal.example:8443/api/models", False),  # same host, another port
        ("http://hub.internal.example/api/models", False),  # same host, another scheme
        ("http://huggingface.co/api/models", False),  # an HF host over plain http
    ],
)
def test_hf_endpoint_trust_is_scheme_host_and_port(monkeypatch, url, gets_token):
    monkeypatch.setenv("HF_TOKEN", HF_TOKEN)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.internal.example")
    recorder = Recorder(httpx.Response(200, json=[]))
    HFClient(transport=httpx.MockTransport(recorder)).request("GET", url)
    assert (recorder.header("authorization") == f"Bearer {HF_TOKEN}") is gets_token


def test_an_explicit_token_goes_to_the_base_url_origin_only():
    recorder = Recorder(httpx.Response(200, json={}))
    client = HFClient(token=LOCAL_KEY, base_url=BASE, transport=httpx.MockTransport(recorder))
    client.request("GET", "http://127.0.0.1:9/v1/models")
    client.request("GET", "http://127.0.0.1:10/v1/models")  # same host, another port
    client.request("GET", "https://127.0.0.1:9/v1/models")  # same host and port, another scheme
    assert [r.headers.get("authorization") for r in recorder.requests] == [
        f"Bearer {LOCAL_KEY}", None, None
    ]  # fmt: skip


# --- base_url with credentials in it -------------------------------------------------------------

URL_WITH_PASSWORD = "http://admin:pa55w0rd-in-url@127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "build",
    [
        lambda: ClientConfig.create(base_url=URL_WITH_PASSWORD),
        lambda: HFClient(base_url=URL_WITH_PASSWORD),
        lambda: AsyncHFClient(base_url=URL_WITH_PASSWORD),
        lambda: ChatService(model="m", base_url=URL_WITH_PASSWORD),
        lambda: TextGenService(model="m", base_url=URL_WITH_PASSWORD),
        lambda: EmbeddingService(model="m", base_url=URL_WITH_PASSWORD),
        lambda: ChatHF(model="m", base_url=URL_WITH_PASSWORD),
        lambda: HFTextGen(model="m", base_url=URL_WITH_PASSWORD),
        lambda: HFEmbeddings(model="m", base_url=URL_WITH_PASSWORD),
        lambda: HFLLM(model="m", base_url=URL_WITH_PASSWORD),
        lambda: HFEmbedding(model="m", base_url=URL_WITH_PASSWORD),
    ],
    ids=["config", "HFClient", "AsyncHFClient", "ChatService", "TextGenService",
         "EmbeddingService", "ChatHF", "HFTextGen", "HFEmbeddings", "HFLLM", "HFEmbedding"],
)  # fmt: skip
def test_base_url_with_user_and_password_is_refused_without_showing_them(build):
    with pytest.raises(HFConfigError) as caught:
        build()
    message = str(caught.value)
    assert "pa55w0rd" not in message
    assert "admin" not in message
    assert "token=" in message
    assert "default_headers" in message


def test_hf_endpoint_with_user_and_password_is_refused(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://user:pa55w0rd-in-url@hub.internal.example")
    with pytest.raises(HFConfigError) as caught:
        hub_api_url()
    assert "pa55w0rd" not in str(caught.value)


# --- a token echoed in headers -------------------------------------------------------------------


def echo_headers(status: int):
    def answer(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("Bearer ")
        body = COMPLETION if status == 200 else {"error": "refused"}
        return httpx.Response(
            status,
            json=body,
            headers={"x-request-id": f"req-{token}", "x-error-code": f"code-{token}"},
        )

    return answer


@pytest.mark.parametrize("token", [HF_TOKEN, LOCAL_KEY])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_token_echoed_in_request_id_or_error_code_is_redacted(token, mode):
    transport = httpx.MockTransport(echo_headers(401))
    client = HFClient(token=token, base_url=BASE, transport=transport, max_retries=0)
    async_client = AsyncHFClient(token=token, base_url=BASE, transport=transport, max_retries=0)
    service = ChatService(model="m", base_url=BASE, client=client, async_client=async_client)
    call = service.complete if mode == "sync" else lambda *a: asyncio.run(service.acomplete(*a))
    with pytest.raises(HFAuthenticationError) as caught:
        call(USER, {})
    error = caught.value
    assert token not in str(error.request_id)
    assert token not in str(error.error_code)
    assert error.request_id == "req-***"
    assert token not in str(error)


@pytest.mark.parametrize("token", [HF_TOKEN, LOCAL_KEY])
def test_a_token_echoed_in_a_successful_answers_request_id_is_redacted(token):
    transport = httpx.MockTransport(echo_headers(200))
    model = ChatHF(model="m", base_url=BASE, api_key=token, transport=transport)
    message = model.invoke("hi")
    assert token not in json.dumps(message.response_metadata, default=str)
    streamed = HFClient(token=token, base_url=BASE, transport=transport)
    assert token not in str(streamed.request("POST", "chat/completions", json={}).request_id)


# --- copies keep the token -----------------------------------------------------------------------


def test_deep_copied_config_keeps_the_token_and_pickles_still_drop_it():
    config = ClientConfig.create(token=HF_TOKEN, headers={"x-api-key": LOCAL_KEY})
    for copied in (copy.deepcopy(config), copy.copy(config)):
        headers = copied.headers_for("https://router.huggingface.co/v1/chat/completions")
        assert headers["authorization"] == f"Bearer {HF_TOKEN}"
        assert headers["x-api-key"] == LOCAL_KEY
    restored = pickle.loads(pickle.dumps(config))  # noqa: S301 - our own bytes
    assert restored.token.get_secret_value() == ""
    assert "x-api-key" not in dict(restored.headers)


@pytest.mark.parametrize("how", ["deepcopy", "model_copy"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_deep_copied_chathf_sends_the_token(how, mode):
    recorder = Recorder()
    model = ChatHF(model="org/m", token=HF_TOKEN, transport=httpx.MockTransport(recorder))
    model.invoke("warm the service cache")
    copied = copy.deepcopy(model) if how == "deepcopy" else model.model_copy(deep=True)
    if mode == "sync":
        copied.invoke("hi")
    else:
        asyncio.run(copied.ainvoke("hi"))
    assert recorder.header("authorization") == f"Bearer {HF_TOKEN}"
    assert recorder.requests[-1].url.host == ROUTER_HOST


def test_a_deep_copied_hftextgen_keeps_the_token():
    model = HFTextGen(model="org/m", token=HF_TOKEN)
    model.service  # noqa: B018 - built
    copied = copy.deepcopy(model)
    headers = copied.service.client.config.headers_for("https://router.huggingface.co/v1")
    assert headers["authorization"] == f"Bearer {HF_TOKEN}"


@pytest.mark.parametrize("cls", [HFEmbeddings, HFEmbedding])
def test_deep_copied_embeddings_keep_the_token(cls):
    model = cls(model="m", base_url=BASE, token=LOCAL_KEY)
    copied = copy.deepcopy(model)  # used to raise TypeError (a lock in the service)
    assert copied.token.get_secret_value() == LOCAL_KEY
    headers = copied.service.client.config.headers_for(BASE + "/embeddings")
    assert headers["authorization"] == f"Bearer {LOCAL_KEY}"


@pytest.fixture
def shared_pool(monkeypatch) -> Recorder:
    """Requests through the process-wide sync pool go to a recorder instead."""
    recorder = Recorder()
    pool = new_sync_client(True, transport=httpx.MockTransport(recorder))
    monkeypatch.setattr(sync_client_module, "shared_sync_client", lambda _verify: pool)
    return recorder


@pytest.mark.parametrize("how", ["deepcopy", "model_copy"])
def test_a_deep_copied_hfllm_sends_the_token(shared_pool, how):
    llm = HFLLM(model="org/m", token=HF_TOKEN)
    copied = copy.deepcopy(llm) if how == "deepcopy" else llm.model_copy(deep=True)
    copied.complete("hi")
    assert shared_pool.header("authorization") == f"Bearer {HF_TOKEN}"


# --- keys in default_headers are secrets ---------------------------------------------------------

# Values of their own (the secret registry is process-wide: a value containing a token registered
# by another test would be masked for that reason alone).
CREDENTIAL_HEADERS = {
    "Authorization": "Basic aGVhZGVyLWF1dGgtN2E2YjVj",
    "api-key": "hdr-api-4d3e2f1a0b",
    "X-Api-Key": "hdr-xapi-9c8d7e6f5a",
    "X-Session-Token": "hdr-session-1b2c3d4e5f",
    "X-Trace": "visible-trace-value",
}
SECRET_VALUES = [value for name, value in CREDENTIAL_HEADERS.items() if name != "X-Trace"]


def header_holders() -> dict[str, Any]:
    return {
        "ChatHF": ChatHF(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS),
        "HFTextGen": HFTextGen(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS),
        "HFEmbeddings": HFEmbeddings(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS),
        "HFLLM": HFLLM(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS),
        "HFEmbedding": HFEmbedding(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS),
    }


def shows_a_key(text: str | bytes) -> bool:
    data = text if isinstance(text, bytes) else text.encode()
    return any(value.encode() in data for value in SECRET_VALUES)


@pytest.mark.parametrize("name", list(header_holders()))
def test_credential_headers_stay_out_of_repr_dumps_and_pickles(name):
    holder = header_holders()[name]
    assert not shows_a_key(repr(holder))
    assert not shows_a_key(str(holder))
    assert not shows_a_key(repr(holder.model_dump()))
    assert not shows_a_key(holder.model_dump_json())
    assert "visible-trace-value" in repr(holder)  # other headers are shown as they are
    assert not shows_a_key(pickle.dumps(holder))
    if name in ("ChatHF", "HFTextGen"):
        assert not shows_a_key(json.dumps(dumpd(holder)))
    if name in ("HFLLM", "HFEmbedding"):
        assert not shows_a_key(holder.to_json())


def test_credential_headers_are_still_sent_and_survive_copies():
    recorder = Recorder()
    model = ChatHF(
        model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS,
        transport=httpx.MockTransport(recorder),
    )  # fmt: skip
    for candidate in (model, copy.deepcopy(model), model.model_copy()):
        candidate.invoke("hi")
        sent = recorder.requests[-1].headers
        assert sent["x-api-key"] == CREDENTIAL_HEADERS["X-Api-Key"]
        assert sent["authorization"] == CREDENTIAL_HEADERS["Authorization"]
        assert sent["x-trace"] == "visible-trace-value"


@pytest.mark.filterwarnings("ignore::langchain_core._api.beta_decorator.LangChainBetaWarning")
def test_dumps_leave_credential_headers_out_and_keep_the_others():
    text = dumps(ChatHF(model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS))
    assert not shows_a_key(text)
    restored = loaded(text, ChatHF, secrets_from_env=True)
    assert dict(restored.default_headers) == {"X-Trace": "visible-trace-value"}


def test_credential_headers_are_redacted_from_errors_and_logs(caplog):
    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": f"bad key {request.headers['x-api-key']}"})

    model = ChatHF(
        model="m", base_url=BASE, default_headers=CREDENTIAL_HEADERS, max_retries=0,
        transport=httpx.MockTransport(echo),
    )  # fmt: skip
    with caplog.at_level(logging.DEBUG), pytest.raises(HFAuthenticationError) as caught:
        model.invoke("hi")
    assert not shows_a_key(str(caught.value))
    assert not shows_a_key(repr(caught.value.body))
    assert not shows_a_key(caplog.text)


def test_credential_headers_do_not_go_to_other_origins():
    recorder = Recorder(httpx.Response(200, json={}))
    client = HFClient(
        base_url=BASE, headers=CREDENTIAL_HEADERS, transport=httpx.MockTransport(recorder)
    )
    client.request("GET", "models")
    client.request("GET", "http://127.0.0.1:10/v1/models")
    first, second = (request.headers for request in recorder.requests)
    assert first["x-api-key"] == CREDENTIAL_HEADERS["X-Api-Key"]
    assert "x-api-key" not in second
    assert "authorization" not in second
    assert second["x-trace"] == "visible-trace-value"


def test_secret_headers_mask_their_keys_but_keep_them_in_copies():
    headers = SecretHeaders(CREDENTIAL_HEADERS)
    assert not shows_a_key(repr(headers))
    assert copy.deepcopy(headers) == CREDENTIAL_HEADERS
    assert copy.copy(headers) == CREDENTIAL_HEADERS
    assert pickle.loads(pickle.dumps(headers)) == {"X-Trace": "visible-trace-value"}  # noqa: S301
