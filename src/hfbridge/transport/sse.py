"""Server-sent events: bytes in, ``data`` payloads out, sync and async.

Rules (PROTOCOL.md section 1.5): lines end at CR, LF or CRLF only; blank lines end an event;
comment lines (``:``) and ``event:``, ``id:``, ``retry:`` fields are ignored; ``data:`` loses its
prefix and at most one following space; several ``data:`` lines of one event are joined with
newlines; the payload ``[DONE]`` ends the stream. Whether a body that ends without ``[DONE]`` is
complete is the stream's end rule to say (its shape: :class:`hfbridge._stream_end.StreamEndRule`;
the routes' rules live in ``hfbridge.wire.stream_end``); the clients ask it, so every stream is
judged in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from hfbridge._stream_end import REQUIRE_DONE, StreamEndRule

__all__ = [
    "DRAIN_LIMIT",
    "REQUIRE_DONE",
    "EventParser",
    "StreamEndRule",
    "aiter_events",
    "iter_events",
]

_DONE_BYTES = b"[DONE]"
_LINE_ENDS = (b"\n", b"\r")




class EventParser:
    """Bytes in, complete event payloads out: the line splitter and the decoder in one pass.

    One call per network chunk, lines kept as bytes and only ``data`` decoded: a line splitter
    and a decoder chained line by line (the tests keep one, in ``tests/transport/sse_oracle.py``,
    as the oracle this parser is checked against on every fixture at every chunk size) cost about
    a microsecond more per event. ``done`` tells whether ``[DONE]`` arrived.
    """

    __slots__ = ("_buffer", "_data", "_trailing_cr", "done")

    def __init__(self) -> None:
        self._buffer = b""
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
        lines = chunk.splitlines()  # breaks at CR, LF and CRLF only, as SSE requires
        if self._buffer:
            lines[0] = self._buffer + lines[0]
        self._buffer = b"" if chunk.endswith(_LINE_ENDS) else lines.pop()
        return self._lines(lines)

    def end(self) -> list[str]:
        """At the end of the body: the payload of a last event left without its blank line."""
        if self.done:
            return []
        lines = [self._buffer] if self._buffer or self._trailing_cr else []
        self._buffer, self._trailing_cr = b"", False
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
next stream)."""


def iter_events(chunks: Iterable[bytes], parser: EventParser) -> Iterator[str]:
    """The payloads of a byte stream until ``[DONE]`` or its end (``parser.done`` tells which).

    After ``[DONE]`` the rest of the body is read and dropped, up to :data:`DRAIN_LIMIT` bytes.
    """
    iterator = iter(chunks)
    for chunk in iterator:
        yield from parser.feed(chunk)
        if parser.done:
            _drain(iterator)
            return
    yield from parser.end()


def _drain(chunks: Iterator[bytes]) -> None:
    read = 0
    try:
        for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return
    except Exception:  # noqa: BLE001 - the answer is complete; a failure here costs the connection only
        return


async def aiter_events(chunks: AsyncIterable[bytes], parser: EventParser) -> AsyncIterator[str]:
    """Async form of :func:`iter_events`."""
    iterator = aiter(chunks)
    async for chunk in iterator:
        for payload in parser.feed(chunk):
            yield payload
        if parser.done:
            await _adrain(iterator)
            return
    for payload in parser.end():
        yield payload


async def _adrain(chunks: AsyncIterator[bytes]) -> None:
    read = 0
    try:
        async for chunk in chunks:
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return
    except Exception:  # noqa: BLE001 - as in _drain
        return
