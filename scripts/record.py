#!/usr/bin/env python3
"""Record live router exchanges into the replay corpus (``make record``; needs ``HF_TOKEN``).

Runs a matrix against the Inference Providers router (``HFBRIDGE_ROUTER_URL`` when set): a few
chat models x the live providers serving them (from the router's ``/v1/models``) x chat, stream,
tools, streamed tools and structured output (where the catalog says the provider can), a reasoning
model, embeddings, and the errors that can be provoked (400, 401, 404, 422). Each exchange is kept
as it came (status, headers, body), sanitized (no token, cookies or account names: checked before a
file is written) and written to ``tests/replay/recordings/live_*.json`` with the oracle's reading;
``make test`` then replays it through every adapter. Review the diff (the ``expect`` blocks) before
committing a refresh.

Usage::

    HF_TOKEN=hf_... python3 scripts/record.py [--models a,b] [--max-providers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import replay_corpus as corpus  # scripts/ is on the path of a script run from it

DEFAULT_ROUTER = "https://router.huggingface.co"
DEFAULT_HUB = "https://huggingface.co"
CHAT_MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "openai/gpt-oss-20b")
REASONING_MODEL = "deepseek-ai/DeepSeek-R1"
EMBEDDINGS = (
    ("intfloat/multilingual-e5-large", "hf-inference"),
    ("BAAI/bge-large-en-v1.5", "hf-inference"),
)
MISSING_MODEL = "hfbridge-recorder/no-such-model"
QUESTION = "What is the weather like in Paris today? Answer in one sentence."
TOOLS = [
    {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}
    for name, description in (
        ("get_weather", "Get the current weather in a city."),
        ("lookup_population", "Look up how many people live in a city."),
    )
]  # fmt: skip
CITY_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "City", "schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
        "required": ["name", "country"]}},
}  # fmt: skip
TIMEOUT = 120.0


@dataclass
class Exchange:
    """One request of the matrix: what to send, how to name and read the answer."""

    name: str
    kind: str
    provider: str
    model: str
    url: str
    body: dict[str, Any] | None
    method: str = "POST"
    token: str | None = None  # None: the recorder's token
    think: bool = False


@dataclass
class Recorder:
    """Sends each exchange and writes it, sanitized, into the corpus."""

    router: str
    hub: str
    token: str
    out: Path
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=TIMEOUT))
    accounts: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def headers(self, token: str | None) -> dict[str, str]:
        """The request headers, with ``token`` (or the recorder's)."""
        return {"authorization": f"Bearer {token or self.token}",
                "user-agent": "hfbridge-recorder"}  # fmt: skip

    def learn_accounts(self) -> None:
        """The account names to scrub (the user's and its organizations'), from whoami."""
        try:
            answer = self.http.get(f"{self.hub}/api/whoami-v2", headers=self.headers(None))
            body = answer.json() if answer.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            body = {}
        names = [body.get("name"), body.get("fullname"), body.get("email")]
        names += [org.get("name") for org in body.get("orgs") or [] if isinstance(org, dict)]
        self.accounts = [name for name in names if isinstance(name, str) and name]

    def catalog(self) -> list[dict[str, Any]]:
        """The router's ``/v1/models`` entries."""
        answer = self.http.get(f"{self.router}/v1/models", headers=self.headers(None))
        answer.raise_for_status()
        data = answer.json().get("data")
        return data if isinstance(data, list) else []

    def record(self, exchange: Exchange) -> Path | None:
        """Send ``exchange``; write and return its recording (``None`` if it got no answer)."""
        content = json.dumps(exchange.body) if exchange.body is not None else ""
        try:
            with self.http.stream(
                exchange.method, exchange.url, content=content or None,
                headers={**self.headers(exchange.token), "content-type": "application/json"},
            ) as answer:  # fmt: skip
                body = answer.read().decode("utf-8", "replace")
        except httpx.HTTPError as exc:
            print(f"[record] {exchange.name}: no answer ({type(exc).__name__}: {exc})")
            return None
        recording = {
            "name": exchange.name, "provider": exchange.provider, "kind": exchange.kind,
            "model": exchange.model,
            "why": f"live {exchange.kind} through the router ({exchange.provider})",
            "source": {"recorded_by": "scripts/record.py", "router": True, "exact": True,
                       "date": dt.datetime.now(dt.timezone.utc).date().isoformat()},
            "request": {"method": exchange.method, "url": exchange.url, "body": content},
            "response": {"status": answer.status_code,
                         "headers": [[k, v] for k, v in answer.headers.multi_items()],
                         "body": body},
        }  # fmt: skip
        secrets = [self.token] + ([exchange.token] if exchange.token else [])
        clean = corpus.sanitize_recording(recording, secrets=secrets, accounts=self.accounts)
        try:
            clean["expect"] = corpus.expect_for(clean, think=exchange.think)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            clean["expect"] = {"outcome": "unreadable", "note": f"{type(exc).__name__}: {exc}"}
        if exchange.think:
            clean["expect"]["think"] = True
        problems = corpus.leaks(clean, secrets=secrets, accounts=self.accounts)
        if problems:  # e.g. a name split across two stream events: no scrubbing can reach it
            self.refused.append(exchange.name)
            print(f"[record] {exchange.name}: NOT written, it would keep {problems}")
            return None
        path = corpus.write_recording(clean, self.out)
        self.written.append(path)
        print(f"[record] {path.name}: HTTP {answer.status_code}")
        return path


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def live_providers(entry: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """The live providers of a ``/v1/models`` entry, at most ``limit``."""
    providers = [p for p in entry.get("providers") or [] if isinstance(p, dict)]
    return [p for p in providers if p.get("status") == "live" and p.get("provider")][:limit]


def chat_body(model: str, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    """A small chat request (usage asked for in streams)."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": QUESTION}],
                            "max_tokens": 64, **extra}  # fmt: skip
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def matrix(
    recorder: Recorder, models: list[str], reasoning: str, max_providers: int
) -> Iterator[Exchange]:
    """Every exchange to record, in order."""
    from hfbridge.wire.reasoning import thinks_inline

    entries = {entry.get("id"): entry for entry in recorder.catalog() if isinstance(entry, dict)}
    chat_url = f"{recorder.router}/v1/chat/completions"
    for model in [*models, reasoning]:
        entry = entries.get(model)
        if entry is None:
            print(f"[record] {model}: not in the router's catalog, skipped")
            continue
        think = thinks_inline(model)
        for info in live_providers(entry, max_providers):
            provider = info["provider"]
            routed = f"{model}:{provider}"
            stem = f"live_{_slug(model)}_{_slug(provider)}"
            yield Exchange(f"{stem}_chat", "chat", provider, model, chat_url,
                           chat_body(routed), think=think)  # fmt: skip
            yield Exchange(f"{stem}_chat_stream", "chat-stream", provider, model, chat_url,
                           chat_body(routed, stream=True), think=think)  # fmt: skip
            if model == reasoning:
                continue
            if info.get("supports_tools"):
                yield Exchange(f"{stem}_tools", "chat", provider, model, chat_url,
                               chat_body(routed, tools=TOOLS, tool_choice="auto"))  # fmt: skip
                yield Exchange(f"{stem}_tools_stream", "chat-stream", provider, model, chat_url,
                               chat_body(routed, stream=True, tools=TOOLS,
                                         tool_choice="auto"))  # fmt: skip
            if info.get("supports_structured_output"):
                yield Exchange(f"{stem}_structured", "chat", provider, model, chat_url,
                               chat_body(routed, response_format=CITY_SCHEMA))  # fmt: skip
    yield from error_exchanges(recorder, models[0] if models else CHAT_MODELS[0])
    for model, provider in EMBEDDINGS:
        url = f"{recorder.router}/{provider}/models/{model}/pipeline/feature-extraction"
        yield Exchange(f"live_{_slug(model)}_{_slug(provider)}_embeddings", "embeddings-feature",
                       provider, model, url, {"inputs": [QUESTION], "normalize": True})  # fmt: skip


def error_exchanges(recorder: Recorder, model: str) -> Iterator[Exchange]:
    """The errors a client can provoke: 400, 401, 404 and 422 (whatever the router answers)."""
    url = f"{recorder.router}/v1/chat/completions"
    yield Exchange("live_error_400_unknown_provider", "chat", "auto", model, url,
                   chat_body(f"{model}:no-such-provider"))  # fmt: skip
    yield Exchange("live_error_401_invalid_token", "chat", "auto", model, url, chat_body(model),
                   token="hf_" + "x" * 34)  # fmt: skip
    yield Exchange("live_error_404_unknown_model", "chat", "auto", MISSING_MODEL, url,
                   chat_body(MISSING_MODEL))  # fmt: skip
    yield Exchange("live_error_422_stream_without_messages", "chat-stream", "auto", model, url,
                   {"model": model, "stream": True, "messages": "not a list"})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(CHAT_MODELS), help="chat models (a,b,...)")
    parser.add_argument("--reasoning-model", default=REASONING_MODEL)
    parser.add_argument("--max-providers", type=int, default=2, help="providers per model")
    parser.add_argument("--out", type=Path, default=None, help="corpus directory")
    args = parser.parse_args(argv)
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        print("record: set HF_TOKEN (a token with the 'Make calls to Inference Providers' "
              "permission) to record live exchanges", file=sys.stderr)  # fmt: skip
        return 2
    router = (os.environ.get("HFBRIDGE_ROUTER_URL") or DEFAULT_ROUTER).rstrip("/")
    hub = (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB).rstrip("/")
    out = args.out or corpus.CORPUS_DIR
    recorder = Recorder(router=router, hub=hub, token=token, out=out)
    with recorder.http:
        recorder.learn_accounts()
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        for exchange in matrix(recorder, models, args.reasoning_model, args.max_providers):
            recorder.record(exchange)
    print(f"[record] {len(recorder.written)} recordings written to {out}")
    if recorder.refused:
        print(f"[record] refused (would leak): {', '.join(recorder.refused)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
