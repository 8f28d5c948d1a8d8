"""The oracle for hfbridge's SSE parser: a line splitter and a decoder, chained line by line.

This was hfbridge's first SSE parser. The clients now read streams with the one-pass
:class:`hfbridge.transport.sse.EventParser`, which is faster; this plainer reading of the same
rules (PROTOCOL.md section 1.5) stays here, in the tests, as what ``EventParser`` must agree with on
every fixture at every chunk size (``test_sse.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

DONE = "[DONE]"
_LINE_ENDS = (b"\n", b"\r")


class LineDecoder:
    """Incremental splitter of a byte stream into lines, at CR, LF or CRLF only (the SSE rule).

    Not ``httpx``'s ``iter_lines``: it also breaks at U+2028, U+2029 and U+0085, which JSON carries
    unescaped inside strings, so a model writing one of them would cut its event in two.
    """

    __slots__ = ("_buffer", "_trailing_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._trailing_cr = False

    def feed(self, chunk: bytes) -> list[str]:
        """Take the next bytes; return the lines they complete (without their line ends)."""
        if self._trailing_cr:
            chunk = b"\r" + chunk
            self._trailing_cr = False
        if chunk.endswith(b"\r"):
            # It may be the first half of a CRLF split across chunks: decide with the next chunk.
            self._trailing_cr = True
            chunk = chunk[:-1]
        if not chunk:
            return []
        lines = chunk.splitlines()  # bytes.splitlines breaks at CR, LF and CRLF only
        if self._buffer:
            lines[0] = self._buffer + lines[0]
        self._buffer = b"" if chunk.endswith(_LINE_ENDS) else lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """At end of body: the last line, if it had no line end (or ended with a lone CR)."""
        pending = self._buffer or self._trailing_cr
        lines = [self._buffer.decode("utf-8", "replace")] if pending else []
        self._buffer, self._trailing_cr = b"", False
        return lines


def iter_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The lines of a byte stream (see :class:`LineDecoder`)."""
    decoder = LineDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


async def aiter_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    """Async form of :func:`iter_lines`."""
    decoder = LineDecoder()
    async for chunk in chunks:
        for line in decoder.feed(chunk):
            yield line
    for line in decoder.flush():
        yield line


class SSEDecoder:
    """Incremental decoder: feed it lines, get complete event payloads back."""

    __slots__ = ("_data", "done")

    def __init__(self) -> None:
        self._data: list[str] = []
        self.done = False

    def feed(self, line: str) -> str | None:
        """Take one line (without its end of line); return a payload when an event completes."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        # Comments (":"), "event:", "id:", "retry:" and unknown fields carry nothing we use.
        return None

    def flush(self) -> str | None:
        """Complete the pending event, if any (called on a blank line and at end of body)."""
        if not self._data:
            return None
        payload = "\n".join(self._data)
        self._data = []
        if payload.strip() == DONE:
            self.done = True
            return None
        return payload


def iter_sse_payloads(lines: Iterable[str], decoder: SSEDecoder | None = None) -> Iterator[str]:
    """Yield each event's payload until ``[DONE]`` or the end of ``lines``.

    Inspect ``decoder.done`` afterwards to learn whether ``[DONE]`` was seen.
    """
    decoder = decoder if decoder is not None else SSEDecoder()
    for line in lines:
        payload = decoder.feed(line)
        if payload is not None:
            yield payload
        if decoder.done:
            return
    payload = decoder.flush()
    if payload is not None:
        yield payload


async def aiter_sse_payloads(
    lines: AsyncIterable[str], decoder: SSEDecoder | None = None
) -> AsyncIterator[str]:
    """Async form of :func:`iter_sse_payloads`."""
    decoder = decoder if decoder is not None else SSEDecoder()
    async for line in lines:
        payload = decoder.feed(line)
        if payload is not None:
            yield payload
        if decoder.done:
            return
    payload = decoder.flush()
    if payload is not None:
        yield payload
