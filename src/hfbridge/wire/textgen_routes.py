"""The text-generation routes on the route seam: TGI, hf-inference, completions, chat. Pure.

Each takes a :class:`TextGenRequest` (a prompt and parameters checked against the route once,
before any request) and gives a :class:`~hfbridge.wire.textgen.Generated` whose text has the stop
sequences trimmed, streamed or not. Bodies, parsers and the stop rules are in
:mod:`hfbridge.wire.textgen`; what is here is where each route goes, how its stream folds into
text deltas, and when that stream is complete:

- ``tgi`` and ``hf-inference`` stream TGI token events and end without ``[DONE]``: the stream is
  complete once the final event, the one carrying ``generated_text``, has come
  (:data:`~hfbridge.wire.stream_end.FINAL_EVENT`).
- ``completions`` and ``chat`` are OpenAI routes: complete with ``[DONE]``, or at the end of the
  body once every choice has its ``finish_reason``
  (:data:`~hfbridge.wire.stream_end.CHOICES_FINISHED`).

Finish reasons are OpenAI's words (``stop``, ``length``); the server's own, when it differs, is
kept as ``native_finish_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hfbridge._constants import HF_INFERENCE_PROVIDER
from hfbridge._urls import hf_inference_url, provider_url
from hfbridge.errors import HFConfigError
from hfbridge.wire.chat import Usage, normalize_finish_reason
from hfbridge.wire.chat_completions import CHAT_COMPLETIONS, ChatFold, ChatRequest, chat_request
from hfbridge.wire.route import Route, Target
from hfbridge.wire.stream_end import CHOICES_FINISHED, FINAL_EVENT
from hfbridge.wire.textgen import (
    Generated,
    GenerationParams,
    StopTrimmer,
    build_completions_body,
    build_hf_inference_body,
    build_tgi_body,
    chat_parameters,
    check_supported,
    find_stop,
    parse_completion,
    parse_completion_chunk,
    parse_tgi_response,
    parse_tgi_stream_event,
    tgi_usage,
)


@dataclass(frozen=True, slots=True)
class TextGenRequest:
    """A prompt and its parameters, checked against the route (and, for ``chat``, its body)."""

    prompt: str
    params: GenerationParams
    chat: ChatRequest | None = None


def textgen_request(
    api: str, prompt: str, params: GenerationParams, *, stream: bool, model: str | None = None
) -> TextGenRequest:
    """Check ``prompt`` and ``params`` for ``api``; :class:`HFConfigError` before any request."""
    if not isinstance(prompt, str):
        raise HFConfigError(f"prompt must be a string, got {type(prompt).__name__}.")
    check_supported(api, params)
    chat = None
    if api == "chat":
        messages = [{"role": "user", "content": prompt}]
        chat = chat_request(messages, chat_parameters(params), model=model, stream=stream)
    return TextGenRequest(prompt, params, chat)


def trimmed(generated: Generated, request: TextGenRequest) -> Generated:
    """``generated`` cut at the first stop sequence the server left in it.

    An echoed prompt (``return_full_text``) is never searched; a cut sets the finish reason to
    ``stop`` when the server gave none.
    """
    text, prompt, params = generated.text, request.prompt, request.params
    echo = params.return_full_text and text.startswith(prompt)
    index = find_stop(text, params.stop, len(prompt) if echo else 0)
    if index < 0:
        return generated
    finish = generated.finish_reason or "stop"
    native = generated.native_finish_reason if generated.finish_reason else None
    return Generated(text[:index], finish, generated.usage, generated.details, native)


# --- folds: events in, safe text deltas out ----------------------------------------------------


class _TextFold:
    """Stop sequences held back and trimmed; the echoed prompt first (``return_full_text``)."""

    def __init__(self, request: TextGenRequest) -> None:
        params = request.params
        self.trimmer = StopTrimmer(params.stop)
        # With return_full_text the final text starts with the prompt, so the stream does too.
        self.echo = request.prompt if params.return_full_text else ""
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.native_finish_reason: str | None = None
        self.usage: Usage | None = None
        self.details: Mapping[str, Any] | None = None

    def _finish(self, finish_reason: str | None, native: str | None) -> None:
        if finish_reason:
            self.finish_reason, self.native_finish_reason = finish_reason, native

    def _emit(self, text: str) -> list[str]:
        out = self.echo + self.trimmer.feed(text)
        self.echo = ""
        if not out:
            return []
        self.parts.append(out)
        return [out]

    def end(self, headers: Mapping[str, str]) -> list[str]:  # noqa: ARG002 - see _TGIFold
        """Release the held-back tail."""
        out = self.echo + self.trimmer.flush()
        self.echo = ""
        if not out:
            return []
        self.parts.append(out)
        return [out]

    def result(self) -> Generated:
        """What the stream produced, as one generation."""
        finish = self.finish_reason or ("stop" if self.trimmer.stopped else None)
        native = self.native_finish_reason if self.finish_reason else None
        return Generated("".join(self.parts), finish, self.usage, self.details, native)


class _TGIFold(_TextFold):
    """TGI token events; the last one carries ``generated_text`` and ``details``."""

    def add(self, event: Any) -> list[str]:
        token = parse_tgi_stream_event(event)
        if token.details is not None:
            self.details = token.details
            self._finish(*normalize_finish_reason(token.details.get("finish_reason")))
        return self._emit("" if token.special else token.text)

    def end(self, headers: Mapping[str, str]) -> list[str]:
        """Release the tail; the token counts come from ``details`` or TGI's headers."""
        self.usage = tgi_usage(self.details, headers)
        return super().end(headers)


class _CompletionFold(_TextFold):
    """OpenAI ``text_completion`` chunks."""

    def add(self, event: Any) -> list[str]:
        delta = parse_completion_chunk(event)
        self._finish(delta.finish_reason, delta.native_finish_reason)
        self.usage = delta.usage or self.usage
        return self._emit(delta.text)


class _ChatTextFold(_TextFold):
    """Chat completion chunks, first choice only, through the chat route's own fold.

    Inline reasoning is split out there; only the answer's text is generated text.
    """

    def __init__(self, request: TextGenRequest) -> None:
        super().__init__(request)
        self.record = ChatFold(request.chat.model if request.chat is not None else None)

    def _take(self, deltas: list[Any]) -> list[str]:
        out: list[str] = []
        for delta in deltas:
            if delta.choice_index != 0:
                continue
            self._finish(delta.finish_reason, delta.native_finish_reason)
            self.usage = delta.usage or self.usage
            out.extend(self._emit(delta.content))
        return out

    def add(self, event: Any) -> list[str]:
        return self._take(self.record.add(event))

    def end(self, headers: Mapping[str, str]) -> list[str]:
        """Release what the reasoning splitter held, then the stop trimmer's tail."""
        return [*self._take(self.record.end(headers)), *super().end(headers)]


# --- the routes --------------------------------------------------------------------------------


def _needs_base(target: Target, api: str, example: str) -> str:
    if target.base_url is None:
        raise HFConfigError(f"api={api!r} needs base_url: {example}.")
    return target.base_url


def _tgi_url(target: Target, stream: bool) -> str:
    root = _needs_base(
        target, "tgi", "the root URL of a TGI server or Inference Endpoint "
        "(e.g. 'https://xyz.endpoints.huggingface.cloud'), which serves /generate",
    ).removesuffix("/v1")  # fmt: skip
    return f"{root}/generate_stream" if stream else f"{root}/generate"


def _hf_inference_url(target: Target, stream: bool) -> str:  # noqa: ARG001 - one URL for both
    if target.base_url is not None:
        return target.base_url
    return hf_inference_url(target.model_id or "")


def _completions_url(target: Target, stream: bool) -> str:  # noqa: ARG001 - one URL for both
    if target.base_url is not None:
        return f"{target.base_url}/completions"
    if target.provider != HF_INFERENCE_PROVIDER:
        raise HFConfigError(
            "api='completions' needs base_url (an OpenAI-compatible root ending in /v1, e.g. "
            "'http://127.0.0.1:8080/v1'), or a model pinned to ':hf-inference', whose "
            "/v1/completions route the router serves."
        )
    model = quote(target.model_id or "", safe="/")
    return provider_url(HF_INFERENCE_PROVIDER, f"/models/{model}/v1/completions")


def _tgi_body(request: TextGenRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    return build_tgi_body(request.prompt, request.params)


def _hf_inference_body(request: TextGenRequest, target: Target, stream: bool) -> dict[str, Any]:  # noqa: ARG001
    return build_hf_inference_body(request.prompt, request.params, stream=stream)


def _completions_body(request: TextGenRequest, target: Target, stream: bool) -> dict[str, Any]:
    # The Hub id on hf-inference (no ':provider'); a self-hosted server's name as given.
    return build_completions_body(target.model_id, request.prompt, request.params, stream=stream)


def _chat_body(request: TextGenRequest, target: Target, stream: bool) -> Any:
    assert request.chat is not None  # noqa: S101 - textgen_request builds it for api='chat'
    return CHAT_COMPLETIONS.build(request.chat, target, stream)


def _tgi_parse(body: Any, headers: Mapping[str, str], request: TextGenRequest) -> Generated:
    return trimmed(parse_tgi_response(body, headers), request)


def _completions_parse(body: Any, headers: Mapping[str, str], request: TextGenRequest) -> Generated:  # noqa: ARG001
    return trimmed(parse_completion(body), request)


def _chat_parse(body: Any, headers: Mapping[str, str], request: TextGenRequest) -> Generated:
    assert request.chat is not None  # noqa: S101 - textgen_request builds it for api='chat'
    completion = CHAT_COMPLETIONS.parse(body, headers, request.chat)  # reasoning split out
    choice = completion.first
    generated = Generated(
        choice.content or "", choice.finish_reason, completion.usage,
        native_finish_reason=choice.native_finish_reason,
    )  # fmt: skip
    return trimmed(generated, request)


TGI: Route[TextGenRequest, Generated, str] = Route(
    name="tgi", url=_tgi_url, build=_tgi_body, parse=_tgi_parse, fold=_TGIFold,
    stream_end=FINAL_EVENT,
)  # fmt: skip
"""TGI ``/generate`` and ``/generate_stream`` at a ``base_url``."""

HF_INFERENCE_TEXT: Route[TextGenRequest, Generated, str] = Route(
    name="hf-inference-text-generation", url=_hf_inference_url, build=_hf_inference_body,
    parse=_tgi_parse, fold=_TGIFold, stream_end=FINAL_EVENT,
)  # fmt: skip
"""The hf-inference text-generation task (or TGI's ``POST /`` at a ``base_url``)."""

COMPLETIONS: Route[TextGenRequest, Generated, str] = Route(
    name="completions", url=_completions_url, build=_completions_body,
    parse=_completions_parse, fold=_CompletionFold, stream_end=CHOICES_FINISHED,
)  # fmt: skip
"""OpenAI ``/v1/completions`` (llama.cpp, vLLM, TGI; hf-inference for a pinned model)."""

CHAT_TEXT: Route[TextGenRequest, Generated, str] = Route(
    name="chat-text", url=CHAT_COMPLETIONS.url, build=_chat_body, parse=_chat_parse,
    fold=_ChatTextFold, stream_end=CHOICES_FINISHED,
)  # fmt: skip
"""A prompt as one user message through chat completions, for models that only chat."""

ROUTES_BY_API: dict[str, str] = {
    "tgi": "tgi",
    "hf-inference": "hf-inference-text-generation",
    "completions": "completions",
    "chat": "chat-text",
}
"""The registered route name of each ``api`` value of the text-generation adapters."""
