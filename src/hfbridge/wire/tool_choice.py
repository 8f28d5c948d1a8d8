"""Named tool choices on servers that do not honour them. Pure; no I/O.

OpenAI's named choice, ``{"type": "function", "function": {"name": ...}}``, forces a call of that
tool. llama.cpp's ``llama-server`` accepts ``tool_choice`` only as a string: it logs "Wrong type
supplied for parameter 'tool_choice', using default value" and treats the object as ``"auto"``, so
the model calls whichever tool it likes (asked to force ``lookup_population`` on a weather
question, it calls ``get_weather``, every time). The same request can be said in a form it does
honour: only the named tool, with ``"required"``; the model then has one tool and must call it,
which is what the named choice means. :func:`force_named_tool` rewrites a body that way, for the
servers in :data:`IGNORES_NAMED_CHOICE`. Its Responses API route (``/v1/responses``, converted to
a chat completion inside the server) ignores the Responses form, ``{"type": "function", "name":
...}``, the same way (asked on the real server: ``get_weather``, twice), so both shapes of body
are read and rewritten here, each in its own shape.

What a server is comes from what it says about itself, without a request per call: the ``Server``
response header (llama.cpp sends ``Server: llama.cpp`` on every answer) or, once, its
``/v1/models`` (``owned_by: "llamacpp"``, read by :mod:`hfbridge.wire.server_info`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hfbridge.wire.server_info import ServerKind, parse_server_models

IGNORES_NAMED_CHOICE: Final[frozenset[ServerKind]] = frozenset({"llama.cpp"})
"""Servers that take an object ``tool_choice`` as ``"auto"``."""

_OWNERS: Final[Mapping[str, ServerKind]] = {"llamacpp": "llama.cpp", "vllm": "vllm"}
_SERVER_HEADERS: Final[Mapping[str, ServerKind]] = {"llama.cpp": "llama.cpp"}


def server_kind_from_headers(headers: Mapping[str, str]) -> ServerKind | None:
    """The server's kind from its ``Server`` response header, when that header tells."""
    value = headers.get("server") or headers.get("Server")
    return _SERVER_HEADERS.get(value.strip().lower()) if isinstance(value, str) else None


def server_kind_from_models(body: Any) -> ServerKind | None:
    """The server's kind from its ``/v1/models`` answer (``owned_by``), when that tells."""
    owners = {model.owned_by for model in parse_server_models(body) if model.owned_by}
    kinds = {_OWNERS[owner] for owner in owners if owner in _OWNERS}
    return kinds.pop() if len(kinds) == 1 else None


def named_tool(payload: Mapping[str, Any]) -> str | None:
    """The function tool a body's ``tool_choice`` names, if it names one.

    A chat-completions body names it as ``{"type": "function", "function": {"name": ...}}``, a
    Responses body as ``{"type": "function", "name": ...}`` (another type, such as an MCP
    server's tool, names no function tool).
    """
    choice = payload.get("tool_choice")
    if not isinstance(choice, Mapping):
        return None
    function = choice.get("function")
    if isinstance(function, Mapping):
        name = function.get("name")
    else:
        name = choice.get("name") if choice.get("type") == "function" else None
    return name if isinstance(name, str) else None


def _function_name(tool: Any) -> Any:
    """A function tool's name, in the chat (nested) or the Responses (flat) shape; else ``None``."""
    if not isinstance(tool, Mapping):
        return None
    function = tool.get("function")
    if isinstance(function, Mapping):
        return function.get("name")
    return tool.get("name") if tool.get("type", "function") == "function" else None


def force_named_tool(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The same request for a server that ignores named choices: that tool only, ``required``.

    Either body shape (chat completions or Responses), kept in its shape. A body that names no
    tool (or names one it does not carry) is returned unchanged (copied).
    """
    name = named_tool(payload)
    tools = payload.get("tools")
    if name is None or not isinstance(tools, list):
        return dict(payload)
    kept = [tool for tool in tools if _function_name(tool) == name]
    if not kept:
        return dict(payload)
    return {**payload, "tools": kept, "tool_choice": "required"}
