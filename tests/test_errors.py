"""The error tree, and the message pulled out of every error body shape (PROTOCOL.md 6.1)."""

from __future__ import annotations

import httpx
import pytest

from hfbridge import errors
from hfbridge.errors import (
    HFBadRequestError,
    HFConfigError,
    HFConnectionError,
    HFError,
    HFModelLoadingError,
    HFServerError,
    HFStatusError,
    HFTimeoutError,
    error_from_response,
    extract_error_message,
)
from hfbridge.transport import HFClient

URL = "https://router.huggingface.co/v1/chat/completions"


def error_for(status, content, content_type="application/json", **headers):
    """Send one request through a MockTransport that answers ``status`` with ``content``."""

    def handler(request):
        return httpx.Response(
            status, content=content, headers={"content-type": content_type, **headers}
        )

    client = HFClient(transport=httpx.MockTransport(handler), max_retries=0)
    with client, pytest.raises(HFStatusError) as caught:
        client.request("POST", URL, json={"model": "m"})
    return caught.value


NESTED = (
    b'{"error":{"message":"The requested model \'x/y\' is not supported by any provider you have '
    b'enabled.","type":"invalid_request_error","param":"model","code":"model_not_supported"}}'
)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"error":"Model not supported by provider together"}',
                     "Model not supported by provider together", id="string-error"),
        pytest.param(b'{"error":"Input validation error: too big","error_type":"validation"}',
                     "Input validation error: too big", id="error-and-error-type"),
        pytest.param(NESTED, "The requested model 'x/y' is not supported by any provider you have "
                     "enabled.", id="openai-nested"),
        pytest.param(b'{"error":["`top_p` must be > 0","`top_k` must be > 0"]}',
                     "`top_p` must be > 0; `top_k` must be > 0", id="list-of-errors"),
        pytest.param(b'{"error":"invalid_grant","error_description":"The grant has expired"}',
                     "invalid_grant: The grant has expired", id="oauth"),
        pytest.param(b'{"errors":[{"message":"first problem"},{"message":"second problem"}]}',
                     "first problem; second problem", id="errors-list"),
        pytest.param(b'{"message":"Provider error"}', "Provider error", id="message"),
        pytest.param(b'{"detail":"Not authenticated"}', "Not authenticated", id="detail"),
        pytest.param(b'{"error":{"msg":"bad field","loc":["body"]}}', "bad field", id="nested-msg"),
    ],
)  # fmt: skip
def test_body_shapes(content, expected):
    error = error_for(400, content)
    assert f"HTTP 400: {expected}. " in str(error)
    assert isinstance(error.body, dict)


HTML = (
    "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>504 Gateway Time-out</title>"
    "<style>body { font-family: sans-serif }</style></head><body><h1>504 Gateway Time-out</h1>"
    "<script>console.log('cloudfront')</script><p>The request could not be satisfied.</p>"
    "</body></html>"
)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/plain", ""])
def test_html_page_from_a_proxy_keeps_the_title_only(content_type):
    error = error_for(504, HTML.encode(), content_type)
    message = str(error)
    assert "504 Gateway Time-out (HTML page, probably from a proxy or gateway)" in message
    for fragment in ("<html", "<title>", "<script", "font-family", "could not be satisfied"):
        assert fragment not in message
        assert fragment not in str(error.body)


def test_html_page_without_a_title():
    error = error_for(502, b"<html><body>bad gateway</body></html>", "text/html")
    assert "HTML error page" in str(error)
    assert "<body>" not in str(error)


def test_empty_body():
    error = error_for(500, b"", "")
    assert "HTTP 500: (empty body)." in str(error)
    assert error.body == ""


def test_non_json_text_is_kept():
    error = error_for(
        502, b"upstream connect error or disconnect/reset before headers\n", "text/plain"
    )
    assert "HTTP 502: upstream connect error or disconnect/reset before headers." in str(error)
    assert error.body == "upstream connect error or disconnect/reset before headers"


def test_a_long_text_body_is_cut():
    error = error_for(500, b"x" * 5000, "text/plain")
    assert "x" * 500 in str(error)
    assert "x" * 501 not in str(error)
    assert len(error.body) == 500


def test_error_message_header_is_added_once():
    same = error_for(401, b'{"error":"Invalid username or password."}',
                     **{"x-error-message": "Invalid username or password."})  # fmt: skip
    assert str(same).count("Invalid username or password.") == 1
    other = error_for(403, b'{"error":"denied"}', **{"x-error-message": "Repo is gated"})
    assert "Repo is gated; denied" in str(other)


def test_error_from_response_accepts_a_str_body():
    error = error_from_response(
        status_code=500, headers={}, body="plain", method="GET", url="https://huggingface.co/api/x"
    )
    assert type(error) is HFServerError
    assert error.body == "plain"


def test_url_in_errors_loses_credentials():
    error = error_from_response(
        status_code=400,
        headers={},
        body=b"{}",
        method="GET",
        url="https://user:pw@example.com/v1/x?api_key=abc123&q=ok",
    )
    assert "pw@" not in str(error)
    assert "abc123" not in str(error)
    assert "q=ok" in str(error)
    assert "abc123" not in error.url


def test_estimated_time_that_is_not_a_number_is_ignored():
    error = error_from_response(
        status_code=503,
        headers={},
        body=b'{"error":"Model is currently loading","estimated_time":"soon"}',
        method="POST",
        url=URL,
    )
    assert isinstance(error, HFModelLoadingError)
    assert error.estimated_time is None
    assert "no estimate given" in str(error)


def test_extract_error_message_falls_back_to_text():
    assert extract_error_message(None, "plain words") == "plain words"
    assert extract_error_message({"unexpected": 1}, '{"unexpected": 1}') == '{"unexpected": 1}'
    assert extract_error_message(["a", "b"], '["a", "b"]') == '["a", "b"]'


def test_tree():
    assert issubclass(HFConfigError, ValueError)
    assert issubclass(HFTimeoutError, HFConnectionError)
    assert issubclass(HFModelLoadingError, HFServerError)
    assert issubclass(HFBadRequestError, HFStatusError)
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type):
            assert issubclass(value, HFError)


def test_message_property():
    assert HFError("boom").message == "boom"
    assert HFError("token hf_abcdefghijklmnop leaked").message == "token *** leaked"


def test_an_error_code_that_is_not_a_string_is_no_quota_code():
    # found by tests/test_properties.py: {"code": []} raised TypeError (unhashable list)
    for body in (b'{"code": []}', b'{"error": {"type": {"a": 1}}}'):
        error = error_from_response(status_code=429, headers={}, body=body, method="POST",
                                    url="http://h/v1/x")  # fmt: skip
        assert type(error).__name__ == "HFRateLimitError"


def test_every_error_survives_a_pickle_round_trip():
    # Ray Data sends an actor's error to the driver by pickle; keyword-only fields broke it.
    import pickle

    from hfbridge.errors import HFBatchError, HFRateLimitError

    rate_limited = HFRateLimitError("slow down", status_code=429, retry_after=2.0, request_id="r1")
    copy = pickle.loads(pickle.dumps(rate_limited))  # noqa: S301 - our own bytes
    assert type(copy) is HFRateLimitError
    assert (str(copy), copy.status_code, copy.retry_after, copy.request_id) == (
        str(rate_limited), 429, 2.0, "r1",
    )
    batch = HFBatchError("2 failed", failed_indices=[1, 3], errors={1: rate_limited}, total=4)
    batch_copy = pickle.loads(pickle.dumps(batch))  # noqa: S301 - our own bytes
    assert batch_copy.failed_indices == [1, 3]
    assert batch_copy.errors[1].status_code == 429
