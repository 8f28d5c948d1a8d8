"""The asynchronous client: the same contract as :class:`~hfbridge.transport.client.HFClient`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from hfbridge.transport._pool import new_async_client, shared_async_client
from hfbridge.transport._send import aread_body, asend_request
from hfbridge.transport._timing import AsyncWatch, DeadlineExpired
from hfbridge.transport.client import FIRST_TRY, RETRY, bulk_wait, opening_error
from hfbridge.transport.config import ClientConfig, ClientSettings, validate_timeout
from hfbridge.transport.jobs import BulkJob, current_job
from hfbridge.transport.limiter import Limiter, limiter_for, outcome_of
from hfbridge.transport.retry import RetryPolicy, is_backpressure
from hfbridge.transport.sse import (
    REQUIRE_DONE,
    EventParser,
    LineTooLong,
    StreamEndRule,
    aiter_events,
)

if TYPE_CHECKING:
    import httpx
else:  # imported on first use (transport/_lazy.py)
    from hfbridge.transport._lazy import httpx

if TYPE_CHECKING:
    from tenacity import AsyncRetrying

_T = TypeVar("_T")

_NO_CONTEXT = CallContext()


class AsyncEventStream:
    """Async iterator over the JSON events of one server-sent-event stream.

    ``headers`` and ``request_id`` are set before the first event is yielded. Use ``async with`` or
    :meth:`aclose` when you stop early, to release the connection at once.
    """

    def __init__(self) -> None:
        self._events: AsyncIterator[Any] | None = None
        self.headers: Mapping[str, str] = {}
        self.request_id: str | None = None

    def __aiter__(self) -> AsyncIterator[Any]:
        assert self._events is not None  # noqa: S101 - set by AsyncHFClient.stream
        return self._events

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncHFClient:
    """Asynchronous client for the router, the Hub API and any HF-compatible endpoint.

    Connections come from a pool per running event loop (aiohttp underneath, for throughput),
    shared by every client and closed when the loop shuts down; so an instance is safe to use from
    several event loops in turn. Inject ``http_client`` or ``transport`` to use your own.
    """

    def __init__(
        self,
        config: ClientConfig | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **settings: Unpack[ClientSettings],
    ) -> None:
        self.config = ClientConfig.resolve(config, **settings)
        self._injected = http_client
        self._owned: httpx.AsyncClient | None = None
        if http_client is None and transport is not None:
            self._owned = new_async_client(self.config.verify, transport)
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"AsyncHFClient({self.config!r})"

    def __copy__(self) -> AsyncHFClient:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> AsyncHFClient:
        # A client is a handle on connection pools (locks, sockets): a copy of a model that holds
        # one shares it, as it shares the process-wide pools.
        return self

    async def http(self) -> httpx.AsyncClient:
        """The httpx client requests go through (the running loop's shared pool by default)."""
        return self._injected or self._owned or await shared_async_client(self.config.verify)

    def _retrying(self, max_retries: int | None) -> AsyncRetrying:
        # A fresh controller per call: AsyncRetrying keeps its attempt state on the instance, so
        # one shared by concurrent requests (coroutines on one thread) would mix their attempts.
        policy = self.config.retry.with_max_retries(max_retries)
        from hfbridge.transport._retrying import async_retrying  # noqa: PLC0415 - see there

        return async_retrying(policy, self._sleep)

    async def request(  # noqa: PLR0913 - one request's parts
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
        """Send one request (retried per the policy) and return its successful answer."""
        http = await self.http()
        request = build_request(
            http, self.config, method, url,
            json_body=json, params=params, headers=headers, timeout=timeout,
        )  # fmt: skip
        limiter = limiter_for(absolute_url(self.config, url), context.model, context.provider)
        return await self._with_retries(
            lambda retry: self._send(http, request, context, limiter, retry), max_retries, limiter
        )

    async def _with_retries(
        self, send: Callable[[bool], Awaitable[_T]], max_retries: int | None,
        limiter: Limiter | None = None,
    ) -> _T:  # fmt: skip
        """``await send(retry)``, retried per the policy (see ``HFClient._with_retries``)."""
        policy = self.config.retry.with_max_retries(max_retries)  # a bad count fails here
        try:
            return await send(FIRST_TRY)
        except HFError as first_failure:
            failed: HFError = first_failure
        pending: HFError | None = failed
        job = current_job()
        if job is not None:
            return await _abulk_retries(send, policy, job, failed, self._sleep, limiter=limiter)
        async for attempt in self._retrying(max_retries):
            with attempt:
                if pending is not None:
                    replayed, pending = pending, None
                    raise replayed
                return await send(RETRY)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send(
        self, http: httpx.AsyncClient, request: httpx.Request, context: CallContext,
        limiter: Limiter, retry: bool,
    ) -> HFResponse:  # fmt: skip
        job = current_job()
        ticket = await limiter.aacquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = await asend_request(http, request, max_body_bytes=self.config.max_body_bytes)
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
    ) -> AsyncEventStream:
        """Open a server-sent-event stream; see :meth:`HFClient.stream` for the end rule."""
        idle = (
            self.config.idle_timeout
            if idle_timeout is None
            else validate_timeout(idle_timeout, what="stream_idle_timeout")
        )
        stream = AsyncEventStream()
        stream._events = self._events(  # noqa: SLF001
            stream, method, url,
            json=json, headers=headers, timeout=timeout, max_retries=max_retries,
            context=context, end=end, idle=idle,
        )  # fmt: skip
        return stream

    async def _open(  # noqa: PLR0913 - the attempt's parts
        self, http: httpx.AsyncClient, request: httpx.Request, context: CallContext,
        limiter: Limiter, retry: bool, *, watch: AsyncWatch, idle: float,
    ) -> tuple[httpx.Response, EventParser, AsyncIterator[str], str | None]:  # fmt: skip
        # A stream holds its slot until its first event (or its error) has arrived.
        url = str(request.url)
        job = current_job()
        ticket = await limiter.aacquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = await asend_request(http, request, stream=True)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "unanswered")
            raise transport_error(exc, request.method, url, context) from exc
        except BaseException:
            limiter.release(ticket, "unanswered")
            raise
        try:
            parser, payloads = await _start_events(response, context, self.config, watch)
            first = await _next_event(payloads, watch, idle)
        except BaseException as exc:
            await response.aclose()
            expired = isinstance(exc, DeadlineExpired)
            error = opening_error(exc, request, context, idle, idle_expired=expired)
            limiter.release(ticket, *(outcome_of(error) if error is not None else ("other",)))
            if error is None:
                raise
            raise error from (exc if isinstance(exc, httpx.HTTPError) else None)
        limiter.release(ticket, "ok")
        return response, parser, payloads, first

    async def _events(  # noqa: PLR0913 - the stream's parts
        self,
        stream: AsyncEventStream,
        method: str,
        url: str,
        *,
        json: JSONBody,
        headers: Mapping[str, str] | None,
        timeout: float | None,
        max_retries: int | None,
        context: CallContext,
        end: StreamEndRule,
        idle: float,
    ) -> AsyncIterator[Any]:
        http = await self.http()
        request = build_request(
            http, self.config, method, url,
            json_body=json, params=None, headers=headers, timeout=timeout,
        )  # fmt: skip
        full_url = str(request.url)
        limiter = limiter_for(full_url, context.model, context.provider)
        watch = AsyncWatch()
        try:
            response, parser, payloads, first = await self._with_retries(
                lambda retry: self._open(
                    http, request, context, limiter, retry, watch=watch, idle=idle
                ),
                max_retries,
                limiter,
            )
        except BaseException:
            watch.close()
            raise
        stream.headers = response.headers
        stream.request_id = request_id_of(response.headers)
        received = 0
        state, step = end.start, end.step
        try:
            payload = first
            while payload is not None:
                received += 1
                event = parse_event(payload, full_url)
                state = step(state, event)
                yield event
                payload = await _next_event(payloads, watch, idle)
        except DeadlineExpired:
            raise stream_idle(full_url, received, idle) from None
        except httpx.HTTPError as exc:
            raise stream_broken(exc, full_url, received) from exc
        except LineTooLong as exc:
            raise line_too_long(full_url, exc.limit) from None
        finally:
            watch.close()
            await response.aclose()
        if not parser.done and not end.finished(state):
            raise stream_cut(full_url, received, end.expects)

    async def aclose(self) -> None:
        """Close connections this client owns (never the shared pool or an injected client)."""
        if self._owned is not None:
            await self._owned.aclose()

    async def __aenter__(self) -> AsyncHFClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _abulk_retries(  # noqa: PLR0913 - the retry loop's state
    send: Callable[[bool], Awaitable[_T]],
    policy: RetryPolicy,
    job: BulkJob,
    error: HFError,
    sleep: Callable[[float], Awaitable[None]],
    *,
    limiter: Limiter | None = None,
) -> _T:
    """Async form of :func:`hfbridge.transport.client._bulk_retries`."""
    attempt, budget = 1, policy.max_retries
    while True:
        wait = bulk_wait(policy, job, error, attempt, budget, limiter=limiter)
        if wait is None:
            raise error
        if not is_backpressure(error):
            budget -= 1
        log_retry(attempt, error, wait)
        await sleep(wait)
        attempt += 1
        try:
            return await send(RETRY)
        except HFError as exc:
            error = exc


async def _start_events(
    response: httpx.Response, context: CallContext, config: ClientConfig, watch: AsyncWatch
) -> tuple[EventParser, AsyncIterator[str]]:
    """Check that ``response`` is an event stream; return its parser and payloads."""
    if not_a_stream(response):
        body = await aread_body(response, config.max_body_bytes)
        raise not_a_stream_error(response, body, context)
    parser = EventParser(config.max_line_bytes)
    return parser, aiter_events(response.aiter_bytes(), parser, watch)


async def _next_event(payloads: AsyncIterator[str], watch: AsyncWatch, idle: float) -> str | None:
    """The next payload (``None`` at the end), within ``idle`` seconds (:class:`AsyncWatch`)."""
    watch.start(idle, "event")
    try:
        return await anext(payloads, None)
    except asyncio.CancelledError:
        watch.check()  # raises DeadlineExpired when the watch cancelled the wait
        raise
    finally:
        watch.stop()
