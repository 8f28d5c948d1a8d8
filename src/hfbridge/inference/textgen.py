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
  chat completions, so the model's chat template wraps it. Only the
  parameters chat completions define are accepted (``max_new_tokens``, ``temperature``, ``top_p``,
  ``seed``, ``stop``); ``top_k``, ``repetition_penalty``, ``typical_p``, ``truncate``,
  ``watermark``, ``do_sample`` and ``return_full_text`` raise
  :class:`~hfbridge.errors.HFConfigError`.

Default: ``base_url`` given -> ``"completions"``; otherwise ``"hf-inference"`` when the model is
pinned to it (``org/name:hf-inference``), else ``"chat"``.

Every parameter is checked against the route before any request (see :mod:`hfbridge.wire.textgen`),
and stop sequences the server leaves in its output are trimmed, in streams too. Each ``api`` is a
route of :mod:`hfbridge.wire.textgen_routes`, served by the one loop of
:mod:`hfbridge.inference.service`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from typing_extensions import Unpack

from hfbridge._constants import HF_INFERENCE_PROVIDER
from hfbridge.catalog.aliases import resolve_model
from hfbridge.catalog.spec import ModelSpec
from hfbridge.errors import HFConfigError
from hfbridge.inference.connection import Connection, ConnectionArgs, OnConnection
from hfbridge.inference.routes import get_route
from hfbridge.inference.service import (
    CallOptions,
    RouteService,
    Served,
    ServedStream,
)
from hfbridge.wire.chat import Usage
from hfbridge.wire.route import Target
from hfbridge.wire.textgen import APIS, Generated, GenerationParams
from hfbridge.wire.textgen_routes import ROUTES_BY_API, TextGenRequest, textgen_request

__all__ = [
    "AsyncTextGenStream",
    "TextGenResult",
    "TextGenService",
    "TextGenStream",
]


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


class TextGenService(OnConnection):
    """Send text completions for one configured model and route over the shared transport.

    Args:
        model: a model id, ``model:provider``, or an alias; with ``base_url`` any name the server
            knows, or ``None`` to leave ``model`` out of the request (single-model servers).
        api: ``"tgi"``, ``"hf-inference"``, ``"completions"`` or ``"chat"``; ``None``: default.
        connection: the connection to send through; else one is built from ``settings``
            (``base_url``: a self-hosted server, TGI root or an OpenAI root ending in ``/v1``;
            ``token``, ``client``, ... as :class:`~hfbridge.inference.connection.ConnectionArgs`).
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        api: str | None = None,
        connection: Connection | None = None,
        **settings: Unpack[ConnectionArgs],
    ) -> None:
        if api is not None and api not in APIS:
            raise HFConfigError(f"api must be one of {', '.join(APIS)} (or None), got {api!r}.")
        self.connection = connection or Connection.create(**settings)
        self.base_url = self.connection.base_url
        custom = self.base_url is not None
        self.spec: ModelSpec | None = (
            None
            if custom and model is None
            else resolve_model(
                model, kind="chat", overrides=self.connection.aliases, custom_endpoint=custom
            )
        )
        self.api = api or self._default_api()
        self.routes: RouteService[TextGenRequest, Generated, str] = RouteService(
            get_route(ROUTES_BY_API[self.api]), self.connection
        )
        self.target = self._target()
        self._targets = [self.target]
        # Where the route goes, checked now: an impossible route fails before any request.
        self.routes.route.url(self.target, False)  # noqa: FBT003 - the route's url(target, stream)

    def __repr__(self) -> str:
        return f"TextGenService(api={self.api!r}, model={self.model!r}, {self.client.config!r})"

    def __call__(self) -> TextGenService:
        """Deprecated: ``HFTextGen.service`` is a property now; calling it returns the service."""
        warnings.warn(
            "HFTextGen.service is a property now: use .service.", DeprecationWarning, stacklevel=2
        )
        return self

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

    def _target(self) -> Target:
        spec = self.spec
        provider = spec.provider if spec is not None else None
        if self.base_url is None and self.api == "hf-inference":
            assert spec is not None  # noqa: S101 - no base_url means a resolved model
            if spec.provider not in (None, HF_INFERENCE_PROVIDER):
                raise HFConfigError(
                    f"api={self.api!r} without base_url goes to the hf-inference provider, but "
                    f"model {spec.router_model!r} is pinned to {spec.provider!r}. Use "
                    f"'{spec.model_id}:hf-inference', or api='chat' for {spec.provider!r}."
                )
            provider = HF_INFERENCE_PROVIDER
        return Target(
            model=self.model, model_id=spec.model_id if spec is not None else None,
            provider=provider, base_url=self.base_url,
        )  # fmt: skip

    def _result(self, served: Served[Generated]) -> TextGenResult:
        generated = served.result
        return TextGenResult(
            text=generated.text,
            finish_reason=generated.finish_reason,
            usage=generated.usage,
            request_id=served.request_id,
            api=self.api,
            model=self.model,
            provider=served.provider,
            details=generated.details,
            native_finish_reason=generated.native_finish_reason,
        )

    # --- calls ---

    def complete(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenResult:
        """One non-streamed completion of ``prompt``."""
        request = textgen_request(self.api, prompt, params, stream=False, model=self.model)
        return self._result(self.routes.call(request, self._targets, options))

    async def acomplete(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenResult:
        """Async form of :meth:`complete`."""
        request = textgen_request(self.api, prompt, params, stream=False, model=self.model)
        return self._result(await self.routes.acall(request, self._targets, options))

    def stream(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> TextGenStream:
        """A streamed completion: iterate for text deltas, then call ``result()``.

        Parameters are checked here, before any request; the request is sent on iteration.
        """
        request = textgen_request(self.api, prompt, params, stream=True, model=self.model)
        return ServedStream(self.routes.stream(request, self._targets, options), self._result)

    def astream(
        self, prompt: str, params: GenerationParams, options: CallOptions | None = None
    ) -> AsyncTextGenStream:
        """Async form of :meth:`stream`."""
        request = textgen_request(self.api, prompt, params, stream=True, model=self.model)
        return ServedStream(self.routes.astream(request, self._targets, options), self._result)


TextGenStream = ServedStream[str, TextGenResult]
"""Text deltas (stop sequences held back and trimmed), then :meth:`~ServedStream.result`."""

AsyncTextGenStream = TextGenStream
"""The same class, made by :meth:`TextGenService.astream` (iterate with ``async for``)."""
