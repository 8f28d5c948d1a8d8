"""The errors hfbridge raises, and how an HTTP answer becomes one.

Every error says what failed, why, and what to do. None ever contains the token.

::

    HFError
    ├── HFConfigError            bad input, caught before any request (also a ValueError)
    │   └── HFCapabilityError    the model/provider cannot do what the call needs (tools, schema)
    ├── HFConnectionError        the request never got an answer
    │   └── HFTimeoutError       connect / pool / write / read timeout, or a stream gone idle
    ├── HFStreamError            a stream broke after it started, or carried an error event
    ├── HFResponseError          a 2xx answer whose body cannot be understood (or a bad redirect)
    │   └── HFResponseTooLargeError  a body or stream line past its size cap
    ├── HFBatchError             some items of a batched job failed (failed_indices, errors)
    └── HFStatusError            a non-2xx answer (status, body, request_id, model, provider, url)
        ├── HFBadRequestError        400
        ├── HFAuthenticationError    401
        ├── HFPaymentRequiredError   402 (credits exhausted)
        │   └── HFQuotaExceededError 429 insufficient_quota: a billing limit, never retried
        ├── HFPermissionError        403 (gated model, token lacks a permission)
        ├── HFNotFoundError          404
        ├── HFPayloadTooLargeError   413
        ├── HFUnprocessableError     422
        ├── HFRateLimitError         429 (retry_after)
        └── HFServerError            5xx
            └── HFModelLoadingError  503 "model is loading" (estimated_time)

The error policy, on this screen: properties of every error, read by the transport (``retried``:
it sends the request again, within ``max_retries``; ``backpressure``: inside a bulk job it waits
and retries until the job's deadline instead; ``congestion``: the adaptive limiter cuts its
window), the route loop of :mod:`hfbridge.inference.service` (``fails_over``: another provider may
succeed, so the next target is tried) and bulk jobs (``stops_batch``: the error would fail every
request of the job, so no new request is sent)::

                            retried  backpressure  congestion  fails_over  stops_batch
    connection              yes      -             -           -           -
    timeout, not yet sent   yes      -             -           -           -
    read timeout, sent      -        -             -           -           -
    408                     yes      -             -           -           -
    401, 402, 403, 404      -        -             -           -           yes
    422                     -        -             -           yes         -
    429 (HFRateLimitError)  yes      yes           yes         -           -
    429 insufficient_quota  -        -             -           -           yes (billing)
    500, 502, 504           yes      -             -           yes         -
    503                     yes      -             yes         yes         -
    503 model loading       yes      yes           yes         yes         -
    other 5xx               -        -             -           yes         -
    HFStreamError           -        -             -           422/5xx event -
    HFResponseError         -        -             -           422/5xx upstream -
    everything else         -        -             -           -           -

(``retried`` by status: :data:`RETRIED_STATUSES`. The retry policy adds two rules, in
:func:`hfbridge.transport.retry.is_retryable`: a read timeout of a request already sent is retried
with ``RetryPolicy(retry_read_timeouts=True)``, and a server asking to wait longer than
``wait_cap`` is not retried.)

Change a treatment here and nowhere else: e.g. ``HFRateLimitError.fails_over = True`` would send a
rate-limited call to the next capable provider.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from hfbridge._constants import ERROR_CODE_HEADER, ERROR_MESSAGE_HEADER, REQUEST_ID_HEADERS
from hfbridge._redact import redact, redact_url

__all__ = [
    "RETRIED_STATUSES",
    "HFAuthenticationError",
    "HFBadRequestError",
    "HFBatchError",
    "HFCapabilityError",
    "HFConfigError",
    "HFConnectionError",
    "HFError",
    "HFModelLoadingError",
    "HFNotFoundError",
    "HFPayloadTooLargeError",
    "HFPaymentRequiredError",
    "HFPermissionError",
    "HFQuotaExceededError",
    "HFRateLimitError",
    "HFResponseError",
    "HFResponseTooLargeError",
    "HFServerError",
    "HFStatusError",
    "HFStreamError",
    "HFTimeoutError",
    "HFUnprocessableError",
    "config_error_from",
    "error_from_response",
    "extract_error_message",
    "request_id_from",
]

_MAX_BODY_IN_MESSAGE = 500

RETRIED_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses the transport sends again (a 503 "model is loading" included)."""


class HFError(Exception):
    """Base class of every error hfbridge raises.

    ``retried``, ``fails_over`` and ``stops_batch`` are the error policy (module docstring).
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def retried(self) -> bool:
        """Whether the transport sends the request again after this error."""
        return False

    @property
    def fails_over(self) -> bool:
        """Whether another provider may succeed: a routed call tries its next target."""
        return False

    @property
    def stops_batch(self) -> bool:
        """Whether every request of a job would fail the same way: a batch sends no more."""
        return False

    @property
    def backpressure(self) -> bool:
        """Whether the server asks to wait (a bulk job retries until its deadline)."""
        return False

    @property
    def congestion(self) -> bool:
        """Whether the server is overloaded or rate-limiting (the adaptive limiter backs off)."""
        return False

    @property
    def message(self) -> str:
        """The error's text (already redacted)."""
        return str(self.args[0]) if self.args else ""


class HFConfigError(HFError, ValueError):
    """Invalid configuration or input, detected before any request was sent."""


class HFCapabilityError(HFConfigError):
    """The catalog says the model (or the pinned provider) lacks a capability the call needs.

    Attributes:
        model: the model id.
        provider: the pinned provider, if any.
        capability: what is missing (``"tool calling"``, ``"structured output"``, ``"context"``).
        capable_providers: live providers of the model that do have it (may be empty).
    """

    def __init__(
        self,
        message: str,
        *,
        model: str,
        provider: str | None = None,
        capability: str = "",
        capable_providers: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.model = model
        self.provider = provider
        self.capability = capability
        self.capable_providers = capable_providers


class HFConnectionError(HFError):
    """The request did not get an HTTP answer (DNS, refused, reset, TLS, protocol error)."""

    retried = True


class HFTimeoutError(HFConnectionError):
    """The request took longer than the configured timeout.

    Attributes:
        kind: ``"connect"``, ``"pool"`` (waiting for a free connection), ``"write"`` (sending the
            request), ``"read"`` (waiting for the answer's headers or its next bytes) or
            ``"idle"`` (a stream sent no event for ``stream_idle_timeout`` seconds).
        request_sent: whether the whole request had been sent: the server may be working on it
            (a generation is billed), so such a timeout is not retried by default.
    """

    def __init__(self, message: str, *, kind: str = "read", request_sent: bool = True) -> None:
        super().__init__(message)
        self.kind = kind
        self.request_sent = request_sent

    @property
    def retried(self) -> bool:  # type: ignore[override]
        """Connect, pool and write timeouts: yes; a read timeout once the request was sent: no.

        ``RetryPolicy(retry_read_timeouts=True)`` retries those too (``transport.retry``).
        """
        return not self.request_sent


class HFStreamError(HFError):
    """A stream failed after it started, or the server sent an error event inside it.

    The partial output received so far is never returned as if it were complete.
    """

    def __init__(
        self, message: str, *, error_type: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status_code = status_code

    @property
    def fails_over(self) -> bool:
        """An error event opening a stream fails over as its status would."""
        status = self.status_code
        return status is not None and (status == 422 or status >= 500)  # noqa: PLR2004


class HFResponseError(HFError):
    """The server answered with success, but the body is not what the route promises.

    ``status_code`` is the status of the provider behind the server when the body reports one: the
    Hugging Face router answers a Responses call whose provider failed with HTTP 200 and
    ``status: "failed"`` (``"500 ..."`` in its message), which fails over as that status would.
    """

    def __init__(
        self,
        message: str,
        *,
        body: str = "",
        request_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.body = redact(body)[:_MAX_BODY_IN_MESSAGE]
        self.request_id = request_id
        self.status_code = status_code

    @property
    def fails_over(self) -> bool:
        """A failure the body blames on the provider (422, 5xx) fails over as that status would."""
        status = self.status_code
        return status is not None and (status == 422 or status >= 500)  # noqa: PLR2004


class HFResponseTooLargeError(HFResponseError):
    """An answer exceeded a size cap; nothing partial is returned.

    The cap is ``max_body_bytes`` for a (decoded) body, ``max_line_bytes`` for one line of an
    event stream.

    Attributes:
        limit: the cap, in bytes.
        setting: the :class:`~hfbridge.transport.ClientConfig` field that sets it.
    """

    def __init__(self, message: str, *, limit: int, setting: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.setting = setting


class HFBatchError(HFError):
    """Items of a batched job (e.g. embeddings) got no result; nothing partial is returned.

    Attributes:
        failed_indices: sorted input positions without a result: those whose request failed after
            retries and, after an error that fails every request (401, 402, 403, 404), those
            never sent.
        errors: the error of the request that carried each failed position (positions never sent
            are absent). The first error is also chained as ``__cause__``.
        total: how many items the job had.
    """

    def __init__(
        self,
        message: str,
        *,
        failed_indices: list[int],
        errors: dict[int, HFError],
        total: int,
    ) -> None:
        super().__init__(message)
        self.failed_indices = failed_indices
        self.errors = errors
        self.total = total


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


_BY_STATUS: dict[int, type[HFStatusError]] = {
    400: HFBadRequestError,
    401: HFAuthenticationError,
    402: HFPaymentRequiredError,
    403: HFPermissionError,
    404: HFNotFoundError,
    413: HFPayloadTooLargeError,
    422: HFUnprocessableError,
    429: HFRateLimitError,
}


def _decode_body(body: bytes | str, content_type: str) -> tuple[Any, str]:
    """Return ``(parsed JSON or None, text)``; HTML pages are reduced to their title."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    looks_html = text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
    if "html" in content_type.lower() or looks_html:
        start, end = text.lower().find("<title>"), text.lower().find("</title>")
        title = text[start + 7 : end].strip() if 0 <= start < end else "HTML error page"
        return None, f"{title} (HTML page, probably from a proxy or gateway)"
    try:
        return json.loads(text), text
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser allows
        return None, text.strip()


def extract_error_message(parsed: Any, text: str = "") -> str:
    """Pull a human-readable message out of any error body shape the HF services send."""
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("msg") or json.dumps(error)[:200])
        if isinstance(error, str):
            description = parsed.get("error_description")
            return f"{error}: {description}" if description else error
        for key in ("error", "errors", "detail", "message"):
            value = parsed.get(key)
            if isinstance(value, list) and value:  # lists of problems (FastAPI's "detail")
                return "; ".join(_validation_problem(item) for item in value)
        for key in ("message", "detail"):
            if parsed.get(key):
                return str(parsed[key])
    return text[:_MAX_BODY_IN_MESSAGE]


def config_error_from(error: ValueError, owner: str) -> HFConfigError:
    """The :class:`HFConfigError` for a validation error of ``owner``'s settings.

    pydantic's ``ValidationError`` (duck-typed: anything with ``errors()``) is rewritten field by
    field; a rejected value is shown only when it is a number, a flag or ``None`` (a string may be
    a key).
    """
    items = error.errors() if callable(getattr(error, "errors", None)) else None  # type: ignore[attr-defined]
    if not isinstance(items, list):
        return HFConfigError(f"{owner} got an invalid setting: {error}")
    parts = []
    for item in items:
        where = ".".join(str(part) for part in item.get("loc", ())) or "a setting"
        value = item.get("input")
        shown = repr(value) if value is None or isinstance(value, (bool, int, float)) else (
            f"a {type(value).__name__}"
        )
        parts.append(f"{where}: {item.get('msg', 'invalid')} (got {shown})")
    return HFConfigError(f"{owner} got an invalid setting: {'; '.join(parts)}.")


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The first request-id header the server sent (redacted: a server may echo the token there).

    ``headers`` must have lower-case keys (httpx's and aiohttp's headers match any case).
    """
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return redact(value)
    return None


def _validation_problem(item: Any) -> str:
    """One listed problem; a FastAPI one as ``body.messages: Field required`` (input left out)."""
    if not isinstance(item, dict):
        return str(item)
    location = item.get("loc")
    where = ".".join(map(str, location)) if isinstance(location, list) else ""
    message = item.get("msg") or item.get("message") or json.dumps(item)[:200]
    return f"{where}: {message}" if where else str(message)


_QUOTA_CODES = frozenset({"insufficient_quota"})


def _is_quota_exhausted(parsed: Any) -> bool:
    """Whether a body says "insufficient_quota" (OpenAI's code for an exhausted billing quota)."""
    if not isinstance(parsed, dict):
        return False
    error = parsed.get("error")
    fields = error if isinstance(error, dict) else parsed
    # ``in`` on a frozenset hashes its operand: a list or an object as the code is no quota code
    return any(
        isinstance(fields.get(key), str) and fields[key] in _QUOTA_CODES for key in ("code", "type")
    )


def _redact_json(value: Any) -> Any:
    """``value`` with every string redacted; walking it keeps the JSON valid whatever the secret."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_json(item) for item in value]
    if isinstance(value, dict):
        return {redact(str(key)): _redact_json(item) for key, item in value.items()}
    return value


def _number(value: Any) -> float | None:
    """A finite, non-negative number of seconds, else ``None`` (a server's "-3", "nan", "inf")."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _hint(cls: type[HFStatusError], *, self_hosted: bool, **values: Any) -> str:
    if self_hosted and cls.hint_self_hosted:
        return cls.hint_self_hosted
    if values.get("model") is None and cls.hint_without_model:
        return cls.hint_without_model
    if isinstance(values.get("model"), str):
        values["model"] = values["model"].split(":")[0]  # the repo, without ':provider'
    filled = {key: (value if value is not None else "unknown") for key, value in values.items()}
    retry_after, estimated = values.get("retry_after"), values.get("estimated_time")
    filled["retry_after"] = (
        f"retry after {retry_after:.0f} s" if isinstance(retry_after, float) else "retry later"
    )
    filled["estimated_time"] = (
        f"about {estimated:.0f} s" if isinstance(estimated, float) else "no estimate given"
    )
    return cls.hint.format(**filled)


def error_from_response(  # noqa: PLR0913 - all are diagnostic context
    *,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes | str,
    method: str,
    url: str,
    model: str | None = None,
    provider: str | None = None,
    retry_after: float | None = None,
    self_hosted: bool = False,
) -> HFStatusError:
    """Build the typed error for a non-2xx answer. ``headers`` must have lower-case keys.

    ``self_hosted`` says the server is not Hugging Face's, so the advice leaves out the router's
    providers, credits and permissions.
    """
    parsed, text = _decode_body(body, headers.get("content-type", ""))
    # Redact before anything is cut to length, so that no fragment of a secret survives.
    text = redact(text)
    try:
        parsed = _redact_json(parsed)
    except RecursionError:  # deeper than Python's stack: keep the (redacted) text only
        parsed = None
    server_message = extract_error_message(parsed, text) or "(empty body)"
    header_message = redact(headers.get(ERROR_MESSAGE_HEADER) or "")
    if header_message and header_message not in server_message:
        server_message = f"{header_message}; {server_message}"
    request_id = request_id_from(headers)
    error_code = headers.get(ERROR_CODE_HEADER)
    error_code = redact(error_code) if error_code else None
    estimated_time = _number(parsed.get("estimated_time")) if isinstance(parsed, dict) else None

    cls: type[HFStatusError]
    loading = estimated_time is not None or "loading" in server_message.lower()
    if status_code == 503 and loading:  # noqa: PLR2004 - the one status that means "loading"
        cls = HFModelLoadingError
    elif status_code == 429 and _is_quota_exhausted(parsed):  # noqa: PLR2004 - see the class
        cls = HFQuotaExceededError
    elif status_code in _BY_STATUS:
        cls = _BY_STATUS[status_code]
    elif status_code >= 500:  # noqa: PLR2004
        cls = HFServerError
    else:
        cls = HFStatusError
    if error_code == "GatedRepo":  # the Hub's own signal: its advice holds on any host
        cls, self_hosted = HFPermissionError, False

    target = f" for model '{model}'" if model else ""
    via = f" via provider '{provider}'" if provider else ""
    message = (
        f"{method} {redact_url(url)} failed with HTTP {status_code}{target}{via}: "
        f"{server_message}. "
        + _hint(
            cls,
            self_hosted=self_hosted,
            model=model,
            retry_after=retry_after,
            estimated_time=estimated_time,
        )
    )
    if request_id:
        message += f" (request id: {request_id})"
    kwargs: dict[str, Any] = {
        "status_code": status_code,
        "body": parsed if parsed is not None else text[:_MAX_BODY_IN_MESSAGE],
        "request_id": request_id,
        "url": url,
        "model": model,
        "provider": provider,
        "error_code": error_code,
        "retry_after": retry_after,
    }
    if cls is HFModelLoadingError:
        return HFModelLoadingError(message, estimated_time=estimated_time, **kwargs)
    return cls(message, **kwargs)
