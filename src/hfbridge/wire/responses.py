"""The OpenAI Responses API (``POST /v1/responses``) on the wire: the request side. Pure; no I/O.

The route in the parts a service loop needs: :func:`build_responses_payload` (here) turns the
chat-level inputs every adapter already produces (OpenAI chat messages, chat-style tools and
parameters) into a Responses request; :func:`~hfbridge.wire.responses_result.parse_response` reads
a non-streamed answer; :class:`~hfbridge.wire.responses_stream.ResponsesStreamFold` folds the typed
stream events into the chat route's per-event deltas and owns the end rule.

Servers differ (``tests/fixtures/responses/README.md`` has the recordings): llama.cpp's
``llama-server`` converts the request to a chat completion and rejects ``previous_response_id``;
the Hugging Face router (``responses.js``) accepts only ``input_text``/``input_image`` parts and a
string tool output, runs remote MCP tools itself, and keeps no responses (it drops
``previous_response_id``: :func:`check_stateless` refuses it first); OpenAI rejects unknown
parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hfbridge.errors import HFConfigError
from hfbridge.wire.chat import (
    as_mapping,
    check_unique_tool_names,
    drop_tool_fields_without_tools,
    is_object_list,
    json_schema_format,
    normalize_tool_choice,
    validate_messages,
    validate_tool,
)
from hfbridge.wire.params import check_param, check_params
from hfbridge.wire.responses_result import parse_response
from hfbridge.wire.responses_stream import ResponsesStreamFold
from hfbridge.wire.route import Route, Target
from hfbridge.wire.stream import StreamDelta
from hfbridge.wire.stream_end import TERMINAL_EVENT

if TYPE_CHECKING:
    from hfbridge.wire.chat import ChatCompletion

RESPONSES_PATH = "responses"
"""The route, relative to the OpenAI-style base URL (``.../v1``)."""

STREAM_END = TERMINAL_EVENT
"""The transport's end rule for this route (no ``[DONE]`` is promised): a body is complete once
``response.completed`` or ``response.incomplete`` came, the moment the fold's ``finished`` turns
true (:mod:`hfbridge.wire.stream_end`)."""

CHAT_ONLY_PARAMS: tuple[str, ...] = (
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "stream_options",
)
"""Chat-completions parameters the Responses API has no field for (OpenAI rejects them)."""


def _text_of(content: Any) -> str:
    """The text of a chat ``content`` (a string, or a list of parts whose text parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        str(part.get("text", ""))
        for part in content
        if isinstance(part, Mapping) and part.get("type") == "text"
    )


def _input_part(part: Mapping[str, Any]) -> dict[str, Any]:
    if part["type"] == "text":
        return {"type": "input_text", "text": part["text"]}
    image = part["image_url"]
    url = image.get("url") if isinstance(image, Mapping) else image
    converted: dict[str, Any] = {"type": "input_image", "image_url": url}
    detail = image.get("detail") if isinstance(image, Mapping) else None
    if detail:
        converted["detail"] = detail
    return converted


def _message_items(position: int, message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The input items of one (validated) chat message."""
    role, content = message["role"], message.get("content")
    if role == "tool":
        if isinstance(content, list) and any(part.get("type") != "text" for part in content):
            raise HFConfigError(
                f"message {position} (tool) holds an image: the Responses API takes text tool "
                "results only. Send the image in a user message instead."
            )
        return [
            {
                "type": "function_call_output",
                "call_id": str(message["tool_call_id"]),
                "output": _text_of(content),
            }
        ]
    if role == "assistant":
        items: list[dict[str, Any]] = []
        text = _text_of(content)
        if text:
            items.append({"type": "message", "role": "assistant", "content": text})
        for call in message.get("tool_calls") or ():
            function = as_mapping(as_mapping(call).get("function"))
            call_id, name = as_mapping(call).get("id"), function.get("name")
            if not call_id or not isinstance(name, str) or not name:
                raise HFConfigError(
                    f"message {position} (assistant) has a tool call without its id or name: "
                    f"{str(call)[:80]!r}. Replay tool calls as the model returned them."
                )
            arguments = function.get("arguments")
            items.append(
                {
                    "type": "function_call",
                    "call_id": str(call_id),
                    "name": name,
                    "arguments": arguments
                    if isinstance(arguments, str)
                    else json.dumps(arguments or {}, ensure_ascii=False),
                }
            )
        return items
    if isinstance(content, str):
        return [{"type": "message", "role": role, "content": content}]
    parts = [_input_part(part) for part in content or ()]
    return [{"type": "message", "role": role, "content": parts}]


def messages_to_input(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as Responses ``input`` items.

    System and developer messages stay in place as messages of that role (``instructions`` may
    be given as a parameter too); an assistant turn becomes a ``message`` item for its text and
    one ``function_call`` item per tool call; a tool result becomes a ``function_call_output``;
    ``image_url`` parts become ``input_image`` parts. Raises :class:`HFConfigError` first for
    messages no server would accept.
    """
    validate_messages(messages)
    items: list[dict[str, Any]] = []
    for position, message in enumerate(messages):
        items.extend(_message_items(position, message))
    return items


def _flat_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A function tool in the Responses (flat) shape, from the chat or the flat shape."""
    nested = tool if "function" in tool else {"type": "function", "function": dict(tool)}
    function = validate_tool(nested)["function"]
    flat: dict[str, Any] = {
        "type": "function",
        "name": function["name"],
        "parameters": function["parameters"],
    }
    for key in ("description", "strict"):
        if function.get(key) is not None:
            flat[key] = function[key]
    return flat


SERVER_TOOL_TYPES = frozenset(
    {
        "mcp",
        "web_search",
        "web_search_preview",
        "file_search",
        "code_interpreter",
        "image_generation",
        "computer_use_preview",
        "local_shell",
    }
)
"""Tool types the server runs itself (remote MCP, OpenAI's built-in tools)."""


def is_server_tool(tool: Any) -> bool:
    """Whether ``tool`` runs on the server (``{"type": "mcp", ...}``, a built-in tool).

    Such tools exist on the Responses API only; a chat-completions request cannot carry them.
    (A JSON schema given as a tool, ``{"type": "object", ...}``, is not one.)
    """
    return isinstance(tool, Mapping) and tool.get("type") in SERVER_TOOL_TYPES


def _check_mcp(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A remote MCP tool as sent: ``require_approval`` defaults to ``"never"``.

    The router (``responses.js``) defaults to ``"always"``, which answers every call to the tool
    with an approval request and no text; binding a tool means wanting it called. Pass
    ``require_approval="always"`` (or a per-tool filter) to review calls: the requests are then in
    the answer's metadata (``mcp_approval_requests``).
    """
    for key in ("server_label", "server_url"):
        if not isinstance(tool.get(key), str) or not tool[key]:
            raise HFConfigError(
                f"remote MCP tool {str(tool)[:80]!r} needs a {key!r}: use {{'type': 'mcp', "
                "'server_label': 'name', 'server_url': 'https://...', 'require_approval': "
                "'never'}."
            )
    return {**tool, "require_approval": tool.get("require_approval") or "never"}


def _tools(raw: Any) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The tools as sent, the function names, and whether a server-side tool is among them."""
    if not is_object_list(raw):
        raise HFConfigError(
            "tools must be a list of {'type': 'function', 'function': {'name': ..., "
            f"'parameters': {{...}}}}}} or {{'type': 'mcp', ...}} objects, got {str(raw)[:80]!r}."
        )
    tools: list[dict[str, Any]] = []
    names: list[str] = []
    server_side = False
    for tool in raw:
        kind = tool.get("type", "function")
        if kind == "function":
            flat = _flat_tool(tool)
            names.append(flat["name"])
            tools.append(flat)
        elif kind == "mcp":
            tools.append(_check_mcp(tool))
            server_side = True
        else:  # a built-in tool of the server (web search, ...): passed through as given
            tools.append(dict(tool))
            server_side = True
    check_unique_tool_names(names)
    return tools, names, server_side


def _tool_choice(choice: Any, names: list[str], server_side: bool) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") not in (None, "function"):
        return dict(choice)  # {"type": "mcp", ...} or a built-in tool's choice
    # A forced name may belong to an MCP server's tools, which only the server knows.
    normalized = normalize_tool_choice(choice, () if server_side else names)
    if isinstance(normalized, Mapping):
        return {"type": "function", "name": normalized["function"]["name"]}
    return normalized


def _settle_tools(options: dict[str, Any]) -> None:
    """Tools in the Responses shape; the chat route's rule for tool fields without tools."""
    if drop_tool_fields_without_tools(options):
        return
    raw = options["tools"]
    tools, names, server_side = _tools(raw)
    options["tools"] = tools
    if options.get("tool_choice") is not None:
        options["tool_choice"] = _tool_choice(options["tool_choice"], names, server_side)


def text_format(response_format: Any) -> dict[str, Any]:
    """A chat ``response_format`` as the Responses ``text.format`` object."""
    if not isinstance(response_format, Mapping) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise HFConfigError(
            f"response_format {str(response_format)[:80]!r} is not understood: use "
            "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}, "
            "{'type': 'json_object'} or {'type': 'text'}."
        )
    if response_format["type"] != "json_schema":
        return {"type": response_format["type"]}
    spec = as_mapping(response_format.get("json_schema"))
    schema = spec.get("schema")
    if not isinstance(schema, Mapping):
        raise HFConfigError(
            "response_format json_schema needs a 'schema' object: "
            "{'type': 'json_schema', 'json_schema': {'name': ..., 'schema': {...}}}."
        )
    body = json_schema_format(str(spec.get("name") or "output"), schema, strict=spec.get("strict"))
    converted: dict[str, Any] = {"type": "json_schema", **body["json_schema"]}
    if isinstance(spec.get("description"), str):
        converted["description"] = spec["description"]
    return converted


def _check_chat_only(options: Mapping[str, Any]) -> None:
    present = [key for key in CHAT_ONLY_PARAMS if options.get(key) not in (None, False)]
    n = options.get("n")
    if n is not None and n != 1:
        present.append("n")
    if present:
        raise HFConfigError(
            f"{', '.join(present)} {'is' if len(present) == 1 else 'are'} not part of the "
            "Responses API: drop them, or call chat completions (use_responses_api=False)."
        )


def _max_output_tokens(options: dict[str, Any]) -> None:
    for alias in ("max_new_tokens", "max_tokens", "max_completion_tokens"):
        value = options.pop(alias, None)
        if value is not None:
            options.setdefault("max_output_tokens", value)
    check_param("max_output_tokens", options.get("max_output_tokens"))


def _reasoning(options: dict[str, Any]) -> None:
    effort = options.pop("reasoning_effort", None)
    reasoning = options.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, Mapping):
        raise HFConfigError(
            f"reasoning must be a dict such as {{'effort': 'low'}}, got {reasoning!r}."
        )
    if effort is None:
        return
    if not isinstance(effort, str):
        raise HFConfigError(f"reasoning_effort must be a string such as 'low', got {effort!r}.")
    options["reasoning"] = {**(reasoning or {}), "effort": effort}


def build_responses_payload(
    model: str | None,
    messages: Sequence[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    stream: bool = False,
    mirror_response_format: bool = False,
) -> dict[str, Any]:
    """The request body for ``/v1/responses``: ``model`` first, ``None`` values dropped.

    ``params`` takes the chat route's spellings and maps them: ``max_tokens`` (or
    ``max_new_tokens``) to ``max_output_tokens``, ``response_format`` to ``text.format``,
    ``reasoning_effort`` to ``reasoning.effort``, chat-style function tools to the flat Responses
    shape (remote MCP tools ``{"type": "mcp", ...}`` and other server tools pass through), a forced
    ``tool_choice`` to ``{"type": "function", "name": ...}``. Responses fields (``instructions``,
    ``previous_response_id``, ``store``, ``include``, ``metadata``, ``truncation``) and
    provider-specific extras pass through. Chat-only parameters (:data:`CHAT_ONLY_PARAMS`,
    ``n`` other than 1) and ``background`` raise :class:`HFConfigError` before any request.

    ``mirror_response_format`` also sends the chat-style ``response_format`` beside
    ``text.format``: llama.cpp's ``llama-server`` reads only that one (it ignores ``text.format``,
    recorded in ``tests/fixtures/responses``), while OpenAI rejects it, so only a self-hosted
    server should get it.
    """
    input_items = messages_to_input(messages)
    options = {key: value for key, value in (params or {}).items() if value is not None}
    check_params(options)
    _check_chat_only(options)
    options.pop("n", None)
    options.pop("logprobs", None)
    if options.get("background"):
        raise HFConfigError(
            "background=True is not supported: hfbridge waits for each response. Drop it."
        )
    _max_output_tokens(options)
    _reasoning(options)
    if "response_format" in options:
        converted = text_format(options.pop("response_format"))
        options["text"] = {**as_mapping(options.get("text")), "format": converted}
        if mirror_response_format:
            spec = {key: value for key, value in converted.items() if key != "type"}
            options["response_format"] = (
                {"type": "json_schema", "json_schema": spec}
                if converted["type"] == "json_schema"
                else {"type": converted["type"]}
            )
    _settle_tools(options)
    payload: dict[str, Any] = {"model": model} if model else {}
    payload["input"] = input_items
    payload.update(options)
    payload.pop("stream", None)
    if stream:
        payload["stream"] = True
    return payload


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A validated Responses request: the body without its ``model``, and the parameters."""

    body: Mapping[str, Any]
    params: Mapping[str, Any]

    def with_body(self, body: Mapping[str, Any]) -> ResponsesRequest:
        """The same request with another body (a server's own reading of a field)."""
        return replace(self, body=body)

    def payload(self, model: str | None) -> dict[str, Any]:
        """The body for one attempt: ``model`` first (left out when ``None``)."""
        return {"model": model, **self.body} if model is not None else dict(self.body)


def check_stateless(params: Mapping[str, Any]) -> None:
    """Refuse ``previous_response_id`` for the Hugging Face router, which keeps no responses.

    responses.js has no such field: it drops it and answers the new input alone (recorded:
    ``routerjs_error_previous_response_id.json``), so the earlier turns would be lost without a
    word. :class:`HFConfigError` says so before any request.
    """
    previous = params.get("previous_response_id")
    if previous is not None:
        raise HFConfigError(
            f"previous_response_id={str(previous)[:60]!r} cannot be honoured: the Hugging Face "
            "router keeps no responses between calls (it drops the field, so the model would "
            "answer without the earlier turns). Send the conversation's messages instead (the "
            "whole history in each call), or use a base_url server that stores responses."
        )


def responses_request(
    messages: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    *,
    stream: bool = False,
    mirror_response_format: bool = False,
    stateless: bool = False,
) -> ResponsesRequest:
    """Validate and convert once (:class:`HFConfigError`), whatever the number of attempts.

    ``stateless``: the server keeps no responses (the router, :func:`check_stateless`).
    """
    if stateless:
        check_stateless(params)
    body = build_responses_payload(
        None, messages, params=params, stream=stream, mirror_response_format=mirror_response_format
    )
    return ResponsesRequest(body, dict(params))


def _url(target: Target, stream: bool) -> str:  # noqa: ARG001 - a route's url
    return RESPONSES_PATH


def _build(request: ResponsesRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    return request.payload(target.model)


def _parse(body: Any, headers: Mapping[str, str], request: ResponsesRequest) -> ChatCompletion:  # noqa: ARG001
    return parse_response(body)


def _fold(request: ResponsesRequest) -> ResponsesStreamFold:  # noqa: ARG001 - one fold per stream
    return ResponsesStreamFold()


RESPONSES: Route[ResponsesRequest, ChatCompletion, StreamDelta] = Route(
    name="responses",
    url=_url,
    build=_build,
    parse=_parse,
    fold=_fold,
    stream_end=STREAM_END,
)
"""The Responses API on the route seam: answers read as chat completions (the extra kept in
``completion.extra["response"]``), streams folded into the chat route's deltas, complete at
``response.completed`` / ``response.incomplete`` (:data:`STREAM_END`)."""
