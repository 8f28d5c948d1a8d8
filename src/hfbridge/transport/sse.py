"""Server-sent events: bytes in, ``data`` payloads out, sync and async.

Rules (PROTOCOL.md section 1.5): lines end at CR, LF or CRLF only; blank lines end an event;
comment lines (``:``) and ``event:``, ``id:``, ``retry:`` fields are ignored; ``data:`` loses its
prefix and at most one following space; several ``data:`` lines of one event are joined with
newlines; the payload ``[DONE]`` ends the stream. Whether a body that ends without ``[DONE]`` is
complete is the stream's end rule to say (its shape: :class:`hfbridge._stream_end.StreamEndRule`;
the routes' rules live in ``hfbridge.wire.stream_end``); the clients ask it, so every stream is
judged in one place.

A line is buffered in pieces and joined once, when it ends (linear in its length, however small
the reads), and may not grow past ``max_line`` bytes (:class:`LineTooLong`): a server cannot make
the client hold an unbounded line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from hfbridge._constants import DRAIN_TIMEOUT, MAX_LINE_BYTES
from hfbridge._stream_end import REQUIRE_DONE, StreamEndRule
from hfbridge.transport._timing import AsyncWatch, Deadline, DeadlineExpired

__all__ = [
    "DRAIN_LIMIT",
    "REQUIRE_DONE",
    "EventParser",
    "LineTooLong",
    "StreamEndRule",
    "aiter_events",
    "iter_events",
]

_DONE_BYTES = b"[DONE]"
_LINE_ENDS = (b"\n", b"\r")


class LineTooLong(ValueError):  # noqa: N818 - translated by the clients into a typed error
    """A line of the stream passed the cap (``limit`` bytes) before it ended."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"an event-stream line is longer than {limit:,} bytes")
        self.limit = limit


class _Pending:
    """The start of a line not ended yet, kept as pieces (joined once: linear, not quadratic)."""

    __slots__ = ("limit", "pieces", "size")

    def __init__(self, limit: int) -> None:
        self.pieces: list[bytes] = []
        self.size = 0
        self.limit = limit

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise LineTooLong(self.limit)
        self.pieces.append(piece)

    def take(self, end: bytes) -> bytes:
        """The whole line: the pieces kept, then ``end`` (the part that ends it)."""
        if self.size + len(end) > self.limit:
            raise LineTooLong(self.limit)
        self.pieces.append(end)
        line = b"".join(self.pieces)
        self.pieces, self.size = [], 0
        return line


def _split(chunk: bytes, pending: _Pending) -> list[bytes]:
    """The lines ``chunk`` completes (with ``pending`` in front); keeps the unfinished tail."""
    lines = chunk.splitlines()  # bytes.splitlines breaks at CR, LF and CRLF only
    ends = chunk.endswith(_LINE_ENDS)
    if pending.pieces:
        if not ends and len(lines) == 1:
            pending.add(lines[0])
            return []
        lines[0] = pending.take(lines[0])
    if not ends:
        pending.add(lines.pop())
    if len(chunk) > pending.limit:  # only a chunk longer than the cap can hold a line that is
        for line in lines:
            if len(line) > pending.limit:
                raise LineTooLong(pending.limit)
    return lines


class EventParser:
    """Bytes in, complete event payloads out: the line splitter and the decoder in one pass.

    One call per network chunk, lines kept as bytes and only ``data`` decoded: a line splitter
    and a decoder chained line by line (the tests keep one, in ``tests/transport/sse_oracle.py``,
    as the oracle this parser is checked against on every fixture at every chunk size) cost about
    a microsecond more per event. ``done`` tells whether ``[DONE]`` arrived.
    """

    __slots__ = ("_data", "_pending", "_trailing_cr", "done")

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._pending = _Pending(max_line)
        self._trailing_cr = False
        self._data: list[bytes] = []
        self.done = False

    def feed(self, chunk: bytes) -> list[str]:
        """Take the next bytes; return the payloads of the events they complete.

        After ``[DONE]`` the rest is ignored.
        """
        if self.done:
            return []
        if self._trailing_cr:
            chunk = b"\r" + chunk
            self._trailing_cr = False
        if chunk.endswith(b"\r"):
            self._trailing_cr = True  # maybe half of a CRLF: decide with the next chunk
            chunk = chunk[:-1]
        if not chunk:
            return []
        return self._lines(_split(chunk, self._pending))

    def end(self) -> list[str]:
        """At the end of the body: the payload of a last event left without its blank line."""
        if self.done:
            return []
        pending = self._pending.pieces or self._trailing_cr
        lines = [self._pending.take(b"")] if pending else []
        self._trailing_cr = False
        payloads = self._lines(lines)
        if not self.done:
            payload = self._complete()
            if payload is not None:
                payloads.append(payload)
        return payloads

    def _lines(self, lines: list[bytes]) -> list[str]:
        payloads: list[str] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    payload = self._complete()
                    if self.done:
                        break
                    if payload is not None:
                        payloads.append(payload)
                    data = self._data
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            # Comments (":"), "event:", "id:", "retry:" and unknown fields carry nothing we use.
        return payloads

    def _complete(self) -> str | None:
        if not self._data:
            return None
        data, self._data = self._data, []
        raw = data[0] if len(data) == 1 else b"\n".join(data)
        if raw.strip() == _DONE_BYTES:
            self.done = True
            return None
        return raw.decode("utf-8", "replace")


DRAIN_LIMIT = 64 * 1024
"""Most bytes read after ``[DONE]``: servers end the body right after it, and a body read to its
end lets the connection go back to the pool instead of being closed (a new TLS handshake for the
next stream). The drain is also bounded in time (``DRAIN_TIMEOUT``): a server that keeps the body
open after ``[DONE]`` costs the connection, never the caller's wait."""


def iter_events(
    chunks: Iterable[bytes], parser: EventParser, deadline: Deadline | None = None
) -> Iterator[str]:
    """The payloads of a byte stream until ``[DONE]`` or its end (``parser.done`` tells which).

    ``deadline``, when given, is checked at every chunk (:class:`DeadlineExpired` once past): the
    client moves it before each wait for an event (the stream's idle timeout). After ``[DONE]``
    the rest of the body is read and dropped, up to :data:`DRAIN_LIMIT` bytes and
    ``DRAIN_TIMEOUT`` seconds.
    """
    iterator = iter(chunks)
    monotonic = time.monotonic
    for chunk in iterator:
        if deadline is not None and deadline.at is not None and monotonic() >= deadline.at:
            raise DeadlineExpired(deadline.what, deadline.span)
        yield from parser.feed(chunk)
        if parser.done:
            _drain(iterator, deadline)
            return
    yield from parser.end()


def _drain(chunks: Iterator[bytes], deadline: Deadline | None) -> None:
    if deadline is not None:
        deadline.set(DRAIN_TIMEOUT, "end of the body after [DONE]")
    stop = time.monotonic() + DRAIN_TIMEOUT
    read = 0
    try:
        for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_LIMIT or time.monotonic() >= stop:
                return
    except Exception:  # noqa: BLE001 - the answer is complete; a failure here costs the connection only
        return


async def aiter_events(
    chunks: AsyncIterable[bytes], parser: EventParser, watch: AsyncWatch | None = None
) -> AsyncIterator[str]:
    """Async form of :func:`iter_events` (``watch`` bounds the drain after ``[DONE]``)."""
    iterator = aiter(chunks)
    async for chunk in iterator:
        for payload in parser.feed(chunk):
            yield payload
        if parser.done:
            await _adrain(iterator, watch)
            return
    for payload in parser.end():
        yield payload


async def _adrain(chunks: AsyncIterator[bytes], watch: AsyncWatch | None) -> None:
    if watch is None:
        return  # nothing can interrupt a read that waits: the connection is closed instead
    read = 0
    watch.start(DRAIN_TIMEOUT, "end of the body after [DONE]")
    try:
        async for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return
    except asyncio.CancelledError:
        try:
            watch.check()
        except DeadlineExpired:
            return  # the grace ran out: the connection is closed, the answer stands
        raise
    except Exception:  # noqa: BLE001 - as in _drain
        return
    finally:
        watch.stop()
