"""The SSE parser's limits: linear line buffering, a cap on line length, bounded drain."""

from __future__ import annotations

import time

import pytest

from hfbridge.transport._timing import Deadline, DeadlineExpired
from hfbridge.transport.sse import EventParser, LineTooLong, iter_events

LINE = 8 * 1024 * 1024  # one event of 8 MiB


def _feed_time(size: int, piece: int) -> float:
    data = b"data: " + b"x" * size + b"\n\n"
    pieces = [data[i : i + piece] for i in range(0, len(data), piece)]
    best = float("inf")
    for _ in range(3):
        parser = EventParser()
        started = time.perf_counter()
        out = [payload for chunk in pieces for payload in parser.feed(chunk)]
        best = min(best, time.perf_counter() - started)
        assert len(out) == 1
        assert len(out[0]) == size
    return best


def test_line_buffering_is_linear_in_the_line_not_quadratic():
    # Each 4 KiB read used to copy the whole line so far: 2,048 reads of an 8 MiB line copied 8 GiB
    # (16x the work of 64 KiB reads). Kept as pieces and joined once, both copy 8 MiB.
    small, large = _feed_time(LINE, 4 * 1024), _feed_time(LINE, 64 * 1024)
    assert small < 3 * large + 0.02, (small, large)


@pytest.mark.parametrize("piece", [1024, 64 * 1024, 10 * 1024 * 1024])
def test_a_line_past_the_cap_raises_whatever_the_read_size(piece):
    limit = 1024 * 1024
    data = b"data: " + b"x" * (2 * limit) + b"\n\n"
    parser = EventParser(max_line=limit)

    def feed_all() -> None:
        for start in range(0, len(data), piece):
            parser.feed(data[start : start + piece])

    with pytest.raises(LineTooLong) as caught:
        feed_all()
    assert caught.value.limit == limit


def test_lines_up_to_the_cap_are_kept_whole():
    limit = 64 * 1024
    body = b"x" * (limit - len(b"data: "))
    parser = EventParser(max_line=limit)
    out = [p for i in range(0, len(body) + 8, 1000) for p in parser.feed((b"data: " + body +
           b"\n\n")[i : i + 1000])]  # fmt: skip
    assert out == [body.decode()]


def test_the_idle_deadline_is_checked_between_chunks():
    deadline = Deadline(30.0)

    def chunks():
        yield b"data: 1\n\n"
        deadline.set(0.0, "event")  # what the client does before waiting for the next event
        yield b": keep-alive\n\n"
        yield b"data: 2\n\n"

    events = iter_events(chunks(), EventParser(), deadline)
    assert next(events) == "1"
    with pytest.raises(DeadlineExpired) as caught:
        next(events)
    assert caught.value.what == "event"


def test_the_drain_after_done_stops_at_its_time_limit():
    def endless():
        yield b"data: 1\n\ndata: [DONE]\n\n"
        while True:
            time.sleep(0.01)
            yield b": still here\n"

    started = time.monotonic()
    assert list(iter_events(endless(), EventParser())) == ["1"]
    assert time.monotonic() - started < 1.0
