"""``HFTextGen``: a LangChain text-completion LLM backed by Hugging Face inference.

It sends through :class:`~hfbridge.inference.textgen.TextGenService`, which speaks TGI
(``/generate``, ``/generate_stream``), the hf-inference text-generation task, OpenAI
``/v1/completions`` (llama.cpp, vLLM, TGI) and, for router models that only chat, one user message
through chat completions. ``infill`` / ``ainfill`` build the fill-in-the-middle prompt of known code
models (Code Llama, StarCoder, SantaCoder, CodeQwen, Qwen-Coder, DeepSeek-Coder, Codestral).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.llms import BaseLLM
from langchain_core.load.serializable import SerializedConstructor, SerializedNotImplemented
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from langchain_core.runnables import RunnableConfig
from langchain_core.utils import secret_from_env
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, ValidationError

from hfbridge._constants import (
    DEFAULT_NUM_OUTPUT,
    LEGACY_TOKEN_ENV,
    TEXTGEN_BATCH_CONCURRENCY,
    TOKEN_ENV,
)
from hfbridge.errors import HFConfigError, config_error_from
from hfbridge.inference.bulk import arun_bulk, check_concurrency, run_bulk
from hfbridge.inference.chat import CallOptions
from hfbridge.inference.credentials import HeadersSetting, token_secret_name
from hfbridge.inference.textgen import TextGenResult, TextGenService
from hfbridge.langchain._secrets import dump_credentials
from hfbridge.transport import AsyncHFClient, HFClient, RetryPolicy
from hfbridge.transport.config import validate_timeout
from hfbridge.transport.jobs import bulk_job, validate_job_timeout
from hfbridge.wire.fim import resolve_fim_family
from hfbridge.wire.params import check_params
from hfbridge.wire.textgen import GenerationParams, check_supported, normalize_stop

PARAM_FIELDS: tuple[str, ...] = (
    "max_new_tokens",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "seed",
    "stop",
    "do_sample",
    "return_full_text",
    "typical_p",
    "truncate",
    "watermark",
)
"""Instance fields sent as generation parameters when set (per-call keyword arguments win)."""

CALL_OPTION_KEYS = ("timeout", "max_retries", "extra_headers", "stream_idle_timeout")
"""Per-call keyword arguments that shape the HTTP call rather than the generation."""

MODEL_PROVIDER = "huggingface"


class HFTextGen(BaseLLM):
    r"""Text completion with any Hugging Face model: a drop-in for ``HuggingFaceEndpoint``.

    Example:
        .. code-block:: python

            from hfbridge.langchain import HFTextGen

            tgi = HFTextGen(base_url="https://xyz.endpoints.huggingface.cloud", api="tgi")
            local = HFTextGen(model="qwen", base_url="http://127.0.0.1:8080/v1")  # /v1/completions
            hub = HFTextGen(model="openai-community/gpt2:hf-inference", max_new_tokens=20)
            local.infill("def add(a, b):\n    ", "\n\nprint(add(1, 2))")

    ``api`` selects the route: ``"tgi"`` (a TGI server at ``base_url``), ``"hf-inference"`` (the
    router's text-generation task for the model), ``"completions"`` (OpenAI ``/v1/completions`` at
    ``base_url``, which ends in ``/v1``) or ``"chat"`` (router models that only chat: the prompt is
    sent as one user message, so the chat template applies, and parameters without a chat
    equivalent are rejected). By default: ``"completions"`` with ``base_url``, else
    ``"hf-inference"`` for a model pinned to ``:hf-inference``, else ``"chat"``.

    Every parameter is sent for real or refused: one the route cannot honour raises
    :class:`~hfbridge.errors.HFConfigError` before any request (at construction for instance
    fields). Stop sequences the server leaves in its output are trimmed, in streams too.
    ``batch`` / ``generate`` are bulk jobs: as many prompts in flight as the server's rate limit
    allows (found by the transport's limiter, at most ``batch_concurrency``; sequentially when
    ``streaming``, so callbacks see one prompt's tokens at a time), 429s retried until
    ``job_timeout``; results keep their order, and a failure raises
    :class:`~hfbridge.errors.HFBatchError` naming the prompts without a result.
    """

    model: str | None = Field(default=None, alias="model_name")
    """Model id, ``model:provider`` or alias; with ``base_url`` any name (``None``: left out)."""
    base_url: str | None = None
    """A self-hosted server: a TGI root, or an OpenAI-compatible root ending in ``/v1``."""
    api: Literal["tgi", "hf-inference", "completions", "chat"] | None = None
    """The route; ``None`` picks the default described above."""
    token: SecretStr | None = Field(
        default_factory=secret_from_env([TOKEN_ENV, LEGACY_TOKEN_ENV], default=None),
        alias="api_key",
    )
    """Hugging Face token (``api_key`` accepted); read from ``HF_TOKEN`` when not given."""
    bill_to: str | None = None
    """Organisation billed for router calls (``X-HF-Bill-To``)."""
    timeout: float | None = None
    """Seconds to wait for the answer's headers, and for any silence in a body (default 120)."""
    stream_idle_timeout: float | None = None
    """Seconds a stream may go without an event (comments do not count); default: ``timeout``."""
    max_retries: int | None = None
    """Retries after the first attempt, done by the transport (default 2)."""
    default_headers: HeadersSetting = None
    """Headers sent with every request; credential headers are secrets (as for ``ChatHF``)."""
    aliases: dict[str, str] | None = None
    """Per-instance alias overrides, e.g. ``{"default": "Qwen/Qwen2.5-7B-Instruct"}``."""

    max_new_tokens: int | None = Field(default=DEFAULT_NUM_OUTPUT, alias="max_tokens")
    """Most tokens to generate (``max_tokens`` accepted); sent as ``max_tokens`` where needed."""
    temperature: float | None = None
    """Sampling temperature; 0 means greedy (sent to TGI as ``do_sample: false``)."""
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: list[str] | str | None = Field(default=None, alias="stop_sequences")
    """Stop sequences (``stop_sequences`` accepted); trimmed from the output."""
    do_sample: bool | None = None
    return_full_text: bool | None = None
    """Return the prompt followed by the completion (TGI and hf-inference)."""
    typical_p: float | None = None
    truncate: int | None = None
    """Keep only this many prompt tokens (TGI and hf-inference)."""
    watermark: bool | None = None
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Other server parameters, sent as is (in TGI's ``parameters``, else in the body)."""

    streaming: bool = False
    """Stream under ``invoke``/``generate`` too (callbacks then see every token)."""
    fim_family: str | None = None
    """FIM format for :meth:`infill` when the model name does not tell (e.g. ``"qwen-coder"``)."""
    batch_concurrency: int = TEXTGEN_BATCH_CONCURRENCY
    """The most prompts of one ``batch``/``generate`` call in flight (the limiter adapts below)."""
    job_timeout: float | None = None
    """Seconds one ``batch``/``generate`` call may take; 429s are retried until then (1800)."""

    client: HFClient | None = Field(default=None, exclude=True)
    """An ``HFClient`` to send through (e.g. with an ``httpx.MockTransport``); not serialised."""
    async_client: AsyncHFClient | None = Field(default=None, exclude=True)
    """An ``AsyncHFClient`` to send through; not serialised."""
    catalog: Any = Field(default=None, exclude=True)
    """The catalog used by ``api="chat"`` (default: the process-wide one); not serialised."""

    _services: dict[tuple[Any, ...], TextGenService] = PrivateAttr(default_factory=dict)

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    def __init__(self, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - _accepted_arguments())
        if unknown:
            raise HFConfigError(
                f"HFTextGen got unknown argument(s) {unknown}: pass other server parameters in "
                "model_kwargs={...}."
            )
        check_params(kwargs)  # the values as given: pydantic would turn True into 1
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise config_error_from(exc, "HFTextGen") from None
        self._check_settings()

    # --- settings -------------------------------------------------------------------------------

    def _check_settings(self) -> None:
        """Raise :class:`HFConfigError` for a setting no request could succeed with."""
        if self.timeout is not None:
            validate_timeout(self.timeout)
        if self.stream_idle_timeout is not None:
            validate_timeout(self.stream_idle_timeout, what="stream_idle_timeout")
        if self.max_retries is not None:
            RetryPolicy(max_retries=self.max_retries)
        check_concurrency("batch_concurrency", self.batch_concurrency)
        if self.job_timeout is not None:
            validate_job_timeout(self.job_timeout)
        clash = sorted(set(PARAM_FIELDS) & set(self.model_kwargs))
        if clash:
            raise HFConfigError(
                f"model_kwargs may not set {clash}: pass them as arguments (e.g. {clash[0]}=...)."
            )
        if self.fim_family is not None:
            resolve_fim_family(None, self.fim_family)
        check_supported(self.service().api, self._default_params())

    def _default_params(self) -> GenerationParams:
        values = {name: getattr(self, name) for name in PARAM_FIELDS}
        return GenerationParams.from_mapping({**values, **self.model_kwargs})

    @property
    def _explicit_token(self) -> bool:
        # A token read from the environment stays implicit so that the transport only sends it
        # to Hugging Face hosts, never to a self-hosted base_url.
        return "token" in self.model_fields_set and self.token is not None

    def service(self) -> TextGenService:
        """The :class:`TextGenService` this LLM sends through (built once per settings, cached)."""
        key = (
            self.model, self.base_url, self.api, self.token, self._explicit_token, self.bill_to,
            self.timeout, self.max_retries, tuple(sorted((self.default_headers or {}).items())),
            tuple(sorted((self.aliases or {}).items())), id(self.client), id(self.async_client),
            id(self.catalog),
        )  # fmt: skip
        cached = self._services.get(key)
        if cached is None:
            token = self.token.get_secret_value() if self._explicit_token and self.token else None
            cached = TextGenService(
                model=self.model, base_url=self.base_url, api=self.api, token=token,
                bill_to=self.bill_to, timeout=self.timeout, max_retries=self.max_retries,
                headers=self.default_headers, aliases=self.aliases, client=self.client,
                async_client=self.async_client, catalog=self.catalog,
            )  # fmt: skip
            self._services[key] = cached
        return cached

    def _call(
        self, stop: Sequence[str] | None, kwargs: Mapping[str, Any]
    ) -> tuple[TextGenService, GenerationParams, CallOptions]:
        """The service, validated parameters and call options of one call (before any request)."""
        call = dict(kwargs)
        timeout, max_retries, headers, idle = (call.pop(key, None) for key in CALL_OPTION_KEYS)
        options = CallOptions(
            timeout=timeout if timeout is not None else self.timeout,
            max_retries=max_retries if max_retries is not None else self.max_retries,
            headers=headers,
            stream_idle_timeout=idle if idle is not None else self.stream_idle_timeout,
        )
        if "max_tokens" in call:
            call["max_new_tokens"] = call.pop("max_tokens")
        params = self._default_params().merged(call)
        if stop is not None:
            params = params.with_stop(stop)
        service = self.service()
        check_supported(service.api, params)
        return service, params, options

    def __getstate__(self) -> dict[Any, Any]:
        # pydantic pickles a SecretStr's value: the token never travels in a pickle, nor do the
        # cached services (connection pools). Unpickled, the model finds HF_TOKEN or the login.
        state: dict[Any, Any] = super().__getstate__()
        private = {**(state.get("__pydantic_private__") or {}), "_services": {}}
        dict_ = {**state["__dict__"], "token": None}
        return {**state, "__dict__": dict_, "__pydantic_private__": private}

    # --- LangChain metadata ---------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "hfbridge-textgen"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        service = self.service()
        params = self._default_params()
        values = {name: getattr(params, name) for name in params.set_names()}
        if params.stop:
            values["stop"] = list(params.stop)
        return {"model": service.model, "base_url": self.base_url, "api": service.api, **values}

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Serialised dumps name the token's env variable, never its value (see ``ChatHF``)."""
        return {"token": token_secret_name(self.base_url)}

    def to_json(self) -> SerializedConstructor | SerializedNotImplemented:
        """The ``dumpd``/``dumps`` form: credentials as references (see ``langchain/_secrets``)."""
        dumped: SerializedConstructor | SerializedNotImplemented = dump_credentials(
            super().to_json(), base_url=self.base_url, explicit_token=self._explicit_token
        )
        return dumped

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """HFTextGen can be dumped and loaded with ``langchain_core.load``."""
        return True

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=MODEL_PROVIDER,
            ls_model_name=str(self.service().model or self.base_url or ""),
            ls_model_type="llm",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stops = normalize_stop(stop if stop is not None else kwargs.get("stop", self.stop))
        if stops:
            params["ls_stop"] = list(stops)
        return params

    # --- requests -------------------------------------------------------------------------------

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        service, params, options = self._call(stop, kwargs)
        if self.streaming:
            with bulk_job(self.job_timeout):
                results = [_collect(service.stream(prompt, params, options), run_manager)
                           for prompt in prompts]  # fmt: skip
        elif len(prompts) == 1:  # invoke: one call, not a bulk job (max_retries holds)
            results = [service.complete(prompts[0], params, options)]
        else:
            results = run_bulk(
                prompts, lambda prompt: service.complete(prompt, params, options),
                max_concurrency=self.batch_concurrency, job_timeout=self.job_timeout,
            )  # fmt: skip
        return _llm_result(results)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        service, params, options = self._call(stop, kwargs)
        if self.streaming:
            with bulk_job(self.job_timeout):
                results = [await _acollect(service.astream(prompt, params, options), run_manager)
                           for prompt in prompts]  # fmt: skip
            return _llm_result(results)
        if len(prompts) == 1:
            return _llm_result([await service.acomplete(prompts[0], params, options)])
        results = await arun_bulk(
            prompts, lambda prompt: service.acomplete(prompt, params, options),
            max_concurrency=self.batch_concurrency, job_timeout=self.job_timeout,
        )  # fmt: skip
        return _llm_result(results)

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        service, params, options = self._call(stop, kwargs)
        stream = service.stream(prompt, params, options)
        for text in stream:
            chunk = GenerationChunk(text=text)
            if run_manager is not None:
                run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        yield GenerationChunk(text="", generation_info=generation_info(stream.result()))

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        service, params, options = self._call(stop, kwargs)
        stream = service.astream(prompt, params, options)
        async for text in stream:
            chunk = GenerationChunk(text=text)
            if run_manager is not None:
                await run_manager.on_llm_new_token(text, chunk=chunk)
            yield chunk
        yield GenerationChunk(text="", generation_info=generation_info(stream.result()))

    # --- code infilling -------------------------------------------------------------------------

    def fim_prompt(self, prefix: str, suffix: str) -> tuple[str, list[str]]:
        """The FIM prompt for this model and the stop sequences that end the middle.

        The family comes from ``fim_family``, else from the model name; an unknown family, or
        ``api="chat"`` (a chat template would wrap the special tokens), raises
        :class:`HFConfigError`.
        """
        service = self.service()
        if service.api == "chat":
            raise HFConfigError(
                "infill needs a raw-prompt route (api='tgi', 'hf-inference' or 'completions'): "
                "through chat completions the model's chat template would wrap the FIM tokens."
            )
        model_id = service.spec.model_id if service.spec is not None else None
        family = resolve_fim_family(model_id, self.fim_family)
        if not isinstance(prefix, str) or not isinstance(suffix, str):
            raise HFConfigError("infill takes the prefix and the suffix as strings.")
        return family.prompt(prefix, suffix), list(family.stop)

    def _infill_stop(self, family_stop: list[str], stop: Sequence[str] | None) -> list[str]:
        extra = normalize_stop(stop if stop is not None else self.stop)
        return list(dict.fromkeys([*family_stop, *extra]))

    def infill(
        self,
        prefix: str,
        suffix: str,
        *,
        stop: Sequence[str] | None = None,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> str:
        """The code between ``prefix`` and ``suffix``, written by a fill-in-the-middle model.

        ``stop`` adds to the family's end tokens (default: this LLM's ``stop``); ``kwargs`` are
        per-call parameters, as for ``invoke``.
        """
        prompt, family_stop = self.fim_prompt(prefix, suffix)
        return self.invoke(prompt, config, stop=self._infill_stop(family_stop, stop), **kwargs)

    async def ainfill(
        self,
        prefix: str,
        suffix: str,
        *,
        stop: Sequence[str] | None = None,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> str:
        """Async form of :meth:`infill`."""
        prompt, family_stop = self.fim_prompt(prefix, suffix)
        return await self.ainvoke(
            prompt, config, stop=self._infill_stop(family_stop, stop), **kwargs
        )


def generation_info(result: TextGenResult) -> dict[str, Any]:
    """What LangChain keeps next to a generation: finish reason, usage, where it ran."""
    info: dict[str, Any] = {
        "finish_reason": result.finish_reason,
        "native_finish_reason": result.native_finish_reason,
        "model": result.model,
        "api": result.api,
        "provider": result.provider,
        "request_id": result.request_id,
    }
    if result.usage is not None:
        info["token_usage"] = {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens,
        }
    return {key: value for key, value in info.items() if value is not None}


def _llm_result(results: Sequence[TextGenResult]) -> LLMResult:
    generations = [[Generation(text=r.text, generation_info=generation_info(r))] for r in results]
    usages = [r.usage for r in results if r.usage is not None]
    llm_output: dict[str, Any] = {"model_name": results[0].model if results else None}
    if usages:
        llm_output["token_usage"] = {
            "prompt_tokens": sum(u.prompt_tokens for u in usages),
            "completion_tokens": sum(u.completion_tokens for u in usages),
            "total_tokens": sum(u.total_tokens for u in usages),
        }
    return LLMResult(generations=generations, llm_output=llm_output)


def _collect(stream: Any, run_manager: CallbackManagerForLLMRun | None) -> TextGenResult:
    for text in stream:
        if run_manager is not None:
            run_manager.on_llm_new_token(text, chunk=GenerationChunk(text=text))
    result: TextGenResult = stream.result()
    return result


async def _acollect(
    stream: Any, run_manager: AsyncCallbackManagerForLLMRun | None
) -> TextGenResult:
    async for text in stream:
        if run_manager is not None:
            await run_manager.on_llm_new_token(text, chunk=GenerationChunk(text=text))
    result: TextGenResult = stream.result()
    return result


@functools.cache
def _accepted_arguments() -> frozenset[str]:
    fields = HFTextGen.model_fields
    return frozenset(fields) | {field.alias for field in fields.values() if field.alias}
