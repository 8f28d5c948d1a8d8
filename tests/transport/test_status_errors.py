"""Every non-2xx answer becomes its typed error, with an actionable message (sync and async)."""

from __future__ import annotations

import pytest
from tests.transport.conftest import Script, reply

from hfbridge.errors import (
    HFAuthenticationError,
    HFBadRequestError,
    HFError,
    HFModelLoadingError,
    HFNotFoundError,
    HFPayloadTooLargeError,
    HFPaymentRequiredError,
    HFPermissionError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFUnprocessableError,
)
from hfbridge.transport import CallContext

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
CONTEXT = CallContext(model=MODEL, provider="together")
RID = "Root=1-67dd7190-4bd5a1c4;62946adc"

CREDITS = (
    "You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to "
    "get 20x more monthly included credits."
)
HTML_502 = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title><style>body{}</style></head>"
    "<body><h1>502 Bad Gateway</h1><p>cloudfront</p><script>var x=1;</script></body></html>"
)

CASES = [
    pytest.param((400, {"error": "Model not supported by provider together"}, {}, HFBadRequestError,
                 ["Model not supported by provider together", "provider"]), id="400"),
    pytest.param((401, {"error": "Invalid username or password."}, {}, HFAuthenticationError,
                 ["Invalid username or password.", "HF_TOKEN", "token="]), id="401"),
    pytest.param((402, {"error": CREDITS}, {}, HFPaymentRequiredError,
                 ["credits", "https://hf.co/settings/billing", "bill_to"]), id="402"),
    pytest.param((403, {"error": "This authentication method does not have enough permissions"},
                 {}, HFPermissionError,
                 ["licence", f"https://huggingface.co/{MODEL}", "Make calls to Inference"]),
                 id="403"),
    pytest.param((403, {"error": "Access to model is restricted"}, {"x-error-code": "GatedRepo"},
                 HFPermissionError, ["licence", f"https://huggingface.co/{MODEL}"]),
                 id="403-gated"),
    pytest.param((404, {"error": "Model not found"}, {"x-error-code": "RepoNotFound"},
                 HFNotFoundError, [f"'{MODEL}'", "hfbridge models --search"]), id="404"),
    pytest.param((413, {"error": "Payload Too Large"}, {}, HFPayloadTooLargeError,
                 ["too large", "fewer or shorter inputs"]), id="413"),
    pytest.param((422, {"error": "Input validation error: `temperature` must be strictly positive",
                       "error_type": "validation"}, {}, HFUnprocessableError,
                 ["`temperature` must be strictly positive", "parameters"]), id="422"),
    pytest.param((429, {"error": "Rate limit reached"}, {"retry-after": "30"}, HFRateLimitError,
                 ["Rate limit reached", "retry after 30 s", "lower concurrency"]), id="429"),
    pytest.param((500, {"error": "Request failed during generation", "error_type": "generation"},
                 {}, HFServerError, ["Request failed during generation", "retry later"]), id="500"),
    pytest.param((502, HTML_502, {"content-type": "text/html"}, HFServerError,
                 ["502 Bad Gateway", "HTML page"]), id="502-html"),
    pytest.param((503, {"error": "Service Unavailable"}, {}, HFServerError,
                 ["Service Unavailable", "pin another provider"]), id="503"),
    pytest.param((503, {"error": f"Model {MODEL} is currently loading", "estimated_time": 42.0},
                 {}, HFModelLoadingError, ["currently loading", "about 42 s"]), id="503-loading"),
    pytest.param((504, "Gateway Timeout", {"content-type": "text/plain"}, HFServerError,
                 ["Gateway Timeout"]), id="504-text"),
    pytest.param((418, {"error": "I'm a teapot"}, {}, HFStatusError, ["I'm a teapot"]), id="418"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_status_to_error(harness, case):
    status, body, headers, cls, phrases = case
    script = Script(reply(status, body, headers={"x-request-id": RID, **headers}))
    with pytest.raises(HFError) as caught:
        harness.request(script, context=CONTEXT, max_retries=0)
    error = caught.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.request_id == RID
    assert error.model == MODEL
    assert error.provider == "together"
    assert error.url == "https://router.huggingface.co/v1/chat/completions"
    message = str(error)
    assert f"request id: {RID}" in message
    assert f"HTTP {status}" in message
    assert "POST https://router.huggingface.co/v1/chat/completions" in message
    assert f"model '{MODEL}'" in message
    for phrase in phrases:
        assert phrase in message


def test_status_error_without_model_context(harness):
    with pytest.raises(HFNotFoundError) as caught:
        harness.request(Script(reply(404, {"error": "Not Found"})), "GET", "models/x")
    assert caught.value.model is None
    assert caught.value.request_id is None
    assert "request id" not in str(caught.value)
    # with no model to name, the hint points at the URL instead of inventing a model id
    assert "check the URL" in str(caught.value)
    assert "unknown" not in str(caught.value)


def test_gated_code_wins_over_the_status(harness):
    script = Script(reply(401, {"error": "gated"}, headers={"x-error-code": "GatedRepo"}))
    with pytest.raises(HFPermissionError) as caught:
        harness.request(script, context=CONTEXT)
    assert caught.value.error_code == "GatedRepo"
    assert caught.value.status_code == 401


def test_loading_503_carries_the_estimate(harness):
    body = {"error": "Model is currently loading", "estimated_time": 42.5}
    with pytest.raises(HFModelLoadingError) as caught:
        harness.request(Script(reply(503, body)), max_retries=0)
    assert caught.value.estimated_time == 42.5
    assert caught.value.body == body


def test_a_503_that_says_loading_without_estimate_is_loading(harness):
    with pytest.raises(HFModelLoadingError) as caught:
        harness.request(Script(reply(503, {"error": "Model is loading"})), max_retries=0)
    assert caught.value.estimated_time is None


def test_stream_requests_get_the_same_typed_errors(harness):
    script = Script(reply(401, {"error": "Invalid credentials in Authorization header"}))
    with pytest.raises(HFAuthenticationError, match="HF_TOKEN"):
        harness.stream(script, context=CONTEXT)


def test_the_amazon_trace_id_is_a_request_id(harness):
    script = Script(reply(400, {"error": "bad"}, headers={"x-amzn-trace-id": "Root=1-abc"}))
    with pytest.raises(HFBadRequestError) as caught:
        harness.request(script)
    assert caught.value.request_id == "Root=1-abc"
    assert "Root=1-abc" in str(caught.value)


SELF_HOSTED = "http://127.0.0.1:8080/v1"
ROUTER_ONLY_ADVICE = (
    "provider", "hf.co/settings", "Inference Providers", "hfbridge models", "bill_to", "HF_TOKEN",
)  # fmt: skip

SELF_HOSTED_CASES = [
    pytest.param((400, HFBadRequestError, "may not support every OpenAI parameter"), id="400"),
    pytest.param((401, HFAuthenticationError, "key it expects as token="), id="401"),
    pytest.param((402, HFPaymentRequiredError, "account behind its key"), id="402"),
    pytest.param((403, HFPermissionError, "check the key"), id="403"),
    pytest.param((404, HFNotFoundError, "GET <base_url>/models"), id="404"),
    pytest.param((500, HFServerError, "check its log"), id="500"),
    pytest.param((503, HFServerError, "check its log"), id="503"),
]  # fmt: skip


@pytest.mark.parametrize("case", SELF_HOSTED_CASES)
def test_a_self_hosted_server_gets_advice_about_itself_not_the_router(harness, case):
    status, cls, advice = case
    script = Script(reply(status, {"error": "the server's own words"}))
    with pytest.raises(HFError) as caught:
        harness.request(
            script, client={"base_url": SELF_HOSTED}, context=CallContext(model="local"),
            max_retries=0,
        )  # fmt: skip
    message = str(caught.value)
    assert type(caught.value) is cls
    assert "the server's own words" in message
    assert advice in message
    for router_advice in ROUTER_ONLY_ADVICE:
        assert router_advice not in message


def test_the_hub_endpoint_host_keeps_the_hugging_face_advice(harness, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.internal.example")
    script = Script(reply(401, {"error": "Invalid credentials"}))
    with pytest.raises(HFAuthenticationError) as caught:
        harness.request(script, "GET", "https://hub.internal.example/api/models", max_retries=0)
    assert "HF_TOKEN" in str(caught.value)


def test_a_loading_model_on_a_self_hosted_server_still_states_the_wait(harness):
    body = {"error": "Model is currently loading", "estimated_time": 12.0}
    with pytest.raises(HFModelLoadingError) as caught:
        harness.request(Script(reply(503, body)), client={"base_url": SELF_HOSTED}, max_retries=0)
    assert "about 12 s" in str(caught.value)


def test_the_gated_repo_code_keeps_the_hub_advice_on_any_host(harness):
    script = Script(reply(403, {"error": "gated"}, headers={"x-error-code": "GatedRepo"}))
    with pytest.raises(HFPermissionError) as caught:
        harness.request(script, client={"base_url": SELF_HOSTED}, context=CallContext(model="o/m"))
    assert "https://huggingface.co/o/m" in str(caught.value)
