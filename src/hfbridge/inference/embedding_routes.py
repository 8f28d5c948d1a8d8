"""Which URL and body format embeddings requests use, from the user's settings.

Pure configuration logic (no I/O): :func:`select_route` turns ``model``, ``base_url``, ``api`` and
``provider_model_id`` into an :class:`EmbeddingRoute`, and :func:`check_params` refuses options the
route does not accept, naming the routes that do. Both raise
:class:`~hfbridge.errors.HFConfigError` before any request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from hfbridge._constants import HF_INFERENCE_PROVIDER
from hfbridge._urls import validate_base_url
from hfbridge.catalog.aliases import resolve_model
from hfbridge.errors import HFConfigError
from hfbridge.wire.embeddings import (
    FEATURE_EXTRACTION,
    OPENAI_EMBEDDING_PROVIDERS,
    OPENAI_EMBEDDINGS,
    EmbeddingAPI,
    EmbeddingParams,
)
from hfbridge.wire.route import Target

__all__ = [
    "OPENAI_EMBEDDING_PROVIDERS",
    "EmbeddingRoute",
    "RouteKind",
    "check_params",
    "select_route",
]

RouteKind = Literal["hf-inference", "custom-feature-extraction", "custom-openai", "provider-openai"]

_FEATURE_PARAMS = frozenset({"normalize", "truncate", "truncation_direction", "prompt_name"})
_OPENAI_PARAMS = frozenset({"dimensions", "encoding_format"})
_ROUTES: dict[RouteKind, tuple[str, frozenset[str]]] = {
    "hf-inference": (
        "the hf-inference feature-extraction route (no base_url; provider hf-inference or none)",
        _FEATURE_PARAMS,
    ),
    "custom-feature-extraction": (
        "a base_url with api='feature-extraction' (TEI /embed or a custom HF route)",
        _FEATURE_PARAMS | {"dimensions"},
    ),
    "custom-openai": (
        "a base_url with api='openai' (OpenAI-style /v1/embeddings: TEI, vLLM, llama.cpp)",
        _OPENAI_PARAMS,
    ),
    "provider-openai": (
        "the providers " + ", ".join(OPENAI_EMBEDDING_PROVIDERS) + " (OpenAI-style embeddings)",
        _OPENAI_PARAMS,
    ),
}


@dataclass(frozen=True, slots=True)
class EmbeddingRoute:
    """Where and how embeddings requests go: the route's kind and its one target.

    ``model_id`` is the resolved model (an HF id, or the name a self-hosted server knows);
    ``wire_model`` is the ``model`` field of OpenAI-style bodies (the provider's own id on a
    provider route); ``base_url`` the self-hosted server's URL, if any.
    """

    kind: RouteKind
    model_id: str
    wire_model: str
    provider: str | None = None
    base_url: str | None = None

    @property
    def target(self) -> Target:
        """The one target of every request (embeddings never fail over)."""
        return Target(self.wire_model, self.model_id, self.provider, self.base_url)

    @property
    def url(self) -> str:
        """The URL requests go to."""
        wire = OPENAI_EMBEDDINGS if self.api == "openai" else FEATURE_EXTRACTION
        return wire.url(self.target, False)  # noqa: FBT003 - a route's url(target, stream)

    @property
    def api(self) -> EmbeddingAPI:
        """The body format: ``openai`` or ``feature-extraction``."""
        return "openai" if self.kind.endswith("openai") else "feature-extraction"

    @property
    def label(self) -> str:
        """A human description of the route, for messages."""
        return _ROUTES[self.kind][0]

    @property
    def supported_params(self) -> frozenset[str]:
        """The optional parameters this route accepts."""
        return _ROUTES[self.kind][1]


def _check_api(api: str | None) -> EmbeddingAPI | None:
    if api is None or api in ("openai", "feature-extraction"):
        return api  # type: ignore[return-value]
    raise HFConfigError(f"api must be 'openai', 'feature-extraction' or None, got {api!r}.")


def select_route(
    *,
    model: str | None,
    base_url: str | None = None,
    api: str | None = None,
    provider_model_id: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> EmbeddingRoute:
    """Pick the embeddings route for the settings; :class:`HFConfigError` when they conflict.

    - ``base_url`` given: OpenAI ``{base_url}/embeddings`` (``api='openai'``, the default), or the
      exact URL ``base_url`` with a feature-extraction body (``api='feature-extraction'``, e.g.
      ``http://host:8080/embed`` for TEI). The model name is sent as is.
    - no ``base_url``: the model spec decides. No provider or ``:hf-inference``: hf-inference
      feature-extraction. ``:together``, ``:scaleway``, ``:deepinfra``: that provider's OpenAI
      route, with ``provider_model_id`` (default: the HF id) as the ``model`` field.
    """
    chosen = _check_api(api)
    if provider_model_id is not None and (
        not isinstance(provider_model_id, str) or not provider_model_id.strip()
    ):
        raise HFConfigError(
            f"provider_model_id must be a non-empty string, got {provider_model_id!r}."
        )
    if base_url is not None:
        root = validate_base_url(base_url)
        spec = resolve_model(model, kind="embeddings", overrides=aliases, custom_endpoint=True)
        if provider_model_id is not None:
            raise HFConfigError(
                "provider_model_id applies only to provider routes (together, scaleway, "
                "deepinfra); with a base_url, pass the server's model name as model=..."
            )
        kind: RouteKind = (
            "custom-feature-extraction" if chosen == "feature-extraction" else "custom-openai"
        )
        return EmbeddingRoute(kind, spec.model_id, spec.model_id, None, root)

    spec = resolve_model(model, kind="embeddings", overrides=aliases)
    if spec.policy is not None:
        raise HFConfigError(
            f"model {spec.router_model!r}: routing policies (':{spec.policy}') need the router's "
            "auto-selection, which serves chat only. Pin a provider for embeddings, e.g. "
            f"'{spec.model_id}:hf-inference' or '{spec.model_id}:together'."
        )
    provider = spec.provider or HF_INFERENCE_PROVIDER
    if provider == HF_INFERENCE_PROVIDER:
        if chosen == "openai" or provider_model_id is not None:
            raise HFConfigError(
                f"model {spec.router_model!r} runs on hf-inference, which serves embeddings "
                "through feature-extraction only: drop api='openai'/provider_model_id, pin one of "
                f"{', '.join(OPENAI_EMBEDDING_PROVIDERS)}, or pass a base_url."
            )
        return EmbeddingRoute("hf-inference", spec.model_id, spec.model_id, provider)
    if provider not in OPENAI_EMBEDDING_PROVIDERS:
        known = ", ".join([HF_INFERENCE_PROVIDER, *OPENAI_EMBEDDING_PROVIDERS])
        raise HFConfigError(
            f"provider {provider!r} has no known embeddings route: use one of {known}, "
            "or pass base_url=... for a self-hosted server."
        )
    if chosen == "feature-extraction":
        raise HFConfigError(
            f"provider {provider!r} serves OpenAI-style embeddings only: drop "
            "api='feature-extraction' (it needs a base_url or the hf-inference provider)."
        )
    wire_model = provider_model_id.strip() if provider_model_id else spec.model_id
    return EmbeddingRoute("provider-openai", spec.model_id, wire_model, provider)


def check_params(route: EmbeddingRoute, params: EmbeddingParams) -> None:
    """Raise :class:`HFConfigError` for a set parameter ``route`` does not accept."""
    for name, value in params.set_values().items():
        if name not in route.supported_params:
            where = "; ".join(label for label, names in _ROUTES.values() if name in names)
            raise HFConfigError(
                f"{name}={value!r} is not supported by {route.label}. It is supported by: {where}. "
                f"Remove {name}, or choose a route that supports it."
            )
