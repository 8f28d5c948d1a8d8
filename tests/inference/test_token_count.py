"""Token counts: the server's own counter on the recorded llama-server bodies, else an estimate."""

import warnings
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from hfbridge.errors import HFCapabilityError, HFResponseError
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


# --- token ids: the server's tokenizer, never GPT-2's ---


def test_token_ids_come_from_the_server_and_agree_with_the_count():
    server = LlamaCpp()
    model = ChatHF(model="qwen", base_url=BASE, transport=httpx.MockTransport(server))
    text = "Hello, world! Bonjour"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no GPT-2 fallback warning, no estimate
        ids = model.get_token_ids(text)
    assert ids == [9707, 11, 1879, 0, 13481, 29262, 11162, 234, 235]  # the recorded /tokenize
    assert model.get_num_tokens(text) == len(ids)
    assert [post.url.path for post in server.posts] == ["/tokenize", "/tokenize"]
    assert b'"content"' in server.posts[0].content


def test_token_ids_with_pieces_tgi_and_vllm_shapes():
    from hfbridge.wire.server_info import parse_token_ids

    pieces = (SERVER / "llamacpp_tokenize_pieces.json").read_bytes()
    assert parse_token_ids(httpx.Response(200, content=pieces).json())[:3] == [9707, 11, 1879]
    assert parse_token_ids([{"id": 5, "text": "a", "start": 0, "stop": 1}]) == [5]  # TGI
    assert parse_token_ids({"count": 2, "max_model_len": 8, "tokens": [1, 2]}) == [1, 2]  # vLLM
    with pytest.raises(HFResponseError, match="no token ids"):
        parse_token_ids({"count": 2})


def test_the_router_gives_no_token_ids_and_says_what_to_do():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    model = ChatHF(model="org/m", transport=httpx.MockTransport(refuse))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # LangChain's GPT-2 fallback would warn (or need transformers)
        with pytest.raises(HFCapabilityError, match="router has no tokenizer") as info:
            model.get_token_ids("hello")
    assert "custom_get_token_ids" in info.value.message
    assert info.value.capability == "token ids"


def test_a_server_that_does_not_tokenize_gives_no_token_ids():
    def silent(request):
        return httpx.Response(404, json={"error": "not found"})

    model = ChatHF(model="m", base_url=BASE, transport=httpx.MockTransport(silent))
    with pytest.raises(HFCapabilityError, match="did not tokenize"):
        model.get_token_ids("hello")


def test_a_custom_encoder_counts_everything():
    def refuse(request):
        pytest.fail(f"no request may be sent, got {request.url}")

    def encode(text):
        return list(range(len(text.split())))

    model = ChatHF(
        model="org/m", transport=httpx.MockTransport(refuse), custom_get_token_ids=encode
    )
    assert model.get_token_ids("one two three") == [0, 1, 2]
    assert model.get_num_tokens("one two three") == 3
    assert model.get_num_tokens_from_messages([HumanMessage("one two three")]) > 3
