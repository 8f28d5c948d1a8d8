"""HFEmbeddings (LangChain): the standard unit suite, plus behaviour over MockTransport."""

import asyncio
import json
import re

import httpx
import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import SecretStr

from hfbridge.errors import HFBatchError, HFConfigError, HFServerError
from hfbridge.langchain import HFEmbeddings
from hfbridge.transport import AsyncHFClient, HFClient

BASE = "http://127.0.0.1:9/v1"
VOCAB = ["cat", "dog", "fish", "bird", "car", "train", "plane", "boat"]


def keyword_vector(text):
    """Counts of vocabulary words, plus a small constant: similar texts get similar vectors."""
    words = re.findall(r"[a-z]+", text.lower())
    return [float(words.count(w)) for w in VOCAB] + [0.1]


def inputs_of(request):
    body = json.loads(request.content)
    return body["input"] if "input" in body else body["inputs"]


class OpenAIServer:
    def __init__(self, fail_on=None, delay=0.0):
        self.bodies = []
        self.headers = []
        self.fail_on = fail_on
        self.delay = delay

    def _answer(self, request):
        body = json.loads(request.content)
        self.bodies.append(body)
        self.headers.append(request.headers)
        if self.fail_on is not None and self.fail_on in body["input"]:
            return httpx.Response(503, json={"error": "overloaded"})
        data = [{"index": i, "embedding": keyword_vector(t)} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"object": "list", "data": data[::-1]})

    def __call__(self, request):
        return self._answer(request)

    async def handle_async(self, request):
        await asyncio.sleep(self.delay)
        return self._answer(request)


def clients(server, **kwargs):
    async def no_sleep(_seconds):
        return None

    sync_client = HFClient(
        base_url=BASE, transport=httpx.MockTransport(server), sleep=lambda _s: None, **kwargs
    )
    async_client = AsyncHFClient(
        base_url=BASE, transport=httpx.MockTransport(server.handle_async), sleep=no_sleep, **kwargs
    )
    return {"client": sync_client, "async_client": async_client}


def fail_if_called(request):
    pytest.fail(f"no request expected, got {request.url}")


class TestHFEmbeddingsStandard(EmbeddingsUnitTests):
    @property
    def embeddings_class(self):
        return HFEmbeddings

    @property
    def embedding_model_params(self):
        return {"model": "BAAI/bge-small-en-v1.5", "token": "hf_unit_test_token_value"}


# --- calls ---


def test_documents_and_query_go_through_the_engine_in_order():
    server = OpenAIServer()
    embeddings = HFEmbeddings(base_url=BASE, model="local", batch_size=2, **clients(server))
    texts = ["a cat", "a dog", "a car", "a boat", "a fish"]
    assert embeddings.embed_documents(texts) == [keyword_vector(t) for t in texts]
    assert embeddings.embed_query("the plane") == keyword_vector("the plane")
    assert [b["input"] for b in server.bodies] == [
        ["a cat", "a dog"],
        ["a car", "a boat"],
        ["a fish"],
        ["the plane"],
    ]
    assert {b["model"] for b in server.bodies} == {"local"}


async def test_async_calls_are_native_and_ordered():
    server = OpenAIServer(delay=0.005)
    embeddings = HFEmbeddings(base_url=BASE, model="local", batch_size=1, **clients(server))
    texts = [f"{w} {w}" for w in VOCAB]
    assert await embeddings.aembed_documents(texts) == [keyword_vector(t) for t in texts]
    assert await embeddings.aembed_query("dog") == keyword_vector("dog")


def test_e5_instructions_are_applied_for_queries_and_documents():
    server = OpenAIServer()
    embeddings = HFEmbeddings(
        base_url=BASE, model="intfloat/multilingual-e5-small", **clients(server)
    )
    embeddings.embed_documents(["doc"])
    embeddings.embed_query("question")
    assert [b["input"] for b in server.bodies] == [["passage: doc"], ["query: question"]]


def test_user_instructions_win():
    server = OpenAIServer()
    embeddings = HFEmbeddings(
        base_url=BASE,
        model="intfloat/multilingual-e5-small",
        query_instruction="",
        document_instruction="D: ",
        **clients(server),
    )
    embeddings.embed_documents(["doc"])
    embeddings.embed_query("question")
    assert [b["input"] for b in server.bodies] == [["D: doc"], ["question"]]


def test_failures_surface_as_batch_errors_without_partial_results():
    server = OpenAIServer(fail_on="boom")
    embeddings = HFEmbeddings(
        base_url=BASE, model="local", batch_size=2, **clients(server, max_retries=1)
    )
    with pytest.raises(HFBatchError) as caught:
        embeddings.embed_documents(["a", "b", "c", "boom", "e"])
    assert caught.value.failed_indices == [2, 3]
    assert isinstance(caught.value.__cause__, HFServerError)


def test_feature_extraction_options_reach_the_body():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=[[1.0, 0.0]] * len(inputs_of(request)))

    transport = httpx.MockTransport(handler)
    embeddings = HFEmbeddings(
        model="BAAI/bge-m3",
        normalize=False,
        truncate=True,
        truncation_direction="left",
        client=HFClient(transport=transport),
    )
    embeddings.embed_documents(["x", "y"])
    assert seen == [
        {"inputs": ["x", "y"], "normalize": False, "truncate": True, "truncation_direction": "left"}
    ]


def test_inmemory_vectorstore_retrieves_the_matching_document():
    server = OpenAIServer()
    embeddings = HFEmbeddings(base_url=BASE, model="local", batch_size=3, **clients(server))
    store = InMemoryVectorStore(embedding=embeddings)
    docs = [Document(page_content=f"all about the {w} and more {w}s") for w in VOCAB]
    store.add_documents(docs)
    (best,) = store.similarity_search("tell me about a train", k=1)
    assert best.page_content == "all about the train and more trains"


# --- construction ---


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": 0},
        {"max_batch_bytes": -1},
        {"max_concurrency": 0},
        {"dimensions": 16},  # hf-inference does not take it
        {"base_url": BASE, "normalize": True},  # OpenAI routes do not take it
        {"model": "BAAI/bge-m3:fastest"},
        {"model": "nosuchalias"},
    ],
)
def test_bad_settings_raise_hf_config_errors_before_any_request(kwargs):
    with pytest.raises(HFConfigError):
        HFEmbeddings(client=HFClient(transport=httpx.MockTransport(fail_if_called)), **kwargs)


def test_unknown_fields_are_rejected():
    with pytest.raises(HFConfigError, match="batchsize"):  # never a raw pydantic error
        HFEmbeddings(batchsize=3)


def test_aliases_resolve_and_the_token_stays_secret():
    embeddings = HFEmbeddings(model="small", token="hf_abcdefghijklmnop")
    assert embeddings.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert isinstance(embeddings.token, SecretStr)
    assert "hf_abcdefghijklmnop" not in repr(embeddings)
    assert embeddings.lc_secrets == {"token": "HF_TOKEN"}
    assert HFEmbeddings(model="large").model_id == "sentence-transformers/sentence-t5-large"
    assert HFEmbeddings().model_id == "sentence-transformers/all-mpnet-base-v2"


def test_only_an_explicit_token_is_trusted_by_a_custom_server(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_fromtheenvironment1")
    discovered = HFEmbeddings(base_url=BASE, model="m").service.client.config
    explicit = HFEmbeddings(base_url=BASE, model="m", token="hf_explicitvalue123").service
    assert discovered.token_source == "env"
    assert not discovered.may_receive_token(BASE)
    assert explicit.client.config.token_source == "explicit"
    assert explicit.client.config.may_receive_token(BASE)
    assert explicit.async_client.config is explicit.client.config
