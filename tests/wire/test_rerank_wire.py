"""Rerank wire mapping: parameters, bodies, strict parsing, each format in the route seam's shape."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.rerank import (
    FORMATS,
    BatchAnswer,
    RerankBatchRequest,
    RerankParams,
    RerankResult,
    check_params,
    cohere_body,
    expected_results,
    parse_cohere,
    parse_tei,
    parse_text_classification,
    parse_text_ranking,
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
        ({"top_n": 0}, "top_n must be a positive integer"),
        ({"top_n": -2}, "top_n must be a positive integer"),
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


# --- each format in the route seam's shape: url(target, stream), build(...), parse(...) ---


@dataclass(frozen=True)
class Target:  # the seam's Target has these attributes
    model: str | None = None
    model_id: str | None = None
    base_url: str | None = None


@pytest.mark.parametrize(
    ("api", "base_url", "expected"),
    [
        ("tei", "http://127.0.0.1:8080", "http://127.0.0.1:8080/rerank"),
        ("tei", "http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/rerank"),
        ("cohere", "http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/rerank"),
        ("cohere", "https://host/prefix", "https://host/prefix/v1/rerank"),
        (
            "text-ranking",
            "https://x.endpoints.huggingface.cloud/",
            "https://x.endpoints.huggingface.cloud",
        ),
        (
            "text-classification",
            "https://x.endpoints.huggingface.cloud",
            "https://x.endpoints.huggingface.cloud",
        ),
    ],
)
def test_urls_of_self_hosted_servers(api, base_url, expected):
    assert FORMATS[api].url(Target(base_url=base_url), False) == expected


def test_hf_inference_urls_name_the_model():
    target = Target(model_id="BAAI/bge-reranker-v2-m3")
    assert FORMATS["text-ranking"].url(target, False) == (
        "https://router.huggingface.co/hf-inference/models/BAAI/bge-reranker-v2-m3"
        "/pipeline/text-ranking"
    )
    assert FORMATS["text-classification"].url(Target(model_id="org/a b"), False) == (
        "https://router.huggingface.co/hf-inference/models/org/a%20b"
    )


@pytest.mark.parametrize(
    ("api", "target", "match"),
    [
        ("tei", Target(model_id="BAAI/bge-reranker-base"), "needs the base_url.*text-ranking"),
        ("cohere", Target(), "needs the base_url"),
        ("text-ranking", Target(), "needs a model id"),
    ],
)
def test_a_target_the_format_cannot_reach_is_refused(api, target, match):
    with pytest.raises(HFConfigError, match=match):
        FORMATS[api].url(target, False)


def test_build_and_parse_take_the_seams_request_and_target():
    request = RerankBatchRequest("q", ("a", "b", "c"), RerankParams(top_n=2))
    cohere = FORMATS["cohere"]
    assert cohere.build(request, Target(model="org/reranker"), False) == {
        "model": "org/reranker",
        "query": "q",
        "documents": ["a", "b", "c"],
        "top_n": 2,
    }
    assert "model" not in cohere.build(request, Target(model=None), False)
    answer = cohere.parse(fixture("llamacpp_v1_rerank_top_n.json"), {}, request)
    assert [r.index for r in answer.results] == [0, 2]
    tei = FORMATS["tei"]
    assert tei.build(request, Target(model="m"), False) == {"query": "q", "texts": ["a", "b", "c"]}
    with pytest.raises(HFResponseError, match=r"2 score.*3 document"):
        tei.parse(fixture("llamacpp_v1_rerank_top_n.json")["results"], {}, request)
