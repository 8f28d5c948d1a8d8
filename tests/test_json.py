"""hfbridge._json.loads: pydantic-core's parser with the standard library's behaviour on odd input."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hfbridge import _json

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(VALUES)
def test_same_result_as_json_loads(value):
    text = json.dumps(value, ensure_ascii=False)
    assert _json.loads(text) == json.loads(text)
    assert _json.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',  # a lone surrogate escape: pydantic-core refuses it, json.loads accepts it
        "[" * 500 + "]" * 500,  # deeper than pydantic-core's nesting limit
        '{"a": 1, "a": 2}',
        "12345678901234567890123456789",
    ],
)
def test_what_the_fast_parser_refuses_still_parses_as_before(text):
    assert _json.loads(text) == json.loads(text)


def test_nan_and_infinity_as_json_loads():
    value = _json.loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0])
    assert value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize("text", ["", "{", "not json", "[1,]", b"\xff"])
def test_invalid_documents_raise_value_error(text):
    with pytest.raises(ValueError, match=r"."):
        _json.loads(text)
    with pytest.raises(ValueError, match=r"."):
        json.loads(text)  # the same documents the standard library refuses
