"""Text completion as a framework-free service: the one place adapters send completions.

:class:`TextGenService` picks the route (``api``) once, at construction:

- ``"tgi"``: a TGI server or Inference Endpoint at ``base_url`` (``/generate``,
  ``/generate_stream``; a trailing ``/v1`` on ``base_url`` is ignored for these routes).
- ``"hf-inference"``: the router's hf-inference text-generation task route for the model id (or,
  with ``base_url``, TGI's compatible ``POST /`` route at that URL).
- ``"completions"``: OpenAI ``/v1/completions`` at ``base_url`` (llama.cpp, vLLM, TGI; ``base_url``
  is the OpenAI root, ending in ``/v1``), or, without ``base_url``, hf-inference's
  ``/models/{id}/v1/completions`` for a model pinned to ``:hf-inference``.
- ``"chat"``: for router models that only chat. The prompt is sent as one user message through
  :class:`~hfbridge.inference.chat.ChatService`, so the model's chat template wraps it. Only the
  parameters chat completions define are accepted (``max_new_tokens``, ``temperature``, ``top_p``,
  ``seed``, ``stop``); ``top_k``, ``repetition_penalty``, ``typical_p``, ``truncate``,
  ``watermark``, ``do_sample`` and ``return_full_text`` raise
  :class:`~hfbridge.errors.HFConfigError`.

Default: ``base_url`` given -> ``"completions"``; otherwise ``"hf-inference"`` when the model is
pinned to it (``org/name:hf-inference``), else ``"chat"``.

Every parameter is checked against the route before any request (see :mod:`hfbridge.wire.textgen`),
and stop sequences the server leaves in its output are trimmed, in streams too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hfbridge._constants import HF_INFERENCE_PROVIDER
from hfbridge.catalog.aliases import resolve_model
from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFConfigError, HFError
from hfbridge.inference.chat import AsyncChatStream, CallOptions, ChatService, ChatStream
from hfbridge.transport import (
    AsyncHFClient,
    CallContext,
    ClientConfig,
    HFClient,
    Secret,
    hf_inference_url,
    provider_url,
    validate_base_url,
)
from hfbridge.transport.sse import StreamEndRule
from hfbridge.wire.chat import Usage, normalize_finish_reason
from hfbridge.wire.stream import StreamDelta
from hfbridge.wire.stream_end import CHOICES_FINISHED, FINAL_EVENT
from hfbridge.wire.textgen import (
    APIS,
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

__all__ = [
    "AsyncTextGenStream",
    "RequestPlan",
    "TextGenResult",
    "TextGenService",
    "TextGenStream",
]

_TGI_STYLE = ("tgi", "hf-inference")


@dataclass(frozen=True, slots=True)
class TextGenResult:
    """A finished completion: the text (stop sequences trimmed) and what the server reported."""

    text: str
    finish_reason: str | None
    usage: Usage | None
    request_id: str | None
    api: str
    model: str | None = None
    provider: str | None = None
    details: Mapping[str, Any] | None = None
    native_finish_reason: str | None = None
    """The server's own word for the finish when it differs from ``finish_reason``."""


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """One prepared request of a non-chat route: where it goes, what it carries, how it ends."""

    url: str
    body: dict[str, Any]
    stream_end: StreamEndRule


class TextGenService:
    """Send text completions for one configured model and route over the shared transport.

    Args:
        model: a model id, ``model:provider``, or an alias; with ``base_url`` any name the server
            knows, or ``None`` to leave ``model`` out of the request (single-model servers).
        base_url: a self-hosted server: TGI root, or an OpenAI root ending in ``/v1``.
        api: ``"tgi"``, ``"hf-inference"``, ``"completions"`` or ``"chat"``; ``None``: default.
        client, async_client: clients to use instead of ones built from the settings.
    """

    def __init__(  # noqa: PLR0913 - the public settings, passed through by adapters
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api: str | None = None,
        token: str | Secret | None = None,
        bill_to: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        aliases: Mapping[str, str] | None = None,
        client: HFClient | None = None,
        async_client: AsyncHFClient | None = None,
        catalog: Any = None,
    ) -> None:
        if api is not None and api not in APIS:
            raise HFConfigError(f"api must be one of {', '.join(APIS)} (or None), got {api!r}.")
        self.base_url = validate_base_url(base_url) if base_url is not None else None
        config = (client.config if client is not None else None) or ClientConfig.create(
            token=token,
            base_url=self.base_url,
            bill_to=bill_to,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
        )
        self.client = client or HFClient(config)
        self.async_client = async_client or AsyncHFClient(config)
        custom = self.base_url is not None
        self.spec: ModelSpec | None = (
            None
            if custom and model is None
            else resolve_model(model, kind="chat", overrides=aliases, custom_endpoint=custom)
        )
        self.api = api or self._default_api()
        self.chat: ChatService | None = None
        if self.api == "chat":
            self.chat = ChatService(
                model=model, base_url=self.base_url, aliases=aliases, client=self.client,
                async_client=self.async_client, catalog=catalog,
            )  # fmt: skip
        self._url, self._stream_url = self._urls()

    def __repr__(self) -> str:
        return f"TextGenService(api={self.api!r}, model={self.model!r}, {self.client.config!r})"

    # --- routing ---

    @property
    def model(self) -> str | None:
        """The model name sent or routed to (``None``: the server's only model)."""
        if self.spec is None:
            return None
        return self.spec.model_id if self.base_url is not None else self.spec.router_model

    def _default_api(self) -> str:
        if self.base_url is not None:
            return "completions"
        pinned = self.spec is not None and self.spec.provider == HF_INFERENCE_PROVIDER
        return "hf-inference" if pinned else "chat"

    def _router_model_id(self) -> str:
        """The Hub id for an hf-inference route; refuses a model pinned to another provider."""
        assert self.spec is not None  # noqa: S101 - no base_url means a resolved model
        if self.spec.provider not in (None, HF_INFERENCE_PROVIDER):
            raise HFConfigError(
                f"api={self.api!r} without base_url goes to the hf-inference provider, but model "
                f"{self.spec.router_model!r} is pinned to {self.spec.provider!r}. Use "
                f"'{self.spec.model_id}:hf-inference', or api='chat' for {self.spec.provider!r}."
            )
        return self.spec.model_id

    def _urls(self) -> tuple[str, str]:
        """The non-streamed and streamed URLs of the route (empty for ``chat``)."""
        base = self.base_url
        if self.api == "tgi":
            if base is None:
                raise HFConfigError(
                    "api='tgi' needs base_url: the root URL of a TGI server or Inference Endpoint "
                    "(e.g. 'https://xyz.endpoints.huggingface.cloud'), which serves /generate."
                )
            root = base.removesuffix("/v1")
            return f"{root}/generate", f"{root}/generate_stream"
        if self.api == "hf-inference":
            url = base if base is not None else hf_inference_url(self._router_model_id())
            return url, url
        if self.api == "completions":
            if base is not None:
                return f"{base}/completions", f"{base}/completions"
            if self.spec is None or self.spec.provider != HF_INFERENCE_PROVIDER:
                raise HFConfigError(
                    "api='completions' needs base_url (an OpenAI-compatible root ending in /v1, "
                    "e.g. 'http://127.0.0.1:8080/v1'), or a model pinned to ':hf-inference', whose "
                    "/v1/completions route the router serves."
                )
            model_id = self._router_model_id()
            url = provider_url(HF_INFERENCE_PROVIDER, f"/models/{quote(model_id, safe='/')}")
            return f"{url}/v1/completions", f"{url}/v1/completions"
        return "", ""

    def _context(self) -> CallContext:
        router = self.base_url is None and self.api in ("hf-inference", "completions")
        return CallContext(model=self.model, provider=HF_INFERENCE_PROVIDER if router else None)

    def plan(self, prompt: str, params: GenerationParams, *, stream: bool) -> RequestPlan:
        """Validate a call and build its request; :class:`HFConfigError` before any request."""
        if not isinstance(prompt, str):
            raise HFConfigError(f"prompt must be a string, got {type(prompt).__name__}.")
        check_supported(self.api, params)
        url = self._stream_url if stream else self._url
        if self.api == "tgi":
            return RequestPlan(url, build_tgi_body(prompt, params), FINAL_EVENT)
        if self.api == "hf-inference":
            body = build_hf_inference_body(prompt, params, stream=stream)
            return RequestPlan(url, body, FINAL_EVENT)
        if self.api == "completions":
            model = self.spec.model_id if self.spec is not None else None
            body = build_completions_body(model, prompt, params, stream=stream)
            return RequestPlan(url, body, CHOICES_FINISHED)
        raise AssertionError("the chat route has no plan")  # pragma: no cover

    def _parse(self, body: Any, headers: Mapping[str, str]) -> Generated:
        if self.api == "completions":
            return parse_completion(body)
        return parse_tgi_response(body, headers)

    def _result(
        self,
        generated: Generated,
        params: GenerationParams,
        prompt: str,
        request_id: str | None,
        provider: str | None = None,
    ) -> TextGenResult:
        text = generated.text
        # An echoed prompt (return_full_text) is never searched for stop sequences.
        echo = params.return_full_text and text.startswith(prompt)
        index = find_stop(text, params.stop, len(prompt) if echo else 0)
        if index >= 0:
            text = text[:index]
        return TextGenResult(
            text=text,
            finish_reason=generated.finish_reason or ("stop" if index >= 0 else None),
            usage=generated.usage,
            request_id=request_id,
            api=self.api,
            model=self.model,
            provider=provider or self._context().provider,
            details=generated.details,
            native_finish_reason=generated.native_finish_reason,
        )

    # --- calls ---

    def complete(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenResult:
        """One non-streamed completion of ``prompt``."""
        options = options or CallOptions()
        if self.chat is not None:
            check_supported(self.api, params)
            chat = self.chat.complete(_as_messages(prompt), chat_parameters(params), options)
            generated = _from_chat(chat.completion.first.content, chat.completion)
            return self._result(generated, params, prompt, chat.request_id, chat.provider)
        plan = self.plan(prompt, params, stream=False)
        response = self.client.request(
            "POST", plan.url, json=plan.body, headers=options.headers, timeout=options.timeout,
            max_retries=options.max_retries, context=self._context(),
        )  # fmt: skip
        generated = self._parse(response.json(), response.headers)
        return self._result(generated, params, prompt, response.request_id)

    async def acomplete(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenResult:
        """Async form of :meth:`complete`."""
        options = options or CallOptions()
        if self.chat is not None:
            check_supported(self.api, params)
            chat = await self.chat.acomplete(_as_messages(prompt), chat_parameters(params), options)
            generated = _from_chat(chat.completion.first.content, chat.completion)
            return self._result(generated, params, prompt, chat.request_id, chat.provider)
        plan = self.plan(prompt, params, stream=False)
        response = await self.async_client.request(
            "POST", plan.url, json=plan.body, headers=options.headers, timeout=options.timeout,
            max_retries=options.max_retries, context=self._context(),
        )  # fmt: skip
        generated = self._parse(response.json(), response.headers)
        return self._result(generated, params, prompt, response.request_id)

    def stream(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenStream:
        """A streamed completion: iterate for text deltas, then call ``result()``.

        Parameters are checked here, before any request; the request is sent on iteration.
        """
        return TextGenStream(self, prompt, params, options or CallOptions())

    def astream(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> AsyncTextGenStream:
        """Async form of :meth:`stream`."""
        return AsyncTextGenStream(self, prompt, params, options or CallOptions())


def _as_messages(prompt: str) -> list[dict[str, Any]]:
    if not isinstance(prompt, str):
        raise HFConfigError(f"prompt must be a string, got {type(prompt).__name__}.")
    return [{"role": "user", "content": prompt}]


def _from_chat(content: str | None, completion: Any) -> Generated:
    first = completion.first
    return Generated(
        text=content or "", finish_reason=first.finish_reason, usage=completion.usage,
        native_finish_reason=first.native_finish_reason,
    )  # fmt: skip


class _Fold:
    """Stream state shared by the sync and async streams: events in, safe text deltas out."""

    def __init__(self, api: str, params: GenerationParams, prompt: str) -> None:
        self.api = api
        self.trimmer = StopTrimmer(params.stop)
        # With return_full_text the final text starts with the prompt, so the stream does too.
        self.echo = prompt if params.return_full_text else ""
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.native_finish_reason: str | None = None
        self.usage: Usage | None = None
        self.details: Mapping[str, Any] | None = None

    def _emit(self, text: str) -> str:
        out = self.echo + self.trimmer.feed(text)
        self.echo = ""
        if out:
            self.parts.append(out)
        return out

    def event(self, event: Any) -> str:
        """Take one parsed event of the route; return the text to emit (possibly empty)."""
        if self.api in _TGI_STYLE:
            token = parse_tgi_stream_event(event)
            if token.details is not None:
                self.details = token.details
                self._finish(*normalize_finish_reason(token.details.get("finish_reason")))
            return self._emit("" if token.special else token.text)
        delta = parse_completion_chunk(event)
        self._finish(delta.finish_reason, delta.native_finish_reason)
        self.usage = delta.usage or self.usage
        return self._emit(delta.text)

    def _finish(self, finish_reason: str | None, native: str | None) -> None:
        if finish_reason:
            self.finish_reason, self.native_finish_reason = finish_reason, native

    def chat_delta(self, delta: StreamDelta) -> str:
        """Take one chat-stream delta (first choice only)."""
        if delta.choice_index != 0:
            return ""
        self._finish(delta.finish_reason, delta.native_finish_reason)
        self.usage = delta.usage or self.usage
        return self._emit(delta.content)

    def end(self, headers: Mapping[str, str]) -> str:
        """Flush the held-back tail at the end of a complete stream.

        Whether the stream is complete (a TGI stream ends after its event carrying
        ``generated_text``; there is no ``[DONE]``) was decided by the transport with the route's
        end rule (:mod:`hfbridge.wire.stream_end`) before this is called.
        """
        out = self.echo + self.trimmer.flush()
        self.echo = ""
        if out:
            self.parts.append(out)
        if self.api in _TGI_STYLE:
            self.usage = tgi_usage(self.details, headers)
        return out

    def generated(self) -> Generated:
        """What the stream produced, as one generation."""
        finish = self.finish_reason or ("stop" if self.trimmer.stopped else None)
        native = self.native_finish_reason if self.finish_reason else None
        return Generated("".join(self.parts), finish, self.usage, self.details, native)


class _StreamBase:
    def __init__(
        self, service: TextGenService, prompt: str, params: GenerationParams, options: CallOptions
    ) -> None:
        self.service = service
        self.prompt = prompt
        self.params = params
        self.options = options
        self.request_id: str | None = None
        self.provider: str | None = None
        self._result: TextGenResult | None = None
        self._fold = _Fold(service.api, params, prompt)
        if service.chat is not None:
            check_supported(service.api, params)
            _as_messages(prompt)
            self._plan: RequestPlan | None = None
        else:
            self._plan = service.plan(prompt, params, stream=True)

    def _finish(self) -> None:
        self._result = self.service._result(  # noqa: SLF001 - same module
            self._fold.generated(), self.params, self.prompt, self.request_id, self.provider
        )

    def result(self) -> TextGenResult:
        """The finished completion; only valid once the stream has been consumed to its end."""
        if self._result is None:
            raise HFError(
                "The stream has not finished: consume it fully before asking for the result."
            )
        return self._result


class TextGenStream(_StreamBase):
    """Iterator of text deltas (stop sequences held back and trimmed); then :meth:`result`."""

    def __iter__(self) -> Iterator[str]:
        if self._plan is None:
            yield from self._iter_chat()
            return
        service, plan, options = self.service, self._plan, self.options
        events = service.client.stream(
            "POST", plan.url, json=plan.body, headers=options.headers, timeout=options.timeout,
            max_retries=options.max_retries, context=service._context(),  # noqa: SLF001
            end=plan.stream_end, idle_timeout=options.stream_idle_timeout,
        )  # fmt: skip
        try:
            for event in events:
                self.request_id = events.request_id
                out = self._fold.event(event)
                if out:
                    yield out
        finally:
            events.close()
        self.request_id = events.request_id
        out = self._fold.end(events.headers)
        if out:
            yield out
        self._finish()

    def _iter_chat(self) -> Iterator[str]:
        assert self.service.chat is not None  # noqa: S101 - chat route
        chat: ChatStream = self.service.chat.stream(
            _as_messages(self.prompt), chat_parameters(self.params), self.options
        )
        for delta in chat:
            out = self._fold.chat_delta(delta)
            if out:
                yield out
        out = self._fold.end(chat.headers)
        if out:
            yield out
        result = chat.result()
        self.request_id, self.provider = result.request_id, result.provider
        self._finish()


class AsyncTextGenStream(_StreamBase):
    """Async iterator of text deltas; then :meth:`result`."""

    async def __aiter__(self) -> AsyncIterator[str]:
        if self._plan is None:
            async for out in self._iter_chat():
                yield out
            return
        service, plan, options = self.service, self._plan, self.options
        events = service.async_client.stream(
            "POST", plan.url, json=plan.body, headers=options.headers, timeout=options.timeout,
            max_retries=options.max_retries, context=service._context(),  # noqa: SLF001
            end=plan.stream_end, idle_timeout=options.stream_idle_timeout,
        )  # fmt: skip
        try:
            async for event in events:
                self.request_id = events.request_id
                out = self._fold.event(event)
                if out:
                    yield out
        finally:
            await events.aclose()
        self.request_id = events.request_id
        out = self._fold.end(events.headers)
        if out:
            yield out
        self._finish()

    async def _iter_chat(self) -> AsyncIterator[str]:
        assert self.service.chat is not None  # noqa: S101 - chat route
        chat: AsyncChatStream = self.service.chat.astream(
            _as_messages(self.prompt), chat_parameters(self.params), self.options
        )
        async for delta in chat:
            out = self._fold.chat_delta(delta)
            if out:
                yield out
        out = self._fold.end(chat.headers)
        if out:
            yield out
        result = chat.result()
        self.request_id, self.provider = result.request_id, result.provider
        self._finish()
