"""Text generation on the wire: request bodies and parsers for each completion route. Pure.

Routes (PROTOCOL.md sections 1.9, 3.3, 3.4):

- ``tgi``: a TGI server (self-hosted or an Inference Endpoint). ``POST /generate`` with ``{"inputs",
  "parameters"}`` answers one object ``{"generated_text", "details"?}``; ``POST /generate_stream``
  answers token events (``token.special`` marks special tokens) whose last one carries
  ``generated_text`` and ``details``, and the stream simply ends: there is no ``[DONE]``.
- ``hf-inference``: ``POST router/hf-inference/models/{id}`` with ``{"inputs", "parameters",
  "stream"}`` (``stream`` at the root). The answer is a list ``[{"generated_text"}]`` or a bare
  object; a stream is TGI token events.
- ``completions``: OpenAI ``POST /v1/completions`` (llama.cpp, vLLM, TGI) with ``{"model", "prompt",
  "max_tokens", ...}`` answering ``choices[].text``; streams end with ``[DONE]``.
- ``chat``: one user message through chat completions, for router models that only chat.

Parameters per route. TGI and hf-inference take all of them in ``parameters``. ``completions`` takes
``max_tokens`` (from ``max_new_tokens``), ``temperature``, ``top_p``, ``seed``, ``stop`` and two
extensions that both llama.cpp and vLLM honour: ``top_k``, and the repetition penalty, sent under
vLLM's and TGI's name ``repetition_penalty`` *and* llama.cpp's ``repeat_penalty`` (servers ignore
the name they do not know). ``chat`` takes the OpenAI subset. A parameter the route cannot honour
raises :class:`HFConfigError` before any request instead of being dropped; anything else a server
accepts can go through ``extra`` (``model_kwargs`` in the adapters), which is sent as is.

Stop sequences are also applied client-side: some servers (TGI) leave the matched stop sequence in
the output, and FIM end tokens may arrive as text. :class:`StopTrimmer` does it for streams, holding
back a tail that could be the start of a stop sequence so trimmed text is never emitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

from hfbridge.errors import HFConfigError, HFResponseError
from hfbridge.wire.chat import Usage, as_mapping, normalize_finish_reason, parse_usage
from hfbridge.wire.params import check_params

TextGenAPI = Literal["tgi", "hf-inference", "completions", "chat"]
APIS: tuple[str, ...] = get_args(TextGenAPI)

_ALL = frozenset(
    {
        "max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed", "stop",
        "do_sample", "return_full_text", "typical_p", "truncate", "watermark",
    }
)  # fmt: skip
SUPPORTED_PARAMS: dict[str, frozenset[str]] = {
    "tgi": _ALL,
    "hf-inference": _ALL,
    "completions": frozenset(
        {"max_new_tokens", "temperature", "top_p", "seed", "stop", "top_k", "repetition_penalty"}
    ),
    "chat": frozenset({"max_new_tokens", "temperature", "top_p", "seed", "stop"}),
}
"""Which generation parameters each route honours."""

_RESERVED = frozenset({"inputs", "prompt", "messages", "model", "stream", "stream_options"})
"""Body keys hfbridge sets itself; an extra parameter may not override them."""

_NO_FILTER = ("top_p", "typical_p")
"""Filters whose value 1 keeps every token: TGI refuses 1, and leaving them out means the same."""

_HINTS = {
    "do_sample": "for greedy decoding set temperature=0",
    "return_full_text": "prepend the prompt yourself",
}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Validated generation parameters; ``None`` means "not set" (the server's default applies)."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    do_sample: bool | None = None
    return_full_text: bool | None = None
    typical_p: float | None = None
    truncate: int | None = None
    watermark: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Every instance is valid, however it was made (directly, from_mapping, merged, replace).
        self.validate()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> GenerationParams:
        """Validate ``values``; known names become fields, other keys go to ``extra`` verbatim.

        ``None`` values are dropped. ``stop_sequences`` (TGI's deprecated name) is read as ``stop``.
        """
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            name = "stop" if key == "stop_sequences" else key
            if name in _ALL:
                known[name] = value
            else:
                extra[key] = value
        reserved = sorted(_RESERVED.intersection(extra))
        if reserved:
            raise HFConfigError(
                f"{', '.join(reserved)} cannot be passed as a generation parameter: hfbridge sets "
                "it from the prompt, the model and the call (use .stream() to stream)."
            )
        if "stop" in known:
            known["stop"] = normalize_stop(known["stop"])
        return cls(**known, extra=extra)

    def merged(self, values: Mapping[str, Any]) -> GenerationParams:
        """A copy with ``values`` (validated like :meth:`from_mapping`) taking precedence."""
        update = GenerationParams.from_mapping(values)
        changes = {name: getattr(update, name) for name in update.set_names()}
        return replace(self, **changes, extra={**self.extra, **update.extra})

    def with_stop(self, stop: Sequence[str]) -> GenerationParams:
        """A copy whose stop sequences are ``stop`` (validated)."""
        return replace(self, stop=normalize_stop(stop))

    def set_names(self) -> list[str]:
        """The names of the parameters that are set (``extra`` excluded), in declaration order."""
        return [
            f.name
            for f in fields(self)
            if f.name != "extra" and getattr(self, f.name) not in (None, ())
        ]

    def validate(self) -> None:
        """Raise :class:`HFConfigError` for a value no server would accept (``wire.params``)."""
        check_params({name: getattr(self, name) for name in _ALL if name != "stop"})
        if self.do_sample is True and self.temperature == 0:
            raise HFConfigError(
                "do_sample=True contradicts temperature=0 (greedy decoding): drop one of them."
            )


def normalize_stop(stop: Any) -> tuple[str, ...]:
    """Stop sequences as a tuple of non-empty strings (a single string is one sequence)."""
    if stop is None:
        return ()
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, (list, tuple)) or not all(isinstance(s, str) and s for s in items):
        raise HFConfigError(
            f"stop must be a non-empty string or a list of non-empty strings, got {stop!r}."
        )
    return tuple(dict.fromkeys(items))


def check_supported(api: str, params: GenerationParams) -> None:
    """Raise :class:`HFConfigError` naming each parameter ``api`` cannot honour, and who can."""
    if api not in SUPPORTED_PARAMS:
        raise HFConfigError(f"api must be one of {', '.join(APIS)}, got {api!r}.")
    unsupported = [name for name in params.set_names() if name not in SUPPORTED_PARAMS[api]]
    if not unsupported:
        return
    details = []
    for name in unsupported:
        routes = [r for r in APIS if name in SUPPORTED_PARAMS[r]]
        hint = f"; {_HINTS[name]}" if name in _HINTS else ""
        details.append(f"{name} (supported by api={' / '.join(map(repr, routes))}{hint})")
    raise HFConfigError(
        f"api={api!r} cannot honour {', '.join(details)}. Remove the parameter or pick a route "
        "that supports it; a server-specific extension can go through model_kwargs (sent as is)."
    )


# --- request bodies ----------------------------------------------------------------------------


def tgi_parameters(params: GenerationParams) -> dict[str, Any]:
    """The ``parameters`` object of TGI and hf-inference requests (unset values omitted).

    TGI rejects ``temperature=0``; it is sent as greedy decoding (``do_sample: false``) instead.
    TGI also rejects ``top_p=1`` and ``typical_p=1``, which mean "no filtering", its default: they
    are left out (the same verdict as on every route, in TGI's words).
    """
    result: dict[str, Any] = {}
    for name in params.set_names():
        result[name] = list(params.stop) if name == "stop" else getattr(params, name)
    if result.get("temperature") == 0:
        del result["temperature"]
        result["do_sample"] = False
    for name in _NO_FILTER:
        if result.get(name) == 1:
            del result[name]
    result.update(params.extra)
    return result


def build_tgi_body(prompt: str, params: GenerationParams) -> dict[str, Any]:
    """Body for TGI ``/generate`` and ``/generate_stream``.

    ``details`` is always on: it carries the finish reason and the token counts.
    """
    return {"inputs": prompt, "parameters": {**tgi_parameters(params), "details": True}}


def build_hf_inference_body(
    prompt: str, params: GenerationParams, *, stream: bool
) -> dict[str, Any]:
    """Body for the hf-inference text-generation task route (``stream`` at the root).

    Non-TGI backends there echo the prompt unless told otherwise, so ``return_full_text`` defaults
    to ``False`` (what the TGI backends do anyway).
    """
    parameters = tgi_parameters(params)
    parameters.setdefault("return_full_text", False)
    return {"inputs": prompt, "parameters": parameters, "stream": stream}


def build_completions_body(
    model: str | None, prompt: str, params: GenerationParams, *, stream: bool
) -> dict[str, Any]:
    """Body for OpenAI ``/v1/completions``: ``model`` first (when known), unset values omitted."""
    body: dict[str, Any] = {"model": model} if model else {}
    body["prompt"] = prompt
    names = {"max_new_tokens": "max_tokens"}
    for name in params.set_names():
        value = list(params.stop) if name == "stop" else getattr(params, name)
        body[names.get(name, name)] = value
        if name == "repetition_penalty":
            # Decision: vLLM and TGI read "repetition_penalty", llama.cpp reads "repeat_penalty";
            # each ignores the other's name, so both are sent and every one of them applies it.
            body["repeat_penalty"] = value
    body.update(params.extra)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def chat_parameters(params: GenerationParams) -> dict[str, Any]:
    """The chat-completions parameters for the ``chat`` route (after :func:`check_supported`)."""
    result: dict[str, Any] = {}
    names = {"max_new_tokens": "max_tokens"}
    for name in params.set_names():
        result[names.get(name, name)] = (
            list(params.stop) if name == "stop" else getattr(params, name)
        )
    result.update(params.extra)
    return result


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generated:
    """A finished generation as the server described it (before stop trimming).

    ``finish_reason`` is OpenAI's word; ``native_finish_reason`` the server's when it differs
    (TGI's ``eos_token``, ``stop_sequence``).
    """

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None
    details: Mapping[str, Any] | None = None
    native_finish_reason: str | None = None


def _shape(body: Any) -> str:
    try:
        return json.dumps(body)[:300]
    except (TypeError, ValueError):
        return repr(body)[:300]


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def tgi_usage(details: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Usage | None:
    """Token counts from TGI ``details``, else its ``x-prompt-tokens``/``x-generated-tokens``."""
    details = details or {}

    def header(name: str) -> int | None:
        raw = headers.get(name)
        # isdecimal, not isdigit: int() refuses digits such as "²" that isdigit accepts.
        return int(raw) if raw is not None and raw.strip().isdecimal() else None

    prompt = _int_or_none(details.get("input_length"))
    prompt = prompt if prompt is not None else header("x-prompt-tokens")
    completion = _int_or_none(details.get("generated_tokens"))
    completion = completion if completion is not None else header("x-generated-tokens")
    if prompt is None and completion is None:
        return None
    return Usage(
        prompt_tokens=prompt or 0,
        completion_tokens=completion or 0,
        total_tokens=(prompt or 0) + (completion or 0),
    )


def parse_tgi_response(body: Any, headers: Mapping[str, str] | None = None) -> Generated:
    """Parse TGI ``/generate`` (an object) or hf-inference (a list of them; element 0 is used)."""
    item = body[0] if isinstance(body, list) and body else body
    if not isinstance(item, Mapping) or not isinstance(item.get("generated_text"), str):
        raise HFResponseError(
            "The text-generation answer has no 'generated_text': the URL may not be a TGI or "
            "hf-inference text-generation route (check base_url and api=...).",
            body=_shape(body),
        )
    details = item.get("details")
    details = details if isinstance(details, Mapping) else None
    finish_reason, native = normalize_finish_reason((details or {}).get("finish_reason"))
    return Generated(
        text=item["generated_text"],
        finish_reason=finish_reason,
        usage=tgi_usage(details, headers or {}),
        details=details,
        native_finish_reason=native,
    )


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One TGI stream event: a token, and on the last event the full text and details."""

    text: str
    special: bool = False
    generated_text: str | None = None
    details: Mapping[str, Any] | None = None


def parse_tgi_stream_event(event: Any) -> TokenEvent:
    """Parse one ``/generate_stream`` event (error events are raised by the transport)."""
    token = event.get("token") if isinstance(event, Mapping) else None
    if not isinstance(token, Mapping):
        raise HFResponseError(
            "The stream sent an event without a 'token': the URL may not be a TGI "
            "/generate_stream route (check base_url and api=...).",
            body=_shape(event),
        )
    details = event.get("details")
    generated = event.get("generated_text")
    return TokenEvent(
        text=str(token.get("text") or ""),
        special=token.get("special") is True,
        generated_text=generated if isinstance(generated, str) else None,
        details=details if isinstance(details, Mapping) else None,
    )


def parse_completion(body: Any) -> Generated:
    """Parse an OpenAI ``text_completion`` answer (the first choice)."""
    choices = body.get("choices") if isinstance(body, Mapping) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(first, Mapping) or not isinstance(first.get("text"), str):
        raise HFResponseError(
            "The completion has no 'choices[0].text': the endpoint may not serve OpenAI "
            "/v1/completions (check base_url, which should end in /v1).",
            body=_shape(body),
        )
    finish_reason, native = normalize_finish_reason(first.get("finish_reason"))
    return Generated(
        text=first["text"],
        finish_reason=finish_reason,
        usage=parse_usage(body.get("usage")),
        native_finish_reason=native,
    )


@dataclass(frozen=True, slots=True)
class CompletionDelta:
    """What one ``/v1/completions`` stream chunk adds."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    native_finish_reason: str | None = None


def parse_completion_chunk(chunk: Any) -> CompletionDelta:
    """Parse one streamed completion chunk (a chunk with no choices may carry ``usage``)."""
    if not isinstance(chunk, Mapping):
        raise HFResponseError("The completion stream sent a non-object event.", body=_shape(chunk))
    choices = chunk.get("choices")
    first = as_mapping(choices[0]) if isinstance(choices, list) and choices else {}
    text = first.get("text")
    finish_reason, native = normalize_finish_reason(first.get("finish_reason"))
    return CompletionDelta(
        text=text if isinstance(text, str) else "",
        finish_reason=finish_reason,
        usage=parse_usage(chunk.get("usage")),
        native_finish_reason=native,
    )


# --- stop sequences ----------------------------------------------------------------------------


def find_stop(text: str, stop: Sequence[str], start: int = 0) -> int:
    """Where ``text`` must be cut: the start of the stop sequence that completes first, or -1.

    Generation ends as soon as a stop sequence is complete, so among overlapping matches the one
    that *ends* first wins (``"<"`` in ``"><<"`` with stops ``"<"`` and ``"><<"``); on a tie the
    longer one. Only ``text[start:]`` is searched; the index is into ``text``.
    """
    best: tuple[int, int] | None = None  # (end, start) of the winning match
    for sequence in stop:
        index = text.find(sequence, start) if sequence else -1
        if index >= 0 and (best is None or (index + len(sequence), index) < best):
            best = (index + len(sequence), index)
    return -1 if best is None else best[1]


def trim_at_stop(text: str, stop: Sequence[str] | str | None, *, start: int = 0) -> str:
    """``text`` cut at the first stop sequence the server left in it (searching from ``start``).

    "First" is the one that completes first (see :func:`find_stop`). ``start`` protects a leading
    part (an echoed prompt) from being cut.
    """
    index = find_stop(text, normalize_stop(stop), start)
    return text if index < 0 else text[:index]


class StopTrimmer:
    """Streaming stop trimming: feed text deltas, get back only text that is safe to emit.

    A tail that could be the beginning of a stop sequence is held back until the next delta shows
    whether it is one; when a stop sequence completes, the text before it is released and everything
    after is dropped. :meth:`flush` releases the held-back tail at the end of the stream.
    """

    __slots__ = ("_buffer", "_stop", "stopped")

    def __init__(self, stop: Sequence[str]) -> None:
        self._stop = tuple(s for s in stop if s)
        self._buffer = ""
        self.stopped = False

    def _held_back(self) -> int:
        buffer = self._buffer
        longest = 0
        for s in self._stop:
            for size in range(min(len(s) - 1, len(buffer)), longest, -1):
                if buffer.endswith(s[:size]):
                    longest = size
                    break
        return longest

    def feed(self, delta: str) -> str:
        """Take one delta; return the text that can be emitted now (possibly empty)."""
        if self.stopped or not delta:
            return ""
        if not self._stop:
            return delta
        self._buffer += delta
        index = find_stop(self._buffer, self._stop)
        if index >= 0:
            out, self._buffer, self.stopped = self._buffer[:index], "", True
            return out
        keep = self._held_back()
        cut = len(self._buffer) - keep
        out, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return out

    def flush(self) -> str:
        """Release the held-back tail (no stop sequence completed)."""
        out, self._buffer = ("" if self.stopped else self._buffer), ""
        return out
