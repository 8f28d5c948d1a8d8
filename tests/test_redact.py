"""Secrets are masked in any text and URL that leaves hfbridge."""

from __future__ import annotations

import pytest

from hfbridge._redact import REDACTED, redact, redact_url, register_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token hf_abcdefghijKLMNOP0123 is bad", "token *** is bad"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
        ("authorization: bearer xyz123, next", "authorization: bearer ***, next"),
        ('{"auth": "Bearer s3cr3t"}', '{"auth": "Bearer ***"}'),
        ("hf_short", "hf_short"),  # too short to be a token: ordinary text stays
        ("the hf_hub library", "the hf_hub library"),
        ("", ""),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


def test_registered_secrets_are_masked_whatever_their_shape():
    register_secret("q9-custom-key-Zx")
    assert redact("key=q9-custom-key-Zx;") == f"key={REDACTED};"
    assert redact("twice q9-custom-key-Zx q9-custom-key-Zx") == f"twice {REDACTED} {REDACTED}"


def test_very_short_values_are_not_registered():
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://router.huggingface.co/v1/chat/completions", "https://router.huggingface.co/v1/chat/completions"),
        ("https://user:pass@example.com:8443/v1", "https://example.com:8443/v1"),
        ("https://example.com/v1?api_key=abc&model=m", "https://example.com/v1?api_key=***&model=m"),
        ("https://example.com/x?access_token=t&Signature=s&q=1", "https://example.com/x?access_token=***&Signature=***&q=1"),
        ("https://example.com/x#fragment", "https://example.com/x"),
        ("https://example.com/x/hf_abcdefghijklmnop", "https://example.com/x/***"),
    ],
)  # fmt: skip
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_survives_an_unparsable_url():
    assert redact_url("http://[broken hf_abcdefghijklmnop") == "http://[broken ***"
