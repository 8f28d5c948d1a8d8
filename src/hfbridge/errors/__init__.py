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

from hfbridge.errors._kinds import (
    RETRIED_STATUSES,
    HFBatchError,
    HFCapabilityError,
    HFConfigError,
    HFConnectionError,
    HFError,
    HFResponseError,
    HFResponseTooLargeError,
    HFStreamError,
    HFTimeoutError,
)
from hfbridge.errors._reading import (
    config_error_from,
    error_from_response,
    extract_error_message,
    request_id_from,
)
from hfbridge.errors._status import (
    HFAuthenticationError,
    HFBadRequestError,
    HFModelLoadingError,
    HFNotFoundError,
    HFPayloadTooLargeError,
    HFPaymentRequiredError,
    HFPermissionError,
    HFQuotaExceededError,
    HFRateLimitError,
    HFServerError,
    HFStatusError,
    HFUnprocessableError,
)

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

# The classes are shown, and pickled, under the name users import them by.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        _value.__module__ = __name__
del _name, _value
