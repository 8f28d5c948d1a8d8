"""Token counts: the server's own counter on the recorded llama-server bodies, else an estimate."""

import warnings
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from hfbridge.inference import server_kinds, token_count
from hfbridge.inference.token_count import TokenEstimateWarning, root_url
from hfbridge.langchain import ChatHF
from hfbridge.llama_index import HFLLM

SERVER = Path(__file__).parents[1] / "fixtures" / "server_info"
BASE = "http://127.0.0.1:9/v1"


class LlamaCpp:
    """GET /v1/models and the token counters, answered with the recorded bodies."""

    def __init__(self):
        self.posts = []

    def __call__(self, request):
        if request.method == "GET" and request.url.path == "/v1/models":
            return httpx.Response(200, content=(SERVER / "llamacpp_v1_models.json").read_bytes())
        self.posts.append(request)
        if request.url.path == "/v1/responses/input_tokens":
            return httpx.Response(
                200, content=(SERVER / "llamacpp_responses_input_tokens.json").read_bytes()
            )
        if request.url.path == "/tokenize":
            return httpx.Response(200, content=(SERVER / "llamacpp_tokenize.json").read_bytes())
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture(autouse=True)
def fresh():
    server_kinds.forget()
    token_count._warned.clear()
    yield
    server_kinds.forget()


def test_counters_live_at_the_server_root():
    assert root_url("http://h:8080/v1", "tokenize") == "http://h:8080/tokenize"
    assert root_url("http://h:8080/v1/", "v1/responses/input_tokens") == (
        "http://h:8080/v1/responses/input_tokens"
    )


def test_llamacpp_counts_a_conversation_with_its_template_no_transformers_needed():
    server = LlamaCpp()
    model = ChatHF(model="qwen", base_url=BASE, transport=httpx.MockTransport(server))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        count = model.get_num_tokens_from_messages([SystemMessage("Be brief."), HumanMessage("hi")])
    assert count == 23  # the recorded answer
    (post,) = server.posts
    assert post.url.path == "/v1/responses/input_tokens"
    assert b'"input"' in post.content
    assert model.get_num_tokens("Hello, world! Hello again.") == 9  # /tokenize, recorded


def test_hfllm_counts_through_the_same_server():
    server = LlamaCpp()
    llm = HFLLM(model="qwen", base_url=BASE, transport=httpx.MockTransport(server))
    assert llm.count_tokens([ChatMessage(role=MessageRole.USER, content="hi")]) == 23


def test_the_router_gets_an_estimate_that_says_so_once():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    model = ChatHF(model="org/m", transport=httpx.MockTransport(refuse))
    with pytest.warns(TokenEstimateWarning, match="estimates"):
        first = model.get_num_tokens("x" * 40)
    assert first == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.get_num_tokens_from_messages([HumanMessage("hello")]) > 0


def test_a_server_that_cannot_count_gets_the_estimate():
    def silent(request):
        return httpx.Response(404, json={"error": "not found"})

    model = ChatHF(model="m", base_url=BASE, transport=httpx.MockTransport(silent))
    with pytest.warns(TokenEstimateWarning, match="did not"):
        assert model.get_num_tokens("abcd" * 5) == 5
