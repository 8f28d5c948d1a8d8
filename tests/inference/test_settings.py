"""One settings object, one lifecycle: the same connection settings and rules in all five adapters."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import httpx
import pytest

from hfbridge.errors import HFConfigError
from hfbridge.inference.settings import ConnectionSettings, ServiceHolder
from hfbridge.langchain import ChatHF, HFEmbeddings, HFReranker, HFTextGen
from hfbridge.llama_index import HFLLM, HFEmbedding, HFRerank

BASE = "http://127.0.0.1:9/v1"
ADAPTERS: dict[str, type[ServiceHolder[Any]]] = {
    "ChatHF": ChatHF, "HFTextGen": HFTextGen, "HFEmbeddings": HFEmbeddings, "HFLLM": HFLLM,
    "HFEmbedding": HFEmbedding, "HFReranker": HFReranker, "HFRerank": HFRerank,
}  # fmt: skip
NAMES = list(ADAPTERS)


def make(name: str, **settings: Any) -> Any:
    return ADAPTERS[name](**{"model": "local", "base_url": BASE, **settings})


def config_of(adapter: Any) -> Any:
    return adapter.service.connection.config


@pytest.mark.parametrize("name", NAMES)
def test_every_adapter_has_every_connection_setting(name):
    assert set(ConnectionSettings.model_fields) <= set(ADAPTERS[name].model_fields)
    adapter = make(
        name, bill_to="org", timeout=7, max_retries=4, default_headers={"X-App": "a"},
        verify=False, use_cache=False,
    )  # fmt: skip
    config = config_of(adapter)
    assert (config.bill_to, config.timeout, config.retry.max_retries) == ("org", 7.0, 4)
    assert (config.verify, config.use_cache) == (False, False)
    assert config.static_headers["x-app"] == "a"
    assert config.static_headers["x-use-cache"] == "false"


@pytest.mark.parametrize("name", NAMES)
def test_every_adapter_takes_model_name_and_api_key(name):
    adapter = ADAPTERS[name](model_name="org/name", api_key="hf_anothername123", base_url=BASE)
    assert adapter.model == "org/name"
    assert adapter.explicit_token
    assert config_of(adapter).token.get_secret_value() == "hf_anothername123"
    assert config_of(adapter).token_source == "explicit"


@pytest.mark.parametrize("name", NAMES)
def test_one_token_rule_a_discovered_token_is_shown_but_not_explicit(name, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fromtheenvironment1")
    adapter = make(name)
    assert adapter.token is not None
    assert adapter.token.get_secret_value() == "hf_fromtheenvironment1"
    assert not adapter.explicit_token
    config = config_of(adapter)
    assert config.token_source == "env"
    assert not config.may_receive_token("127.0.0.1")  # a self-hosted server never receives it


@pytest.mark.parametrize("name", NAMES)
def test_the_token_file_is_read_by_the_same_rule(name, clear_hf_env):
    token_file = clear_hf_env.parent / "hf_home" / "token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text("hf_fromthetokenfile12\n")
    adapter = make(name)
    assert adapter.token.get_secret_value() == "hf_fromthetokenfile12"
    assert config_of(adapter).token_source == "file"


@pytest.mark.parametrize("name", NAMES)
def test_a_changed_setting_rebuilds_the_service_and_a_refused_one_is_undone(name):
    adapter = make(name, timeout=5)
    before = adapter.service
    adapter.timeout = 9
    assert adapter.service is not before
    assert config_of(adapter).timeout == 9.0
    with pytest.raises(HFConfigError):
        adapter.timeout = -1
    assert adapter.timeout == 9
    assert config_of(adapter).timeout == 9.0


@pytest.mark.parametrize("name", NAMES)
def test_the_service_is_built_from_a_snapshot(name):
    headers = {"X-App": "a"}
    adapter = make(name, default_headers=headers)
    headers["X-App"] = "changed in place"
    assert config_of(adapter).static_headers["x-app"] == "a"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("how", ["copy", "deepcopy", "model_copy"])
def test_copies_build_their_own_service(name, how):
    adapter = make(name, timeout=5)
    original = adapter.service
    if how == "copy":
        other = copy.copy(adapter)
    elif how == "deepcopy":
        other = copy.deepcopy(adapter)
    else:
        other = adapter.model_copy(update={"timeout": 6})
    assert other.service is not original
    assert adapter.service is original
    assert config_of(other).timeout == (6.0 if how == "model_copy" else 5.0)


@pytest.mark.parametrize("name", NAMES)
def test_a_deep_copy_shares_injected_objects(name):
    transport = httpx.MockTransport(lambda _request: httpx.Response(500))
    adapter = make(name, transport=transport)
    assert copy.deepcopy(adapter).transport is transport


@pytest.mark.parametrize("name", NAMES)
def test_pickles_leave_the_token_clients_and_service_behind(name):
    transport = httpx.MockTransport(lambda _request: httpx.Response(500))
    adapter = make(name, token="hf_neverinapickle42", transport=transport, timeout=3)
    data = pickle.dumps(adapter)
    assert b"neverinapickle42" not in data
    loaded = pickle.loads(data)  # noqa: S301 - our own bytes, just made
    assert loaded.token is None
    assert loaded.transport is None
    assert config_of(loaded).timeout == 3.0
    assert config_of(loaded).token is None
    assert adapter.token.get_secret_value() == "hf_neverinapickle42"  # the original keeps it


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_setting_fails_at_construction(name):
    with pytest.raises(HFConfigError):
        make(name, base_url="ftp://nowhere")
    with pytest.raises(HFConfigError):
        make(name, max_retries=-1)


@pytest.mark.parametrize("name", NAMES)
def test_an_injected_transport_carries_the_requests(name):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error": "down"})

    adapter = make(name, transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(Exception, match="503"):
        adapter.service.connection.client.request("GET", "models")
    assert [str(request.url) for request in seen] == [f"{BASE}/models"]
