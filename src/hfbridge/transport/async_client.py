"""The asynchronous client: the same contract as :class:`~hfbridge.transport.client.HFClient`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import Unpack

from hfbridge.errors import HFError
from hfbridge.transport import _common as common
from hfbridge.transport._common import CallContext, HFResponse, JSONBody
from hfbridge.transport._fastpath import asend_request
from hfbridge.transport._logs import log_retry
from hfbridge.transport._pool import new_async_client, shared_async_client
from hfbridge.transport.client import FIRST_TRY, RETRY, bulk_wait
from hfbridge.transport.config import ClientConfig, ClientSettings
from hfbridge.transport.jobs import BulkJob, current_job
from hfbridge.transport.limiter import Limiter, limiter_for, outcome_of
from hfbridge.transport.retry import RetryPolicy, is_backpressure
from hfbridge.transport.sse import REQUIRE_DONE, EventParser, StreamEndRule, aiter_events

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
        request = common.build_request(
            http, self.config, method, url,
            json_body=json, params=params, headers=headers, timeout=timeout,
        )  # fmt: skip
        full_url = common.absolute_url(self.config, url)
        limiter = limiter_for(full_url, context.model, context.provider)
        return await self._with_retries(
            lambda retry: self._send(http, request, context, limiter, retry), max_retries
        )

    async def _with_retries(
        self, send: Callable[[bool], Awaitable[_T]], max_retries: int | None
    ) -> _T:
        """``await send(retry)``, retried per the policy (see ``HFClient._with_retries``)."""
        policy = self.config.retry.with_max_retries(max_retries)  # a bad count fails here
        try:
            return await send(FIRST_TRY)
        except HFError as first_failure:
            failed: HFError = first_failure
        pending: HFError | None = failed
        job = current_job()
        if job is not None:
            return await _abulk_retries(send, policy, job, failed, self._sleep)
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
            response = await asend_request(http, request)
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
    ) -> AsyncEventStream:
        """Open a server-sent-event stream; see :meth:`HFClient.stream` for the end rule."""
        stream = AsyncEventStream()
        stream._events = self._events(  # noqa: SLF001
            stream, method, url,
            json=json, headers=headers, timeout=timeout, max_retries=max_retries,
            context=context, end=end,
        )  # fmt: skip
        return stream

    async def _open(
        self, http: httpx.AsyncClient, request: httpx.Request, context: CallContext,
        limiter: Limiter, retry: bool,
    ) -> tuple[httpx.Response, EventParser, AsyncIterator[str], str | None]:  # fmt: skip
        # A stream holds its slot until its first event (or its error) has arrived.
        job = current_job()
        ticket = await limiter.aacquire(job.deadline if job else None, ignore_pause=retry)
        try:
            response = await asend_request(http, request, stream=True)
        except httpx.HTTPError as exc:
            limiter.release(ticket, "other")
            raise common.transport_error(exc, request.method, str(request.url), context) from exc
        except BaseException:
            limiter.release(ticket, "other")
            raise
        try:
            parser, payloads, first = await _start_events(response, context)
        except httpx.HTTPError as exc:
            await response.aclose()
            limiter.release(ticket, "other")
            raise common.transport_error(exc, request.method, str(request.url), context) from exc
        except HFError as exc:
            await response.aclose()
            limiter.release(ticket, *outcome_of(exc))
            raise
        except BaseException:
            await response.aclose()
            limiter.release(ticket, "other")
            raise
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
    ) -> AsyncIterator[Any]:
        http = await self.http()
        request = common.build_request(
            http, self.config, method, url,
            json_body=json, params=None, headers=headers, timeout=timeout,
        )  # fmt: skip
        full_url = str(request.url)
        limiter = limiter_for(full_url, context.model, context.provider)
        response, parser, payloads, first = await self._with_retries(
            lambda retry: self._open(http, request, context, limiter, retry), max_retries
        )
        stream.headers = response.headers
        stream.request_id = common.request_id_of(response.headers)
        received = 0
        state, step = end.start, end.step
        try:
            if first is not None:
                received += 1
                event = common.parse_event(first, full_url)
                state = step(state, event)
                yield event
            async for payload in payloads:
                received += 1
                event = common.parse_event(payload, full_url)
                state = step(state, event)
                yield event
        except httpx.HTTPError as exc:
            raise common.stream_broken(exc, full_url, received) from exc
        finally:
            await response.aclose()
        if not parser.done and not end.finished(state):
            raise common.stream_cut(full_url, received, end.expects)

    async def aclose(self) -> None:
        """Close connections this client owns (never the shared pool or an injected client)."""
        if self._owned is not None:
            await self._owned.aclose()

    async def __aenter__(self) -> AsyncHFClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _abulk_retries(
    send: Callable[[bool], Awaitable[_T]],
    policy: RetryPolicy,
    job: BulkJob,
    error: HFError,
    sleep: Callable[[float], Awaitable[None]],
) -> _T:
    """Async form of :func:`hfbridge.transport.client._bulk_retries`."""
    attempt, budget = 1, policy.max_retries
    while True:
        wait = bulk_wait(policy, job, error, attempt, budget)
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
    response: httpx.Response, context: CallContext
) -> tuple[EventParser, AsyncIterator[str], str | None]:
    """Check that ``response`` is an event stream and read up to its first event."""
    if common.not_a_stream(response):
        raise common.not_a_stream_error(response, await response.aread(), context)
    parser = EventParser()
    payloads = aiter_events(response.aiter_bytes(), parser)
    return parser, payloads, await anext(payloads, None)
