"""The replay corpus: its file format, the sanitizer every recording goes through, and the oracle.

A recording is one HTTP exchange (``tests/replay/recordings/<name>.json``)::

    {"name": ..., "provider": ..., "kind": ..., "model": ..., "source": {...},
     "request": {"method", "url", "body"},
     "response": {"status", "headers": [[name, value], ...], "body"},
     "expect": {...}}

``response.body`` is the body text exactly as the server sent it (UTF-8). ``source`` says where
the exchange comes from (repository, path, commit, entry) or that hfbridge's recorder made it.
``expect`` is what the body says, read by :func:`expect_for` (the oracle): a deliberately plain
reading of the documented protocol, independent of hfbridge's parsers, which the replay tests then
hold every adapter to. Extraction and the recorder may add to it (an error class, message
fragments, reasoning the model family writes inline).

Loaded by path from ``scripts/replay_extract.py``, ``scripts/record.py`` and the unit tests; it
uses the standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

CORPUS_DIR = Path(__file__).resolve().parent.parent / "tests" / "replay" / "recordings"
FORMAT_VERSION = 1

KINDS = (
    "chat",  # OpenAI chat completion (JSON)
    "chat-stream",  # OpenAI chat completion chunks (SSE)
    "completions",  # OpenAI /v1/completions (JSON)
    "generate",  # TGI /generate or the hf-inference text-generation task (JSON)
    "generate-stream",  # TGI /generate_stream token events (SSE)
    "embeddings-feature",  # hf-inference / TEI feature-extraction (JSON numbers)
    "embeddings-openai",  # OpenAI /v1/embeddings (JSON)
)

# --- sanitizing -----------------------------------------------------------------------------------

REDACTED = "***"
ACCOUNT = "<account>"
DROPPED_HEADERS = frozenset({"set-cookie", "cookie", "authorization", "proxy-authorization"})
"""Response headers never kept: credentials and cookies."""
ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project", "x-hf-bill-to"})
"""Response headers whose value names an account: kept, with the value masked."""
_HF_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def scrub(text: str, secrets: Iterable[str] = (), accounts: Iterable[str] = ()) -> str:
    """``text`` without the secrets, HF-shaped tokens, bearer credentials and account names."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _HF_TOKEN_SHAPE.sub(REDACTED, text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    for account in sorted({a for a in accounts if a}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(account)}(?![\w-])", ACCOUNT, text)
    return text


def sanitize_headers(
    headers: Iterable[tuple[str, str]], secrets: Iterable[str] = (), accounts: Iterable[str] = ()
) -> tuple[list[list[str]], list[str]]:
    """Headers safe to keep, and a note of each one dropped or masked."""
    secrets, accounts = list(secrets), list(accounts)
    kept: list[list[str]] = []
    notes: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower in DROPPED_HEADERS:
            notes.append(f"{lower} dropped")
            continue
        if lower in ACCOUNT_HEADERS:
            notes.append(f"{lower} masked")
            kept.append([name, ACCOUNT])
            continue
        clean = scrub(value, secrets, accounts)
        if clean != value:
            notes.append(f"{lower} scrubbed")
        kept.append([name, clean])
    return kept, sorted(set(notes))


def sanitize_recording(
    recording: dict[str, Any], secrets: Iterable[str] = (), accounts: Iterable[str] = ()
) -> dict[str, Any]:
    """The recording with credentials, cookies and account identifiers removed (a new dict).

    Request headers are never stored. What was removed is listed in ``source["sanitized"]``.
    """
    secrets, accounts = list(secrets), list(accounts)
    clean = json.loads(json.dumps(recording))
    request, response = clean["request"], clean["response"]
    request.pop("headers", None)
    request["url"] = scrub(request["url"], secrets, accounts)
    request["body"] = scrub(request.get("body") or "", secrets, accounts)
    headers, notes = sanitize_headers(
        [(str(k), str(v)) for k, v in response.get("headers", [])], secrets, accounts
    )
    response["headers"] = headers
    body = response.get("body") or ""
    response["body"] = scrub(body, secrets, accounts)
    if response["body"] != body:
        notes.append("body scrubbed")
    if notes:
        clean.setdefault("source", {})["sanitized"] = sorted(set(notes))
    return clean


def leaks(
    recording: Mapping[str, Any], secrets: Iterable[str] = (), accounts: Iterable[str] = ()
) -> list[str]:
    """What in ``recording`` should not be there (empty when it is clean).

    A stream is also read as the text it assembles to: a secret or a name split across two events
    is found there (no single event holds it, so :func:`sanitize_recording` cannot scrub it).
    """
    secrets, accounts = [s for s in secrets if s], [a for a in accounts if a]
    text = json.dumps(recording, ensure_ascii=False)
    assembled = streamed_text(recording.get("response", {}).get("body") or "")
    found = [f"secret {s[:4]}..." for s in secrets if s in text or s in assembled]
    found += [f"account name {a!r}" for a in accounts if a in text or a in assembled]
    if _HF_TOKEN_SHAPE.search(text) or _HF_TOKEN_SHAPE.search(assembled):
        found.append("an hf_ token")
    if re.search(r"(?i)bearer\s+(?!\*\*\*)[^\s\"',;]+", text):
        found.append("a bearer credential")
    for name, value in recording.get("response", {}).get("headers", []):
        lower = str(name).lower()
        if lower in DROPPED_HEADERS:
            found.append(f"header {lower}")
        if lower in ACCOUNT_HEADERS and value != ACCOUNT:
            found.append(f"header {lower} unmasked")
    if "headers" in recording.get("request", {}):
        found.append("request headers")
    return found


_STREAMED_FIELDS = ("content", "reasoning_content", "reasoning", "text", "arguments")


def streamed_text(body: str) -> str:
    """The text fields of an SSE body's events, joined in order (``""`` if it is not SSE)."""
    payloads, _ = sse_payloads(body)
    pieces: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in _STREAMED_FIELDS and isinstance(item, str):
                    pieces.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for payload in payloads:
        walk(_json_or_text(payload))
    return "".join(pieces)


def _json_or_text(payload: str) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return {"text": payload}


# --- reading bodies -------------------------------------------------------------------------------


def sse_payloads(body: str) -> tuple[list[str], bool]:
    """The ``data`` payloads of an SSE body, and whether ``[DONE]`` ended it."""
    payloads: list[str] = []
    data: list[str] = []
    for line in [*re.split(r"\r\n|\r|\n", body), ""]:
        if not line:
            if data:
                payload = "\n".join(data)
                data = []
                if payload.strip() == "[DONE]":
                    return payloads, True
                payloads.append(payload)
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return payloads, False


STOP_SYNONYMS = {"eos": "stop", "eos_token": "stop", "stop_sequence": "stop", "end_turn": "stop"}
LENGTH_SYNONYMS = {"max_tokens": "length", "model_length": "length"}


def finish(raw: Any) -> tuple[str | None, str | None]:
    """``(finish_reason, native_finish_reason)``: OpenAI's word, and the server's if different."""
    if not isinstance(raw, str) or not raw:
        return None, None
    common = STOP_SYNONYMS.get(raw) or LENGTH_SYNONYMS.get(raw) or raw
    return common, (raw if common != raw else None)


def usage_of(raw: Any) -> list[int] | None:
    """``[prompt, completion, total]`` from a usage object."""
    if not isinstance(raw, Mapping):
        return None
    prompt, completion = raw.get("prompt_tokens") or 0, raw.get("completion_tokens") or 0
    return [prompt, completion, raw.get("total_tokens") or prompt + completion]


def split_think(text: str) -> tuple[str | None, str]:
    """``(reasoning, answer)`` of a text that opens with ``<think>`` (else ``(None, text)``)."""
    stripped = text.lstrip()
    if not stripped.startswith("<think>"):
        return None, text
    inner = stripped[len("<think>") :]
    reasoning, closed, answer = inner.partition("</think>")
    return reasoning.lstrip(), answer.lstrip() if closed else ""


def _tool_calls(items: Any) -> list[dict[str, Any]]:
    calls = []
    for position, item in enumerate(items if isinstance(items, list) else []):
        function = item.get("function") or {}
        arguments = function.get("arguments")
        parsed = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
        call_id = item.get("id")
        calls.append(
            {"id": str(call_id) if call_id not in (None, "") else f"call_{position}",
             "name": function.get("name"), "arguments": parsed}
        )  # fmt: skip
    return calls


def request_id(headers: Sequence[Sequence[str]]) -> str | None:
    """The first request-id header (``x-request-id``, ``x-amzn-trace-id``, ``x-amz-cf-id``)."""
    by_name = {str(name).lower(): str(value) for name, value in headers}
    for name in ("x-request-id", "x-amzn-trace-id", "x-amz-cf-id"):
        if by_name.get(name):
            return by_name[name]
    return None


STATUS_CLASSES = {
    400: "HFBadRequestError", 401: "HFAuthenticationError", 402: "HFPaymentRequiredError",
    403: "HFPermissionError", 404: "HFNotFoundError", 413: "HFPayloadTooLargeError",
    422: "HFUnprocessableError", 429: "HFRateLimitError",
}  # fmt: skip


def _error_message(body: str) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip() or None
    if not isinstance(parsed, dict):
        return None
    error = parsed.get("error")
    if isinstance(error, dict):
        return error.get("message")
    if isinstance(error, str):
        return error
    message = parsed.get("message") or parsed.get("detail")
    return message if isinstance(message, str) else None


def _chat_json(body: Any, think: bool) -> dict[str, Any]:
    choice = body["choices"][0]
    message = choice.get("message") or {}
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if think and not reasoning:
        reasoning, content = split_think(content)
    reason, native = finish(choice.get("finish_reason"))
    return {
        "text": content, "reasoning": reasoning or None, "finish_reason": reason,
        "native_finish_reason": native, "usage": usage_of(body.get("usage")),
        "tool_calls": _tool_calls(message.get("tool_calls")),
    }  # fmt: skip


def _tool_items(delta: Mapping[str, Any]) -> list[Any]:
    items = delta.get("tool_calls")
    if isinstance(items, dict):  # TGI 2.0 streamed one call as an object
        return [items]
    return items if isinstance(items, list) else []


def _chat_stream(payloads: list[str], done: bool, think: bool) -> dict[str, Any]:
    content, reasoning, raw_finish, usage = "", "", None, None
    calls: dict[int, dict[str, Any]] = {}
    for payload in payloads:
        event = json.loads(payload)
        if event.get("error"):
            error = event["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            return {"outcome": "error", "error": {"class": "HFStreamError", "message": [message]}}
        if event.get("usage"):
            usage = usage_of(event["usage"])
        for choice in event.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
            raw_finish = choice.get("finish_reason") or raw_finish
            for position, item in enumerate(_tool_items(delta)):
                call = calls.setdefault(item.get("index", position), {"id": None, "name": None,
                                                                      "arguments": ""})  # fmt: skip
                function = item.get("function") or {}
                call["id"] = call["id"] or (str(item["id"]) if item.get("id") not in (None, "")
                                            else None)  # fmt: skip
                call["name"] = call["name"] or function.get("name")
                arguments = function.get("arguments")
                call["arguments"] += (
                    arguments if isinstance(arguments, str) else json.dumps(arguments or {})
                )
    if think and not reasoning:
        split, content = split_think(content)
        reasoning = split or ""
    reason, native = finish(raw_finish)
    outcome = "ok" if done or raw_finish else "cut"
    tool_calls = [
        {"id": call["id"] or f"call_{index}", "name": call["name"],
         "arguments": json.loads(call["arguments"] or "{}")}
        for index, call in sorted(calls.items())
    ]  # fmt: skip
    return {
        "outcome": outcome, "text": content, "reasoning": reasoning or None,
        "finish_reason": reason, "native_finish_reason": native, "usage": usage,
        "tool_calls": tool_calls,
    }  # fmt: skip


def _tgi_usage(details: Any, headers: Sequence[Sequence[str]]) -> list[int] | None:
    by_name = {str(name).lower(): str(value) for name, value in headers}
    details = details if isinstance(details, Mapping) else {}
    prompt = details.get("input_length")
    if prompt is None and by_name.get("x-prompt-tokens", "").isdecimal():
        prompt = int(by_name["x-prompt-tokens"])
    completion = details.get("generated_tokens")
    if completion is None and by_name.get("x-generated-tokens", "").isdecimal():
        completion = int(by_name["x-generated-tokens"])
    if prompt is None and completion is None:
        return None
    return [prompt or 0, completion or 0, (prompt or 0) + (completion or 0)]


def _generate(body: Any, headers: Sequence[Sequence[str]]) -> dict[str, Any]:
    item = body[0] if isinstance(body, list) else body
    details = item.get("details")
    reason, native = finish((details or {}).get("finish_reason"))
    return {
        "text": item["generated_text"], "finish_reason": reason, "native_finish_reason": native,
        "usage": _tgi_usage(details, headers),
    }  # fmt: skip


def _generate_stream(payloads: list[str], headers: Sequence[Sequence[str]]) -> dict[str, Any]:
    text, details, final = "", None, False
    for payload in payloads:
        event = json.loads(payload)
        if event.get("error"):
            return {"outcome": "error",
                    "error": {"class": "HFStreamError", "message": [str(event["error"])]}}
        token = event.get("token") or {}
        if not token.get("special"):
            text += token.get("text") or ""
        if isinstance(event.get("generated_text"), str):
            final = True
        details = event.get("details") or details
    reason, native = finish((details or {}).get("finish_reason"))
    return {
        "outcome": "ok" if final else "cut", "text": text, "finish_reason": reason,
        "native_finish_reason": native, "usage": _tgi_usage(details, headers),
    }  # fmt: skip


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    return depth


def expect_for(recording: Mapping[str, Any], *, think: bool = False) -> dict[str, Any]:
    """What the recorded answer says, in the terms the replay tests check.

    ``think``: the model writes its reasoning inline as ``<think>...</think>`` (DeepSeek-R1 family).
    """
    response = recording["response"]
    status, body, headers = response["status"], response.get("body") or "", response["headers"]
    kind = recording["kind"]
    expect: dict[str, Any] = {"outcome": "ok", "request_id": request_id(headers)}
    if status >= 400:
        cls = STATUS_CLASSES.get(status, "HFServerError" if status >= 500 else "HFStatusError")
        message = _error_message(body)
        expect.update(
            outcome="error",
            error={"class": cls, "status": status, "message": [message] if message else []},
        )
        return expect
    if kind in ("chat-stream", "generate-stream"):
        payloads, done = sse_payloads(body)
        if kind == "chat-stream":
            expect.update(_chat_stream(payloads, done, think))
        else:
            expect.update(_generate_stream(payloads, headers))
    elif kind == "chat":
        expect.update(_chat_json(json.loads(body), think))
    elif kind == "completions":
        parsed = json.loads(body)
        reason, native = finish(parsed["choices"][0].get("finish_reason"))
        expect.update(text=parsed["choices"][0]["text"], finish_reason=reason,
                      native_finish_reason=native, usage=usage_of(parsed.get("usage")))  # fmt: skip
    elif kind == "generate":
        expect.update(_generate(json.loads(body), headers))
    elif kind == "embeddings-openai":
        data = json.loads(body)["data"]
        expect["vectors"] = {"count": len(data), "dim": len(data[0]["embedding"])}
    elif kind == "embeddings-feature":
        parsed = json.loads(body)
        depth = _depth(parsed)
        row = parsed
        while _depth(row) > 1:
            row = row[0]
        expect["vectors"] = {"count": 1, "dim": len(row), "depth": depth}
    return {key: value for key, value in expect.items() if value is not None}


# --- files ----------------------------------------------------------------------------------------


def write_recording(recording: Mapping[str, Any], directory: Path = CORPUS_DIR) -> Path:
    """Write ``recording`` as ``<name>.json`` (sorted keys off: the order above is kept)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{recording['name']}.json"
    path.write_text(json.dumps(recording, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_recordings(directory: Path = CORPUS_DIR) -> list[dict[str, Any]]:
    """Every recording of the corpus, by name."""
    return [
        json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))
    ]
