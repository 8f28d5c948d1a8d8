"""LangChain-shaped model profiles from what hfbridge knows. Pure: no I/O, no framework import.

A profile is a plain dict with the keys of LangChain's ``ModelProfile`` (``langchain_core``
1.x): agents read ``structured_output`` to choose native structured output, summarization reads
``max_input_tokens`` for fractional limits. A key is present only when its answer is known; an
absent key means "unknown" (LangChain reads profiles with ``.get``), so nothing claims a capability
the model may lack.

Sources, one function each: :func:`router_profile` (the router's catalogue, per model and pinned
provider), :func:`server_profile` (what a self-hosted server says about itself), and
:data:`UNKNOWN_SERVER_PROFILE` (a server that says nothing). :func:`check_profile` validates a
profile a user gives, which always wins over these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hfbridge.catalog.capability import ModelCapabilities
from hfbridge.errors import HFConfigError
from hfbridge.errors._checks import positive_int
from hfbridge.wire.server_info import LlamaCppProps, ServerModel, TGIInfo

UNKNOWN_SERVER_PROFILE: Mapping[str, Any] = {"text_inputs": True, "text_outputs": True}
"""The profile of a server that describes nothing: a chat model reads and writes text; tool
calling, structured output, images and the context window are unknown (absent), so LangChain
falls back to tool-based structured output and asks for an explicit token limit."""

_BOOL_KEYS = frozenset(
    {
        "open_weights", "text_inputs", "image_inputs", "image_url_inputs", "pdf_inputs",
        "audio_inputs", "video_inputs", "image_tool_message", "pdf_tool_message",
        "reasoning_output", "text_outputs", "image_outputs", "audio_outputs", "video_outputs",
        "tool_calling", "tool_choice", "tool_call_streaming", "mid_conversation_system_messages",
        "mid_conversation_tools", "structured_output", "attachment", "temperature",
    }
)  # fmt: skip
_INT_KEYS = frozenset({"max_input_tokens", "max_output_tokens"})
_STR_KEYS = frozenset(
    {"name", "status", "release_date", "last_updated", "reasoning_effort_default"}
)
_STR_LIST_KEYS = frozenset({"reasoning_effort_levels"})


def _put(profile: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        profile[key] = value


def _tools(profile: dict[str, Any], supports_tools: bool | None) -> None:
    # A provider that calls tools takes tool_choice (the router passes it through), and hfbridge
    # folds streamed tool-call fragments into tool_call_chunks.
    _put(profile, "tool_calling", supports_tools)
    _put(profile, "tool_choice", supports_tools)
    if supports_tools:
        profile["tool_call_streaming"] = True


def _images(profile: dict[str, Any], supports_images: bool | None) -> None:
    # OpenAI-style image_url parts carry either a data URL or an https URL.
    _put(profile, "image_inputs", supports_images)
    _put(profile, "image_url_inputs", supports_images)


def smallest_context(caps: ModelCapabilities) -> int | None:
    """The context window every provider a call may reach can hold.

    The pinned provider's; unpinned, the smallest of the live providers' (the router picks one
    by its policy, so only the smallest is safe for a limit such as a summarization trigger).
    """
    if caps.provider:
        return caps.context_length  # the pinned provider's
    lengths = [info.context_length for info in caps.live_providers if info.context_length]
    return min(lengths) if lengths else None


def router_profile(caps: ModelCapabilities) -> dict[str, Any]:
    """The profile of a router model (and pinned provider) from the catalogue.

    ``tool_calling``/``tool_choice``/``structured_output`` follow the pinned provider's flags, or
    whether any live provider has them (calls that need them are routed to one that does);
    ``max_input_tokens`` is :func:`smallest_context`; ``image_inputs``/``image_url_inputs`` follow
    ``architecture.input_modalities``. The catalogue has no output limit nor reasoning flag, so
    ``max_output_tokens`` and ``reasoning_output`` are absent. Unknown to the catalogue (offline,
    unlisted): :data:`UNKNOWN_SERVER_PROFILE`.
    """
    if not caps.known:
        return dict(UNKNOWN_SERVER_PROFILE)
    profile: dict[str, Any] = {
        "text_inputs": not caps.input_modalities or "text" in caps.input_modalities,
        "text_outputs": not caps.output_modalities or "text" in caps.output_modalities,
    }
    _tools(profile, caps.supports_tools)
    _put(profile, "structured_output", caps.supports_structured_output)
    _put(profile, "max_input_tokens", smallest_context(caps))
    _images(profile, caps.supports_images)
    return profile


def server_profile(
    model: ServerModel | None = None,
    props: LlamaCppProps | None = None,
    tgi: TGIInfo | None = None,
) -> dict[str, Any]:
    """The profile of a self-hosted server from what it says about itself.

    ``max_input_tokens``: llama.cpp's ``n_ctx`` (``/props``, else ``/v1/models`` ``meta``),
    vLLM's ``max_model_len``, TGI's ``max_input_tokens``. ``max_output_tokens``: TGI's total
    limit less its input limit. Images: ``/v1/models`` ``input_modalities``, else llama.cpp's
    ``modalities.vision``. llama.cpp (known by its ``/props``) also tells tool calling (its chat
    template's capability) and has native structured output (grammar-constrained
    ``response_format``). What no answer says stays absent (:data:`UNKNOWN_SERVER_PROFILE`).
    """
    profile = dict(UNKNOWN_SERVER_PROFILE)
    context = (props.context_window if props else None) or (model.context_window if model else None)
    if tgi is not None:
        context = context or tgi.max_input_tokens
        if tgi.max_total_tokens and tgi.max_input_tokens:
            _put(profile, "max_output_tokens", tgi.max_total_tokens - tgi.max_input_tokens or None)
    _put(profile, "max_input_tokens", context)
    images = model.supports_images if model else None
    if images is None and props is not None:
        images = props.vision
    _images(profile, images)
    if props is not None:
        _tools(profile, props.supports_tools)
        profile["structured_output"] = True
    return profile


def check_profile(profile: Any) -> dict[str, Any]:
    """A user's profile, checked: raises :class:`HFConfigError` for a known key of the wrong type.

    Booleans must be ``bool``, token limits positive ``int``, names ``str``, effort levels a list
    of ``str``. Unknown keys pass (LangChain adds keys across releases).
    """
    if not isinstance(profile, Mapping):
        raise HFConfigError(
            f"profile must be a dict such as {{'structured_output': True, 'max_input_tokens': "
            f"128000}}, got {type(profile).__name__}."
        )
    for key, value in profile.items():
        if key in _INT_KEYS:
            positive_int(f"profile[{key!r}]", value)
            continue
        if key in _BOOL_KEYS and not isinstance(value, bool):
            expected = "True or False"
        elif key in _STR_KEYS and not isinstance(value, str):
            expected = "a string"
        elif key in _STR_LIST_KEYS and not (
            isinstance(value, list) and all(isinstance(item, str) for item in value)
        ):
            expected = "a list of strings"
        else:
            continue
        raise HFConfigError(f"profile[{key!r}] must be {expected}, got {value!r}.")
    return dict(profile)
