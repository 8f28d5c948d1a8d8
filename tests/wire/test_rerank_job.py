"""A rerank job: input checks, the batching plan within both limits, the merge across batches."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.embeddings import Batch, body_size
from hfbridge.wire.rerank import FORMATS, BatchAnswer, RerankParams, RerankResult
from hfbridge.wire.rerank_job import (
    RerankJob,
    check_documents,
    check_query,
    merge_answers,
    plan_rerank,
)

NONE = RerankParams()


# --- input checks ---


@pytest.mark.parametrize("query", ["", "   \n", None, 3, b"bytes"])
def test_an_empty_or_non_string_query_is_refused(query):
    with pytest.raises(HFConfigError, match="query"):
        check_query(query)


def test_a_query_that_cannot_be_encoded_is_refused():
    with pytest.raises(HFConfigError, match="UTF-8"):
        check_query("bad \ud800 surrogate")


@pytest.mark.parametrize(
    ("documents", "match"),
    [
        ("one document", "list of strings"),
        (b"bytes", "list of strings"),
        (None, "list of strings"),
        ((text for text in ["a"]), "list of strings"),
        ([], "empty"),
        (["a", 3], r"documents\[1\] must be a string, got int"),
        (["a", None], r"documents\[1\]"),
        ([{"text": "a"}], r"documents\[0\] must be a string, got dict"),
    ],
)
def test_bad_document_lists_are_refused(documents, match):
    with pytest.raises(HFConfigError, match=match):
        check_documents(documents)


def test_documents_may_be_any_sequence_and_may_be_empty_strings():
    assert check_documents(("a", "")) == ["a", ""]
    assert check_query(" q ") == " q "


def test_a_document_that_cannot_be_encoded_is_refused_by_the_plan_with_its_index():
    with pytest.raises(HFConfigError, match="index 1"):
        plan_rerank("q", ["ok", "bad \udfff"], fmt=FORMATS["tei"], params=NONE)


# --- the plan ---


def test_a_thousand_documents_are_planned_in_batches_of_32():
    docs = [f"document {i}" for i in range(1000)]
    batches = plan_rerank("q", docs, fmt=FORMATS["tei"], params=NONE)
    assert [len(b) for b in batches] == [32] * 31 + [8]
    assert [i for b in batches for i in b.indices] == list(range(1000))


@pytest.mark.parametrize("api", list(FORMATS))
def test_every_batch_body_fits_the_byte_limit(api):
    fmt, params = FORMATS[api], RerankParams(top_n=4)
    query = "what does the long query ask? " * 20
    docs = [("x" * (i % 50)) + f" doc {i} é" for i in range(300)]
    limit = 4_000
    batches = plan_rerank(
        query, docs, fmt=fmt, params=params, model="m", batch_size=100, max_batch_bytes=limit
    )
    for batch in batches:
        size = body_size(fmt.build_body(query, list(batch.texts), model="m", params=params))
        assert size <= limit
    assert [i for b in batches for i in b.indices] == list(range(300))


def test_text_classification_batches_count_the_query_repeated_in_every_pair():
    query = "q" * 500
    docs = ["d"] * 40
    tei = plan_rerank(query, docs, fmt=FORMATS["tei"], params=NONE, max_batch_bytes=5_000)
    pairs_plan = plan_rerank(
        query, docs, fmt=FORMATS["text-classification"], params=NONE, max_batch_bytes=5_000
    )
    assert len(tei) == 2  # 32 + 8: the count limit binds
    assert max(len(b) for b in pairs_plan) == 9  # ~530 bytes a pair: the byte limit binds


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=60),
    query=st.text(min_size=1, max_size=60),
    batch_size=st.integers(1, 40),
    limit=st.integers(50, 3_000),
    api=st.sampled_from(sorted(FORMATS)),
)
def test_plans_keep_every_document_once_in_order_within_both_limits(
    texts, query, batch_size, limit, api
):
    texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
    query = query.encode("utf-8", "replace").decode("utf-8")
    fmt = FORMATS[api]
    batches = plan_rerank(
        query, texts, fmt=fmt, params=NONE, batch_size=batch_size, max_batch_bytes=limit
    )
    assert [i for b in batches for i in b.indices] == list(range(len(texts)))
    for batch in batches:
        assert len(batch) <= batch_size
        size = body_size(fmt.build_body(query, list(batch.texts), params=NONE))
        assert len(batch) == 1 or size <= limit  # a lone oversized text still gets its batch


# --- the merge ---


def _answer(*results, tokens=None):
    return BatchAnswer(tuple(RerankResult(i, s) for i, s in results), tokens)


def test_merge_maps_batch_indexes_back_and_applies_top_n_across_batches():
    batches = [Batch((0, 1, 2), ("a", "b", "c")), Batch((3, 4), ("d", "e"))]
    answers = [_answer((2, 0.1), (0, 0.7), (1, 0.3)), _answer((1, 0.9), (0, 0.2))]
    ranking = merge_answers(batches, answers, total=5, top_n=2)
    assert ranking.results == (RerankResult(4, 0.9), RerankResult(0, 0.7))
    assert ranking.scores == (0.7, 0.3, 0.1, 0.2, 0.9)
    full = merge_answers(batches, answers, total=5, top_n=None)
    assert [r.index for r in full.results] == [4, 0, 1, 3, 2]


def test_merge_breaks_ties_by_input_order():
    batches = [Batch((0, 1), ("a", "b")), Batch((2, 3), ("c", "d"))]
    answers = [_answer((1, 0.5), (0, 0.5)), _answer((1, 0.5), (0, 0.9))]
    ranking = merge_answers(batches, answers, total=4, top_n=3)
    assert [r.index for r in ranking.results] == [2, 0, 1]


def test_merge_with_batches_cut_by_top_n_keeps_the_overall_best():
    batches = [Batch((0, 1, 2), ("a", "b", "c")), Batch((3, 4, 5), ("d", "e", "f"))]
    answers = [_answer((0, 0.9), (2, 0.8)), _answer((1, 0.95), (0, 0.1))]
    ranking = merge_answers(batches, answers, total=6, top_n=2)
    assert [r.index for r in ranking.results] == [4, 0]
    assert ranking.scores == (0.9, None, 0.8, 0.1, 0.95, None)


def test_merge_sums_usage_only_when_every_batch_reported_it():
    batches = [Batch((0,), ("a",)), Batch((1,), ("b",))]
    counted = merge_answers(
        batches, [_answer((0, 1.0), tokens=3), _answer((0, 2.0), tokens=4)], total=2, top_n=None
    )
    assert counted.total_tokens == 7
    partial = merge_answers(
        batches, [_answer((0, 1.0), tokens=3), _answer((0, 2.0))], total=2, top_n=None
    )
    assert partial.total_tokens is None


@pytest.mark.parametrize(
    ("answers", "top_n", "match"),
    [
        ([_answer((0, 0.5)), _answer((0, 0.4))], None, "scored 2 of 3"),
        ([_answer((0, 0.5))], 2, "1 rerank answer"),
        ([_answer((0, 0.5), (0, 0.4)), _answer((0, 0.4))], None, "scored twice"),
        ([_answer((0, 0.5), (2, 0.4)), _answer((0, 0.4))], None, "index 2 in a batch of 2"),
        ([_answer((0, 0.5)), _answer((0, 0.4))], 3, "3 were needed"),
    ],
)
def test_merge_returns_nothing_partial(answers, top_n, match):
    batches = [Batch((0, 1), ("a", "b")), Batch((2,), ("c",))]
    with pytest.raises(HFResponseError, match=match):
        merge_answers(batches, answers, total=3, top_n=top_n)


def _serve(fmt, query, batch, params):
    """A server stand-in for one batch: scores by a fixed rule, answers best first in fmt's shape."""
    body = fmt.build_body(query, list(batch.texts), model="m", params=params)
    texts = body.get("texts") or body.get("documents") or body["inputs"]
    if isinstance(texts, dict):  # text-ranking
        texts = texts["texts"]
    texts = [t["text_pair"] if isinstance(t, dict) else t for t in texts]  # pairs
    scored = [(i, (sum(map(ord, t)) % 997) / 997) for i, t in enumerate(texts)]
    if fmt.api == "text-classification":
        return [{"label": "LABEL_0", "score": s} for _, s in scored]
    scored.sort(key=lambda item: -item[1])
    if fmt.api == "cohere":
        cut = scored[: body.get("top_n", len(scored))]
        return {"results": [{"index": i, "relevance_score": s} for i, s in cut]}
    return [{"index": i, "score": s} for i, s in scored]


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(1, 120),
    top_n=st.none() | st.integers(1, 130),
    api=st.sampled_from(sorted(FORMATS)),
    batch_size=st.integers(1, 33),
)
def test_batched_ranking_equals_ranking_everything_at_once(count, top_n, api, batch_size):
    fmt, params = FORMATS[api], RerankParams(top_n=top_n)
    docs = [f"document number {i * 7919 % 1000}" for i in range(count)]
    batches = plan_rerank("q", docs, fmt=fmt, params=params, batch_size=batch_size)
    answers = [
        fmt.parse_answer(_serve(fmt, "q", b, params), count=len(b), params=params) for b in batches
    ]
    ranking = merge_answers(batches, answers, total=count, top_n=top_n)
    whole = _serve(FORMATS["tei"], "q", Batch(tuple(range(count)), tuple(docs)), NONE)
    best = sorted(whole, key=lambda item: (-item["score"], item["index"]))[:top_n]
    assert [(r.index, r.score) for r in ranking.results] == [(b["index"], b["score"]) for b in best]


# --- the job value ---


def test_a_job_checks_everything_once_when_built():
    fmt = FORMATS["cohere"]
    job = RerankJob.create("q", ["a", "b"], fmt=fmt, params=RerankParams(top_n=1))
    assert job.documents == ("a", "b")
    with pytest.raises(HFConfigError, match="query is empty"):
        RerankJob.create(" ", ["a"], fmt=fmt, params=NONE)
    with pytest.raises(HFConfigError, match=r"documents\[0\]"):
        RerankJob.create("q", [b"a"], fmt=fmt, params=NONE)
    with pytest.raises(HFConfigError, match="raw_scores cannot be sent"):
        RerankJob.create("q", ["a"], fmt=fmt, params=RerankParams(raw_scores=True))


def test_a_job_plans_requests_and_merges_its_answers():
    fmt = FORMATS["tei"]
    job = RerankJob.create("q", [f"d{i}" for i in range(40)], fmt=fmt, params=RerankParams(top_n=2))
    batches = job.plan(fmt)
    assert [len(b) for b in batches] == [32, 8]
    requests = [job.request(b) for b in batches]
    assert requests[1].texts == tuple(f"d{i}" for i in range(32, 40))
    answers = [
        BatchAnswer(tuple(RerankResult(i, float(i == 5)) for i in range(len(b)))) for b in batches
    ]
    ranking = job.merge(batches, answers)
    assert [r.index for r in ranking.results] == [5, 37]  # 5 in each batch: 1.0, then the tie 0.0s
