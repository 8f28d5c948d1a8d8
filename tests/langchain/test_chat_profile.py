"""ChatHF.profile: from the recorded catalogue (router) and the recorded llama-server facts.

One verdict for the context window: the profile's ``max_input_tokens`` is LlamaIndex's
``metadata.context_window`` too (the smallest live provider's, unpinned).
"""

import asyncio
from pathlib import Path

import httpx
import pytest
from langchain.agents.factory import _supports_provider_strategy
from tests.recorded_servers import router_catalogue

from hfbridge.catalog import Catalog
from hfbridge.errors import HFConfigError
from hfbridge.inference import server_facts
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM
from hfbridge.transport import AsyncHFClient, HFClient

FIXTURES = Path(__file__).parents[1] / "fixtures"
SERVER = FIXTURES / "server_info"
SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
BASE = "http://127.0.0.1:9/v1"


def catalogue(request):
    assert request.method == "GET", "no chat request is needed for a profile"
    return router_catalogue(request)


def router(model, cls=ChatHF, **kwargs):
    transport = httpx.MockTransport(catalogue)
    catalog = Catalog(HFClient(transport=transport), AsyncHFClient(transport=transport),
                      cache_dir=False)  # fmt: skip
    return cls(model=model, transport=transport, catalog=catalog, **kwargs)


def test_construction_asks_nothing_and_stays_conservative():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    model = ChatHF(model=SCOUT, transport=httpx.MockTransport(refuse))
    assert model.profile == {"text_inputs": True, "text_outputs": True}


def test_router_profile_follows_the_pinned_provider():
    groq = router(f"{SCOUT}:groq").refresh_profile()
    cerebras = router(f"{SCOUT}:cerebras").refresh_profile()
    assert groq["structured_output"] is True
    assert cerebras["structured_output"] is False
    assert groq["max_input_tokens"] == 131072
    assert cerebras["max_input_tokens"] == 32768
    assert groq["tool_calling"] is True
    assert groq["image_inputs"] is True


def test_the_async_refresh_gives_the_same_profile():
    groq = router(f"{SCOUT}:groq")
    assert asyncio.run(groq.arefresh_profile()) == router(f"{SCOUT}:groq").refresh_profile()
    server_facts.forget()
    local = ChatHF(model="qwen2.5-coder-0.5b-instruct", base_url=BASE,
                   transport=httpx.MockTransport(llamacpp))  # fmt: skip
    assert asyncio.run(local.arefresh_profile())["max_input_tokens"] == 4096
    server_facts.forget()


def test_create_agent_picks_native_structured_output_exactly_where_supported():
    groq, cerebras = router(f"{SCOUT}:groq"), router(f"{SCOUT}:cerebras")
    groq.refresh_profile()
    cerebras.refresh_profile()
    assert _supports_provider_strategy(groq) is True
    assert _supports_provider_strategy(cerebras) is False


def test_unpinned_the_smallest_live_window_is_the_one_verdict_for_both_frameworks():
    profile = router(SCOUT).refresh_profile()
    assert profile["max_input_tokens"] == 32768
    assert router(SCOUT, cls=HFLLM).metadata.context_window == 32768


def test_a_user_profile_wins_and_is_checked():
    model = router(f"{SCOUT}:groq", profile={"max_input_tokens": 1000})
    assert model.refresh_profile() == {"max_input_tokens": 1000}
    with pytest.raises(HFConfigError, match="max_input_tokens"):
        ChatHF(model="m", base_url=BASE, profile={"max_input_tokens": "lots"})


def llamacpp(request):
    if request.url.path == "/v1/models":
        return httpx.Response(200, content=(SERVER / "llamacpp_v1_models.json").read_bytes())
    if request.url.path == "/props":
        return httpx.Response(200, content=(SERVER / "llamacpp_props.json").read_bytes())
    pytest.fail(f"unexpected {request.method} {request.url}")


def test_a_llamacpp_server_profile_comes_from_its_models_and_props():
    server_facts.forget()
    model = ChatHF(model="qwen2.5-coder-0.5b-instruct", base_url=BASE,
                   transport=httpx.MockTransport(llamacpp))  # fmt: skip
    profile = model.refresh_profile()
    assert profile["max_input_tokens"] == 4096  # n_ctx, not n_ctx_train
    assert profile["structured_output"] is True
    assert profile["tool_calling"] is True
    assert profile["image_inputs"] is False
    assert _supports_provider_strategy(model) is True
    # LlamaIndex reads the same learnt facts (metadata itself never asks a self-hosted server).
    llm = HFLLM(model="qwen2.5-coder-0.5b-instruct", base_url=BASE,
                transport=httpx.MockTransport(llamacpp))  # fmt: skip
    assert llm.metadata.context_window == 4096

    server_facts.forget()


def test_a_server_that_says_nothing_gets_the_conservative_profile():
    server_facts.forget()

    def silent(request):
        return httpx.Response(404, json={"error": "not found"})

    model = ChatHF(model="m", base_url="http://127.0.0.1:8/v1", transport=httpx.MockTransport(silent))
    assert model.refresh_profile() == {"text_inputs": True, "text_outputs": True}
    server_facts.forget()
