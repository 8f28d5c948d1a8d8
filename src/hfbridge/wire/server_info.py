"""What a self-hosted server says about itself, and how it counts tokens. Pure; no I/O.

Readers for the answers of llama.cpp's ``llama-server`` (``/v1/models``, ``/props``,
``/tokenize``, ``/apply-template``, ``/v1/responses/input_tokens``), vLLM (``/v1/models`` with
``max_model_len``, ``/tokenize``) and TGI (``/info``, ``/tokenize``, ``/chat_tokenize``), and the
request bodies for their token counters. Every reader is lenient: a missing or wrongly typed field
is ``None`` (unknown), never an error, because a server that does not describe itself still
serves. Recorded llama-server bodies: ``tests/fixtures/server_info``; vLLM and TGI shapes are from
their sources (``TokenizeResponse``; TGI ``router/src/lib.rs`` ``Info``, ``SimpleToken``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from hfbridge.errors import HFResponseError

ServerKind = Literal["llama.cpp", "vllm", "tgi"]

TOKENIZE_PATH = "tokenize"
"""The token counter of llama.cpp, vLLM and TGI, relative to the server's root (not ``/v1``)."""

CHAT_TOKENIZE_PATHS: Mapping[ServerKind, str] = {
    "llama.cpp": "v1/responses/input_tokens",
    "vllm": "tokenize",
    "tgi": "chat_tokenize",
}
"""Where each server counts a whole conversation (chat template applied), relative to its root.

llama.cpp counts a Responses API input (``{"input_tokens": n}``: the same number its chat route
reports as ``prompt_tokens``, recorded); vLLM's ``/tokenize`` takes ``messages``; TGI's
``/chat_tokenize`` takes a chat request.
"""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _modalities(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


@dataclass(frozen=True, slots=True)
class ServerModel:
    """One model a server lists on ``/v1/models``.

    Attributes:
        id: the name the server answers to.
        context_window: the context the server runs with (llama.cpp ``meta.n_ctx``, vLLM
            ``max_model_len``), else ``None``.
        train_context: the context the model was trained with (llama.cpp ``meta.n_ctx_train``).
        input_modalities, output_modalities: e.g. ``("text", "image")``; empty when not said.
        owned_by: the server's ``owned_by`` (``llamacpp``, ``vllm``, the model id on TGI).
    """

    id: str
    context_window: int | None = None
    train_context: int | None = None
    input_modalities: tuple[str, ...] = ()
    output_modalities: tuple[str, ...] = ()
    owned_by: str | None = None

    @property
    def supports_images(self) -> bool | None:
        """Whether the server says it takes images (``None``: it does not say)."""
        return "image" in self.input_modalities if self.input_modalities else None


def parse_server_models(body: Any) -> list[ServerModel]:
    """The models of a ``/v1/models`` answer (entries without an ``id`` are skipped)."""
    data = _mapping(body).get("data")
    models = []
    for entry in data if isinstance(data, list) else []:
        entry_map = _mapping(entry)
        model_id = _str(entry_map.get("id"))
        if model_id is None:
            continue
        meta = _mapping(entry_map.get("meta"))
        architecture = _mapping(entry_map.get("architecture"))
        models.append(
            ServerModel(
                id=model_id,
                context_window=_int(meta.get("n_ctx")) or _int(entry_map.get("max_model_len")),
                train_context=_int(meta.get("n_ctx_train")),
                input_modalities=_modalities(architecture.get("input_modalities")),
                output_modalities=_modalities(architecture.get("output_modalities")),
                owned_by=_str(entry_map.get("owned_by")),
            )
        )
    return models


def server_model(body: Any, name: str | None) -> ServerModel | None:
    """The entry for ``name`` in a ``/v1/models`` answer, else the only entry, else ``None``."""
    models = parse_server_models(body)
    named = next((model for model in models if model.id == name), None)
    return named or (models[0] if len(models) == 1 else None)


@dataclass(frozen=True, slots=True)
class LlamaCppProps:
    """What ``llama-server`` says on ``GET /props``.

    Attributes:
        context_window: the context per slot (``default_generation_settings.n_ctx``).
        vision, audio: whether a multimodal projector is loaded (``modalities``).
        supports_tools: whether the chat template renders tool calls
            (``chat_template_caps.supports_tool_calls``; needs ``--jinja``).
        slots: parallel slots (``total_slots``).
        model_alias: the name the server answers to.
    """

    context_window: int | None = None
    vision: bool | None = None
    audio: bool | None = None
    supports_tools: bool | None = None
    slots: int | None = None
    model_alias: str | None = None


def parse_llamacpp_props(body: Any) -> LlamaCppProps:
    """Read a ``/props`` answer."""
    props = _mapping(body)
    modalities = _mapping(props.get("modalities"))
    caps = _mapping(props.get("chat_template_caps"))
    return LlamaCppProps(
        context_window=_int(_mapping(props.get("default_generation_settings")).get("n_ctx")),
        vision=_bool(modalities.get("vision")),
        audio=_bool(modalities.get("audio")),
        supports_tools=_bool(caps.get("supports_tool_calls")),
        slots=_int(props.get("total_slots")),
        model_alias=_str(props.get("model_alias")),
    )


@dataclass(frozen=True, slots=True)
class TGIInfo:
    """What TGI says on ``GET /info``: its input limit and total (input + output) limit."""

    model_id: str | None = None
    max_input_tokens: int | None = None
    max_total_tokens: int | None = None
    version: str | None = None


def parse_tgi_info(body: Any) -> TGIInfo:
    """Read an ``/info`` answer (``max_input_length`` is the name older releases used)."""
    info = _mapping(body)
    return TGIInfo(
        model_id=_str(info.get("model_id")),
        max_input_tokens=_int(info.get("max_input_tokens")) or _int(info.get("max_input_length")),
        max_total_tokens=_int(info.get("max_total_tokens")),
        version=_str(info.get("version")),
    )


# --- token counts ------------------------------------------------------------------------------


def tokenize_body(kind: ServerKind, text: str, model: str | None = None) -> dict[str, Any]:
    """The ``/tokenize`` body that counts ``text`` as it is (no chat template, no special tokens).

    llama.cpp takes ``content`` (and adds no BOS unless asked), TGI a generate request's
    ``inputs``, vLLM ``prompt`` with ``add_special_tokens: false`` (and ``model`` when given).
    """
    if kind == "llama.cpp":
        return {"content": text}
    if kind == "tgi":
        return {"inputs": text}
    body: dict[str, Any] = {"prompt": text, "add_special_tokens": False}
    if model:
        body["model"] = model
    return body


def chat_tokenize_body(
    kind: ServerKind,
    messages: Sequence[Mapping[str, Any]],
    model: str | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The body that counts a conversation as the next request's ``prompt_tokens`` will.

    The server applies its chat template (paths: :data:`CHAT_TOKENIZE_PATHS`). For llama.cpp
    the messages must be Responses ``input`` items
    (:func:`hfbridge.wire.responses.messages_to_input`), for vLLM and TGI chat messages.
    """
    if kind == "llama.cpp":
        body: dict[str, Any] = {"input": list(messages)}
    elif kind == "vllm":
        body = {"messages": list(messages), "add_generation_prompt": True}
    else:
        body = {"messages": list(messages)}
    if model:
        body["model"] = model
    if tools:
        body["tools"] = list(tools)
    return body


def parse_token_count(body: Any) -> int:
    """The number of tokens in a token counter's answer, whichever server sent it.

    llama.cpp ``/tokenize``: ``{"tokens": [...]}``; llama.cpp ``/v1/responses/input_tokens``:
    ``{"input_tokens": n}``; vLLM: ``{"count": n, ...}``; TGI ``/tokenize``: a list of tokens;
    TGI ``/chat_tokenize``: ``{"tokenize_response": [...]}``. Raises :class:`HFResponseError`
    for anything else.
    """
    if isinstance(body, list):
        return len(body)
    mapping = _mapping(body)
    for key in ("count", "input_tokens"):
        count = _int(mapping.get(key))
        if count is not None:
            return count
    for key in ("tokens", "tokenize_response"):
        tokens = mapping.get(key)
        if isinstance(tokens, list):
            return len(tokens)
    raise HFResponseError(
        "The token counter's answer holds no count (expected 'count', 'input_tokens', "
        "'tokens' or a list of tokens): the server may not offer /tokenize.",
        body=str(body)[:500],
    )


def parse_token_ids(body: Any) -> list[int]:
    """The token ids in a ``/tokenize`` answer, in order, whichever server sent it.

    llama.cpp: ``{"tokens": [ids]}``, or ``{"tokens": [{"id": ..., "piece": ...}]}`` with pieces;
    vLLM: ``{"tokens": [ids], "count": n}``; TGI: ``[{"id": ..., "text": ...}, ...]``. Raises
    :class:`HFResponseError` for anything else.
    """
    tokens = body if isinstance(body, list) else _mapping(body).get("tokens")
    if isinstance(tokens, list):
        ids = [_int(token.get("id") if isinstance(token, Mapping) else token) for token in tokens]
        if None not in ids:
            return cast("list[int]", ids)
    raise HFResponseError(
        "The tokenizer's answer holds no token ids (expected 'tokens' of integers, or a list "
        "of {'id': ...}): the server may not offer /tokenize.",
        body=str(body)[:500],
    )
