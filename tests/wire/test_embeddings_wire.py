"""Embeddings wire mapping: bodies, parsing at every depth, the batching plan, instructions."""

import base64
import json
import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.embeddings import (
    Batch,
    EmbeddingParams,
    apply_instruction,
    body_size,
    feature_extraction_body,
    instructions_for,
    json_size,
    mean_pool,
    openai_body,
    parse_feature_extraction,
    parse_openai_embeddings,
    plan_batches,
)

# --- parameters ---


def test_params_validate_and_normalise_values():
    params = EmbeddingParams.create(normalize=False, truncation_direction="Left", dimensions=8)
    assert params.truncation_direction == "left"
    assert params.set_values() == {
        "normalize": False,
        "truncation_direction": "left",
        "dimensions": 8,
    }
    assert EmbeddingParams.create().set_values() == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"normalize": "yes"},
        {"truncate": 1},
        {"truncation_direction": "middle"},
        {"prompt_name": ""},
        {"prompt_name": 3},
        {"dimensions": 0},
        {"dimensions": -4},
        {"dimensions": True},
        {"dimensions": 2.5},
        {"encoding_format": "binary"},
    ],
)
def test_bad_params_raise_config_errors(kwargs):
    with pytest.raises(HFConfigError, match=next(iter(kwargs))):
        EmbeddingParams.create(**kwargs)


# --- bodies ---


def test_feature_extraction_body_puts_every_parameter_at_the_root():
    params = EmbeddingParams.create(
        normalize=True, truncate=True, truncation_direction="right", prompt_name="query"
    )
    body = feature_extraction_body(["a", "b"], params)
    assert body == {
        "inputs": ["a", "b"],
        "normalize": True,
        "truncate": True,
        "truncation_direction": "right",
        "prompt_name": "query",
    }
    assert "parameters" not in body


def test_feature_extraction_body_omits_unset_values_and_keeps_a_bare_string():
    assert feature_extraction_body("one", EmbeddingParams()) == {"inputs": "one"}
    assert feature_extraction_body(("x",), EmbeddingParams.create(truncate=False)) == {
        "inputs": ["x"],
        "truncate": False,
    }


def test_openai_body_has_model_first_and_only_openai_fields():
    params = EmbeddingParams.create(dimensions=64, encoding_format="base64")
    body = openai_body(("a", "b"), model="org/m", params=params)
    assert body == {
        "model": "org/m",
        "input": ["a", "b"],
        "dimensions": 64,
        "encoding_format": "base64",
    }
    assert next(iter(body)) == "model"
    assert openai_body(["a"], model="m", params=EmbeddingParams()) == {"model": "m", "input": ["a"]}


def test_body_size_matches_the_transport_encoding():
    body = {"inputs": ["é", "x"], "normalize": True}
    assert body_size(body) == len(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert json_size("é") == 4  # two quotes + two UTF-8 bytes
    assert json_size('a"b') == 6


# --- feature-extraction parsing ---


def test_pooled_batch_is_returned_row_by_row_as_floats():
    assert parse_feature_extraction([[1, 2], [3.5, 4]], count=2) == [[1.0, 2.0], [3.5, 4.0]]
    result = parse_feature_extraction([[1, 2]], count=1)
    assert all(type(x) is float for x in result[0])


def test_single_string_answers_one_dimensional():
    assert parse_feature_extraction([0.5, 0.25], count=1, single=True) == [[0.5, 0.25]]
    # a list of one answered flat is accepted too
    assert parse_feature_extraction([0.5, 0.25], count=1) == [[0.5, 0.25]]


def test_single_string_pooled_row_is_taken_as_is():
    assert parse_feature_extraction([[3.0, 4.0]], count=1, single=True) == [[3.0, 4.0]]


def test_single_string_token_vectors_are_mean_pooled_and_normalised():
    tokens = [[1.0, 0.0], [3.0, 4.0], [2.0, 2.0]]  # mean (2, 2)
    (vector,) = parse_feature_extraction(tokens, count=1, single=True)
    assert vector == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])
    (raw,) = parse_feature_extraction(tokens, count=1, single=True, normalize=False)
    assert raw == pytest.approx([2.0, 2.0])
    # wrapped in a batch of one, as transformers pipelines do
    assert parse_feature_extraction([tokens], count=1, single=True, normalize=False) == [raw]


def test_batch_token_vectors_of_different_lengths_are_pooled_per_input():
    payload = [
        [[1.0, 1.0], [3.0, 3.0]],  # mean (2, 2)
        [[0.0, 6.0], [0.0, 0.0], [0.0, 0.0]],  # mean (0, 2)
    ]
    result = parse_feature_extraction(payload, count=2, normalize=False)
    assert result == [pytest.approx([2.0, 2.0]), pytest.approx([0.0, 2.0])]
    normalised = parse_feature_extraction(payload, count=2)
    assert normalised[1] == pytest.approx([0.0, 1.0])
    assert math.hypot(*normalised[0]) == pytest.approx(1.0)


def test_four_deep_token_output_is_unwrapped_per_input():
    payload = [[[[2.0, 0.0], [4.0, 0.0]]], [[[0.0, 1.0]]]]
    assert parse_feature_extraction(payload, count=2, normalize=False) == [
        pytest.approx([3.0, 0.0]),
        pytest.approx([0.0, 1.0]),
    ]


def test_mean_pool_rejects_ragged_tokens():
    with pytest.raises(HFResponseError, match="differ in length"):
        mean_pool([[1.0, 2.0], [1.0]])
    with pytest.raises(HFResponseError, match="empty"):
        mean_pool([])


@pytest.mark.parametrize(
    ("payload", "count", "match"),
    [
        ([[1.0], [2.0]], 3, "returned 2 embedding"),
        ([[1.0], [2.0], [3.0]], 2, "returned 3 embedding"),
        ([1.0, 2.0], 2, "returned 1 embedding"),
        ({"embeddings": [[1.0]]}, 1, "dict"),
        ([[[[[1.0]]]]], 1, "5 deep"),
        ([[1.0, "x"]], 1, "non-number"),
        ([[1.0, True]], 1, "non-number"),
        ([[1.0, float("nan")]], 1, "NaN"),
        ([[1.0, 2.0], [3.0]], 2, "differ in length"),
        ([[]], 1, "empty list"),
        (7, 1, "int"),
    ],
)
def test_bad_feature_extraction_answers_raise_response_errors(payload, count, match):
    with pytest.raises(HFResponseError, match=match):
        parse_feature_extraction(payload, count=count)


# --- OpenAI parsing ---


def _openai(vectors, indices=None):
    data = [{"object": "embedding", "embedding": v} for v in vectors]
    if indices is not None:
        for item, index in zip(data, indices, strict=True):
            item["index"] = index
    return {
        "object": "list",
        "data": data,
        "model": "m",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }


def test_openai_index_orders_the_vectors():
    payload = _openai([[3.0], [1.0], [2.0]], indices=[2, 0, 1])
    assert parse_openai_embeddings(payload, count=3) == [[1.0], [2.0], [3.0]]


def test_openai_without_indices_uses_the_list_order():
    assert parse_openai_embeddings(_openai([[1.0], [2.0]]), count=2) == [[1.0], [2.0]]


def test_openai_base64_embeddings_are_decoded_as_little_endian_float32():
    encoded = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.25)).decode()
    assert parse_openai_embeddings(_openai([encoded], [0]), count=1) == [[0.5, -1.0, 2.25]]


@pytest.mark.parametrize(
    ("payload", "count", "match"),
    [
        (_openai([[1.0], [2.0]], [0, 0]), 2, "exactly once"),
        (_openai([[1.0], [2.0]], [1, 2]), 2, "exactly once"),
        ({"data": [{"embedding": [1.0], "index": 0}, {"embedding": [2.0]}]}, 2, "exactly once"),
        (_openai([[1.0]], [0]), 2, "returned 1 embedding"),
        ({"object": "list"}, 1, "'data' list"),
        ([[1.0]], 1, "'data' list"),
        ({"data": [{"vector": [1.0]}]}, 1, "'embedding'"),
        (_openai(["***not base64***"], [0]), 1, "base64"),
        (_openai([base64.b64encode(b"abc").decode()], [0]), 1, "float32"),
        (_openai([[1.0, 2.0], [1.0]], [0, 1]), 2, "differ in length"),
    ],
)
def test_bad_openai_answers_raise_response_errors(payload, count, match):
    with pytest.raises(HFResponseError, match=match):
        parse_openai_embeddings(payload, count=count)


# --- batching plan ---


def test_plan_splits_by_count_keeping_indices():
    plan = plan_batches(list("abcde"), batch_size=2, max_batch_bytes=10_000)
    assert [b.indices for b in plan] == [(0, 1), (2, 3), (4,)]
    assert [b.texts for b in plan] == [("a", "b"), ("c", "d"), ("e",)]


def test_plan_splits_by_bytes_so_no_body_exceeds_the_limit():
    texts = ["x" * 10] * 6  # 12 bytes each in JSON
    base = body_size({"inputs": []})
    limit = base + 12 * 3 + 2  # exactly three texts and two commas
    plan = plan_batches(texts, batch_size=100, max_batch_bytes=limit, base_bytes=base)
    assert [len(b) for b in plan] == [3, 3]
    for batch in plan:
        assert body_size({"inputs": list(batch.texts)}) <= limit
    tighter = plan_batches(texts, batch_size=100, max_batch_bytes=limit - 1, base_bytes=base)
    assert [len(b) for b in tighter] == [2, 2, 2]


def test_plan_gives_an_oversized_text_its_own_batch():
    plan = plan_batches(["a", "y" * 100, "b"], batch_size=10, max_batch_bytes=20)
    assert [b.indices for b in plan] == [(0,), (1,), (2,)]


def test_plan_of_nothing_is_empty_and_empty_strings_count():
    assert plan_batches([], batch_size=2, max_batch_bytes=100) == []
    assert [b.texts for b in plan_batches(["", ""], batch_size=5, max_batch_bytes=100)] == [
        ("", "")
    ]


def test_plan_rejects_lone_surrogates_before_any_request():
    with pytest.raises(HFConfigError, match="index 1"):
        plan_batches(["ok", "bad \ud800"], batch_size=5, max_batch_bytes=100)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(max_size=40), max_size=60),
    batch_size=st.integers(1, 10),
    max_bytes=st.integers(1, 200),
)
def test_plan_covers_every_input_once_in_order_within_limits(texts, batch_size, max_bytes):
    base = body_size({"inputs": []})
    plan = plan_batches(texts, batch_size=batch_size, max_batch_bytes=max_bytes, base_bytes=base)
    flat = [i for batch in plan for i in batch.indices]
    assert flat == list(range(len(texts)))
    for batch in plan:
        assert 1 <= len(batch) <= batch_size
        assert list(batch.texts) == [texts[i] for i in batch.indices]
        if len(batch) > 1:
            assert body_size({"inputs": list(batch.texts)}) <= max_bytes


def test_batch_split_halves_keep_positions():
    left, right = Batch((4, 5, 6), ("a", "b", "c")).split()
    assert (left.indices, left.texts) == ((4, 5), ("a", "b"))
    assert (right.indices, right.texts) == ((6,), ("c",))


# --- instructions ---


@pytest.mark.parametrize(
    ("model", "query", "document"),
    [
        ("intfloat/multilingual-e5-small", "query: ", "passage: "),
        ("intfloat/e5-base-v2", "query: ", "passage: "),
        ("multilingual-e5-small", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
        ("BAAI/bge-large-zh-v1.5", "为这个句子生成表示以用于检索相关文章\uff1a", ""),
        ("nomic-ai/nomic-embed-text-v1.5", "search_query: ", "search_document: "),
        (
            "mixedbread-ai/mxbai-embed-large-v1",
            "Represent this sentence for searching relevant passages: ",
            "",
        ),
        ("BAAI/bge-m3", "", ""),
        ("sentence-transformers/all-mpnet-base-v2", "", ""),
        ("some/gte5-thing", "", ""),
    ],
)
def test_known_families_get_their_instructions(model, query, document):
    instructions = instructions_for(model)
    assert (instructions.query, instructions.document) == (query, document)


def test_instruct_variants_are_matched_before_their_family():
    instructions = instructions_for("intfloat/multilingual-e5-large-instruct")
    assert instructions.family == "e5-instruct"
    assert instructions.query.startswith("Instruct: ")
    assert instructions.query.endswith("\nQuery: ")
    assert instructions.document == ""
    assert instructions_for("Qwen/Qwen3-Embedding-0.6B").query.endswith("\nQuery:")


def test_apply_instruction():
    assert apply_instruction(["a", ""], "query: ") == ["query: a", "query: "]
    assert apply_instruction(("a",), "") == ["a"]
