"""The one verdict on numeric settings (hfbridge.errors._checks), and the settings that use it."""

from __future__ import annotations

import math

import pytest

from hfbridge.errors import HFConfigError
from hfbridge.errors._checks import positive_int, positive_seconds
from hfbridge.inference.bulk import check_concurrency
from hfbridge.wire.embeddings import EmbeddingParams
from hfbridge.wire.rerank import RerankParams

NOT_POSITIVE_INTS = [0, -1, True, False, 2.5, 3.0, "4", None, math.inf]
NOT_POSITIVE_SECONDS = [0, -0.5, True, math.inf, math.nan, "60", None]


@pytest.mark.parametrize("value", NOT_POSITIVE_INTS, ids=repr)
def test_a_positive_int_is_an_int_of_one_or_more_and_never_a_bool(value):
    with pytest.raises(HFConfigError, match=r"^batch_size must be a positive integer, got "):
        positive_int("batch_size", value)


def test_the_unit_and_the_meaning_are_worded():
    with pytest.raises(HFConfigError) as caught:
        positive_int("max_body_bytes", 0, unit="number of bytes", meaning="the largest body read")
    assert str(caught.value) == (
        "max_body_bytes must be a positive number of bytes (the largest body read), got 0."
    )
    assert positive_int("n", 1) == 1


@pytest.mark.parametrize("value", NOT_POSITIVE_SECONDS, ids=repr)
def test_positive_seconds_are_finite_and_above_zero(value):
    with pytest.raises(HFConfigError, match=r"^timeout must be a positive number of seconds"):
        positive_seconds("timeout", value)


def test_seconds_come_back_as_a_float_and_advice_follows_the_verdict():
    assert positive_seconds("timeout", 3) == 3.0 and isinstance(positive_seconds("t", 3), float)
    with pytest.raises(HFConfigError, match=r"got 0: it bounds the job\.$"):
        positive_seconds("job_timeout", 0, advice="it bounds the job.")


INTEGER_SETTINGS = {
    "top_n": lambda v: RerankParams.create(top_n=v),
    "dimensions": lambda v: EmbeddingParams.create(dimensions=v),
    "max_concurrency": lambda v: check_concurrency("max_concurrency", v),
}


@pytest.mark.parametrize("name", INTEGER_SETTINGS)
@pytest.mark.parametrize("value", [0, True, 2.5])
def test_every_integer_setting_gets_the_same_verdict(name, value):
    with pytest.raises(HFConfigError, match=rf"^{name} must be a positive integer"):
        INTEGER_SETTINGS[name](value)
