"""The errors that are not an HTTP status (the policy: :mod:`hfbridge.errors`).

The base class, bad input, no answer, a broken stream or body, a batch with failed items.
"""

from __future__ import annotations

from typing import Any, Final

from hfbridge._redact import redact

_MAX_BODY_IN_MESSAGE = 500

RETRIED_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses the transport sends again (a 503 "model is loading" included)."""


class HFError(Exception):
    """Base class of every error hfbridge raises.

    ``retried``, ``fails_over`` and ``stops_batch`` are the error policy (module docstring).
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception pickles only ``args``; the subclasses' keyword-only fields (status_code,
        # failed_indices, ...) would make unpickling fail, e.g. an error leaving a Ray actor.
        return _rebuild, (type(self), self.args, self.__dict__)

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


def _rebuild(cls: type[HFError], args: tuple[Any, ...], state: dict[str, Any]) -> HFError:
    """An unpickled error: its message and fields as they were, without calling ``__init__``."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
