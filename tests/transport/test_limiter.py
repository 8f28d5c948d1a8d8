"""Adaptive concurrency: the pure control law (fake clock) and the process-wide limiter."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from hfbridge.errors import HFConfigError, HFError, HFRateLimitError, HFTimeoutError
from hfbridge.transport import AsyncHFClient, HFClient
from hfbridge.transport.control import AIMDWindow
from hfbridge.transport.jobs import bulk_job, current_job, validate_job_timeout
from hfbridge.transport.limiter import Limiter, limiter_for, limiter_stats

# --- the control law -----------------------------------------------------------------------------


def test_slow_start_adds_a_slot_per_good_answer_that_found_the_window_full():
    law = AIMDWindow(window=4)
    for _ in range(4):
        law.on_success(window_full=True)
    assert law.window == 8  # doubled in one round trip
    law.on_success(window_full=False)
    assert law.window == 8  # a window nobody filled proves nothing


def test_after_a_cut_the_window_grows_by_one_per_round_trip():
    law = AIMDWindow(window=20)
    assert law.on_backpressure(0.0, sent_in_epoch=0, wait=None, draw=0.0)
    assert law.window == 10 and not law.slow_start
    for _ in range(10):
        law.on_success(window_full=True)
    assert 10.9 < law.window < 11.0  # ~ +1 per window's worth of answers


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 50.0), (0.5, 60.0), (0.999999, 70.0)])
def test_the_cut_is_jittered_between_half_and_seventy_percent(draw, expected):
    law = AIMDWindow(window=100)
    law.on_backpressure(0.0, sent_in_epoch=0, wait=None, draw=draw)
    assert law.window == pytest.approx(expected, abs=1e-3)


def test_one_cut_per_window_however_many_429s_it_gets():
    law = AIMDWindow(window=64)
    sent_epoch = law.epoch
    cuts = [law.on_backpressure(0.0, sent_in_epoch=sent_epoch, wait=None, draw=0.0)
            for _ in range(30)]  # fmt: skip
    assert cuts.count(True) == 1
    assert law.window == 32
    assert law.on_backpressure(0.0, sent_in_epoch=law.epoch, wait=None, draw=0.0)  # a new window
    assert law.window == 16


def test_the_window_stays_between_one_and_the_ceiling():
    law = AIMDWindow(window=2, ceiling=5)
    for _ in range(100):
        law.on_success(window_full=True)
    assert law.window == 5
    for epoch in range(20):
        law.on_backpressure(0.0, sent_in_epoch=epoch, wait=None, draw=0.0)
    assert law.window == 1.0 and law.allowed() == 1


def test_retry_after_pauses_until_then_and_a_shorter_one_never_shortens_it():
    law = AIMDWindow()
    law.on_backpressure(100.0, sent_in_epoch=0, wait=5.0, draw=0.0)
    assert law.paused(100.0) == 5.0 and law.paused(104.0) == 1.0 and law.paused(105.0) == 0.0
    law.on_backpressure(101.0, sent_in_epoch=0, wait=1.0, draw=0.0)
    assert law.paused_until == 105.0
    law.on_backpressure(101.0, sent_in_epoch=0, wait=3600.0, draw=0.0)
    assert law.paused_until == 101.0 + law.wait_cap  # capped like any server-requested wait


# --- the limiter ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_bounds_threads_and_a_release_lets_the_next_in():
    limiter = Limiter(("http://h", "m", None), law=AIMDWindow(window=2))
    first, second = limiter.acquire(), limiter.acquire()
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(repr(limiter.acquire())))
    thread.start()
    thread.join(0.2)
    assert thread.is_alive() and limiter.stats().waiting == 1
    limiter.release(first, "ok")
    thread.join(2)
    assert got and not thread.is_alive()
    limiter.release(second, "ok")


def test_a_paused_key_refuses_until_the_deadline_then_says_why():
    clock = Clock()
    limiter = Limiter(("http://h", "m", None), clock=clock)
    ticket = limiter.acquire()
    limiter.release(ticket, "backpressure", wait=30.0)
    with pytest.raises(HFTimeoutError, match="deadline passed while this request waited"):
        limiter.acquire(deadline=clock.now)  # paused for 30 s, deadline now
    with pytest.raises(HFTimeoutError, match=r"asked to wait 30.0 s more, past the bulk job's"):
        limiter.acquire(deadline=clock.now + 10)  # the pause outlasts the deadline: at once
    # the request that has waited out the Retry-After itself goes through the window
    limiter.release(limiter.acquire(ignore_pause=True), "ok")
    clock.now += 31
    limiter.release(limiter.acquire(deadline=clock.now + 1), "ok")


def test_a_pause_holds_new_requests_in_real_time():
    limiter = Limiter(("http://h", "m", None))
    limiter.release(limiter.acquire(), "backpressure", wait=0.3)
    started = time.monotonic()
    limiter.release(limiter.acquire(), "ok")
    assert 0.25 <= time.monotonic() - started < 2


def test_threads_and_two_event_loops_share_one_window():
    limiter = Limiter(("http://h", "m", None), law=AIMDWindow(window=3, ceiling=3))
    peak = 0
    lock = threading.Lock()
    current = 0

    def hold(seconds: float) -> None:
        nonlocal peak, current
        with lock:
            current += 1
            peak = max(peak, current)
        time.sleep(seconds)
        with lock:
            current -= 1

    def in_thread() -> None:
        for _ in range(5):
            ticket = limiter.acquire()
            hold(0.005)
            limiter.release(ticket, "ok")

    async def in_loop() -> None:
        async def one() -> None:
            ticket = await limiter.aacquire()
            await asyncio.to_thread(hold, 0.005)
            limiter.release(ticket, "ok")

        await asyncio.gather(*(one() for _ in range(10)))

    threads = [threading.Thread(target=in_thread) for _ in range(3)]
    threads += [threading.Thread(target=lambda: asyncio.run(in_loop())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert peak == 3
    stats = limiter.stats()
    assert stats.sent == stats.ok == 35 and stats.in_flight == 0 and stats.waiting == 0


async def test_a_cancelled_waiter_gives_its_place_back():
    limiter = Limiter(("http://h", "m", None), law=AIMDWindow(window=1, ceiling=1))
    held = await limiter.aacquire()
    waiting = asyncio.ensure_future(limiter.aacquire())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    limiter.release(held, "ok")
    limiter.release(await asyncio.wait_for(limiter.aacquire(), 1), "ok")
    assert limiter.stats().in_flight == 0


def test_one_limiter_per_host_model_and_provider():
    a = limiter_for("https://router.example/v1/chat/completions", "org/m", None)
    assert limiter_for("https://router.example/v1/embeddings", "org/m", None) is a
    assert limiter_for("https://user:pw@router.example/x", "org/m", None) is a  # no credentials
    assert limiter_for("https://router.example/v1", "org/m", "together") is not a
    assert limiter_for("https://other.example/v1", "org/m", None) is not a
    assert ("https://router.example", "org/m", None) in limiter_stats()


# --- the transport under the limiter -------------------------------------------------------------


def _limited(fail: int, retry_after: str = "0"):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= fail:
            return httpx.Response(429, json={"error": "slow down"}, headers={"retry-after": retry_after})
        return httpx.Response(200, json={"ok": True})

    return handler, calls


def test_a_429_cuts_the_key_window_and_a_success_grows_it():
    handler, _ = _limited(1)
    client = HFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                      sleep=lambda _: None)  # fmt: skip
    client.request("POST", "x")
    stats = limiter_for("http://h.example/v1")
    assert stats.stats().backpressure == 1 and stats.stats().cuts == 1
    assert stats.law.window == pytest.approx(4 * 0.5, abs=0.81)


def test_outside_a_bulk_job_429s_count_against_max_retries():
    handler, calls = _limited(10)
    client = HFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                      max_retries=2, sleep=lambda _: None)  # fmt: skip
    with pytest.raises(HFRateLimitError):
        client.request("POST", "x")
    assert calls["n"] == 3


def test_in_a_bulk_job_429s_are_retried_past_max_retries_and_counted():
    handler, calls = _limited(10)
    sleeps: list[float] = []
    client = HFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                      max_retries=1, sleep=sleeps.append)  # fmt: skip
    with bulk_job(60) as job:
        assert client.request("POST", "x").json() == {"ok": True}
    assert calls["n"] == 11 and job.backpressure == 10 and len(sleeps) == 10
    assert current_job() is None


def test_in_a_bulk_job_other_errors_keep_their_budget():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(500, json={"error": "boom"})

    client = HFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                      max_retries=2, sleep=lambda _: None)  # fmt: skip
    with bulk_job(60), pytest.raises(Exception, match="HTTP 500"):
        client.request("POST", "x")
    assert calls["n"] == 3


def test_in_a_bulk_job_the_deadline_ends_the_retries():
    handler, calls = _limited(10**9, retry_after="1")
    client = HFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                      sleep=time.sleep)  # fmt: skip
    started = time.monotonic()
    with bulk_job(0.5), pytest.raises(HFRateLimitError):
        client.request("POST", "x")
    assert time.monotonic() - started < 0.5  # the next wait (1 s) would pass the deadline
    assert calls["n"] == 1


async def test_async_bulk_job_retries_past_max_retries():
    handler, calls = _limited(5)

    async def no_sleep(_: float) -> None:
        return None

    client = AsyncHFClient(base_url="http://h.example/v1", transport=httpx.MockTransport(handler),
                           max_retries=0, sleep=no_sleep)  # fmt: skip
    with bulk_job(60) as job:
        response = await client.request("POST", "x")
    assert response.json() == {"ok": True} and calls["n"] == 6 and job.backpressure == 5


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True, None])
def test_a_bad_job_timeout_is_refused(bad):
    if bad is None:
        with bulk_job(None) as job:  # None means the default
            assert job.job_timeout == 1800.0
        return
    with pytest.raises(HFConfigError, match="job_timeout must be a positive number"):
        validate_job_timeout(bad)


def test_a_nested_job_keeps_the_earlier_deadline():
    with bulk_job(10) as outer:
        with bulk_job(100) as inner:
            assert inner is outer
        with bulk_job(1) as short:
            assert short is not outer and short.deadline < outer.deadline


def test_an_exhausted_quota_429_is_neither_backpressure_nor_congestion():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        body = {"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}
        return httpx.Response(429, json=body)

    client = HFClient(base_url="http://q.example/v1", transport=httpx.MockTransport(handler),
                      sleep=lambda _: None)  # fmt: skip
    with bulk_job(60) as job, pytest.raises(HFError, match="quota"):
        client.request("POST", "x")
    assert calls["n"] == 1 and job.backpressure == 0
    assert limiter_for("http://q.example/v1").stats().cuts == 0
