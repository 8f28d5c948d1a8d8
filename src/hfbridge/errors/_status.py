"""The errors of a non-2xx answer, one class per status (the policy: :mod:`hfbridge.errors`)."""

from __future__ import annotations

from typing import Any

from hfbridge._redact import redact_url
from hfbridge.errors._kinds import RETRIED_STATUSES, HFError


class HFStatusError(HFError):
    """The server answered with a non-success HTTP status.

    ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one (429 and 503 do).
    """

    hint: str = "Check the request, and the server message above."
    hint_without_model: str | None = None
    """Used instead of ``hint`` when the failing request named no model."""
    hint_self_hosted: str | None = None
    """Used instead of the others when the server is not Hugging Face's (a ``base_url``)."""

    def __init__(  # noqa: PLR0913 - every field is part of the diagnostic
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        url: str = "",
        model: str | None = None,
        provider: str | None = None,
        error_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id
        self.url = redact_url(url) if url else ""
        self.model = model
        self.provider = provider
        self.error_code = error_code
        self.retry_after = retry_after

    @property
    def retried(self) -> bool:
        """By status: :data:`RETRIED_STATUSES`."""
        return self.status_code in RETRIED_STATUSES

    @property
    def congestion(self) -> bool:
        """By status: 429 and 503."""
        return self.status_code in (429, 503)


class HFBadRequestError(HFStatusError):
    """400: the server rejected the request (unsupported model or parameter)."""

    hint = (
        "The server rejected the request. If the model is not served by any provider you enabled, "
        "pick another provider ('model:provider') or enable one at "
        "https://hf.co/settings/inference-providers."
    )
    hint_self_hosted = (
        "The server rejected the request: check the parameter or message the server names "
        "(a self-hosted server may not support every OpenAI parameter)."
    )


class HFAuthenticationError(HFStatusError):
    """401: the token is missing or invalid."""

    stops_batch = True
    hint = (
        "Token missing or invalid: set HF_TOKEN or pass token=... (a token with the "
        "'Make calls to Inference Providers' permission)."
    )
    hint_self_hosted = (
        "The server refused the credentials: pass the key it expects as token=... (hfbridge "
        "sends it in the Authorization header) or in default_headers."
    )


class HFPaymentRequiredError(HFStatusError):
    """402: inference credits exhausted."""

    stops_batch = True
    congestion = False  # billing: waiting does not refill an account
    hint = (
        "Credits exhausted: add credits or subscribe to PRO at https://hf.co/settings/billing, "
        "or bill an organization with bill_to=..."
    )
    hint_self_hosted = "Payment required by the server: check the account behind its key."


class HFQuotaExceededError(HFPaymentRequiredError):
    """429 with ``insufficient_quota`` (OpenAI-style): a billing limit, not a rate limit.

    A 429 like any other in status, but waiting does not refill an account: it is never retried,
    and it stops a batch like a 402. ``status_code`` stays 429, as the server sent it.
    """

    retried = False  # its status says 429, its body says billing

    hint = (
        "Quota or credits exhausted (a billing limit, not a rate limit: retrying will not help): "
        "add credits at https://hf.co/settings/billing, or bill an organization with bill_to=..."
    )
    hint_self_hosted = (
        "The account behind the key is out of quota (a billing limit, not a rate limit: retrying "
        "will not help): check its plan and billing."
    )


class HFPermissionError(HFStatusError):
    """403: gated model or a token without the needed permission."""

    stops_batch = True
    hint = (
        "Access denied: if the model is gated, accept its licence at "
        "https://huggingface.co/{model}; otherwise give the token the 'Make calls to Inference "
        "Providers' permission."
    )
    hint_without_model = (
        "Access denied: if the model is gated, accept its licence on its huggingface.co page; "
        "otherwise give the token the 'Make calls to Inference Providers' permission."
    )
    hint_self_hosted = "Access denied by the server: check the key passed as token=... or headers."


class HFNotFoundError(HFStatusError):
    """404: unknown model, route or endpoint."""

    stops_batch = True
    hint = (
        "Model or route not found: check the model id '{model}' and the base URL, "
        "or look for a served model with `hfbridge models --search <name>`."
    )
    hint_without_model = "Not found: check the URL (base_url) and the route."
    hint_self_hosted = (
        "Not found: check base_url (OpenAI-compatible roots end in /v1) and the model name the "
        "server serves (GET <base_url>/models lists them)."
    )


class HFPayloadTooLargeError(HFStatusError):
    """413: the request body is too large for the server."""

    hint = "The request body is too large: send fewer or shorter inputs per request."


class HFUnprocessableError(HFStatusError):
    """422: the server understood the request but could not process it (validation)."""

    fails_over = True
    hint = "The server could not process the input: check parameters, tools and message format."


class HFRateLimitError(HFStatusError):
    """429: rate limited; ``retry_after`` is the server's suggested wait in seconds, if any."""

    backpressure = True
    hint = "Rate limited: {retry_after}, lower concurrency, or raise max_retries."


class HFServerError(HFStatusError):
    """5xx: the server or the provider failed."""

    fails_over = True
    hint = "The server failed: retry later, raise max_retries, or pin another provider."
    hint_self_hosted: str | None = (
        "The server failed: check its log, retry later, or raise max_retries."
    )


class HFModelLoadingError(HFServerError):
    """503 with "currently loading": the model is starting; ``estimated_time`` in seconds."""

    backpressure = True
    hint = "The model is loading ({estimated_time}): retry later or raise max_retries."
    hint_self_hosted = None  # a loading model says the same on any server

    def __init__(self, message: str, *, estimated_time: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.estimated_time = estimated_time
