"""The synchronous client: one request or one event stream, with auth, retries and typed errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from time import monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import Unpack

from hfbridge.errors import HFError
from hfbridge.transport._common import (
    CallContext,
    HFResponse,
    JSONBody,
    absolute_url,
    answer,
    build_request,
    line_too_long,
    not_a_stream,
    not_a_stream_error,
    parse_event,
    request_id_of,
    stream_broken,
    stream_cut,
    stream_idle,
    transport_error,
)
from hfbridge.transport._logs import log_retry
from hfbridge.transport._pool import new_sync_client, shared_sync_client
from hfbridge.transport._send import read_body, send_request
from hfbridge.transport._timing import Deadline, DeadlineExpired
from hfbridge.transport.config import ClientConfig, ClientSettings, validate_timeout
from hfbridge.transport.jobs import BulkJob, current_job
from hfbridge.transport.limiter import Limiter, limiter_for, outcome_of
from hfbridge.transport.retry import RetryPolicy, compute_wait, is_backpressure, is_retryable
from hfbridge.transport.sse import (
    REQUIRE_DONE,
    EventParser,
    LineTooLong,
    StreamEndRule,
    iter_events,
)

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

    def __copy__(self) -> HFClient:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> HFClient:
        # A client is a handle on connection pools (locks, sockets): a copy of a model that holds
        # one shares it, as it shares the process-wide pools.
        return self

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
        request = build_request(
            self.http, self.config, method, url,
            json_body=json, params=params, headers=headers, timeout=timeout,
        )  # fmt: skip
        limiter = limiter_for(absolute_url(self.config, url), context.model, context.provider)
        return self._with_retries(
            lambda retry: self._send(request, context, limiter, retry), max_retries, limiter
        )

    def _with_retries(
        self, send: Callable[[bool], _T], max_retries: int | None, limiter: Limiter | None = None
    ) -> _T:
        """``send(retry)``, retried per the policy; tenacity only steps in after a failed first try.

        Most calls succeed at once, and skipping tenacity's machinery for them saved about 40 us
        per ``ChatHF.invoke`` (BENCHMARKS.md). A failed first try becomes tenacity's first
        attempt, so waits, logs and the attempt count are as if it had run them all. ``send`` is
        told whether it is a retry (which has waited out any ``Retry-After`` already). Inside a
        bulk job (:func:`~hfbridge.transport.jobs.bulk_job`), :func:`_bulk_retries` decides, asking
        ``limiter`` (the request's key) how long a 429 waits.
        """
        policy = self.config.retry.with_max_retries(max_retries)  # a bad count fails here
        try:
            return send(FIRST_TRY)
        except HFError as first_failure:
            failed: HFError = first_failure
        pending: HFError | None = failed
        job = current_job()
        if job is not None:
            return _bulk_retries(send, policy, job, failed, self._sleep, limiter=limiter)
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
            response = send_request(self.http, request, max_body_bytes=self.config.max_body_bytes)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "unanswered")
            raise transport_error(exc, request.method, str(request.url), context) from exc
        except BaseException:
            limiter.release(ticket, "unanswered")
            raise
        try:
            answer_ = answer(response, context)
        except HFError as error:
            limiter.release(ticket, *outcome_of(error))
            raise
        limiter.release(ticket, "ok")
        return answer_

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
        idle_timeout: float | None = None,
    ) -> EventStream:
        """Open a server-sent-event stream and iterate its JSON events.

        ``[DONE]`` ends the stream. A body that ends without it is judged by ``end``, the route's
        :class:`~hfbridge.transport.sse.StreamEndRule` (by default only ``[DONE]`` completes a
        stream); an incomplete one raises :class:`~hfbridge.errors.HFStreamError` after its last
        event. The request is retried only until its first event is handed out. ``idle_timeout``
        (default: the config's ``stream_idle_timeout``) bounds the wait for each event; keep-alive
        comments do not count.
        """
        idle = (
            self.config.idle_timeout
            if idle_timeout is None
            else validate_timeout(idle_timeout, what="stream_idle_timeout")
        )
        request = build_request(
            self.http, self.config, method, url,
            json_body=json, params=None, headers=headers, timeout=timeout,
        )  # fmt: skip
        stream = EventStream(iter(()))
        stream._events = self._events(  # noqa: SLF001
            stream, request, max_retries=max_retries, context=context, end=end, idle=idle
        )
        return stream

    def _open(
        self,
        request: httpx.Request,
        context: CallContext,
        limiter: Limiter,
        retry: bool,
        idle: float,
    ) -> tuple[httpx.Response, EventParser, Iterator[str], str | None, Deadline]:
        # A stream holds its slot until its first event (or its error) has arrived.
        url = str(request.url)
        job = current_job()
        ticket = limiter.acquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = send_request(self.http, request, stream=True)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "unanswered")
            raise transport_error(exc, request.method, url, context) from exc
        except BaseException:
            limiter.release(ticket, "unanswered")
            raise
        deadline = _deadline_of(request)
        try:
            parser, payloads, first = _start_events(response, context, self.config, deadline, idle)
        except BaseException as exc:
            response.close()
            expired = isinstance(exc, (DeadlineExpired, httpx.TimeoutException))
            error = opening_error(
                exc, request, context, idle, idle_expired=expired and deadline.expired()
            )
            limiter.release(ticket, *(outcome_of(error) if error is not None else ("other",)))
            if error is None:
                raise
            raise error from (exc if isinstance(exc, httpx.HTTPError) else None)
        limiter.release(ticket, "ok")
        return response, parser, payloads, first, deadline

    def _events(  # noqa: PLR0913 - the stream's parts
        self,
        stream: EventStream,
        request: httpx.Request,
        *,
        max_retries: int | None,
        context: CallContext,
        end: StreamEndRule,
        idle: float,
    ) -> Iterator[Any]:
        url = str(request.url)
        limiter = limiter_for(url, context.model, context.provider)
        response, parser, payloads, first, deadline = self._with_retries(
            lambda retry: self._open(request, context, limiter, retry, idle), max_retries, limiter
        )
        stream.headers = response.headers
        stream.request_id = request_id_of(response.headers)
        received = 0
        state, step = end.start, end.step
        try:
            if first is not None:
                received += 1
                event = parse_event(first, url)
                state = step(state, event)
                yield event
            deadline.set(idle, "event")  # then moved per event (the attributes, not a call)
            while True:
                deadline.at = monotonic() + idle
                payload = next(payloads, None)
                if payload is None:
                    break
                received += 1
                event = parse_event(payload, url)
                state = step(state, event)
                yield event
        except (DeadlineExpired, httpx.TimeoutException) as exc:
            if not deadline.expired() and isinstance(exc, httpx.TimeoutException):
                raise stream_broken(exc, url, received) from exc
            raise stream_idle(url, received, idle) from None
        except httpx.HTTPError as exc:
            raise stream_broken(exc, url, received) from exc
        except LineTooLong as exc:
            raise line_too_long(url, exc.limit) from None
        finally:
            deadline.clear()
            response.close()
        if not parser.done and not end.finished(state):
            raise stream_cut(url, received, end.expects)

    def close(self) -> None:
        """Close connections this client owns (never the shared pool or an injected client)."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> HFClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _bulk_retries(  # noqa: PLR0913 - the retry loop's state
    send: Callable[[bool], _T],
    policy: RetryPolicy,
    job: BulkJob,
    error: HFError,
    sleep: Callable[[float], None],
    *,
    limiter: Limiter | None = None,
) -> _T:
    """Retries inside a bulk job: backpressure until the deadline, other errors per ``policy``."""
    attempt, budget = 1, policy.max_retries
    while True:
        wait = bulk_wait(policy, job, error, attempt, budget, limiter=limiter)
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


def bulk_wait(  # noqa: PLR0913 - the retry loop's state
    policy: RetryPolicy, job: BulkJob, error: HFError, attempt: int, budget: int, *,
    limiter: Limiter | None = None,
) -> float | None:  # fmt: skip
    """The wait before the next try of a bulk job's request, or ``None``: give up with ``error``.

    A 429/503 is retried while the deadline allows (and counted on the job); another retryable
    error only while ``budget`` (retries left of ``max_retries``) lasts. A wait that would end
    past the deadline gives up at once rather than sleeping into it. ``limiter`` (the request's
    key) may shorten a 429's wait to 0: its pacer spaces the retry (:meth:`Limiter.retry_wait`).
    """
    if is_backpressure(error):
        job.note_backpressure()
    elif budget <= 0 or not is_retryable(error, policy):
        return None
    wait = compute_wait(policy, attempt, error)
    if limiter is not None:
        wait = limiter.retry_wait(error, wait)
    return wait if wait < job.remaining() else None


def _deadline_of(request: httpx.Request) -> Deadline:
    """The :class:`Deadline` ``send_request`` gave ``request`` (a detached one without)."""
    read = (request.extensions.get("timeout") or {}).get("read")
    return read if isinstance(read, Deadline) else Deadline(0.0)


def opening_error(
    exc: BaseException, request: httpx.Request, context: CallContext, idle: float, *,
    idle_expired: bool,
) -> HFError | None:  # fmt: skip
    """The typed error for a failure before a stream's first event (``None``: raise it as is).

    ``idle_expired``: the wait for the first event outlasted ``idle`` (sync and async tell it
    their own way).
    """
    url = str(request.url)
    if idle_expired:
        return stream_idle(url, 0, idle)
    if isinstance(exc, httpx.HTTPError):
        return transport_error(exc, request.method, url, context)
    if isinstance(exc, LineTooLong):
        return line_too_long(url, exc.limit)
    return exc if isinstance(exc, HFError) else None


def _start_events(
    response: httpx.Response,
    context: CallContext,
    config: ClientConfig,
    deadline: Deadline,
    idle: float,
) -> tuple[EventParser, Iterator[str], str | None]:
    """Check that ``response`` is an event stream and read up to its first event."""
    if not_a_stream(response):
        body = read_body(response, config.max_body_bytes)
        raise not_a_stream_error(response, body, context)
    parser = EventParser(config.max_line_bytes)
    payloads = iter_events(response.iter_bytes(), parser, deadline)
    deadline.set(idle, "event")
    return parser, payloads, next(payloads, None)
