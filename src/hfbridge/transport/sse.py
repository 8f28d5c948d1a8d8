"""Server-sent events: bytes or lines in, ``data`` payloads out, sync and async.

Rules (PROTOCOL.md section 1.5): blank lines end an event; comment lines (``:``) and ``event:``,
``id:``, ``retry:`` fields are ignored; ``data:`` loses its prefix and at most one following space;
several ``data:`` lines of one event are joined with newlines; the payload ``[DONE]`` ends the stream.
The caller decides whether an end of body without ``[DONE]`` is an error (chat routes) or the normal
end (TGI ``/generate_stream``).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

DONE = "[DONE]"


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
