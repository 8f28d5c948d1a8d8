"""``HFTextGen``: a LangChain text-completion LLM backed by Hugging Face inference.

It sends through :class:`~hfbridge.inference.textgen.TextGenService`, which speaks TGI
(``/generate``, ``/generate_stream``), the hf-inference text-generation task, OpenAI
``/v1/completions`` (llama.cpp, vLLM, TGI) and, for router models that only chat, one user message
through chat completions. ``infill`` / ``ainfill`` build the fill-in-the-middle prompt of known code
models (Code Llama, StarCoder, SantaCoder, CodeQwen, Qwen-Coder, DeepSeek-Coder, Codestral).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.language_models.llms import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from langchain_core.runnables import RunnableConfig
from pydantic import Field

from hfbridge._constants import DEFAULT_NUM_OUTPUT, TEXTGEN_BATCH_CONCURRENCY
from hfbridge.errors import HFConfigError
from hfbridge.inference.bulk import arun_bulk, check_concurrency, run_bulk
from hfbridge.inference.connection import Connection
from hfbridge.inference.service import CallOptions
from hfbridge.inference.settings import ServiceHolder
from hfbridge.inference.textgen import TextGenResult, TextGenService
from hfbridge.langchain._base import LangChainSerialisation, ls_params, refuse_unknown
from hfbridge.transport.jobs import bulk_job
from hfbridge.wire.fim import resolve_fim_family
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


if TYPE_CHECKING:  # the holder is generic for type checkers only: no class to build at import
    _Holder = ServiceHolder[TextGenService]
else:
    _Holder = ServiceHolder


class HFTextGen(_Holder, LangChainSerialisation, BaseLLM):
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

    # The connection settings (model, base_url, token, ...) are ServiceHolder's, declared once
    # for every adapter (hfbridge.inference.settings). With base_url, model may be None: left out.
    api: Literal["tgi", "hf-inference", "completions", "chat"] | None = None
    """The route; ``None`` picks the default described above."""

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

    checks_sampling = True
    framework_fields = frozenset(BaseLLM.model_fields)

    def __init__(self, **kwargs: Any) -> None:
        refuse_unknown(HFTextGen, kwargs, "pass other server parameters in model_kwargs={...}.")
        super().__init__(**kwargs)

    # --- settings -------------------------------------------------------------------------------

    def build_service(self, connection: Connection) -> TextGenService:
        """The :class:`TextGenService` this LLM sends through."""
        return TextGenService(model=self.model, api=self.api, connection=connection)

    def check_settings(self) -> None:
        """Raise :class:`HFConfigError` for a setting no request could succeed with."""
        super().check_settings()
        check_concurrency("batch_concurrency", self.batch_concurrency)
        clash = sorted(set(PARAM_FIELDS) & set(self.model_kwargs))
        if clash:
            raise HFConfigError(
                f"model_kwargs may not set {clash}: pass them as arguments (e.g. {clash[0]}=...)."
            )
        if self.fim_family is not None:
            resolve_fim_family(None, self.fim_family)
        check_supported(self.service.api, self._default_params())

    def _default_params(self) -> GenerationParams:
        params: GenerationParams = self.memoized("default_params", self._instance_params)
        return params

    def _instance_params(self) -> GenerationParams:
        values = {name: getattr(self, name) for name in PARAM_FIELDS}
        return GenerationParams.from_mapping({**values, **self.model_kwargs})

    def _call(
        self, stop: Sequence[str] | None, kwargs: Mapping[str, Any]
    ) -> tuple[TextGenService, GenerationParams, CallOptions | None]:
        """The service, validated parameters and call options of one call (before any request)."""
        call = dict(kwargs)
        options = self.pop_call_options(call)
        if "max_tokens" in call:
            call["max_new_tokens"] = call.pop("max_tokens")
        params = self._default_params().merged(call)
        if stop is not None:
            params = params.with_stop(stop)
        service = self.service
        check_supported(service.api, params)
        return service, params, options

    # --- LangChain metadata ---------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "hfbridge-textgen"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        service = self.service
        params = self._default_params()
        values = {name: getattr(params, name) for name in params.set_names()}
        if params.stop:
            values["stop"] = list(params.stop)
        return {"model": service.model, "base_url": self.base_url, "api": service.api, **values}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        return ls_params(
            str(self.service.model or self.base_url or ""), "llm",
            kwargs.get("temperature", self.temperature),
            kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens)),
            normalize_stop(stop if stop is not None else kwargs.get("stop", self.stop)),
        )  # fmt: skip

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
        service = self.service
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
