"""A loopback HTTP/1.1 server that misbehaves on purpose: the fault suite's test instrument.

It is not a stand-in for Hugging Face: it speaks just enough HTTP/1.1 (keep-alive, Content-Length
and chunked answers) to put one precise fault on the wire at a time. Each request is answered by a
:class:`Behaviour`, taken from a per-path queue (:meth:`FaultServer.script`) or, when the queue is
empty, from the path's handler (:meth:`FaultServer.route`), which sees the request and decides.

Behaviours: a complete answer (:class:`Respond`), an event stream that ends well or badly
(:class:`SSE`), a reset or close before any answer (:class:`Reset`, :class:`Close`), an answer that
never comes (:class:`Stall`), a body that stops or trickles (:class:`SlowBody`), a redirect.

The server runs its own event loop on a background thread (:meth:`FaultServer.start`) and counts
what it did: requests, faults injected by kind, connections open now and at most.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from typing_extensions import override

_REASONS = {
    200: "OK", 301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


@dataclass
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int

    @property
    def path(self) -> str:
        """The path without the query."""
        return urlsplit(self.target).path

    def json(self) -> Any:
        """The body as JSON (``None`` when empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class Behaviour(abc.ABC):
    """What the server does with one request. ``fault`` names it in the counters (None: healthy)."""

    fault: str | None = None

    @abc.abstractmethod
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Act on the connection; return True to keep it open for the next request."""


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _hold(reader: asyncio.StreamReader, seconds: float) -> None:
    """Keep the connection silent for ``seconds``, or until the client closes its side."""
    with contextlib.suppress(TimeoutError, ConnectionError):
        await asyncio.wait_for(reader.read(), seconds)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), as a crashed peer or proxy does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Respond(Behaviour):
    """A complete answer with a Content-Length body."""

    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    fault: str | None = None

    def payload(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send the whole answer."""
        body, content_type = self.payload()
        headers = {"content-type": content_type, "content-length": str(len(body))}
        headers.update(self.headers)
        writer.write(_head(self.status, headers) + body)
        await writer.drain()
        return True


def json_reply(status: int, body: Any, fault: str | None = None, **headers: str) -> Respond:
    """A JSON answer; ``headers`` use ``_`` for ``-`` (``retry_after="0"``)."""
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return Respond(status, body, extra, fault=fault)


@dataclass
class SSE(Behaviour):
    """An event stream (chunked), one chunk per event, then an ending.

    ``end``: ``"done"`` sends ``data: [DONE]`` and ends the body properly; ``"eof"`` ends the body
    properly without ``[DONE]`` (TGI ``/generate_stream``); ``"cut"`` closes the connection in the
    middle of the chunked body (FIN, no terminating chunk); ``"reset"`` aborts it with a RST.
    ``pause`` is the time between events; before a cut or reset the server waits ``linger`` so the
    client has read the events already sent. After ``[DONE]`` it may send ``after_done`` (raw
    bytes) and wait ``stall_after_done`` seconds before ending the body.
    """

    events: list[Any] = field(default_factory=list)
    end: str = "done"
    pause: float = 0.0
    linger: float = 0.2
    content_type: str = "text/event-stream"
    fault: str | None = None
    after_done: bytes = b""
    stall_after_done: float = 0.0

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Stream the events and end as configured."""
        headers = {"content-type": self.content_type, "transfer-encoding": "chunked"}
        writer.write(_head(200, headers))
        for event in self.events:
            data = event if isinstance(event, str) else json.dumps(event)
            writer.write(_chunk(f"data: {data}\n\n".encode()))
            await writer.drain()
            if self.pause:
                await asyncio.sleep(self.pause)
        if self.end == "done":
            writer.write(_chunk(b"data: [DONE]\n\n"))
            if self.after_done:
                writer.write(_chunk(self.after_done))
            if self.stall_after_done:
                await writer.drain()
                await asyncio.sleep(self.stall_after_done)
        if self.end in ("done", "eof"):
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        await writer.drain()
        await asyncio.sleep(self.linger)
        if self.end == "reset":
            _reset(writer)
        else:
            writer.close()
        return False


@dataclass
class KeepAliveStream(Behaviour):
    """An event stream that sends ``events``, then only keep-alive comments (``: ping``) every
    ``pause`` seconds for ``for_seconds``, then ``[DONE]``: a stream that is never silent but says
    nothing."""

    events: list[Any] = field(default_factory=list)
    pause: float = 0.1
    for_seconds: float = 10.0
    fault: str | None = "keep-alive-only"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Stream the events, then comments, then the end."""
        headers = {"content-type": "text/event-stream", "transfer-encoding": "chunked"}
        writer.write(_head(200, headers))
        for event in self.events:
            writer.write(_chunk(f"data: {json.dumps(event)}\n\n".encode()))
        await writer.drain()
        loop = asyncio.get_running_loop()
        stop = loop.time() + self.for_seconds
        while loop.time() < stop:
            writer.write(_chunk(b": ping\n\n"))
            await writer.drain()
            await asyncio.sleep(self.pause)
        writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        return True


@dataclass
class Reset(Behaviour):
    """Read the request, then abort the connection with a RST before any byte of an answer."""

    fault: str | None = "reset"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send a RST."""
        _reset(writer)
        return False


@dataclass
class Close(Behaviour):
    """Read the request, then close the connection (FIN) without answering."""

    fault: str | None = "close"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Close quietly."""
        writer.close()
        return False


@dataclass
class Stall(Behaviour):
    """Never answer: hold the connection for ``seconds`` (or until the server stops), then close."""

    seconds: float = 30.0
    fault: str | None = "stall"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Wait, then close (at once if the client hangs up first)."""
        await _hold(reader, self.seconds)
        writer.close()
        return False


@dataclass
class SlowBody(Behaviour):
    """Send the head and ``sent`` bytes of the body, then ``drip`` the rest one byte at a time.

    ``drip=None`` stops after ``sent`` bytes and holds the connection for ``hold`` seconds (a
    stalled body); a number is the pause between each of the remaining bytes (a trickling body).
    """

    body: bytes = b"{}"
    sent: int = 1
    drip: float | None = None
    hold: float = 30.0
    content_type: str = "application/json"
    fault: str | None = "slow-body"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send part of the body, then stall or trickle."""
        headers = {"content-type": self.content_type, "content-length": str(len(self.body))}
        writer.write(_head(200, headers) + self.body[: self.sent])
        await writer.drain()
        if self.drip is None:
            await _hold(reader, self.hold)
            writer.close()
            return False
        for position in range(self.sent, len(self.body)):
            await asyncio.sleep(self.drip)
            writer.write(self.body[position : position + 1])
            await writer.drain()
        return True


@dataclass
class Redirect(Behaviour):
    """A redirect to ``location`` (absolute, possibly another host)."""

    location: str = "/"
    status: int = 307
    fault: str | None = None

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send the redirect."""
        writer.write(_head(self.status, {"location": self.location, "content-length": "0"}))
        await writer.drain()
        return True


@dataclass
class Raw(Behaviour):
    """Write ``data`` as it is (a malformed answer, a trickled head...), then close or keep open.

    ``pause`` is the time between the bytes of ``data`` when ``trickle`` is set (one byte at a
    time); ``keep`` leaves the connection open for the next request.
    """

    data: bytes = b""
    trickle: bool = False
    pause: float = 0.0
    keep: bool = False
    fault: str | None = "raw"

    @override
    async def run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Send the bytes (slowly when trickling)."""
        if self.trickle:
            for position in range(len(self.data)):
                writer.write(self.data[position : position + 1])
                await writer.drain()
                await asyncio.sleep(self.pause)
        else:
            writer.write(self.data)
            await writer.drain()
        if not self.keep:
            await asyncio.sleep(0.05)
            writer.close()
        return self.keep


Handler = Callable[[Request], Behaviour]


def _not_found(request: Request) -> Behaviour:
    return json_reply(404, {"error": f"no route for {request.path} in the fault server"})


class FaultServer:
    """The server. Use :meth:`start`/:meth:`stop` (or the ``fault_server`` fixture)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._queues: dict[str, list[Behaviour]] = {}
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.requests: list[Request] = []
        self.faults: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.open_connections = 0
        self.max_open_connections = 0
        self.connections_total = 0
        self._next_connection = 0
        self.idle_close: tuple[float, float] | None = None
        """``(low, high)``: close a kept-alive connection after an idle time drawn between them
        (seconds), as servers with a short keep-alive timeout do (``None``: keep it open)."""
        self.idle_closes = 0
        self._random = random.Random(20261207)  # noqa: S311 - test timing, not security

    # --- lifecycle ---

    def start(self) -> FaultServer:
        """Listen on 127.0.0.1 (a free port) from a background thread."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 22)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close every connection (cancelling stalls) and stop the loop and its thread."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    # --- configuration (thread-safe) ---

    def script(self, path: str, *behaviours: Behaviour) -> None:
        """Answer the next requests to ``path`` with ``behaviours``, in order."""
        with self._lock:
            self._queues.setdefault(path, []).extend(behaviours)

    def route(self, path: str, handler: Handler) -> None:
        """Answer requests to ``path`` with ``handler(request)`` once its script is used up."""
        with self._lock:
            self._routes[path] = handler

    def reset_counters(self) -> None:
        """Forget what was served (not the routes)."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.by_path.clear()

    def requests_to(self, path: str) -> list[Request]:
        """The requests received for ``path``."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no client connection is open; True when that happened within ``timeout``."""
        deadline = self._loop.time() + timeout

        async def poll() -> bool:
            while self.open_connections and self._loop.time() < deadline:
                await asyncio.sleep(0.02)
            return self.open_connections == 0

        return asyncio.run_coroutine_threadsafe(poll(), self._loop).result(timeout + 5)

    # --- serving ---

    def _choose(self, request: Request) -> Behaviour:
        with self._lock:
            queue = self._queues.get(request.path)
            if queue:
                return queue.pop(0)
            handler = self._routes.get(request.path, _not_found)
        return handler(request)

    def _record(self, request: Request, behaviour: Behaviour) -> None:
        with self._lock:
            self.requests.append(request)
            self.by_path[request.path] += 1
            if behaviour.fault:
                self.faults[behaviour.fault] += 1

    async def _next_request(
        self, reader: asyncio.StreamReader, connection: int, *, first: bool
    ) -> Request | None:
        """The next request on a connection; ``None`` when the client hung up or, with
        ``idle_close``, when the connection stayed idle past its drawn keep-alive time."""
        if first or self.idle_close is None:
            return await _read_request(reader, connection)
        idle = self._random.uniform(*self.idle_close)
        try:
            return await asyncio.wait_for(_read_request(reader, connection), idle)
        except TimeoutError:
            self.idle_closes += 1
            return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.open_connections += 1
        self.connections_total += 1
        self.max_open_connections = max(self.max_open_connections, self.open_connections)
        self._next_connection += 1
        connection = self._next_connection
        connection_served = 0
        try:
            while True:
                request = await self._next_request(reader, connection, first=connection_served == 0)
                if request is None:
                    break
                connection_served += 1
                behaviour = self._choose(request)
                self._record(request, behaviour)
                keep = await behaviour.run(reader, writer)
                if not keep or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self.open_connections -= 1
            self._tasks.discard(task)


async def _read_request(reader: asyncio.StreamReader, connection: int) -> Request | None:
    """Read one request (head and Content-Length body); ``None`` when the client hung up."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return Request(method, target, headers, body, connection)


# --- deterministic content the tests can check ---------------------------------------------------


def vector_for(text: str, dims: int = 8) -> list[float]:
    """A deterministic vector per text (hash-seeded), so a test can check each vector's owner."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=dims * 2).digest()
    return [int.from_bytes(digest[2 * i : 2 * i + 2], "big") / 65535.0 for i in range(dims)]


def chat_body(
    content: str, *, model: str = "m", tool_calls: Iterable[Any] | None = None
) -> dict[str, Any]:
    """An OpenAI chat completion answer."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = list(tool_calls)
        message["content"] = None
    return {
        "id": "chatcmpl-fault",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def chat_chunks(*pieces: str, model: str = "m") -> list[dict[str, Any]]:
    """OpenAI ``chat.completion.chunk`` events, one per piece, the last with a finish reason."""
    chunks = []
    for position, piece in enumerate(pieces):
        last = position == len(pieces) - 1
        chunks.append({
            "id": "chatcmpl-fault",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{
                "index": 0,
                "delta": {"content": piece},
                "finish_reason": "stop" if last else None,
            }],
        })  # fmt: skip
    return chunks


def tgi_events(*tokens: str) -> list[dict[str, Any]]:
    """TGI ``/generate_stream`` events; the last carries ``generated_text`` and details."""
    events: list[dict[str, Any]] = []
    for position, token in enumerate(tokens):
        event: dict[str, Any] = {
            "index": position,
            "token": {"id": position, "text": token, "logprob": -0.1, "special": False},
            "generated_text": None,
            "details": None,
        }
        if position == len(tokens) - 1:
            event["generated_text"] = "".join(tokens)
            event["details"] = {"finish_reason": "length", "generated_tokens": len(tokens)}
        events.append(event)
    return events
