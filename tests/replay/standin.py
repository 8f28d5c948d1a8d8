"""A loopback stand-in for the router (and the Hub's whoami), for the recorder's and test-live's tests.

It answers what ``scripts/record.py`` and ``scripts/live.py`` ask, in the router's shapes, and
plants what a recording must never keep: the caller's token echoed in a header and a body, a
cookie, and the account's names.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "hf_standinPlantedToken0123456789abcdef"  # the only token the stand-in accepts
ACCOUNT, ORG = "alice-standin-account", "acme-standin-org"
CHAT_MODEL = "standin-org/chat-model"
REASONING_MODEL = "deepseek-ai/DeepSeek-R1"
EMBED_MODEL = "intfloat/multilingual-e5-large"
CATALOG = {
    "object": "list",
    "data": [
        {"id": CHAT_MODEL, "object": "model", "providers": [
            {"provider": "nebius", "status": "live", "supports_tools": True,
             "supports_structured_output": True, "pricing": {"input": 0.1, "output": 0.2}},
            {"provider": "broken-provider", "status": "error"},
        ]},
        {"id": REASONING_MODEL, "object": "model",
         "providers": [{"provider": "together", "status": "live"}]},
    ],
}  # fmt: skip


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    body = {"id": "c-1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class Handler(BaseHTTPRequestHandler):
    """One request of the stand-in."""

    server_version = "standin"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("set-cookie", "session=planted-cookie; Path=/; HttpOnly")
        self.send_header("x-echo-authorization", self.headers.get("authorization", ""))
        self.send_header("x-account", ACCOUNT)
        self.send_header("x-request-id", "standin-request-1")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode())

    def _authorized(self) -> bool:
        if self.headers.get("authorization") == f"Bearer {TOKEN}":
            return True
        self._json(401, {"error": "Invalid username or password."})
        return False

    def do_GET(self) -> None:
        """The catalog and whoami."""
        if not self._authorized():
            return
        if self.path == "/api/whoami-v2":
            self._json(200, {"name": ACCOUNT, "orgs": [{"name": ORG}]})
        elif self.path == "/v1/models":
            self._json(200, CATALOG)
        else:
            self._json(404, {"error": "Not Found"})

    def do_POST(self) -> None:
        """Chat completions and feature extraction."""
        if not self._authorized():
            return
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        body = json.loads(raw or b"{}")
        if self.path.endswith("/pipeline/feature-extraction"):
            self._json(200, [[0.25, -0.5, 0.75, 0.0]])
        elif self.path == "/v1/chat/completions":
            self._chat(body)
        else:
            self._json(404, {"error": "Not Found"})

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "")
        if not isinstance(body.get("messages"), list):
            text = b"Failed to deserialize the JSON body into the target type: messages"
            self._send(422, text, "text/plain; charset=utf-8")
            return
        if model.endswith(":no-such-provider"):
            self._json(400, {"error": {"message": f"Model {model} is not supported by provider "
                                       "no-such-provider", "code": "model_not_supported"}})
            return
        if model.split(":", maxsplit=1)[0] not in (CHAT_MODEL, REASONING_MODEL):
            self._json(404, {"error": f"Model {model} does not exist"})
            return
        reasoning = model.startswith(REASONING_MODEL)
        text = f"<think>\nThe user is {ACCOUNT}.\n</think>\n\nSunny." if reasoning else "Sunny."
        usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        tools = bool(body.get("tools"))
        if body.get("stream"):
            self._send(200, self._stream(text, tools, usage), "text/event-stream")
            return
        message: dict[str, Any] = {"role": "assistant", "content": None if tools else text}
        if tools:
            message["tool_calls"] = [{"id": "call_1", "type": "function", "function": {
                "name": "get_weather", "arguments": '{"city": "Paris"}'}}]  # fmt: skip
        if body.get("response_format"):
            message["content"] = '{"name": "Paris", "country": "France"}'
        self._json(200, {"id": "c-1", "object": "chat.completion", "model": model,
                         "system_fingerprint": TOKEN,  # a server echoing a secret
                         "choices": [{"index": 0, "message": message,
                                      "finish_reason": "tool_calls" if tools else "stop"}],
                         "usage": usage})  # fmt: skip

    @staticmethod
    def _stream(text: str, tools: bool, usage: dict[str, int]) -> bytes:
        if tools:
            parts = [
                _chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1",
                        "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
                _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
                _chunk({}, "tool_calls"),
            ]  # fmt: skip
        else:
            middle = len(text) // 2
            parts = [_chunk({"role": "assistant", "content": text[:middle]}),
                     _chunk({"content": text[middle:]}), _chunk({}, "stop")]  # fmt: skip
        usage_chunk = {"id": "c-1", "object": "chat.completion.chunk", "choices": [],
                       "usage": usage}  # fmt: skip
        return b"".join(parts) + b"data: " + json.dumps(usage_chunk).encode() + b"\n\ndata: [DONE]\n\n"


@contextmanager
def standin() -> Iterator[str]:
    """Run the stand-in on a free loopback port; yield its root URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
