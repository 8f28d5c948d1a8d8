"""Rerank wire mapping: parameters, input checks, bodies, strict parsing, the plan, the merge."""

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.embeddings import Batch, body_size
from hfbridge.wire.rerank import (
    FORMATS,
    BatchAnswer,
    RerankParams,
    RerankResult,
    check_documents,
    check_params,
    check_query,
    cohere_body,
    expected_results,
    merge_answers,
    parse_cohere,
    parse_tei,
    parse_text_classification,
    parse_text_ranking,
    plan_rerank,
    tei_body,
    text_classification_body,
    text_ranking_body,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rerank"
NONE = RerankParams()


def fixture(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def pairs(answer: BatchAnswer) -> list[tuple[int, float]]:
    return [(result.index, result.score) for result in answer.results]


# --- parameters ---


def test_params_validate_and_normalise_values():
    params = RerankParams.create(top_n=3, truncation_direction="Left", raw_scores=True)
    assert params.truncation_direction == "left"
    assert params.set_names() == ["top_n", "raw_scores", "truncation_direction"]
    assert RerankParams.create().set_names() == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"top_n": 0}, "at least 1"),
        ({"top_n": -2}, "at least 1"),
        ({"top_n": True}, "top_n"),
        ({"top_n": 2.5}, "top_n"),
        ({"top_n": "3"}, "top_n"),
        ({"raw_scores": "yes"}, "raw_scores"),
        ({"truncate": 1}, "truncate"),
        ({"return_documents": "no"}, "return_documents"),
        ({"truncation_direction": "middle"}, "truncation_direction"),
        ({"label": ""}, "label"),
        ({"label": 1}, "label"),
    ],
)
def test_bad_params_raise_config_errors(kwargs, match):
    with pytest.raises(HFConfigError, match=match):
        RerankParams.create(**kwargs)


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


# --- bodies ---


def test_tei_body_sends_only_the_set_parameters_under_tei_names():
    assert tei_body("q", ["a", "b"], params=NONE) == {"query": "q", "texts": ["a", "b"]}
    params = RerankParams.create(
        raw_scores=True, truncate=True, truncation_direction="left", return_documents=False
    )
    assert tei_body("q", ["a"], model="ignored", params=params) == {
        "query": "q",
        "texts": ["a"],
        "raw_scores": True,
        "truncate": True,
        "truncation_direction": "left",
        "return_text": False,
    }


def test_cohere_body_puts_model_first_and_clamps_top_n_to_the_batch():
    body = cohere_body("q", ["a", "b"], model="org/reranker", params=RerankParams(top_n=5))
    assert list(body) == ["model", "query", "documents", "top_n"]
    assert body == {"model": "org/reranker", "query": "q", "documents": ["a", "b"], "top_n": 2}
    assert cohere_body("q", ["a"], params=NONE) == {"query": "q", "documents": ["a"]}
    assert cohere_body("q", ["a"], params=RerankParams(return_documents=False)) == {
        "query": "q",
        "documents": ["a"],
        "return_documents": False,
    }


def test_text_ranking_body_nests_query_and_texts_under_inputs():
    assert text_ranking_body("q", ["a", "b"], params=RerankParams(top_n=1)) == {
        "inputs": {"query": "q", "texts": ["a", "b"]}
    }


def test_text_classification_body_pairs_the_query_with_every_document():
    assert text_classification_body("q", ["a", "b"], params=NONE) == {
        "inputs": [{"text": "q", "text_pair": "a"}, {"text": "q", "text_pair": "b"}]
    }
    raw = text_classification_body("q", ["a"], params=RerankParams(raw_scores=True))
    assert raw["parameters"] == {"function_to_apply": "none"}
    scaled = text_classification_body("q", ["a"], params=RerankParams(raw_scores=False))
    assert scaled["parameters"] == {"function_to_apply": "sigmoid"}


def test_formats_name_their_paths_and_none_streams():
    assert {api: fmt.path for api, fmt in FORMATS.items()} == {
        "tei": "/rerank",
        "cohere": "/v1/rerank",
        "text-ranking": "/pipeline/text-ranking",
        "text-classification": "",
    }
    assert not any(fmt.streams for fmt in FORMATS.values())
    assert [api for api, fmt in FORMATS.items() if fmt.sends_top_n] == ["cohere"]


@pytest.mark.parametrize(
    ("api", "params", "match"),
    [
        ("tei", RerankParams(label="LABEL_1"), "label cannot be sent.*text-classification"),
        ("cohere", RerankParams(raw_scores=True), "raw_scores.*tei, text-classification"),
        ("text-ranking", RerankParams(truncate=True), "truncate.*'text-ranking'.*tei"),
        ("text-classification", RerankParams(return_documents=True), "return_documents"),
    ],
)
def test_parameters_a_format_cannot_send_are_refused_naming_those_that_can(api, params, match):
    with pytest.raises(HFConfigError, match=match):
        check_params(FORMATS[api], params)


def test_every_format_takes_top_n_because_it_is_applied_to_the_merge():
    for fmt in FORMATS.values():
        check_params(fmt, RerankParams(top_n=3))


# --- parsing recorded and documented answers ---


def test_llama_server_v1_rerank_answer():
    answer = parse_cohere(fixture("llamacpp_v1_rerank.json"), count=3)
    assert [index for index, _ in pairs(answer)] == [0, 2, 1]
    assert answer.results[0] == RerankResult(0, 3.5404508113861084)
    assert answer.total_tokens == 42


def test_llama_server_v1_rerank_answer_cut_by_top_n():
    payload = fixture("llamacpp_v1_rerank_top_n.json")
    answer = parse_cohere(payload, count=3, params=RerankParams(top_n=2))
    assert [index for index, _ in pairs(answer)] == [0, 2]
    with pytest.raises(HFResponseError, match="2 score"):
        parse_cohere(payload, count=3)  # without top_n every document must come back


def test_llama_server_tei_answer():
    answer = parse_tei(fixture("llamacpp_rerank_tei.json"), count=3)
    assert sorted(index for index, _ in pairs(answer)) == [0, 1, 2]


def test_tei_answers_with_and_without_text():
    assert pairs(parse_tei(fixture("tei_rerank.json"), count=2)) == [
        (1, 0.9976404),
        (0, 0.12527926),
    ]
    assert pairs(parse_tei(fixture("tei_rerank_return_text.json"), count=2)) == [
        (1, 0.9976404),
        (0, 0.12527926),
    ]


def test_router_text_ranking_answer_and_the_toolkit_wrapper():
    recorded = fixture("hf_text_ranking.json")
    assert pairs(parse_text_ranking(recorded, count=2)) == [(1, 0.83948773), (0, 0.00027905524)]
    wrapped = {"scores": [{"index": 0, "score": 0.5, "corpus_id": 0}]}
    assert pairs(parse_text_ranking(wrapped, count=1)) == [(0, 0.5)]


def test_openai_style_answer_with_echoed_documents_and_usage():
    answer = parse_cohere(fixture("openai_style_rerank.json"), count=2)
    assert pairs(answer) == [(1, 0.99853515625), (0, 0.0005860328674316406)]
    assert answer.total_tokens == 56


def test_cohere_v2_answer_without_usage():
    answer = parse_cohere(fixture("cohere_v2_rerank.json"), count=5, params=RerankParams(top_n=2))
    assert pairs(answer) == [(3, 0.999071), (4, 0.7867867)]
    assert answer.total_tokens is None


def test_text_classification_pairs_answer():
    answer = parse_text_classification(fixture("hf_text_classification_pairs.json"), count=2)
    assert pairs(answer) == [(0, 0.9994686841964722), (1, 0.0000173)]


def test_text_classification_nested_and_single_answers():
    nested = [[{"label": "LABEL_0", "score": 0.25}], [[{"label": "LABEL_0", "score": 0.5}]]]
    assert pairs(parse_text_classification(nested, count=2)) == [(0, 0.25), (1, 0.5)]
    single = {"label": "LABEL_0", "score": 0.75}
    assert pairs(parse_text_classification(single, count=1)) == [(0, 0.75)]


def test_text_classification_with_several_labels_needs_the_relevant_one():
    payload = [
        [{"label": "relevant", "score": 0.9}, {"label": "irrelevant", "score": 0.1}],
        [{"label": "irrelevant", "score": 0.8}, {"label": "relevant", "score": 0.2}],
    ]
    with pytest.raises(HFResponseError, match=r"2 labels per pair.*set label="):
        parse_text_classification(payload, count=2)
    answer = parse_text_classification(payload, count=2, params=RerankParams(label="relevant"))
    assert pairs(answer) == [(0, 0.9), (1, 0.2)]
    with pytest.raises(HFResponseError, match="no label 'LABEL_1'"):
        parse_text_classification(payload, count=2, params=RerankParams(label="LABEL_1"))


# --- refusing answers that cannot be matched ---

TEI_BAD = [
    ([{"index": 0, "score": 0.5}], "1 score.*2 document"),
    ([{"index": 0, "score": 0.5}, {"index": 0, "score": 0.4}], "appears twice"),
    ([{"index": 0, "score": 0.5}, {"index": 2, "score": 0.4}], "index 2.*only 2"),
    ([{"index": 0, "score": 0.5}, {"index": -1, "score": 0.4}], "index -1"),
    ([{"index": 0, "score": 0.5}, {"index": True, "score": 0.4}], "expected an integer"),
    ([{"index": 0, "score": 0.5}, {"index": "1", "score": 0.4}], "expected an integer"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": "0.4"}], "expected a number"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": False}], "expected a number"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": None}], "expected a number"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": float("nan")}], "nan"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": float("inf")}], "inf"),
    ([{"index": 0, "score": 0.5}, {"index": 1, "score": 10**400}], "too large"),
    ([{"index": 0, "score": 0.5}, {"index": 1}], "needs 'index' and 'score'"),
    ([{"index": i, "score": 0.1} for i in range(3)], "3 scores for 2"),
    ({"error": "batch size 33 > maximum allowed batch size 32"}, "list of objects"),
    ([0.5, 0.4], "list of objects"),
    (None, "list of objects"),
]


@pytest.mark.parametrize(("payload", "match"), TEI_BAD)
def test_tei_and_text_ranking_answers_that_cannot_be_matched_are_refused(payload, match):
    for parse in (parse_tei, parse_text_ranking):
        with pytest.raises(HFResponseError, match=match):
            parse(payload, count=2)


def test_non_finite_scores_parsed_from_json_are_refused():
    payload = json.loads('[{"index": 0, "score": NaN}]')
    assert math.isnan(payload[0]["score"])
    with pytest.raises(HFResponseError, match="not usable"):
        parse_tei(payload, count=1)


def _cohere(*results):
    return {"results": [{"index": i, "relevance_score": s} for i, s in results]}


@pytest.mark.parametrize(
    ("payload", "params", "match"),
    [
        (_cohere((0, 0.9)), NONE, "1 score.*2 document.*expected 2"),
        (_cohere((0, 0.9)), RerankParams(top_n=2), "1 score.*2 document.*expected 2"),
        (_cohere((0, 0.9), (0, 0.8)), NONE, "appears twice"),
        (_cohere((0, 0.9), (5, 0.8)), NONE, "index 5"),
        (_cohere((0, 0.9), (1, 0.8), (1, 0.7)), NONE, "3 results for 2"),
        (_cohere((0, 0.9), (1, float("-inf"))), NONE, "not usable"),
        ({"results": [{"index": 0, "score": 0.9}, {"index": 1, "score": 0.1}]}, NONE, "relevance"),
        ({"data": []}, NONE, "'results' list"),
        ([{"index": 0, "relevance_score": 0.9}], NONE, "'results' list"),
        ({"results": [1, 2]}, NONE, "'results' list"),
    ],
)
def test_cohere_answers_that_cannot_be_matched_are_refused(payload, params, match):
    with pytest.raises(HFResponseError, match=match):
        parse_cohere(payload, count=2, params=params)


def test_a_batch_cut_below_top_n_is_refused():
    with pytest.raises(HFResponseError, match=r"1 score.*3 document.*at least 2 \(top_n\)"):
        parse_cohere(_cohere((2, 0.9)), count=3, params=RerankParams(top_n=2))


def test_a_server_ignoring_top_n_is_accepted_and_usage_oddities_are_ignored():
    payload = {**_cohere((1, 0.9), (0, 0.8)), "usage": {"total_tokens": "many"}}
    answer = parse_cohere(payload, count=2, params=RerankParams(top_n=1))
    assert pairs(answer) == [(1, 0.9), (0, 0.8)]
    assert answer.total_tokens is None


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ([{"label": "LABEL_0", "score": 0.9}], "1 score.*2 document"),
        ([{"label": "LABEL_0", "score": 0.9}] * 3, "3 classifications for 2"),
        ([{"label": "LABEL_0", "score": 0.9}, {"label": "LABEL_0"}], "pair 1"),
        ([{"label": "LABEL_0", "score": 0.9}, []], "pair 1"),
        ([{"label": "LABEL_0", "score": 0.9}, {"label": "x", "score": "high"}], "a number"),
        ({"label": "LABEL_0", "score": 0.9}, "must be a list"),
        ("LABEL_0", "must be a list"),
    ],
)
def test_text_classification_answers_that_cannot_be_matched_are_refused(payload, match):
    with pytest.raises(HFResponseError, match=match):
        parse_text_classification(payload, count=2)


def test_expected_results_only_shrink_for_a_format_that_sends_top_n():
    assert expected_results(32, RerankParams(top_n=3), sends_top_n=True) == 3
    assert expected_results(2, RerankParams(top_n=3), sends_top_n=True) == 2
    assert expected_results(32, RerankParams(top_n=3), sends_top_n=False) == 32
    assert expected_results(32, NONE, sends_top_n=True) == 32


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
        size = body_size(fmt.build(query, list(batch.texts), model="m", params=params))
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
        size = body_size(fmt.build(query, list(batch.texts), params=NONE))
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
    body = fmt.build(query, list(batch.texts), model="m", params=params)
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
    answers = [fmt.parse(_serve(fmt, "q", b, params), count=len(b), params=params) for b in batches]
    ranking = merge_answers(batches, answers, total=count, top_n=top_n)
    whole = _serve(FORMATS["tei"], "q", Batch(tuple(range(count)), tuple(docs)), NONE)
    best = sorted(whole, key=lambda item: (-item["score"], item["index"]))[:top_n]
    assert [(r.index, r.score) for r in ranking.results] == [(b["index"], b["score"]) for b in best]
