"""One loop for every route: send, fail over, stream, check the end. Sync and async.

:class:`RouteService` serves any :class:`~hfbridge.wire.route.Route` over a
:class:`~hfbridge.inference.connection.Connection`:

- :meth:`~RouteService.call` sends the request to each target in turn until one answers; the
  transport retries each attempt (408, 429, 5xx, connection errors), and the loop moves to the
  next target only for an error whose class fails over (``HFError.fails_over``: 5xx and 422), and
  never past the last target. The answer is parsed by the route.
- :meth:`~RouteService.stream` does the same until the first delta of a stream is handed out (a
  stream never fails over once the caller has seen output; events before it, such as the
  Responses API's ``response.created``, or an error event, still may) and folds every event with the
  route's fold; the transport judges the end of the body by the route's end rule, so an
  incomplete stream raises :class:`~hfbridge.errors.HFStreamError` instead of passing for
  complete.

What the caller learns besides the result: the target that served, the answer's headers and its
request id (:class:`Served`, or the stream's attributes once it is consumed).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from hfbridge._redact import redact_url
from hfbridge.catalog.spec import is_provider_slug
from hfbridge.errors import HFError, HFResponseError
from hfbridge.transport import CallContext, HFResponse
from hfbridge.transport.sse import REQUIRE_DONE
from hfbridge.wire.route import Fold, Route, Target

if TYPE_CHECKING:
    from hfbridge.inference.connection import Connection

logger = logging.getLogger("hfbridge.inference")

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")
DeltaT = TypeVar("DeltaT")
OutT = TypeVar("OutT")

PROVIDER_HEADERS = ("x-inference-provider", "x-hf-provider")
"""Answer headers in which the router names the provider that served an auto-routed call."""

STREAMED, WHOLE = True, False  # the ``stream`` argument of a route's url and build
_NO_EVENT: Any = object()  # a stream's JSON events may be null, so None cannot mean "no event"


@dataclass(frozen=True, slots=True)
class CallOptions:
    """Per-call transport settings (``None``: the connection's)."""

    timeout: float | None = None
    max_retries: int | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)  # may carry a key
    stream_idle_timeout: float | None = None
    """Seconds a stream may go without an event (``None``: the connection's)."""


_NO_OPTIONS = CallOptions()


@dataclass(slots=True)
class Served(Generic[ResultT]):
    """A route's result and where it came from (read-only; not frozen: one is made per call)."""

    result: ResultT
    target: Target
    headers: Mapping[str, str]
    request_id: str | None

    @property
    def provider(self) -> str | None:
        """The provider that served: the pinned one, else the one the router names."""
        return served_provider(self.target, self.headers)


def served_provider(target: Target, headers: Mapping[str, str]) -> str | None:
    """The provider that served ``target`` (``None`` for a self-hosted server)."""
    if target.self_hosted:
        return None
    if target.provider:
        return target.provider
    named = next((headers[h] for h in PROVIDER_HEADERS if h in headers), None)
    return named if is_provider_slug(named) else None  # a server's header, checked


def context_of(target: Target) -> CallContext:
    """What error messages say the attempt was about."""
    return CallContext(model=target.model or target.model_id, provider=target.provider)


def fail_over(exc: HFError, target: Target, remaining: int) -> bool:
    """Whether to try the next target after ``exc`` on ``target`` (logged when so).

    One decision for calls and streams: only errors whose class fails over, and only while targets
    remain; otherwise the caller re-raises ``exc``.
    """
    if remaining <= 0 or not exc.fails_over:
        return False
    logger.warning(
        "hfbridge: %s failed (%s); failing over", target.model or target.model_id,
        type(exc).__name__,
    )  # fmt: skip
    return True


def attempt(
    route: Route[RequestT, Any, Any],
    request: RequestT,
    target: Target,
    options: CallOptions,
    stream: bool,
) -> tuple[str, str, dict[str, Any]]:
    """Method, URL and keyword arguments of the client call for one attempt on ``target``."""
    arguments = {
        "json": route.build(request, target, stream), "headers": options.headers,
        "timeout": options.timeout, "max_retries": options.max_retries,
        "context": context_of(target),
    }  # fmt: skip
    if stream:
        arguments["idle_timeout"] = options.stream_idle_timeout
    return route.method, route.url(target, stream), arguments


def _served(
    route: Route[RequestT, ResultT, DeltaT],
    request: RequestT,
    target: Target,
    response: HFResponse,
) -> Served[ResultT]:
    """The route's reading of an answer; a body it cannot read names where it came from."""
    try:
        result = route.parse(response.json(), response.headers, request)
    except HFResponseError as exc:
        model = target.model or target.model_id
        where = redact_url(response.url) + (f" (model '{model}')" if model else "")
        request_id = exc.request_id or response.request_id
        message = f"{where}: {exc.message}"
        raise HFResponseError(
            message, body=exc.body, request_id=request_id, status_code=exc.status_code
        ) from None
    return Served(result, target, response.headers, response.request_id)


class RouteService(Generic[RequestT, ResultT, DeltaT]):
    """Calls and streams of one route over one connection (see the module docstring)."""

    def __init__(self, route: Route[RequestT, ResultT, DeltaT], connection: Connection) -> None:
        self.route = route
        self.connection = connection

    def __repr__(self) -> str:
        return f"RouteService({self.route.name!r}, {self.connection!r})"

    def call(
        self,
        request: RequestT,
        targets: Sequence[Target],
        options: CallOptions | None = None,
    ) -> Served[ResultT]:
        """One non-streamed call, tried on each target in turn (see :func:`fail_over`)."""
        route, client, options = self.route, self.connection.client, options or _NO_OPTIONS
        last = len(targets) - 1
        for position, target in enumerate(targets):
            try:
                method, url, arguments = attempt(route, request, target, options, WHOLE)
                response = client.request(method, url, **arguments)
                return _served(route, request, target, response)
            except HFError as exc:  # noqa: PERF203 - one attempt per target
                if fail_over(exc, target, last - position):
                    continue
                raise
        raise AssertionError("unreachable: the last target re-raises")  # pragma: no cover

    async def acall(
        self,
        request: RequestT,
        targets: Sequence[Target],
        options: CallOptions | None = None,
    ) -> Served[ResultT]:
        """Async form of :meth:`call`."""
        route, client, options = self.route, self.connection.async_client, options or _NO_OPTIONS
        last = len(targets) - 1
        for position, target in enumerate(targets):
            try:
                method, url, arguments = attempt(route, request, target, options, WHOLE)
                response = await client.request(method, url, **arguments)
                return _served(route, request, target, response)
            except HFError as exc:  # noqa: PERF203 - one attempt per target
                if fail_over(exc, target, last - position):
                    continue
                raise
        raise AssertionError("unreachable: the last target re-raises")  # pragma: no cover

    def stream(
        self,
        request: RequestT,
        targets: Sequence[Target] | Callable[[], Sequence[Target]],
        options: CallOptions | None = None,
    ) -> RouteStream[RequestT, ResultT, DeltaT]:
        """A streamed call: iterate for deltas, then :meth:`RouteStream.result`.

        ``targets`` may be a function, asked on iteration (routing may consult the catalog).
        """
        return RouteStream(self, request, targets, options or _NO_OPTIONS)

    def astream(
        self,
        request: RequestT,
        targets: Sequence[Target] | Callable[[], Awaitable[Sequence[Target]]],
        options: CallOptions | None = None,
    ) -> AsyncRouteStream[RequestT, ResultT, DeltaT]:
        """Async form of :meth:`stream`."""
        return AsyncRouteStream(self, request, targets, options or _NO_OPTIONS)


class _StreamState(Generic[RequestT, ResultT, DeltaT]):
    """What the sync and async streams share: the request, the serving target, the result."""

    def __init__(
        self,
        service: RouteService[RequestT, ResultT, DeltaT],
        request: RequestT,
        targets: Any,
        options: CallOptions,
    ) -> None:
        if service.route.fold is None:
            raise HFError(f"The {service.route.name} route does not stream.")
        self.service = service
        self.request = request
        self.options = options
        self._targets = targets
        self.target: Target | None = None
        self.headers: Mapping[str, str] = {}
        self.request_id: str | None = None
        self.fold: Fold[DeltaT, ResultT] | None = None
        self.finished = False

    @property
    def provider(self) -> str | None:
        """The provider that served (once the stream has started)."""
        return None if self.target is None else served_provider(self.target, self.headers)

    def result(self) -> ResultT:
        """The assembled result; only valid once the stream has been consumed to its end."""
        if not self.finished or self.fold is None:
            raise HFError(
                "The stream has not finished: consume it fully before asking for the result."
            )
        return self.fold.result()

    def served(self) -> Served[ResultT]:
        """The result and where it came from (once consumed, as :meth:`result`)."""
        result = self.result()
        assert self.target is not None  # noqa: S101 - set before the first delta
        return Served(result, self.target, self.headers, self.request_id)


class RouteStream(_StreamState[RequestT, ResultT, DeltaT]):
    """Iterator of a route's deltas; :meth:`result` once consumed."""

    def targets(self) -> Sequence[Target]:
        """The targets to try, in order."""
        targets = self._targets
        return targets() if callable(targets) else targets  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[DeltaT]:
        route, client, options = self.service.route, self.service.connection.client, self.options
        assert route.fold is not None  # noqa: S101 - checked at construction
        targets = self.targets()
        last = len(targets) - 1
        for position, target in enumerate(targets):
            method, url, arguments = attempt(route, self.request, target, options, STREAMED)
            events = client.stream(method, url, end=route.stream_end or REQUIRE_DONE, **arguments)
            iterator = iter(events)
            try:
                first = next(iterator, _NO_EVENT)
            except HFError as exc:
                if fail_over(exc, target, last - position):
                    continue
                raise
            self.target, self.headers, self.request_id = target, events.headers, events.request_id
            fold = self.fold = route.fold(self.request)
            try:
                try:  # until the first delta, nothing reached the caller: failing over is safe
                    deltas = list(fold.add(first)) if first is not _NO_EVENT else []
                    while not deltas and first is not _NO_EVENT:
                        first = next(iterator, _NO_EVENT)
                        deltas = list(fold.add(first)) if first is not _NO_EVENT else []
                except HFError as exc:
                    if fail_over(exc, target, last - position):
                        continue
                    raise
                yield from deltas
                add = fold.add  # read after the first event: a fold may settle its path on it
                for event in iterator:
                    yield from add(event)
            finally:
                events.close()
            yield from fold.end(events.headers)
            self.finished = True
            return


class AsyncRouteStream(_StreamState[RequestT, ResultT, DeltaT]):
    """Async iterator of a route's deltas; :meth:`result` once consumed."""

    async def targets(self) -> Sequence[Target]:
        """The targets to try, in order."""
        targets = self._targets
        return await targets() if callable(targets) else targets  # type: ignore[no-any-return]

    async def __aiter__(self) -> AsyncIterator[DeltaT]:
        route, client = self.service.route, self.service.connection.async_client
        options = self.options
        assert route.fold is not None  # noqa: S101 - checked at construction
        targets = await self.targets()
        last = len(targets) - 1
        for position, target in enumerate(targets):
            method, url, arguments = attempt(route, self.request, target, options, STREAMED)
            events = client.stream(method, url, end=route.stream_end or REQUIRE_DONE, **arguments)
            iterator = events.__aiter__()
            try:
                first = await anext(iterator, _NO_EVENT)
            except HFError as exc:
                if fail_over(exc, target, last - position):
                    continue
                raise
            self.target, self.headers, self.request_id = target, events.headers, events.request_id
            fold = self.fold = route.fold(self.request)
            try:
                try:  # until the first delta, nothing reached the caller: failing over is safe
                    deltas = list(fold.add(first)) if first is not _NO_EVENT else []
                    while not deltas and first is not _NO_EVENT:
                        first = await anext(iterator, _NO_EVENT)
                        deltas = list(fold.add(first)) if first is not _NO_EVENT else []
                except HFError as exc:
                    if fail_over(exc, target, last - position):
                        continue
                    raise
                for delta in deltas:
                    yield delta
                add = fold.add  # read after the first event: a fold may settle its path on it
                async for event in iterator:
                    for delta in add(event):
                        yield delta
            finally:
                await events.aclose()
            for delta in fold.end(events.headers):
                yield delta
            self.finished = True
            return


class ServedStream(Generic[DeltaT, OutT]):
    """A service's stream: a route stream (sync or async) and what the service makes of its end.

    Iterate it with ``for`` or ``async for``, as the service method that made it says; then
    :meth:`result` turns the route's result into the service's (``finish``).
    """

    def __init__(
        self,
        inner: RouteStream[Any, Any, DeltaT] | AsyncRouteStream[Any, Any, DeltaT],
        finish: Callable[[Served[Any]], OutT],
        *,
        aend: Callable[[Served[Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.inner = inner
        self._finish = finish
        self._aend = aend  # an async stream's last step (e.g. pricing through the async catalog)

    def __iter__(self) -> Iterator[DeltaT]:
        inner = self.inner
        if not isinstance(inner, RouteStream):
            raise TypeError("this stream is asynchronous: iterate it with 'async for'")
        return iter(inner)

    def __aiter__(self) -> AsyncIterator[DeltaT]:
        inner = self.inner
        if not isinstance(inner, AsyncRouteStream):
            raise TypeError("this stream is synchronous: iterate it with 'for'")
        if self._aend is None:
            return inner.__aiter__()
        return self._aiter_then_end(inner, self._aend)

    @staticmethod
    async def _aiter_then_end(
        inner: AsyncRouteStream[Any, Any, DeltaT], aend: Callable[[Served[Any]], Awaitable[None]]
    ) -> AsyncIterator[DeltaT]:
        async for delta in inner:
            yield delta
        await aend(inner.served())

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers (once the stream has started)."""
        return self.inner.headers

    @property
    def request_id(self) -> str | None:
        """The answer's request id (once the stream has started)."""
        return self.inner.request_id

    @property
    def provider(self) -> str | None:
        """The provider that served (once the stream has started)."""
        return self.inner.provider

    def result(self) -> OutT:
        """The service's result; only valid once the stream has been consumed to its end."""
        return self._finish(self.inner.served())
