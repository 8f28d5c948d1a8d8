"""Chat completions on the wire: request bodies in, typed results out. Pure; no I/O.

The request follows the OpenAI schema the router speaks (PROTOCOL.md section 1): ``model`` first,
unset parameters omitted. Responses are parsed leniently (missing ids, extra keys, arguments as a
JSON string or an object) into frozen dataclasses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.params import check_params

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
FINISH_REASON_SYNONYMS: dict[str, str] = {
    "eos": "stop",  # together
    "eos_token": "stop",  # TGI 1.x/2.x chat, TGI /generate details
    "stop_sequence": "stop",  # TGI /generate details
    "end_turn": "stop",  # Anthropic-style servers
    "max_tokens": "length",
    "model_length": "length",  # vLLM when the context is full
}
"""Servers' own words for a finish, and OpenAI's (which adapters report); others pass through."""

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the server."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call; ``arguments`` is the raw JSON text the model produced."""

    id: str
    name: str
    arguments: str
    index: int = 0

    def parsed_arguments(self) -> tuple[dict[str, Any] | None, str | None]:
        """``(arguments, None)`` when they are a JSON object, else ``(None, reason)``."""
        text = self.arguments.strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            return None, f"arguments are not valid JSON ({exc})"
        if not isinstance(value, dict):
            return None, f"arguments must be a JSON object, got {type(value).__name__}"
        return value, None


@dataclass(frozen=True, slots=True)
class ChatChoice:
    """One choice of a completion.

    ``finish_reason`` is OpenAI's word (``stop``, ``length``, ``tool_calls``, ...);
    ``native_finish_reason`` is the server's own when it said it differently (``eos_token``).
    """

    index: int = 0
    content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    logprobs: Any = None
    native_finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ChatCompletion:
    """A parsed chat completion (non-streamed, or assembled from a stream)."""

    id: str = ""
    model: str = ""
    created: int | None = None
    choices: tuple[ChatChoice, ...] = ()
    usage: Usage | None = None
    system_fingerprint: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> ChatChoice:
        """The first choice (servers always send at least one)."""
        return self.choices[0]


# --- requests ----------------------------------------------------------------------------------


def has_image_parts(messages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether any message carries an image part (``image_url``): only a vision model takes it."""
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(
            isinstance(part, Mapping) and part.get("type") in ("image_url", "input_image")
            for part in content
        ):
            return True
    return False


def validate_messages(messages: Sequence[Mapping[str, Any]]) -> None:
    """Raise :class:`HFConfigError` for messages the server would reject or misread."""
    items: Any = messages  # callers may pass anything: check the shape before reading it
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise HFConfigError(
            f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got "
            f"{type(items).__name__}."
        )
    if not items:
        raise HFConfigError("messages must not be empty: send at least one user message.")
    for position, message in enumerate(items):
        if not isinstance(message, Mapping):
            raise HFConfigError(
                f"message {position} must be a dict with 'role' and 'content', got "
                f"{type(message).__name__}: {str(message)[:80]!r}."
            )
        role = message.get("role")
        if role not in ROLES:
            raise HFConfigError(
                f"message {position} has role {role!r}; expected one of {sorted(ROLES)}."
            )
        if role == "tool" and not message.get("tool_call_id"):
            raise HFConfigError(f"message {position} (tool) needs the tool_call_id it answers.")
        content = message.get("content")
        if content is None:
            if role == "assistant" and message.get("tool_calls"):
                continue
            if role != "assistant":
                raise HFConfigError(f"message {position} ({role}) has no content.")
            continue
        if isinstance(content, str):
            continue
        if isinstance(content, list) and all(_valid_part(part) for part in content):
            continue
        raise HFConfigError(
            f"message {position} ({role}) content must be a string or a list of "
            f"{{'type': 'text'|'image_url', ...}} parts, got {type(content).__name__}: "
            f"{str(content)[:80]!r}."
        )


def _valid_part(part: Any) -> bool:
    if not isinstance(part, Mapping):
        return False
    if part.get("type") == "text":
        return isinstance(part.get("text"), str)
    if part.get("type") == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, Mapping) else image
        return isinstance(url, str) and bool(url)
    return False


class WireTools(list[dict[str, Any]]):
    """Tool definitions already checked by :func:`validate_tool` (a list, as the body holds it).

    A request built from them again (a bound model's every call) does not check them again;
    ``names`` are the tools' names, for checking a ``tool_choice``.
    """

    names: tuple[str, ...] = ()


def wire_tools(tools: Iterable[Mapping[str, Any]]) -> WireTools:
    """Check each tool definition once; the result is not checked again by later requests."""
    checked = WireTools(validate_tool(tool) for tool in tools)
    checked.names = tuple(tool["function"]["name"] for tool in checked)
    return checked


def validate_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """Check an OpenAI tool definition and return it as a plain dict."""
    function = tool.get("function") if tool.get("type", "function") == "function" else None
    if not isinstance(function, Mapping):
        raise HFConfigError(
            f"tool {str(tool)[:80]!r} must look like {{'type': 'function', 'function': "
            "{'name': ..., 'parameters': {...}}}."
        )
    name = function.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise HFConfigError(
            f"tool name {name!r} is invalid: use 1-64 letters, digits, '_', '-' or '.'."
        )
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, Mapping) or parameters.get("type", "object") != "object":
        raise HFConfigError(
            f"tool {name!r}: parameters must be a JSON schema of type 'object', got "
            f"{str(parameters)[:80]!r}."
        )
    if "properties" in parameters and not isinstance(parameters["properties"], Mapping):
        raise HFConfigError(f"tool {name!r}: parameters.properties must be an object.")
    return {"type": "function", "function": {**function, "parameters": dict(parameters)}}


def normalize_tool_choice(choice: Any, tool_names: Sequence[str]) -> str | dict[str, Any] | None:
    """Map every spelling frameworks use onto the wire form.

    ``auto``/``none``/``required`` pass through; ``any`` and ``True`` mean ``required``; ``False``
    means ``none``; a tool's name or an OpenAI ``{"type": "function", ...}`` dict forces that tool.
    """
    if choice is None:
        return None
    if choice is True or choice == "any":
        return "required"
    if choice is False:
        return "none"
    if choice in ("auto", "none", "required"):
        return str(choice)
    name: Any = None
    if isinstance(choice, str):
        name = choice
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
    if not isinstance(name, str):
        raise HFConfigError(
            f"tool_choice {choice!r} is not understood: use 'auto', 'none', 'required', a tool "
            "name, or {'type': 'function', 'function': {'name': ...}}."
        )
    if tool_names and name not in tool_names:
        raise HFConfigError(
            f"tool_choice names {name!r}, which is not among the bound tools {list(tool_names)}."
        )
    return {"type": "function", "function": {"name": name}}


def json_schema_format(
    name: str, schema: Mapping[str, Any], *, strict: bool | None = None
) -> dict[str, Any]:
    """A ``response_format`` asking for JSON that follows ``schema``."""
    body: dict[str, Any] = {
        "name": re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "output",
        "schema": dict(schema),
    }
    if strict is not None:
        body["strict"] = strict
    return {"type": "json_schema", "json_schema": body}


def is_object_list(value: Any) -> bool:
    """Whether ``value`` is a list (any non-string sequence) of JSON objects (mappings)."""
    return (
        not isinstance(value, (str, bytes))
        and isinstance(value, Sequence)
        and all(isinstance(item, Mapping) for item in value)
    )


TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls")
"""The request fields that mean something only next to tools."""


def drop_tool_fields_without_tools(options: dict[str, Any]) -> bool:
    """Without tools, drop the tool fields and return True; with tools, return False.

    Servers reject tool fields without tools (OpenAI answers 400), except that a ``tool_choice``
    demanding a call (``required`` or a tool's name) cannot be met: that raises
    :class:`HFConfigError`. The one rule for every route that sends tools.
    """
    if options.get("tools"):
        return False
    choice = options.get("tool_choice")
    if choice is not None and normalize_tool_choice(choice, ()) not in ("auto", "none"):
        raise HFConfigError(
            f"tool_choice={choice!r} asks for a tool call, but no tools are sent: bind the "
            "tools first (bind_tools(...) in LangChain, tools=[...] in LlamaIndex)."
        )
    for key in TOOL_FIELDS:
        options.pop(key, None)
    return True


def check_unique_tool_names(names: Sequence[str]) -> None:
    """Raise :class:`HFConfigError` when two tools share a name (a call could not say which)."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise HFConfigError(
                f"two tools are named {name!r}: a tool call names the function it calls, so "
                "each tool needs its own name. Rename one, or bind it once."
            )
        seen.add(name)


def _settle_tools(options: dict[str, Any]) -> None:
    """Check ``tools`` and ``tool_choice`` as the server would, before any request.

    Without tools, see :func:`drop_tool_fields_without_tools`.
    """
    if drop_tool_fields_without_tools(options):
        return
    tools = options["tools"]
    if isinstance(tools, WireTools):  # checked when they were converted or bound
        names: Sequence[str] = tools.names
    elif not is_object_list(tools):
        raise HFConfigError(
            "tools must be a list of {'type': 'function', 'function': {'name': ..., "
            f"'parameters': {{...}}}}}} objects, got {str(tools)[:80]!r}."
        )
    else:
        names = [validate_tool(tool)["function"]["name"] for tool in tools]
    # Per request, not when binding: LangChain binds a model and its schema under one name.
    check_unique_tool_names(names)
    if options.get("tool_choice") is not None:
        normalize_tool_choice(options["tool_choice"], names)


def _settle_logprobs(options: dict[str, Any]) -> None:
    """``top_logprobs`` means ``logprobs: true`` (OpenAI rejects it alone)."""
    if options.get("top_logprobs") is None:
        return
    if options.get("logprobs") is False:
        raise HFConfigError(
            "top_logprobs needs logprobs: drop logprobs=False, or drop top_logprobs."
        )
    options["logprobs"] = True


def build_chat_payload(
    model: str | None,
    messages: Sequence[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    stream: bool = False,
    include_usage: bool = True,
) -> dict[str, Any]:
    """The request body for ``/v1/chat/completions``: ``model`` first, ``None`` values dropped.

    ``params`` may hold any OpenAI field (sampling, ``tools``, ``tool_choice``,
    ``response_format``, ``parallel_tool_calls``) and provider-specific extras, which pass through.
    Without tools, ``tool_choice`` (``auto``/``none``) and ``parallel_tool_calls`` are left out;
    ``top_logprobs`` sets ``logprobs``.
    """
    validate_messages(messages)
    options = {key: value for key, value in (params or {}).items() if value is not None}
    if "max_new_tokens" in options:
        options.setdefault("max_tokens", options["max_new_tokens"])
        del options["max_new_tokens"]
    if isinstance(options.get("stop"), str):
        options["stop"] = [options["stop"]]
    check_params(options)
    _settle_tools(options)
    _settle_logprobs(options)
    payload: dict[str, Any] = {"model": model} if model else {}
    payload["messages"] = [dict(message) for message in messages]
    payload.update(options)
    if stream:
        payload["stream"] = True
        if include_usage:
            payload["stream_options"] = {"include_usage": True, **options.get("stream_options", {})}
    else:
        payload.pop("stream_options", None)
    return payload


# --- responses ---------------------------------------------------------------------------------


def arguments_text(arguments: Any) -> str:
    """Tool-call arguments as JSON text (older TGI sends an object instead of a string)."""
    if arguments is None:
        return ""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments, ensure_ascii=False)


def normalize_finish_reason(raw: Any) -> tuple[str | None, str | None]:
    """``(finish_reason, native_finish_reason)``: OpenAI's word, and the server's if it differs.

    ``"eos"`` and ``"eos_token"`` become ``"stop"`` (see :data:`FINISH_REASON_SYNONYMS`); unknown
    words pass through unchanged; anything but a non-empty string is no finish reason.
    """
    if not isinstance(raw, str) or not raw:
        return None, None
    common = FINISH_REASON_SYNONYMS.get(raw)
    return (raw, None) if common is None else (common, raw)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (lenient parsing of optional objects)."""
    return value if isinstance(value, Mapping) else {}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_usage(raw: Any) -> Usage | None:
    """Usage counts from a ``usage`` object, or ``None`` when absent."""
    if not isinstance(raw, Mapping):
        return None
    prompt, completion = _int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens"))
    prompt_details = raw.get("prompt_tokens_details")
    completion_details = raw.get("completion_tokens_details")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=_int(raw.get("total_tokens"), prompt + completion),
        cached_tokens=_count(prompt_details, "cached_tokens"),
        reasoning_tokens=_count(completion_details, "reasoning_tokens"),
    )


def _count(details: Any, key: str) -> int | None:
    """A count from a ``*_tokens_details`` object; ``None`` when the object or the count is null."""
    value = details.get(key) if isinstance(details, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def tool_call_id(raw: Any) -> str | None:
    """A tool call's id as text; TGI 2.x numbers its calls (``"id": 0``), which is an id too."""
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    return raw if isinstance(raw, str) else str(raw)


def _parse_tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    calls = []
    for position, item in enumerate(raw):
        if not isinstance(item, Mapping):
            continue
        function = as_mapping(item.get("function"))
        calls.append(
            ToolCall(
                id=tool_call_id(item.get("id")) or f"call_{position}",
                name=str(function.get("name") or ""),
                arguments=arguments_text(function.get("arguments")),
                index=_int(item.get("index"), position),
            )
        )
    return tuple(calls)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):  # some providers send content parts back
        return "".join(str(part.get("text", "")) for part in value if isinstance(part, Mapping))
    return str(value)


def parse_chat_completion(body: Any) -> ChatCompletion:
    """Parse a non-streamed chat completion; :class:`HFResponseError` if it has no choices."""
    choices_raw = body.get("choices") if isinstance(body, Mapping) else None
    if not isinstance(choices_raw, list) or not choices_raw:
        raise HFResponseError(
            "The chat completion has no 'choices': the endpoint may not be OpenAI-compatible "
            "(check base_url) or the provider returned an unexpected shape.",
            body=json.dumps(body)[:500] if body is not None else "",
        )
    choices = []
    for position, raw in enumerate(choices_raw):
        raw_choice = as_mapping(raw)
        message = as_mapping(raw_choice.get("message"))
        finish_reason, native = normalize_finish_reason(raw_choice.get("finish_reason"))
        choices.append(
            ChatChoice(
                index=_int(raw_choice.get("index"), position),
                content=_text(message.get("content")),
                reasoning=_text(message.get("reasoning") or message.get("reasoning_content")),
                refusal=_text(message.get("refusal")),
                tool_calls=_parse_tool_calls(message.get("tool_calls")),
                finish_reason=finish_reason,
                logprobs=raw_choice.get("logprobs"),
                native_finish_reason=native,
            )
        )
    known = {"id", "model", "created", "choices", "usage", "system_fingerprint", "object"}
    return ChatCompletion(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        created=_int(body.get("created"), 0) or None,
        choices=tuple(choices),
        usage=parse_usage(body.get("usage")),
        system_fingerprint=body.get("system_fingerprint"),
        extra={key: value for key, value in body.items() if key not in known},
    )
