"""A loopback server with a provider's rate limit: a token bucket, 429 + ``Retry-After`` beyond it.

Used by the fault suite (``integration_tests/faults/test_bulk_*``) and the bulk benchmark figure
(``benchmarks/fig_bulk.py``); pure stdlib (asyncio ``Protocol`` with a minimal HTTP/1.1 parser,
keep-alive), so that it sustains several thousand requests per second on one core
(:func:`headroom`). It runs in its own process (:class:`RateLimitedServer` starts it on a free
port), so the clients under test never share its interpreter's lock.

Routes (base URL ``{url}/v1``): ``POST /v1/embeddings`` (OpenAI shape: one small vector per
input, derived from the text by CRC-32, so a client's order can be checked) and ``POST /embed``
(feature extraction: ``inputs`` in, a list of vectors out), ``POST
/v1/chat/completions`` and ``POST /v1/completions`` (a fixed short answer), ``GET /stats`` (what
happened: requests, successes, 429s, texts embedded and how many of them more than once, a
per-100-ms timeline of successes) and ``POST /config`` (new limits; resets the counters).

The bucket: ``rate`` tokens per second, at most ``burst`` seconds' worth banked (and at least one
token); it starts full. ``burst=0`` is a **strict** bucket (one token: at most one request per
``1/rate`` seconds, evenly; two that arrive closer than that meet a 429). A request that finds a
token is answered after ``latency`` seconds; one that does not gets 429 at once with
``Retry-After: <retry_after>``. ``rate = 0`` answers 429 to everything. ``loading`` seconds after
each ``/config``, requests get 503 "currently loading" with ``estimated_time``. ``max_batch``
bounds the inputs of one embeddings request (413 beyond).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_REASONS = {200: "OK", 404: "Not Found", 413: "Payload Too Large", 429: "Too Many Requests",
            400: "Bad Request", 503: "Service Unavailable"}  # fmt: skip
TIMELINE_STEP = 0.1  # seconds per timeline bucket


@dataclass
class Limits:
    """The server's behaviour; every field can be changed at run time through ``POST /config``."""

    rate: float = 10.0
    burst: float = 1.0
    latency: float = 0.05
    retry_after: str = "1"
    loading: float = 0.0
    dim: int = 8
    max_batch: int = 0  # 0: no bound
    count_texts: bool = True  # keep a counter per text (duplicates); off for huge runs


def vector_for(text: str, dim: int = 8) -> list[float]:
    """The vector the server returns for ``text``: ``dim`` values from its CRC-32 (nibble / 15)."""
    crc = zlib.crc32(text.encode("utf-8"))
    return [((crc >> (4 * (7 - i % 8))) & 0xF) / 15.0 for i in range(dim)]


# The JSON of the four values one 16-bit half of a CRC gives: two look-ups build a vector.
_HALVES = [",".join(repr(((h >> s) & 0xF) / 15.0) for s in (12, 8, 4, 0)) for h in range(65536)]


def _vector_json(text: str, dim: int) -> str:
    crc = zlib.crc32(text.encode("utf-8"))
    eight = f"{_HALVES[crc >> 16]},{_HALVES[crc & 0xFFFF]}"
    if dim == 8:
        return eight
    return ",".join((eight.split(",") * (dim // 8 + 1))[:dim])


def _capacity(limits: Limits) -> float:
    """Tokens the bucket banks: ``burst`` seconds' worth, at least one (none at rate 0)."""
    return max(1.0, limits.rate * limits.burst) if limits.rate > 0 else 0.0


class _State:
    def __init__(self, limits: Limits) -> None:
        self.configure(limits)

    def configure(self, limits: Limits) -> None:
        self.limits = limits
        self.tokens = _capacity(limits)
        self.stamp = self.started = time.monotonic()
        self.counts: Counter[str] = Counter()
        self.texts: Counter[str] = Counter()
        self.timeline: Counter[int] = Counter()
        self.in_flight = self.peak_in_flight = 0

    def take(self) -> bool:
        now = time.monotonic()
        limits = self.limits
        capacity = _capacity(limits)
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * limits.rate)
        self.stamp = now
        if self.tokens >= 1.0 - 1e-9:  # an arrival exactly on time is admitted despite rounding
            self.tokens -= 1.0
            return True
        return False

    def stats(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        steps = int(elapsed / TIMELINE_STEP) + 1
        repeated = sum(count - 1 for count in self.texts.values() if count > 1)
        return {
            **self.counts,
            "elapsed": elapsed,
            "texts_distinct": len(self.texts),
            "texts_repeated": repeated,
            "peak_in_flight": self.peak_in_flight,
            "timeline_step": TIMELINE_STEP,
            "timeline": [self.timeline.get(i, 0) for i in range(steps)],
            "limits": asdict(self.limits),
        }


def _response(status: int, body: bytes, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode("latin-1") + body


class _Connection(asyncio.Protocol):
    def __init__(self, state: _State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, target = head[0].split(" ")[:2]
            self.handle(method, target, body)

    def send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)

    def handle(self, method: str, target: str, body: bytes) -> None:
        state = self.state
        if target == "/stats":
            self.send(_response(200, json.dumps(state.stats()).encode()))
            return
        if target == "/config" and method == "POST":
            state.configure(Limits(**json.loads(body or b"{}")))
            self.send(_response(200, b'{"ok":true}'))
            return
        kind = target.rsplit("/", 1)[-1]
        if kind not in ("embeddings", "completions", "embed"):
            self.send(_response(404, b'{"error":"no such route"}'))
            return
        state.counts["requests"] += 1
        limits = state.limits
        now = time.monotonic()
        if limits.loading and now - state.started < limits.loading:
            state.counts["loading"] += 1
            left = limits.loading - (now - state.started)
            error = {"error": "Model bench is currently loading", "estimated_time": left}
            self.send(_response(503, json.dumps(error).encode()))
            return
        if not state.take():
            state.counts["rate_limited"] += 1
            self.send(_response(429, b'{"error":"rate limit reached: slow down"}',
                                f"retry-after: {limits.retry_after}\r\n"))  # fmt: skip
            return
        try:
            answer = self.answer(target, json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            self.send(_response(400, json.dumps({"error": f"bad body: {exc}"}).encode()))
            return
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        self.loop.call_later(limits.latency, self.finish, answer)

    def finish(self, answer: bytes) -> None:
        state = self.state
        state.in_flight -= 1
        status = 413 if answer.startswith(b'{"error"') else 200
        if status == 200:
            state.counts["ok"] += 1
            state.timeline[int((time.monotonic() - state.started) / TIMELINE_STEP)] += 1
        self.send(_response(status, answer))

    def answer(self, target: str, body: dict[str, Any]) -> bytes:
        state, limits = self.state, self.state.limits
        if target.endswith("/embed"):  # feature extraction (TEI, hf-inference): a list of vectors
            items = body["inputs"]
            items = [items] if isinstance(items, str) else items
            state.counts["texts"] += len(items)
            if limits.count_texts:
                state.texts.update(items)
            vectors = ",".join(f"[{_vector_json(text, limits.dim)}]" for text in items)
            return f"[{vectors}]".encode()
        if target.endswith("/embeddings"):
            items = body["input"]
            items = [items] if isinstance(items, str) else items
            if limits.max_batch and len(items) > limits.max_batch:
                return json.dumps({"error": f"batch size {len(items)} > {limits.max_batch}"})\
                    .encode()  # fmt: skip
            state.counts["texts"] += len(items)
            if limits.count_texts:
                state.texts.update(items)
            dim = limits.dim
            data = ",".join(
                f'{{"object":"embedding","index":{i},"embedding":[{_vector_json(text, dim)}]}}'
                for i, text in enumerate(items)
            )
            return f'{{"object":"list","data":[{data}],"model":"bench"}}'.encode()
        text = "ok"
        if target.endswith("/chat/completions"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return json.dumps({"id": "c", "object": "chat.completion", "model": "bench",
                               "choices": [choice]}).encode()  # fmt: skip
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return json.dumps({"id": "c", "object": "text_completion", "choices": [choice]}).encode()


async def _serve(limits: Limits, port: int) -> None:
    state = _State(limits)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(state), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def allowed_share(stats: dict[str, Any]) -> float:
    """Successes over what the bucket could grant between the first and the last success.

    The bucket grants ``rate`` per second plus what it had banked (it starts full), so a client
    that wastes nothing scores 1.0; time before the first answer (process start, imports) and
    after the last is not counted.
    """
    timeline = stats["timeline"]
    busy = [i for i, count in enumerate(timeline) if count]
    if not busy:
        return 0.0
    limits = stats["limits"]
    span = (busy[-1] - busy[0] + 1) * stats["timeline_step"]
    banked = max(1.0, limits["rate"] * limits["burst"]) if limits["rate"] > 0 else 0.0
    return float(sum(timeline)) / (limits["rate"] * span + banked)


# --- the parent side ----------------------------------------------------------------------------


class RateLimitedServer:
    """The server in a child process on a free port; a context manager that stops it."""

    def __init__(self, limits: Limits | None = None, **changes: Any) -> None:
        self.limits = limits or Limits(**changes)
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> RateLimitedServer:
        """Start the child and wait for its port."""
        command = [sys.executable, "-m", "benchmarks.ratelimited", "--port", "0",
                   "--limits", json.dumps(asdict(self.limits))]  # fmt: skip
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        self.process = subprocess.Popen(
            command, cwd=root, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the rate-limited server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    @property
    def base(self) -> str:
        """The OpenAI-style root (``{url}/v1``)."""
        return f"{self.url}/v1"

    def configure(self, limits: Limits | None = None, **changes: Any) -> None:
        """New limits, counters reset (the bucket starts full again)."""
        self.limits = limits or Limits(**{**asdict(self.limits), **changes})
        request = urllib.request.Request(
            f"{self.url}/config", data=json.dumps(asdict(self.limits)).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def stats(self) -> dict[str, Any]:
        """What the server did since the last ``configure``."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def stop(self) -> None:
        """Stop the child process."""
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def __enter__(self) -> RateLimitedServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def rate_limited(**changes: Any) -> Iterator[RateLimitedServer]:
    """``with rate_limited(rate=100, latency=0.05) as server: ...``."""
    server = RateLimitedServer(**changes).start()
    try:
        yield server
    finally:
        server.stop()


def headroom(server: RateLimitedServer, seconds: int = 3, connections: int = 32) -> float:
    """Requests per second the server answers with no limit in the way (32 texts per request).

    Measured with ``wrk`` (C, one thread), so the figure is the server's, not a Python client's.
    """
    script = (
        'wrk.method = "POST"\n'
        f"wrk.body = '{json.dumps({'model': 'bench', 'input': ['headroom text'] * 32})}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    server.configure(rate=1e9, burst=1.0, latency=0.0, count_texts=False)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name,
             f"{server.base}/embeddings"],
            capture_output=True, text=True, check=True, timeout=seconds + 30,
        )  # fmt: skip
    finally:
        Path(handle.name).unlink()
    match = re.search(r"Requests/sec:\s*([\d.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"wrk printed no rate: {done.stdout[-300:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--limits", default="{}", help="JSON of Limits fields")
    parser.add_argument("--headroom", action="store_true", help="measure req/s, then exit")
    args = parser.parse_args()
    if args.headroom:
        with rate_limited() as server:
            print(f"{headroom(server):,.0f} req/s (32 texts per request, 32 connections)")
        return
    asyncio.run(_serve(Limits(**json.loads(args.limits)), args.port))


if __name__ == "__main__":
    main()
