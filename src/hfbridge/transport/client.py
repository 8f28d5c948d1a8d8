"""The synchronous client: one request or one event stream, with auth, retries and typed errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import Unpack

from hfbridge.errors import HFError
from hfbridge.transport import _common as common
from hfbridge.transport._common import CallContext, HFResponse, JSONBody
from hfbridge.transport._fastpath import send_request
from hfbridge.transport._logs import log_retry
from hfbridge.transport._pool import new_sync_client, shared_sync_client
from hfbridge.transport.config import ClientConfig, ClientSettings
from hfbridge.transport.jobs import BulkJob, current_job
from hfbridge.transport.limiter import Limiter, limiter_for, outcome_of
from hfbridge.transport.retry import RetryPolicy, compute_wait, is_backpressure, is_retryable
from hfbridge.transport.sse import REQUIRE_DONE, EventParser, StreamEndRule, iter_events

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx

if TYPE_CHECKING:
    from tenacity import Retrying

FIRST_TRY, RETRY = False, True  # what a retry loop tells its ``send``
_NO_CONTEXT = CallContext()
_T = TypeVar("_T")


class EventStream:
    """Iterator over the JSON events of one server-sent-event stream.

    ``headers`` and ``request_id`` are set once the answer has arrived (before the first event).
    A stream that breaks after its first event raises :class:`~hfbridge.errors.HFStreamError`;
    it is never presented as complete.
    """

    def __init__(self, events: Iterator[Any]) -> None:
        self._events = events
        self.headers: Mapping[str, str] = {}
        self.request_id: str | None = None

    def __iter__(self) -> Iterator[Any]:
        return self._events

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        """Stop reading and release the connection."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class HFClient:
    """Synchronous client for the router, the Hub API and any HF-compatible endpoint.

    Instances are cheap: connections come from a process-wide pool shared by every client with the
    same TLS settings, unless you inject ``http_client`` (used as is, never closed by hfbridge) or
    ``transport`` (e.g. ``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Unpack[ClientSettings],
    ) -> None:
        self.config = ClientConfig.resolve(config, **settings)
        self._owned: httpx.Client | None = None
        self._injected = http_client
        if http_client is None and transport is not None:
            self._owned = new_sync_client(self.config.verify, transport)
        self._sleep = sleep
        self._retryers: dict[RetryPolicy, Retrying] = {}

    def __repr__(self) -> str:
        return f"HFClient({self.config!r})"

    @property
    def http(self) -> httpx.Client:
        """The httpx client requests go through."""
        return self._injected or self._owned or shared_sync_client(self.config.verify)

    def _retrying(self, max_retries: int | None) -> Retrying:
        policy = self.config.retry.with_max_retries(max_retries)
        retrying = self._retryers.get(policy)
        if retrying is None:
            from hfbridge.transport._retrying import sync_retrying  # noqa: PLC0415 - see there

            retrying = sync_retrying(policy, self._sleep)
            self._retryers[policy] = retrying
        return retrying

    def request(  # noqa: PLR0913 - one request's parts
        self,
        method: str,
        url: str,
        *,
        json: JSONBody = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        context: CallContext = _NO_CONTEXT,
    ) -> HFResponse:
        """Send one request (retried per the policy) and return its successful answer.

        ``url`` is absolute or relative to ``base_url``. Non-2xx answers raise the typed
        :class:`~hfbridge.errors.HFStatusError` subclass for their status.
        """
        request = common.build_request(
            self.http, self.config, method, url,
            json_body=json, params=params, headers=headers, timeout=timeout,
        )  # fmt: skip
        full_url = common.absolute_url(self.config, url)
        limiter = limiter_for(full_url, context.model, context.provider)
        return self._with_retries(
            lambda retry: self._send(request, context, limiter, retry), max_retries
        )

    def _with_retries(self, send: Callable[[bool], _T], max_retries: int | None) -> _T:
        """``send(retry)``, retried per the policy; tenacity only steps in after a failed first try.

        Most calls succeed at once, and skipping tenacity's machinery for them saved about 40 us
        per ``ChatHF.invoke`` (BENCHMARKS.md). A failed first try becomes tenacity's first
        attempt, so waits, logs and the attempt count are as if it had run them all. ``send`` is
        told whether it is a retry (which has waited out any ``Retry-After`` already). Inside a
        bulk job (:func:`~hfbridge.transport.jobs.bulk_job`), :func:`_bulk_retries` decides.
        """
        policy = self.config.retry.with_max_retries(max_retries)  # a bad count fails here
        try:
            return send(FIRST_TRY)
        except HFError as first_failure:
            failed: HFError = first_failure
        pending: HFError | None = failed
        job = current_job()
        if job is not None:
            return _bulk_retries(send, policy, job, failed, self._sleep)
        for attempt in self._retrying(max_retries):
            with attempt:
                if pending is not None:
                    replayed, pending = pending, None
                    raise replayed
                return send(RETRY)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _send(
        self, request: httpx.Request, context: CallContext, limiter: Limiter, retry: bool
    ) -> HFResponse:
        job = current_job()
        ticket = limiter.acquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = send_request(self.http, request)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "other")
            raise common.transport_error(exc, request.method, str(request.url), context) from exc
        except BaseException:
            limiter.release(ticket, "other")
            raise
        try:
            answer = common.answer(response, context)
        except HFError as error:
            limiter.release(ticket, *outcome_of(error))
            raise
        limiter.release(ticket, "ok")
        return answer

    def stream(  # noqa: PLR0913 - one request's parts
        self,
        method: str,
        url: str,
        *,
        json: JSONBody = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        context: CallContext = _NO_CONTEXT,
        end: StreamEndRule = REQUIRE_DONE,
    ) -> EventStream:
        """Open a server-sent-event stream and iterate its JSON events.

        ``[DONE]`` ends the stream. A body that ends without it is judged by ``end``, the route's
        :class:`~hfbridge.transport.sse.StreamEndRule` (by default only ``[DONE]`` completes a
        stream); an incomplete one raises :class:`~hfbridge.errors.HFStreamError` after its last
        event. The request is retried only until its first event is handed out.
        """
        request = common.build_request(
            self.http, self.config, method, url,
            json_body=json, params=None, headers=headers, timeout=timeout,
        )  # fmt: skip
        stream = EventStream(iter(()))
        stream._events = self._events(stream, request, max_retries, context, end)  # noqa: SLF001
        return stream

    def _open(
        self, request: httpx.Request, context: CallContext, limiter: Limiter, retry: bool
    ) -> tuple[httpx.Response, EventParser, Iterator[str], str | None]:
        # A stream holds its slot until its first event (or its error) has arrived.
        job = current_job()
        ticket = limiter.acquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = send_request(self.http, request, stream=True)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "other")
            raise common.transport_error(exc, request.method, str(request.url), context) from exc
        except BaseException:
            limiter.release(ticket, "other")
            raise
        try:
            parser, payloads, first = _start_events(response, context)
        except httpx.HTTPError as exc:
            response.close()
            limiter.release(ticket, "other")
            raise common.transport_error(exc, request.method, str(request.url), context) from exc
        except HFError as exc:
            response.close()
            limiter.release(ticket, *outcome_of(exc))
            raise
        except BaseException:
            response.close()
            limiter.release(ticket, "other")
            raise
        limiter.release(ticket, "ok")
        return response, parser, payloads, first

    def _events(
        self,
        stream: EventStream,
        request: httpx.Request,
        max_retries: int | None,
        context: CallContext,
        end: StreamEndRule,
    ) -> Iterator[Any]:
        url = str(request.url)
        limiter = limiter_for(url, context.model, context.provider)
        response, parser, payloads, first = self._with_retries(
            lambda retry: self._open(request, context, limiter, retry), max_retries
        )
        stream.headers = response.headers
        stream.request_id = common.request_id_of(response.headers)
        received = 0
        state, step = end.start, end.step
        try:
            if first is not None:
                received += 1
                event = common.parse_event(first, url)
                state = step(state, event)
                yield event
            for payload in payloads:
                received += 1
                event = common.parse_event(payload, url)
                state = step(state, event)
                yield event
        except httpx.HTTPError as exc:
            raise common.stream_broken(exc, url, received) from exc
        finally:
            response.close()
        if not parser.done and not end.finished(state):
            raise common.stream_cut(url, received, end.expects)

    def close(self) -> None:
        """Close connections this client owns (never the shared pool or an injected client)."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> HFClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _bulk_retries(
    send: Callable[[bool], _T],
    policy: RetryPolicy,
    job: BulkJob,
    error: HFError,
    sleep: Callable[[float], None],
) -> _T:
    """Retries inside a bulk job: backpressure until the deadline, other errors per ``policy``."""
    attempt, budget = 1, policy.max_retries
    while True:
        wait = bulk_wait(policy, job, error, attempt, budget)
        if wait is None:
            raise error
        if not is_backpressure(error):
            budget -= 1
        log_retry(attempt, error, wait)
        sleep(wait)
        attempt += 1
        try:
            return send(RETRY)
        except HFError as exc:
            error = exc


def bulk_wait(
    policy: RetryPolicy, job: BulkJob, error: HFError, attempt: int, budget: int
) -> float | None:
    """The wait before the next try of a bulk job's request, or ``None``: give up with ``error``.

    A 429/503 is retried while the deadline allows (and counted on the job); another retryable
    error only while ``budget`` (retries left of ``max_retries``) lasts.
    """
    if is_backpressure(error):
        job.note_backpressure()
    elif budget <= 0 or not is_retryable(error):
        return None
    wait = compute_wait(policy, attempt, error)
    return wait if wait < job.remaining() else None


def _start_events(
    response: httpx.Response, context: CallContext
) -> tuple[EventParser, Iterator[str], str | None]:
    """Check that ``response`` is an event stream and read up to its first event."""
    if common.not_a_stream(response):
        raise common.not_a_stream_error(response, response.read(), context)
    parser = EventParser()
    payloads = iter_events(response.iter_bytes(), parser)
    return parser, payloads, next(payloads, None)
