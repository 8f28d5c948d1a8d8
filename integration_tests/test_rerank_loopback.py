"""The loopback reranker (benchmarks/rerank_server.py) answers as TEI does, and the rerank wire
module drives it: batches within TEI's limit, answers parsed strictly, merged in input order.

No real reranker model can be had here (see the rerank note); this server is the benchmark's
instrument, not a stand-in for a model: its scores are word overlap.
"""

import asyncio
import importlib.util
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hfbridge.errors import HFResponseError
from hfbridge.wire.rerank import FORMATS, RerankParams
from hfbridge.wire.rerank_job import RerankJob

SERVER_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "rerank_server.py"
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rerank"
QUERY = "Where does the giant panda live?"
RELEVANT = "The giant panda lives in the mountains of central China."


def _load():
    name = "hfbridge_rerank_server"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SERVER_SCRIPT)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


rerank_server = _load()


def documents(count: int, relevant_at: int) -> list[str]:
    docs = [f"Filler passage {i} about the weather in a town." for i in range(count)]
    docs[relevant_at] = RELEVANT
    return docs


@pytest.fixture(scope="module")
def server():
    with rerank_server.start(latency=0.05, slots=2) as running:
        yield running


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as http:
        yield http


def test_tei_route_ranks_the_relevant_text_first_in_tei_shape(client):
    docs = documents(32, relevant_at=17)
    answer = client.post("/rerank", json={"query": QUERY, "texts": docs})
    assert answer.status_code == 200
    parsed = FORMATS["tei"].parse_answer(answer.json(), count=32)
    assert parsed.results[0].index == 17
    scores = [r.score for r in parsed.results]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s < 1 for s in scores)  # sigmoid unless raw_scores
    raw = client.post("/rerank", json={"query": QUERY, "texts": docs, "raw_scores": True})
    assert raw.json()[0] == {"index": 17, "score": rerank_server.relevance(QUERY, RELEVANT)}


def test_more_texts_than_the_cap_get_teis_413(client):
    answer = client.post("/rerank", json={"query": QUERY, "texts": documents(33, 0)})
    assert answer.status_code == 413
    assert answer.json() == json.loads((FIXTURES / "tei_batch_too_large.json").read_text())
    v1 = client.post("/v1/rerank", json={"query": QUERY, "documents": documents(40, 0)})
    assert v1.status_code == 413
    assert "batch size 40 > maximum allowed batch size 32" in v1.json()["error"]


def test_the_too_large_status_can_be_422():
    with (
        rerank_server.start(latency=0.0, too_large_status=422) as other,
        httpx.Client(base_url=other.url, trust_env=False) as http,
    ):
        answer = http.post("/rerank", json={"query": QUERY, "texts": documents(33, 0)})
    assert answer.status_code == 422
    assert answer.json()["error_type"] == "validation"


def test_empty_and_malformed_requests_are_refused_as_tei_refuses_them(client):
    empty = client.post("/rerank", json={"query": QUERY, "texts": []})
    assert (empty.status_code, empty.json()["error_type"]) == (400, "empty")
    malformed = client.post("/rerank", content=b"{not json", headers={"content-type": "x"})
    assert malformed.status_code == 422
    missing = client.post("/rerank", json={"texts": ["a"]})
    assert missing.status_code == 422


def test_v1_route_answers_like_llama_server_with_top_n(client):
    docs = documents(10, relevant_at=3)
    body = FORMATS["cohere"].build_body(QUERY, docs, model="m", params=RerankParams(top_n=2))
    answer = client.post("/v1/rerank", json=body)
    payload = answer.json()
    assert set(payload) == {"model", "object", "usage", "results"}  # llama-server's keys
    parsed = FORMATS["cohere"].parse_answer(payload, count=10, params=RerankParams(top_n=2))
    assert [r.index for r in parsed.results][:1] == [3]
    assert len(parsed.results) == 2
    assert parsed.total_tokens is not None
    with pytest.raises(HFResponseError, match="expected 10"):
        FORMATS["cohere"].parse_answer(payload, count=10)  # a cut answer is refused without top_n


def test_requests_beyond_the_slots_wait_for_one(server):
    async def burst() -> float:
        async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
            started = time.perf_counter()
            await asyncio.gather(
                *(http.post("/rerank", json={"query": QUERY, "texts": ["a"]}) for _ in range(6))
            )
            return time.perf_counter() - started

    elapsed = asyncio.run(burst())
    assert elapsed >= 3 * server.latency * 0.95  # 6 requests, 2 slots: three rounds at least
    assert server.stats()["most_in_flight"] == 2
    assert server.server_bound_seconds(6 * 32) == pytest.approx(3 * server.latency)


@dataclass(frozen=True)
class Target:  # the route seam's Target has these attributes
    model: str | None
    model_id: str | None
    base_url: str | None


@pytest.mark.parametrize("api", ["tei", "cohere"])
def test_a_job_of_1000_documents_stays_within_the_cap_and_merges_in_order(api):
    docs = documents(1000, relevant_at=777)
    fmt = FORMATS[api]
    job = RerankJob.create(QUERY, docs, fmt=fmt, params=RerankParams(top_n=5))
    with (
        rerank_server.start(latency=0.0, slots=4) as fresh,
        httpx.Client(trust_env=False) as http,
    ):
        target = Target(model="m", model_id=None, base_url=f"{fresh.url}/v1")
        url = fmt.url(target, stream=False)
        batches = job.plan(fmt, model="m")
        answers = []
        for batch in batches:
            request = job.request(batch)
            reply = http.post(url, json=fmt.build(request, target, stream=False))
            assert reply.status_code == 200
            answers.append(fmt.parse(reply.json(), reply.headers, request))
        stats = fresh.stats()
    ranking = job.merge(batches, answers)
    assert ranking.results[0].index == 777
    assert len(ranking.results) == 5
    assert stats["largest_request"] == 32
    assert stats["statuses"] == {"200": 32}
