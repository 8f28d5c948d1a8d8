"""RerankService over MockTransport: routes, batching, order, top_n, 413/422 halving, failures."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest

from hfbridge.errors import (
    HFBatchError,
    HFConfigError,
    HFPayloadTooLargeError,
    HFResponseError,
    HFServerError,
    HFUnprocessableError,
)
from hfbridge.inference.rerank import RerankService, is_batch_too_large, select_rerank_route
from hfbridge.inference.routes import get_route
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.transport.limiter import limiter_for

BASE = "http://127.0.0.1:9"
ROUTER = "https://router.huggingface.co/hf-inference/models/"
QUERY = "where do pandas live"
DOCS = [f"document number {i} " + "x" * (i % 7) for i in range(100)]
MODES = ["sync", "async"]


def score(text: str) -> float:
    """A score that identifies its document (so order and positions can be checked)."""
    return (sum(map(ord, text)) * 7919 % 10007) / 10007


def expected(documents: list[str], top_n: int | None = None) -> list[int]:
    order = sorted(range(len(documents)), key=lambda i: (-score(documents[i]), i))
    return order if top_n is None else order[:top_n]


class Reranker:
    """A TEI / Cohere-style server: at most ``cap`` texts per request, then 413 (or 422)."""

    def __init__(self, *, cap: int = 32, too_large: int = 413, fail=None) -> None:
        self.cap = cap
        self.too_large = too_large
        self.fail = fail or (lambda _texts, _tries: None)
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        # (body, status) recorded together: concurrent requests finish out of order, so
        # zipping ``requests`` with ``statuses`` would pair a body with another's answer
        self.exchanges: list[tuple[dict, int]] = []
        self.tries: dict[str, int] = {}
        self.lock = threading.Lock()

    def answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        cohere = request.url.path.endswith("/v1/rerank")
        texts = body["documents"] if cohere else body["texts"]
        with self.lock:
            self.requests.append(body)
            tries = self.tries[texts[0]] = self.tries.get(texts[0], 0) + 1
        response = self.fail(texts, tries) or self._answer(body, texts, cohere)
        with self.lock:
            self.statuses.append(response.status_code)
            self.exchanges.append((body, response.status_code))
        return response

    def _answer(self, body: dict, texts: list[str], cohere: bool) -> httpx.Response:
        if len(texts) > self.cap:
            message = f"batch size {len(texts)} > maximum allowed batch size {self.cap}"
            error_type = "validation" if self.too_large == 413 else "Validation"
            return httpx.Response(self.too_large, json={"error": message, "error_type": error_type})
        ranked = sorted(range(len(texts)), key=lambda i: -score(texts[i]))
        if cohere:
            ranked = ranked[: body.get("top_n", len(texts))]
            results = [{"index": i, "relevance_score": score(texts[i])} for i in ranked]
            usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
            return httpx.Response(200, json={"model": "m", "results": results, "usage": usage})
        return httpx.Response(200, json=[{"index": i, "score": score(texts[i])} for i in ranked])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return self.answer(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return self.answer(request)


def make(server, *, base_url: str | None = BASE, max_retries: int = 0, **kwargs) -> RerankService:
    async def no_sleep(_seconds: float) -> None:
        return None

    async_handler = server.handle_async if isinstance(server, Reranker) else server
    settings = {"base_url": base_url, "max_retries": max_retries}
    client = HFClient(transport=httpx.MockTransport(server), sleep=lambda _s: None, **settings)
    async_client = AsyncHFClient(
        transport=httpx.MockTransport(async_handler), sleep=no_sleep, **settings
    )
    return RerankService(base_url=base_url, client=client, async_client=async_client, **kwargs)


async def rerank(service: RerankService, mode: str, query=QUERY, documents=DOCS, **kwargs):
    if mode == "sync":
        return service.rerank(query, documents, **kwargs)
    return await service.arerank(query, documents, **kwargs)


# --- the seam ---


def test_the_rerank_routes_are_registered_on_the_seam():
    for api in ("tei", "cohere", "text-ranking", "text-classification"):
        assert get_route(f"rerank-{api}").name == f"rerank-{api}"
        assert not get_route(f"rerank-{api}").streams


# --- order, top_n, batching ---


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("api", ["tei", "cohere"])
async def test_a_long_list_is_batched_and_merged_in_the_callers_terms(mode, api):
    server = Reranker()
    ranking = await rerank(make(server, api=api), mode)
    assert [r.index for r in ranking.results] == expected(DOCS)
    assert [r.score for r in ranking.results] == [score(DOCS[i]) for i in expected(DOCS)]
    assert ranking.scores == tuple(score(d) for d in DOCS)  # every score at its input position
    assert sorted(len(b.get("texts", b.get("documents"))) for b in server.requests) == [
        4,
        32,
        32,
        32,
    ]
    assert all(b["query"] == QUERY for b in server.requests)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("api", ["tei", "cohere"])
async def test_top_n_holds_across_batches(mode, api):
    server = Reranker()
    service = make(server, api=api, top_n=50)
    ranking = await rerank(service, mode, top_n=5)  # the call's top_n wins
    assert [r.index for r in ranking.results] == expected(DOCS, 5)
    if api == "cohere":  # sent with each batch, and the answers shrink
        assert {b["top_n"] for b in server.requests} == {4, 5}
        assert ranking.total_tokens == 100
    else:
        assert all("top_n" not in b for b in server.requests)
    assert len((await rerank(service, mode)).results) == 50  # the service's top_n


@pytest.mark.parametrize("mode", MODES)
async def test_a_model_name_goes_into_the_cohere_body_and_not_into_teis(mode):
    for api, key_present in (("cohere", True), ("tei", False)):
        server = Reranker()
        await rerank(make(server, api=api, model="my-reranker"), mode, documents=DOCS[:3])
        assert ("model" in server.requests[0]) is key_present
        if key_present:
            assert server.requests[0]["model"] == "my-reranker"
    server = Reranker()
    await rerank(make(server, api="cohere"), mode, documents=DOCS[:3])
    assert "model" not in server.requests[0]  # a single-model server: left out


def test_progress_is_reported_per_batch():
    seen: list[tuple[int, int]] = []
    make(Reranker(), progress=lambda done, total: seen.append((done, total))).rerank(QUERY, DOCS)
    assert seen[-1] == (100, 100) and len(seen) == 4


# --- too large: halve and resend ---


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [413, 422])
async def test_a_batch_too_large_is_halved_until_the_server_takes_it(mode, status):
    server = Reranker(cap=10, too_large=status)
    ranking = await rerank(make(server), mode, top_n=7)
    assert [r.index for r in ranking.results] == expected(DOCS, 7)
    assert status in server.statuses
    ok = [b["texts"] for b, s in server.exchanges if s == 200]
    assert sorted(t for texts in ok for t in texts) == sorted(DOCS)  # each once, none lost
    assert max(map(len, ok)) <= 10


@pytest.mark.parametrize("mode", MODES)
async def test_a_422_that_is_not_about_the_batch_size_is_not_halved(mode):
    def refuse(texts, tries):
        return httpx.Response(422, json={"error": "input is not valid", "error_type": "validation"})

    server = Reranker(fail=refuse)
    with pytest.raises(HFBatchError) as caught:
        await rerank(make(server), mode)
    assert caught.value.failed_indices == list(range(100))
    assert len(server.requests) == 4  # one per batch: nothing split
    assert isinstance(caught.value.__cause__, HFUnprocessableError)


@pytest.mark.parametrize("mode", MODES)
async def test_a_document_too_large_alone_is_named(mode):
    def refuse_big(texts, tries):
        if any(len(t) > 1000 for t in texts):
            return httpx.Response(413, json={"error": "payload too large"})
        return None

    documents = [*DOCS[:10], "y" * 5000, *DOCS[10:20]]
    with pytest.raises(HFBatchError) as caught:
        await rerank(make(Reranker(fail=refuse_big), truncate=True), mode, documents=documents)
    assert caught.value.failed_indices == [10]
    cause = caught.value.errors[10]
    assert isinstance(cause, HFPayloadTooLargeError)
    assert "input position 10" in cause.message and "even on its own" in cause.message


def test_only_a_413_or_a_batch_size_422_means_too_large():
    def status(code: int, message: str):
        cls = HFUnprocessableError if code == 422 else HFServerError
        return cls(message, status_code=code)

    assert is_batch_too_large(HFPayloadTooLargeError("x", status_code=413))
    assert is_batch_too_large(
        status(422, "Validation: batch size 40 > maximum allowed batch size 32")
    )
    assert not is_batch_too_large(status(422, "input must not be empty"))
    assert not is_batch_too_large(status(500, "batch size 40 > maximum"))


# --- failures: nothing partial ---


@pytest.mark.parametrize("mode", MODES)
async def test_a_failed_batch_names_exactly_its_positions(mode):
    def break_second(texts, tries):
        return httpx.Response(500, json={"error": "boom"}) if texts[0] == DOCS[32] else None

    with pytest.raises(HFBatchError) as caught:
        await rerank(make(Reranker(fail=break_second)), mode)
    assert caught.value.failed_indices == list(range(32, 64)) and caught.value.total == 100
    assert "Reranking failed for 32 of 100 document(s) (input positions 32-63)" in str(caught.value)


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_missing_scores_fails_the_job(mode):
    def short(texts, tries):
        return httpx.Response(200, json=[{"index": 0, "score": 0.5}]) if len(texts) == 4 else None

    with pytest.raises(HFBatchError) as caught:
        await rerank(make(Reranker(fail=short)), mode)
    assert caught.value.failed_indices == [96, 97, 98, 99]
    assert isinstance(caught.value.errors[96], HFResponseError)


@pytest.mark.parametrize("mode", MODES)
async def test_429s_are_backpressure_through_the_limiter(mode):
    def limited(texts, tries):
        if tries <= 3:  # past max_retries=1: a bulk job rides them out
            return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": "0"})
        return None

    server = Reranker(fail=limited)
    ranking = await rerank(make(server, max_retries=1), mode)
    assert [r.index for r in ranking.results] == expected(DOCS)
    stats = limiter_for(f"{BASE}/rerank").stats()
    assert stats.backpressure == 4 * 3 and stats.ok == 4


@pytest.mark.parametrize("mode", MODES)
async def test_429_forever_ends_at_the_job_deadline(mode):
    def always(texts, tries):
        time.sleep(0.001)
        return httpx.Response(429, json={"error": "quota"}, headers={"retry-after": "0"})

    service = make(Reranker(fail=always), max_retries=1, job_timeout=0.3)
    with pytest.raises(HFBatchError) as caught:
        await rerank(service, mode, documents=DOCS[:40])
    assert caught.value.failed_indices == list(range(40))
    assert "deadline (job_timeout=0.3 s)" in str(caught.value)


# --- bad input: before any request ---


def forbidden(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.url}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("query", "documents", "kwargs", "message"),
    [
        ("", DOCS, {}, "query is empty"),
        ("   ", DOCS, {}, "query is empty"),
        (None, DOCS, {}, "query must be a string"),
        (QUERY, [], {}, "documents is empty"),
        (QUERY, "one text", {}, "documents must be a list"),
        (QUERY, ["a", 3, "b"], {}, r"documents\[1\] must be a string"),
        (QUERY, ["a", None], {}, r"documents\[1\] must be a string"),
        (QUERY, DOCS, {"top_n": 0}, "top_n must be a positive integer"),
        (QUERY, DOCS, {"top_n": -3}, "top_n must be a positive integer"),
        (QUERY, DOCS, {"top_n": True}, "top_n must be a positive integer"),
    ],
)
async def test_bad_input_fails_before_any_request(mode, query, documents, kwargs, message):
    with pytest.raises(HFConfigError, match=message):
        await rerank(make(forbidden), mode, query=query, documents=documents, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_n": 0},
        {"batch_size": 0},
        {"max_batch_bytes": -1},
        {"max_concurrency": 0},
        {"job_timeout": 0},
        {"api": "jina"},
        {"api": "cohere", "raw_scores": True},  # the cohere format cannot send it
        {"api": "tei", "label": "LABEL_1"},
        {"truncation_direction": "middle"},
    ],
)
def test_bad_settings_fail_at_construction(kwargs):
    with pytest.raises(HFConfigError):
        make(forbidden, **kwargs)


# --- route choice ---


def test_routes_for_self_hosted_servers():
    tei = select_rerank_route(model=None, base_url="http://h:8080/v1")
    assert tei.api == "tei" and tei.url == "http://h:8080/rerank" and tei.target.model is None
    cohere = select_rerank_route(model="bge", base_url="http://h:8080", api="cohere")
    assert cohere.url == "http://h:8080/v1/rerank" and cohere.target.model == "bge"


def test_routes_on_hugging_face_by_model_id_and_alias():
    route = select_rerank_route(model=None)
    assert route.api == "text-classification"
    assert route.url == ROUTER + "BAAI/bge-reranker-v2-m3"
    small = select_rerank_route(model="small", api="text-ranking")
    assert small.url == ROUTER + "cross-encoder/ms-marco-MiniLM-L6-v2/pipeline/text-ranking"
    mine = select_rerank_route(model="default", aliases={"default": "org/my-reranker"})
    assert mine.model_id == "org/my-reranker"
    pinned = select_rerank_route(model="org/r:hf-inference")
    assert pinned.target.provider == "hf-inference" and pinned.model_id == "org/r"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "org/r:together"}, "hf-inference only"),
        ({"model": "org/r:fastest"}, "hf-inference only"),
        ({"model": "org/r", "api": "tei"}, "pass its base_url"),
        ({"model": "org/r", "api": "cohere"}, "pass its base_url"),
    ],
)
def test_routes_that_cannot_be(kwargs, message):
    with pytest.raises(HFConfigError, match=message):
        select_rerank_route(**kwargs)


@pytest.mark.parametrize("mode", MODES)
async def test_text_classification_pairs_on_the_router(mode):
    bodies: list[dict] = []

    def router(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        assert str(request.url) == ROUTER + "cross-encoder/ms-marco-MiniLM-L6-v2"
        return httpx.Response(
            200, json=[{"label": "LABEL_0", "score": score(p["text_pair"])} for p in body["inputs"]]
        )

    async def arouter(request: httpx.Request) -> httpx.Response:
        return router(request)

    client = HFClient(transport=httpx.MockTransport(router), max_retries=0)
    async_client = AsyncHFClient(transport=httpx.MockTransport(arouter), max_retries=0)
    service = RerankService(model="small", client=client, async_client=async_client)
    ranking = await rerank(service, mode, documents=DOCS[:40], top_n=3)
    assert [r.index for r in ranking.results] == expected(DOCS[:40], 3)
    assert bodies[0]["inputs"][0] == {"text": QUERY, "text_pair": DOCS[0]}
    assert sorted(len(b["inputs"]) for b in bodies) == [8, 32]


def test_the_service_is_a_handle_and_names_its_route():
    import copy

    service = make(Reranker(), api="cohere", model="m")
    assert copy.deepcopy(service) is service
    assert "api='cohere'" in repr(service) and "v1/rerank" in repr(service)
