"""Both rerank adapters against real loopback servers: shape and plumbing, not relevance.

Two servers:

- ``benchmarks/rerank_server.py``: TEI's ``/rerank`` and llama-server's ``/v1/rerank`` with TEI's
  32-text cap (413, or 422 as older TEI answers), slots and latency. Its scores are word overlap:
  an instrument, not a model.
- ``llama-server --reranking`` on the chat model (Qwen2.5-Coder-0.5B), started here on a free
  port. It answers the real TEI and Cohere shapes, but **the model has no rank head, so its scores
  mean nothing** (see the rerank note: no reranker model can be had from the registries here).
  The tests check that every document is scored once, at its position, batched or not; never
  which document wins.
"""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest
from integration_tests.conftest import load_realserver
from integration_tests.test_rerank_loopback import QUERY, RELEVANT, documents, rerank_server
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

from hfbridge.inference.rerank import RerankService
from hfbridge.langchain import HFReranker
from hfbridge.llama_index import HFRerank

MODES = ["sync", "async"]


async def compress(reranker: HFReranker, mode: str, docs: list[Document], query: str):
    if mode == "sync":
        return reranker.compress_documents(docs, query)
    return await reranker.acompress_documents(docs, query)


async def postprocess(rerank: HFRerank, mode: str, nodes: list[NodeWithScore], query: str):
    if mode == "sync":
        return rerank.postprocess_nodes(nodes, query_str=query)
    return await rerank.apostprocess_nodes(nodes, query_str=query)


# --- the loopback reranker (TEI's cap, 413 / 422) ---


@pytest.fixture(scope="module")
def loopback() -> Iterator[rerank_server.Running]:
    with rerank_server.start(latency=0.01, slots=4) as running:
        yield running


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("api", ["tei", "cohere"])
async def test_langchain_reranks_1000_documents_within_teis_cap(loopback, mode, api):
    texts = documents(1000, relevant_at=777)
    before = loopback.stats()
    reranker = HFReranker(base_url=loopback.url, api=api, top_n=3)
    kept = await compress(reranker, mode, [Document(page_content=t) for t in texts], QUERY)
    assert kept[0].page_content == RELEVANT
    assert len(kept) == 3
    assert kept[0].metadata["relevance_score"] > kept[1].metadata["relevance_score"]
    after = loopback.stats()
    assert after["requests"] - before["requests"] == 32  # 31 x 32 + 8, no 413
    assert after["largest_request"] <= 32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [413, 422])
async def test_llama_index_halves_batches_the_server_refuses(mode, status):
    with rerank_server.start(latency=0.0, too_large_status=status) as server:
        rerank = HFRerank(base_url=server.url, top_n=2, batch_size=100)  # past the cap of 32
        nodes = [
            NodeWithScore(node=TextNode(text=t, id_=str(i)), score=0.1)
            for i, t in enumerate(documents(300, relevant_at=250))
        ]
        kept = await postprocess(rerank, mode, nodes, QUERY)
        stats = server.stats()
    assert [n.node.node_id for n in kept][:1] == ["250"]
    assert stats["statuses"][str(status)] > 0
    assert stats["texts_scored"] == 300


# --- llama-server --reranking on the chat model: real shapes, meaningless scores ---


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def llama_rerank(tmp_path_factory) -> Iterator[str]:
    """``llama-server --reranking`` on the chat model, on a free port; fails when not installed."""
    paths = load_realserver().installed_paths()
    missing = paths.missing()
    if "llama-server" in missing or "chat model" in missing:
        pytest.fail(
            f"llama-server or the chat model is not installed ({missing}): run "
            "`python3 scripts/realserver.py start` once (it builds and downloads them)."
        )
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("llama-rerank") / "server.log"
    command = [
        str(paths.llama_server), "-m", str(paths.model), "--reranking", "--host", "127.0.0.1",
        "--port", str(port), "-c", "4096", "-np", "1", "-t", "2", "--no-webui",
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama-server --reranking did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


CAPITALS = [
    "Paris is the capital of France.",
    "Bananas are yellow.",
    "The Eiffel Tower is in Paris.",
]


@pytest.mark.parametrize("api", ["tei", "cohere"])
def test_llama_server_shapes_through_the_service_batched_and_whole(llama_rerank, api):
    texts = [f"{CAPITALS[i % 3]} (passage {i})" for i in range(16)]  # ~1 s per text here
    whole = RerankService(base_url=llama_rerank, api=api, model="m", batch_size=64)
    batched = RerankService(base_url=llama_rerank, api=api, model="m", batch_size=5)
    one = whole.rerank("What is the capital of France?", texts)
    many = batched.rerank("What is the capital of France?", texts)
    for ranking in (one, many):
        assert sorted(r.index for r in ranking.results) == list(range(16))  # each scored once
        assert all(math.isfinite(r.score) for r in ranking.results)
        scores = [r.score for r in ranking.results]
        assert scores == sorted(scores, reverse=True)
    # The same pair gets the same score whichever batch carries it: positions were kept.
    for alone, merged in zip(one.scores, many.scores, strict=True):
        assert alone is not None
        assert merged is not None
        assert merged == pytest.approx(alone, rel=1e-3, abs=1e-3)
    if api == "cohere":
        assert one.total_tokens is not None
        assert many.total_tokens is not None


@pytest.mark.parametrize("mode", MODES)
async def test_both_adapters_on_llama_server(llama_rerank, mode):
    docs = [Document(page_content=t, metadata={"n": i}) for i, t in enumerate(CAPITALS)]
    reranker = HFReranker(base_url=llama_rerank, api="cohere", top_n=2)
    kept = await compress(reranker, mode, docs, "What is the capital of France?")
    assert len(kept) == 2
    assert {d.metadata["n"] for d in kept} <= {0, 1, 2}
    assert all(math.isfinite(d.metadata["relevance_score"]) for d in kept)
    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=str(i)), score=0.5) for i, t in enumerate(CAPITALS)
    ]
    rerank = HFRerank(base_url=llama_rerank, api="tei", top_n=None, keep_retrieval_score=True)
    ranked = await postprocess(rerank, mode, nodes, "What is the capital of France?")
    assert sorted(n.node.node_id for n in ranked) == ["0", "1", "2"]
    assert all(n.node.metadata["retrieval_score"] == 0.5 for n in ranked)


def test_llama_server_refusals_are_typed(llama_rerank):
    from hfbridge.errors import HFBatchError

    # llama-server refuses a blank document list before scoring; ours never sends one, so ask
    # for a blank string document instead: llama-server scores it (it is a string).
    service = RerankService(base_url=llama_rerank, api="cohere")
    ranking = service.rerank("q", ["", "x"])
    assert sorted(r.index for r in ranking.results) == [0, 1]
    with pytest.raises(HFBatchError):
        asyncio.run(
            RerankService(base_url=llama_rerank + "/nowhere", api="tei", max_retries=0).arerank(
                "q", ["a"]
            )
        )
