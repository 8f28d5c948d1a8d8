"""HFEmbedding (LlamaIndex) over MockTransport: instructions, whole-list batching, events, index."""

import asyncio
import json
import pickle
import re
import threading
import time

import httpx
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.callbacks.schema import CBEventType
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events.embedding import (
    EmbeddingEndEvent,
    EmbeddingStartEvent,
)
from llama_index.core.storage.kvstore import SimpleKVStore

from hfbridge.errors import HFBatchError, HFConfigError, HFServerError
from hfbridge.llama_index import HFEmbedding
from hfbridge.transport import AsyncHFClient, HFClient

BASE = "http://127.0.0.1:9/v1"
VOCAB = ["cat", "dog", "fish", "bird", "car", "train", "plane", "boat"]


def keyword_vector(text):
    words = re.findall(r"[a-z]+", text.lower())
    return [float(words.count(w)) for w in VOCAB] + [0.1]


class Server:
    """An OpenAI-style embeddings server that records inputs and can be slow or fail."""

    def __init__(self, delay=0.0, fail_on=None):
        self.inputs = []
        self.delay = delay
        self.fail_on = fail_on
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def _answer(self, request):
        texts = json.loads(request.content)["input"]
        if self.fail_on is not None and self.fail_on in texts:
            return httpx.Response(500, json={"error": "backend crashed"})
        data = [{"index": i, "embedding": keyword_vector(t)} for i, t in enumerate(texts)]
        return httpx.Response(200, json={"data": data})

    def _enter(self, request):
        with self.lock:
            self.inputs.append(json.loads(request.content)["input"])
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self):
        with self.lock:
            self.in_flight -= 1

    def __call__(self, request):
        self._enter(request)
        try:
            time.sleep(self.delay)
            return self._answer(request)
        finally:
            self._leave()

    async def handle_async(self, request):
        self._enter(request)
        try:
            await asyncio.sleep(self.delay)
            return self._answer(request)
        finally:
            self._leave()


def make(server, **kwargs):
    async def no_sleep(_seconds):
        return None

    return HFEmbedding(
        base_url=BASE,
        client=HFClient(
            base_url=BASE,
            transport=httpx.MockTransport(server),
            max_retries=0,
            sleep=lambda _s: None,
        ),
        async_client=AsyncHFClient(
            base_url=BASE,
            transport=httpx.MockTransport(server.handle_async),
            max_retries=0,
            sleep=no_sleep,
        ),
        **kwargs,
    )


TEXTS = [f"the {w} and the {w}" for w in VOCAB] + ["a cat", "a boat"]


def test_model_name_is_the_resolved_id_and_model_name_is_accepted_as_input():
    embedding = HFEmbedding(model_name="small")
    assert embedding.model == "small"
    assert embedding.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert HFEmbedding().model_name == "sentence-transformers/all-mpnet-base-v2"
    assert HFEmbedding.class_name() == "HFEmbedding"
    assert embedding.to_dict()["class_name"] == "HFEmbedding"


def test_query_and_text_instructions():
    server = Server()
    embedding = make(server, model="intfloat/multilingual-e5-small")
    embedding.get_query_embedding("where?")
    embedding.get_text_embedding("a passage")
    assert server.inputs == [["query: where?"], ["passage: a passage"]]
    custom = make(Server(), model="local", query_instruction="Q: ", text_instruction="T: ")
    assert (custom.service.query_instruction, custom.service.document_instruction) == (
        "Q: ",
        "T: ",
    )


def test_text_batch_is_one_engine_job_batched_by_embed_batch_size_and_concurrent():
    server = Server(delay=0.05)
    embedding = make(server, model="local", embed_batch_size=3, max_concurrency=4)
    result = embedding.get_text_embedding_batch(TEXTS)
    assert result == [keyword_vector(t) for t in TEXTS]
    assert sorted(len(batch) for batch in server.inputs) == [1, 3, 3, 3]
    assert 2 <= server.max_in_flight <= 4  # LlamaIndex's own sync loop sends one at a time


async def test_async_text_batch_and_query():
    server = Server(delay=0.01)
    embedding = make(server, model="local", embed_batch_size=2, max_concurrency=2)
    assert await embedding.aget_text_embedding_batch(TEXTS) == [keyword_vector(t) for t in TEXTS]
    assert server.max_in_flight == 2  # bounded although LlamaIndex would gather everything
    assert await embedding.aget_query_embedding("dog") == keyword_vector("dog")
    assert await embedding.aget_text_embedding("fish") == keyword_vector("fish")


def test_failures_name_positions_in_the_whole_list():
    server = Server(fail_on=TEXTS[7])
    embedding = make(server, model="local", embed_batch_size=3)
    with pytest.raises(HFBatchError) as caught:
        embedding.get_text_embedding_batch(TEXTS)
    assert caught.value.failed_indices == [6, 7, 8]
    assert isinstance(caught.value.__cause__, HFServerError)


async def test_async_failures_name_positions_in_the_whole_list():
    embedding = make(Server(fail_on=TEXTS[1]), model="local", embed_batch_size=4)
    with pytest.raises(HFBatchError) as caught:
        await embedding.aget_text_embedding_batch(TEXTS)
    assert caught.value.failed_indices == [0, 1, 2, 3]


def test_one_embedding_event_is_recorded_for_the_job():
    handler = LlamaDebugHandler()
    embedding = make(
        Server(), model="local", embed_batch_size=3, callback_manager=CallbackManager([handler])
    )
    embedding.get_text_embedding_batch(TEXTS)
    events = handler.get_event_pairs(CBEventType.EMBEDDING)
    assert len(events) == 1
    end_payload = events[0][1].payload
    assert end_payload["chunks"] == TEXTS
    assert len(end_payload["embeddings"]) == len(TEXTS)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_instrumentation_observers_get_the_job_s_vectors_without_a_copy(mode):
    seen = []

    class Observer(BaseEventHandler):
        def handle(self, event, **kwargs):
            seen.append(event)

    observer = Observer()
    root = get_dispatcher()
    root.add_event_handler(observer)
    try:
        embedding = make(Server(), model="local", embed_batch_size=3)
        if mode == "sync":
            vectors = embedding.get_text_embedding_batch(TEXTS)
        else:
            vectors = asyncio.run(embedding.aget_text_embedding_batch(TEXTS))
    finally:
        root.event_handlers.remove(observer)
    ends = [e for e in seen if isinstance(e, EmbeddingEndEvent)]
    starts = [e for e in seen if isinstance(e, EmbeddingStartEvent)]
    assert len(ends) == len(starts) == 1
    assert ends[0].chunks == TEXTS and ends[0].embeddings == vectors
    assert all(a is b for a, b in zip(ends[0].embeddings, vectors, strict=True))  # not copied
    assert ends[0].span_id is not None and ends[0].id_ and ends[0].timestamp


def test_with_an_embeddings_cache_llama_index_keeps_its_loop():
    server = Server()
    embedding = make(server, model="local", embed_batch_size=4, embeddings_cache=SimpleKVStore())
    first = embedding.get_text_embedding_batch(TEXTS)
    assert first == [keyword_vector(t) for t in TEXTS]
    sent = len(server.inputs)
    assert embedding.get_text_embedding_batch(TEXTS) == first
    assert len(server.inputs) == sent  # served from the cache


def test_show_progress_reaches_the_engine(capsys):
    make(Server(), model="local", embed_batch_size=2).get_text_embedding_batch(
        TEXTS, show_progress=True
    )
    assert "10/10" in capsys.readouterr().err


def test_empty_batch_sends_nothing():
    def fail(request):
        pytest.fail("no request expected")

    fail.handle_async = fail
    assert make(fail, model="local").get_text_embedding_batch([]) == []


def test_vector_index_retrieves_the_matching_node():
    embedding = make(Server(), model="local", embed_batch_size=3)
    documents = [Document(text=f"everything about the {w}: the {w} again") for w in VOCAB]
    index = VectorStoreIndex.from_documents(documents, embed_model=embedding)
    (best,) = index.as_retriever(similarity_top_k=1).retrieve("I want a boat")
    assert "boat" in best.node.get_content()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrency": 0},
        {"max_batch_bytes": 0},
        {"model": "BAAI/bge-m3", "dimensions": 8},
        {"base_url": BASE, "prompt_name": "query"},
        {"model": "BAAI/bge-m3:replicate"},
    ],
)
def test_bad_settings_raise_hf_config_errors(kwargs):
    with pytest.raises(HFConfigError):
        HFEmbedding(**kwargs)


def test_embed_batch_size_limits_are_llama_index_s():
    with pytest.raises(HFConfigError, match="embed_batch_size"):  # never a raw pydantic error
        HFEmbedding(embed_batch_size=0)


def test_changing_a_setting_rebuilds_the_engine_and_a_bad_value_is_undone():
    embedding = HFEmbedding(model="local", base_url=BASE)
    embedding.embed_batch_size = 5
    assert embedding.service.batch_size == 5
    embedding.model = "intfloat/e5-small-v2"
    assert embedding.model_name == "intfloat/e5-small-v2"
    assert embedding.service.query_instruction == "query: "
    with pytest.raises(HFConfigError):
        embedding.max_concurrency = 0
    assert embedding.max_concurrency == embedding.service.max_concurrency


def test_pickles_leave_the_token_and_clients_behind():
    embedding = HFEmbedding(model="BAAI/bge-m3:together", token="hf_supersecretvalue9")
    data = pickle.dumps(embedding)
    assert b"supersecretvalue9" not in data
    copy = pickle.loads(data)  # noqa: S301 - our own bytes, just made
    assert copy.model_name == "BAAI/bge-m3"
    assert copy.service.route.url == embedding.service.route.url
    assert copy.token is None
    assert embedding.token is not None  # the original is untouched
