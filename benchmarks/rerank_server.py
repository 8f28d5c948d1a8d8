"""A loopback reranker with TEI's limits and a chosen latency: the rerank benchmark's server.

It is not a model: it scores by word overlap, so that a relevant document ranks first, and it
answers as TEI does in everything a client can observe:

- ``POST /rerank`` (TEI): ``{"query", "texts", "raw_scores"?, "return_text"?, ...}`` ->
  ``[{"index", "score", "text"?}]``, every text, best first.
- ``POST /v1/rerank`` (Cohere/Jina style, as llama-server answers it): ``{"model"?, "query",
  "documents", "top_n"?}`` -> ``{"model", "object": "list", "usage", "results": [{"index",
  "relevance_score"}]}``, best first, at most ``top_n``.
- More than ``cap`` texts (TEI's ``--max-client-batch-size``, 32 by default): HTTP 413
  ``{"error": "batch size 33 > maximum allowed batch size 32", "error_type": "validation"}``,
  TEI's answer (``--too-large-status 422`` mimics deployments reported to answer 422).
- No texts: HTTP 400 ``{"error": "`texts` cannot be empty", "error_type": "empty"}``; a body that is
  not the route's JSON: HTTP 422 in plain text, as TEI's JSON extractor answers.
- Each accepted request holds one of ``slots`` compute slots for ``latency`` seconds (later
  requests wait for a slot), so ``n`` texts cannot be ranked faster than
  :func:`server_bound_seconds` says, whatever the client does.
- ``GET /health``; ``GET /stats``: rerank requests by status, the largest request (texts, refused
  ones included), the most requests in flight, texts scored.

Run it alone (``python benchmarks/rerank_server.py --latency 0.02``; it prints ``READY <url>``) or
from Python with :func:`start` (a subprocess, so it never competes with the client for the GIL).
Stdlib only, so it runs with any Python.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
TEI_CAP = 32  # TEI's default --max-client-batch-size
_WORD = re.compile(r"\w+")
_REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    411: "Length Required", 413: "Payload Too Large", 422: "Unprocessable Entity",
}  # fmt: skip


def server_bound_seconds(texts: int, *, cap: int, slots: int, latency: float) -> float:
    """The least time any client needs to rank ``texts`` documents on this server."""
    requests = math.ceil(texts / cap)
    return math.ceil(requests / slots) * latency


def relevance(query: str, text: str) -> float:
    """A raw relevance in [-2, 2]: the share of the query's words found in ``text``, rescaled."""
    wanted = set(_WORD.findall(query.lower()))
    if not wanted:
        return -2.0
    found = wanted & set(_WORD.findall(text.lower()))
    return 4.0 * len(found) / len(wanted) - 2.0


def _sigmoid(value: float) -> float:
    return 1.0 / (1.0 + math.exp(-value))


class _Reject(Exception):  # noqa: N818 - a control-flow signal carrying an HTTP answer
    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


def _error(status: int, message: str, error_type: str) -> _Reject:
    return _Reject(status, json.dumps({"error": message, "error_type": error_type}).encode())


class RerankServer:
    """The server's state and request handling (one asyncio loop)."""

    def __init__(self, *, cap: int, slots: int, latency: float, too_large_status: int) -> None:
        self.cap, self.latency, self.too_large_status = cap, latency, too_large_status
        self.gate = asyncio.Semaphore(slots)
        self.statuses: Counter[int] = Counter()
        self.largest = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.scored = 0

    def stats(self) -> dict[str, Any]:
        """The counters, as ``GET /stats`` reports them."""
        return {
            "requests": sum(self.statuses.values()),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "largest_request": self.largest,
            "most_in_flight": self.most_in_flight,
            "texts_scored": self.scored,
        }

    def _texts(self, body: Any, key: str) -> tuple[str, list[str]]:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            raise _Reject(
                422,
                b"Failed to deserialize the JSON body into the target type: missing field `query`",
                "text/plain; charset=utf-8",
            )
        texts = body.get(key)
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise _Reject(
                422,
                b"Failed to deserialize the JSON body into the target type: " + key.encode(),
                "text/plain; charset=utf-8",
            )
        self.largest = max(self.largest, len(texts))
        if not texts:
            raise _error(400, f"`{key}` cannot be empty", "empty")
        if len(texts) > self.cap:
            raise _error(
                self.too_large_status,
                f"batch size {len(texts)} > maximum allowed batch size {self.cap}",
                "validation",
            )
        return body["query"], texts

    async def _compute(self, query: str, texts: list[str]) -> list[tuple[int, float]]:
        async with self.gate:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(self.latency)
            finally:
                self.in_flight -= 1
        self.scored += len(texts)
        ranked = [(index, relevance(query, text)) for index, text in enumerate(texts)]
        ranked.sort(key=lambda item: -item[1])
        return ranked

    async def rerank(self, body: Any) -> Any:
        """TEI ``/rerank``."""
        query, texts = self._texts(body, "texts")
        raw = body.get("raw_scores") is True
        with_text = body.get("return_text") is True
        answer = []
        for index, score in await self._compute(query, texts):
            item: dict[str, Any] = {"index": index, "score": score if raw else _sigmoid(score)}
            if with_text:
                item["text"] = texts[index]
            answer.append(item)
        return answer

    async def v1_rerank(self, body: Any) -> Any:
        """Cohere/Jina-style ``/v1/rerank`` (llama-server's answer)."""
        query, texts = self._texts(body, "documents")
        top_n = body.get("top_n")
        keep = top_n if type(top_n) is int and top_n >= 0 else len(texts)
        ranked = await self._compute(query, texts)
        tokens = sum(len(_WORD.findall(t)) for t in texts) + len(texts) * len(query.split())
        return {
            "model": body.get("model") or "loopback-reranker",
            "object": "list",
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            "results": [{"index": i, "relevance_score": s} for i, s in ranked[:keep]],
        }

    async def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes, str]:
        """Route one request; return status, body and content type."""
        if path == "/health" and method == "GET":
            return 200, b'{"status":"ok"}', "application/json"
        if path == "/stats" and method == "GET":
            return 200, json.dumps(self.stats()).encode(), "application/json"
        handlers = {"/rerank": self.rerank, "/v1/rerank": self.v1_rerank}
        if path not in handlers:
            return 404, b'{"error":"not found"}', "application/json"
        if method != "POST":
            return 405, b"", "text/plain"
        try:
            try:
                parsed = json.loads(body)
            except ValueError:
                raise _Reject(
                    422, b"Failed to parse the request body as JSON", "text/plain; charset=utf-8"
                ) from None
            result = await handlers[path](parsed)
        except _Reject as reject:
            return reject.status, reject.body, reject.content_type
        return 200, json.dumps(result, separators=(",", ":")).encode(), "application/json"

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve HTTP/1.1 requests (Content-Length bodies, keep-alive) on one connection."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                if "content-length" not in headers and method == "POST":
                    status, payload, kind = 411, b"", "text/plain"
                    body = b""
                else:
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                    status, payload, kind = await self.answer(method, target.split("?")[0], body)
                if target.split("?")[0] in ("/rerank", "/v1/rerank"):
                    self.statuses[status] += 1
                close = headers.get("connection", "").lower() == "close"
                writer.write(
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                    f"Content-Type: {kind}\r\nContent-Length: {len(payload)}\r\n"
                    f"{'Connection: close' if close else 'Connection: keep-alive'}\r\n\r\n".encode(
                        "latin-1"
                    )
                    + payload
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _serve(args: argparse.Namespace) -> None:
    server = RerankServer(
        cap=args.cap, slots=args.slots, latency=args.latency, too_large_status=args.too_large_status
    )
    listener = await asyncio.start_server(server.connection, HOST, args.port, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    print(f"READY http://{HOST}:{port}", flush=True)
    async with listener:
        await listener.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Run the server until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--cap", type=int, default=TEI_CAP, help="texts per request, at most")
    parser.add_argument("--slots", type=int, default=4, help="requests computed at once")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--too-large-status", type=int, default=413, choices=(413, 422))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args(argv)))


@dataclass
class Running:
    """A started server: its URL and settings; :meth:`stats` reads its counters."""

    url: str
    cap: int
    slots: int
    latency: float
    process: subprocess.Popen[bytes]

    def stats(self) -> dict[str, Any]:
        """The server's counters (``GET /stats``)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{self.url}/stats", timeout=10) as answer:
            return dict(json.loads(answer.read()))

    def server_bound_seconds(self, texts: int) -> float:
        """The least time any client needs to rank ``texts`` documents here."""
        return server_bound_seconds(texts, cap=self.cap, slots=self.slots, latency=self.latency)


@contextlib.contextmanager
def start(
    *, latency: float = 0.02, cap: int = TEI_CAP, slots: int = 4, too_large_status: int = 413
) -> Iterator[Running]:
    """Start the server in a subprocess on a free port; stop it on exit."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--port", "0", "--cap", str(cap),
        "--slots", str(slots), "--latency", str(latency),
        "--too-large-status", str(too_large_status),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"the rerank server did not start (said {line!r})")
        yield Running(line.removeprefix("READY "), cap, slots, latency, process)
    finally:
        process.terminate()  # no SIGTERM handler: the interpreter ends at once, nothing to flush
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
