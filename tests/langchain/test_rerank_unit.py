"""HFReranker (LangChain document compressor) on recorded and captured rerank answers."""

from __future__ import annotations

import httpx
import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from tests.rerank_servers import (
    BASE,
    CAPTURED_DOCUMENTS,
    CAPTURED_QUERY,
    RECORDED_DOCUMENTS,
    RECORDED_QUERY,
    ROUTER,
    Recorded,
    clients,
    forbidden,
)

from hfbridge.errors import HFBatchError, HFConfigError
from hfbridge.langchain import HFReranker

MODES = ["sync", "async"]


def docs(texts: list[str]) -> list[Document]:
    return [Document(page_content=t, metadata={"source": f"s{i}"}) for i, t in enumerate(texts)]


async def compress(reranker: HFReranker, mode: str, documents, query: str):
    if mode == "sync":
        return reranker.compress_documents(documents, query)
    return await reranker.acompress_documents(documents, query)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("api", "fixture"), [("tei", "llamacpp_rerank_tei.json"), ("cohere", "llamacpp_v1_rerank.json")]
)
async def test_captured_llama_server_answers_rank_the_documents(mode, api, fixture):
    server = Recorded(fixture)
    reranker = HFReranker(base_url=BASE, api=api, top_n=2, **clients(server))
    inputs = docs(CAPTURED_DOCUMENTS)
    kept = await compress(reranker, mode, inputs, CAPTURED_QUERY)
    assert [d.page_content for d in kept] == [CAPTURED_DOCUMENTS[0], CAPTURED_DOCUMENTS[2]]
    assert [d.metadata["relevance_score"] for d in kept] == [3.5404508113861084, 2.6757755279541016]
    assert kept[0].metadata["source"] == "s0"  # the document's own metadata is kept
    assert all("relevance_score" not in d.metadata for d in inputs)  # the input is not changed
    url, body = server.requests[0]
    if api == "tei":
        assert url == f"{BASE}/rerank"
        assert body == {"query": CAPTURED_QUERY, "texts": CAPTURED_DOCUMENTS}
    else:
        assert url == f"{BASE}/v1/rerank"
        assert body == {"query": CAPTURED_QUERY, "documents": CAPTURED_DOCUMENTS, "top_n": 2}


@pytest.mark.parametrize("mode", MODES)
async def test_the_recorded_hf_inference_text_ranking_answer(mode):
    server = Recorded("hf_text_ranking.json")
    reranker = HFReranker(api="text-ranking", top_n=None, **clients(server, base_url=None))
    kept = await compress(reranker, mode, docs(RECORDED_DOCUMENTS), RECORDED_QUERY)
    assert [d.page_content for d in kept] == [RECORDED_DOCUMENTS[1], RECORDED_DOCUMENTS[0]]
    assert kept[0].metadata["relevance_score"] == 0.83948773
    url, body = server.requests[0]
    assert url == ROUTER + "BAAI/bge-reranker-v2-m3/pipeline/text-ranking"  # the default alias
    assert body == {"inputs": {"query": RECORDED_QUERY, "texts": RECORDED_DOCUMENTS}}


@pytest.mark.parametrize("mode", MODES)
async def test_hf_inference_text_classification_pairs(mode):
    server = Recorded("hf_text_classification_pairs.json")
    reranker = HFReranker(model="org/cross-encoder", top_n=1, **clients(server, base_url=None))
    kept = await compress(reranker, mode, docs(["relevant", "not"]), "q")
    assert [d.page_content for d in kept] == ["relevant"]
    url, body = server.requests[0]
    assert url == ROUTER + "org/cross-encoder"
    assert body["inputs"] == [
        {"text": "q", "text_pair": "relevant"},
        {"text": "q", "text_pair": "not"},
    ]


class FixedRetriever(BaseRetriever):
    """Returns the same documents for any query (a vector store's top 20, say)."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.documents)


def overlap_server(request: httpx.Request) -> httpx.Response:
    """A TEI server whose score is the number of query words a text contains."""
    import json

    body = json.loads(request.content)
    words = set(body["query"].lower().split())
    scores = [len(words & set(t.lower().split())) for t in body["texts"]]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return httpx.Response(200, json=[{"index": i, "score": float(scores[i])} for i in order])


@pytest.mark.parametrize("mode", MODES)
async def test_it_works_in_a_contextual_compression_retriever(mode):
    texts = [f"filler text number {i}" for i in range(20)]
    texts[13] = "pandas live in the mountains of china"
    texts[4] = "pandas eat bamboo"
    reranker = HFReranker(base_url=BASE, top_n=3, batch_size=8, **clients(overlap_server))
    retriever = ContextualCompressionRetriever(
        base_compressor=reranker, base_retriever=FixedRetriever(documents=docs(texts))
    )
    query = "where do pandas live in china"
    found = retriever.invoke(query) if mode == "sync" else await retriever.ainvoke(query)
    assert [d.page_content for d in found][:2] == [texts[13], texts[4]]
    assert len(found) == 3 and found[0].metadata["relevance_score"] == 4.0


@pytest.mark.parametrize("mode", MODES)
async def test_no_documents_no_request_and_a_bad_query_refused_before_any(mode):
    reranker = HFReranker(base_url=BASE, **clients(forbidden))
    assert await compress(reranker, mode, [], "q") == []
    with pytest.raises(HFConfigError, match="query is empty"):
        await compress(reranker, mode, docs(["a"]), " ")
    with pytest.raises(HFConfigError, match=r"documents\[1\] must be a string"):
        await compress(reranker, mode, [Document(page_content="a"), 3], "q")


@pytest.mark.parametrize(
    "kwargs", [{"top_n": 0}, {"api": "cohere", "raw_scores": True}, {"batch_size": 0}]
)
def test_bad_settings_fail_at_construction(kwargs):
    with pytest.raises(HFConfigError):
        HFReranker(base_url=BASE, **kwargs, **clients(forbidden))


@pytest.mark.parametrize("mode", MODES)
async def test_a_server_error_fails_the_whole_call(mode):
    server = Recorded("llamacpp_rerank_empty_error.json", status=400)
    reranker = HFReranker(base_url=BASE, api="cohere", **clients(server))
    with pytest.raises(HFBatchError) as caught:
        await compress(reranker, mode, docs(CAPTURED_DOCUMENTS), CAPTURED_QUERY)
    assert caught.value.failed_indices == [0, 1, 2]
    assert "must be a non-empty string array" in str(caught.value)


def test_rerank_aliases_are_user_configurable(monkeypatch, tmp_path):
    mine = HFReranker(aliases={"default": "org/my-reranker"}, **clients(forbidden, base_url=None))
    assert mine.model_id == "org/my-reranker"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hfbridge.toml").write_text('[rerank]\nsmall = "org/tiny"\n')
    assert HFReranker(model="small", **clients(forbidden, base_url=None)).model_id == "org/tiny"
