"""HFRerank (LlamaIndex node postprocessor) on recorded and captured rerank answers."""

from __future__ import annotations

import pytest
from llama_index.core.callbacks import CallbackManager, CBEventType
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
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
from hfbridge.llama_index import HFRerank

MODES = ["sync", "async"]


def nodes(texts: list[str]) -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.5 - i / 100)
        for i, t in enumerate(texts)
    ]


async def post(rerank: HFRerank, mode: str, items, query: str | None):
    if mode == "sync":
        return rerank.postprocess_nodes(items, query_str=query)
    return await rerank.apostprocess_nodes(items, query_str=query)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("api", "fixture"), [("tei", "llamacpp_rerank_tei.json"), ("cohere", "llamacpp_v1_rerank.json")]
)
async def test_captured_llama_server_answers_rank_the_nodes(mode, api, fixture):
    server = Recorded(fixture)
    rerank = HFRerank(base_url=BASE, api=api, top_n=2, **clients(server))
    inputs = nodes(CAPTURED_DOCUMENTS)
    kept = await post(rerank, mode, inputs, CAPTURED_QUERY)
    assert [n.node.node_id for n in kept] == ["n0", "n2"]
    assert [n.score for n in kept] == [3.5404508113861084, 2.6757755279541016]
    assert [n.score for n in inputs] == [0.5, 0.49, 0.48]  # the retrieval scores are not changed
    assert "retrieval_score" not in kept[0].node.metadata


@pytest.mark.parametrize("mode", MODES)
async def test_the_recorded_text_ranking_answer_and_the_kept_retrieval_score(mode):
    server = Recorded("hf_text_ranking.json")
    rerank = HFRerank(
        api="text-ranking", top_n=None, keep_retrieval_score=True, **clients(server, base_url=None)
    )
    kept = await post(rerank, mode, nodes(RECORDED_DOCUMENTS), RECORDED_QUERY)
    assert [n.node.node_id for n in kept] == ["n1", "n0"]
    assert [n.score for n in kept] == [0.83948773, 0.00027905524]
    assert kept[0].node.metadata["retrieval_score"] == 0.49
    url, body = server.requests[0]
    assert url == ROUTER + "BAAI/bge-reranker-v2-m3/pipeline/text-ranking"
    assert body == {"inputs": {"query": RECORDED_QUERY, "texts": RECORDED_DOCUMENTS}}


class Events(BaseCallbackHandler):
    def __init__(self) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.events: list[tuple[str, CBEventType]] = []

    def on_event_start(self, event_type, payload=None, event_id="", parent_id="", **kwargs):
        self.events.append(("start", event_type))
        return event_id

    def on_event_end(self, event_type, payload=None, event_id="", **kwargs):
        self.events.append(("end", event_type))

    def start_trace(self, trace_id=None):
        return None

    def end_trace(self, trace_id=None, trace_map=None):
        return None


@pytest.mark.parametrize("mode", MODES)
async def test_a_reranking_event_is_reported(mode):
    handler = Events()
    rerank = HFRerank(
        base_url=BASE, callback_manager=CallbackManager([handler]),
        **clients(Recorded("llamacpp_rerank_tei.json")),
    )  # fmt: skip
    await post(rerank, mode, nodes(CAPTURED_DOCUMENTS), CAPTURED_QUERY)
    assert handler.events == [("start", CBEventType.RERANKING), ("end", CBEventType.RERANKING)]


@pytest.mark.parametrize("mode", MODES)
async def test_no_nodes_no_request_and_a_missing_query_refused(mode):
    rerank = HFRerank(base_url=BASE, **clients(forbidden))
    assert await post(rerank, mode, [], "q") == []
    with pytest.raises(HFConfigError, match="needs the query"):
        await post(rerank, mode, nodes(["a"]), None)
    with pytest.raises(HFConfigError, match="query is empty"):
        await post(rerank, mode, nodes(["a"]), "")


@pytest.mark.parametrize("mode", MODES)
async def test_a_query_bundle_works_as_a_query_engine_passes_it(mode):
    rerank = HFRerank(base_url=BASE, top_n=1, **clients(Recorded("llamacpp_rerank_tei.json")))
    bundle = QueryBundle(CAPTURED_QUERY)
    items = nodes(CAPTURED_DOCUMENTS)
    if mode == "sync":
        kept = rerank.postprocess_nodes(items, query_bundle=bundle)
    else:
        kept = await rerank.apostprocess_nodes(items, query_bundle=bundle)
    assert [n.node.node_id for n in kept] == ["n0"]


@pytest.mark.parametrize("mode", MODES)
async def test_an_answer_of_another_shape_fails_the_call_with_nothing_partial(mode):
    server = Recorded("llamacpp_v1_rerank_top_n.json")  # a /v1/rerank answer to a TEI request
    rerank = HFRerank(base_url=BASE, api="tei", top_n=None, **clients(server))
    with pytest.raises(HFBatchError) as caught:
        await post(rerank, mode, nodes(CAPTURED_DOCUMENTS), CAPTURED_QUERY)
    assert caught.value.failed_indices == [0, 1, 2]


def test_class_name_and_settings():
    rerank = HFRerank(base_url=BASE, model="bge", api="cohere", **clients(forbidden))
    assert HFRerank.class_name() == "HFRerank"
    assert rerank.model_id == "bge"
    with pytest.raises(HFConfigError):
        HFRerank(base_url=BASE, top_n=0, **clients(forbidden))
