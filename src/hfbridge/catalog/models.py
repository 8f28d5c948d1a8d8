"""Typed views of the catalog answers: router ``/v1/models`` and Hub ``/api/models``.

Every field except an entry's identity (``id``, ``provider``) may be missing, null or of an
unexpected type; such a field becomes ``None`` instead of failing the whole list. Unknown fields
are kept (``extra="allow"``) so that newer server fields survive a round trip through the cache.
An entry without its identity is dropped (see :func:`parse_router_models`).
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from hfbridge.catalog.spec import is_provider_slug

logger = logging.getLogger("hfbridge.catalog")


def _float_or_none(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return None
    return number if math.isfinite(number) else None  # "inf", "nan": unknown, never a figure


def _price_or_none(value: Any) -> Any:
    number = _float_or_none(value)
    return number if number is not None and number >= 0 else None


def _provider_entries(items: Any, key: str = "provider") -> list[Any]:
    """The entries whose provider name is a slug; the others are dropped.

    A name with a CR/LF would reach log lines and headers; one that cannot be a provider is noise.
    """
    kept = []
    for item in items:
        name = item.get(key) if isinstance(item, dict) else None
        if is_provider_slug(name):
            kept.append(item)
        else:
            logger.debug("hfbridge: skipped a catalog entry with provider name %r", name)
    return kept


def _int_or_none(value: Any) -> Any:
    number = _float_or_none(value)
    # int() of an infinite float raises; NaN fails the comparison.
    return int(number) if number is not None and 0 <= number < math.inf else None


def _slug(value: str) -> str:
    if not is_provider_slug(value):
        raise ValueError(f"provider {value!r} is not a provider slug")  # pydantic reports it
    return value


def _bool_or_none(value: Any) -> Any:
    return value if isinstance(value, bool) else None


def _str_or_none(value: Any) -> Any:
    return value if isinstance(value, str) and value else None


def _str_list(value: Any) -> Any:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


OptFloat = Annotated[float | None, BeforeValidator(_float_or_none)]
OptPrice = Annotated[float | None, BeforeValidator(_price_or_none)]
OptInt = Annotated[int | None, BeforeValidator(_int_or_none)]
OptBool = Annotated[bool | None, BeforeValidator(_bool_or_none)]
OptStr = Annotated[str | None, BeforeValidator(_str_or_none)]
StrList = Annotated[list[str], BeforeValidator(_str_list)]

ModelStatus = Literal["warm", "cold"]


def is_live_status(status: str | None) -> bool:
    """Whether a provider status (the router's or the Hub mapping's) says it serves: ``live``."""
    return status == "live"


_CONFIG = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Pricing(BaseModel):
    """USD per million tokens."""

    model_config = _CONFIG

    input: OptPrice = None
    output: OptPrice = None


class RouterProvider(BaseModel):
    """One provider serving a model, as the router's catalogue describes it."""

    model_config = _CONFIG

    provider: Annotated[str, AfterValidator(_slug)]
    status: OptStr = None
    context_length: OptInt = None
    pricing: Pricing | None = None
    is_free: OptBool = None
    supports_tools: OptBool = None
    supports_structured_output: OptBool = None
    first_token_latency_ms: OptFloat = None
    throughput: OptFloat = None
    is_model_author: OptBool = None

    @field_validator("pricing", mode="before")
    @classmethod
    def _pricing(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None

    @property
    def is_live(self) -> bool:
        """True when the router's latest health check passed (``status == "live"``)."""
        return is_live_status(self.status)


class Architecture(BaseModel):
    """What goes in and out of the model."""

    model_config = _CONFIG

    input_modalities: StrList = Field(default_factory=list)
    output_modalities: StrList = Field(default_factory=list)


class RouterModel(BaseModel):
    """One chat model of the router's catalogue and every provider serving it."""

    model_config = _CONFIG

    id: str
    created: OptInt = None
    owned_by: OptStr = None
    architecture: Architecture | None = None
    providers: list[RouterProvider] = Field(default_factory=list)

    @field_validator("architecture", mode="before")
    @classmethod
    def _architecture(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None

    @field_validator("providers", mode="before")
    @classmethod
    def _providers(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return []
        return _provider_entries(value)

    @property
    def live_providers(self) -> list[RouterProvider]:
        """Providers whose status is ``live``, in catalogue order."""
        return [provider for provider in self.providers if provider.is_live]

    def provider(self, name: str) -> RouterProvider | None:
        """The entry of provider ``name``, if it serves this model."""
        return next((item for item in self.providers if item.provider == name), None)


class ProviderMapping(BaseModel):
    """One entry of a Hub model's ``inferenceProviderMapping``."""

    model_config = _CONFIG

    provider: Annotated[str, AfterValidator(_slug)]
    status: OptStr = None
    provider_id: OptStr = Field(default=None, alias="providerId")
    task: OptStr = None
    is_model_author: OptBool = Field(default=None, alias="isModelAuthor")
    adapter: OptStr = None
    adapter_weights_path: OptStr = Field(default=None, alias="adapterWeightsPath")
    type: OptStr = None

    @property
    def is_live(self) -> bool:
        """True for ``live`` (``staging`` is for tests, ``error`` failed its last check)."""
        return is_live_status(self.status)


def _mapping_list(value: Any) -> list[dict[str, Any]]:
    """``model_info`` gives a dict keyed by provider, ``list_models`` a list: make it a list."""
    if isinstance(value, dict):
        items = value.items()
        return _provider_entries([{**e, "provider": k} for k, e in items if isinstance(e, dict)])
    if isinstance(value, list):
        return _provider_entries(value)
    return []


class HubModel(BaseModel):
    """A model as the Hub API lists it (only the expanded properties are set)."""

    model_config = _CONFIG

    id: str
    mongo_id: OptStr = Field(default=None, alias="_id")
    pipeline_tag: OptStr = None
    library_name: OptStr = None
    inference: OptStr = None
    inference_provider_mapping: list[ProviderMapping] = Field(
        default_factory=list, alias="inferenceProviderMapping"
    )
    tags: StrList = Field(default_factory=list)
    downloads: OptInt = None
    likes: OptInt = None
    trending_score: OptFloat = Field(default=None, alias="trendingScore")

    @field_validator("inference_provider_mapping", mode="before")
    @classmethod
    def _mapping(cls, value: Any) -> Any:
        return _mapping_list(value)

    @property
    def status(self) -> ModelStatus:
        """``"warm"`` when a provider serves the model, else ``"cold"``."""
        return "warm" if self.inference == "warm" else "cold"


def _parse_one(model: type[BaseModel], item: Any, what: str) -> Any:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        logger.debug("hfbridge: skipped a %s entry without identity: %s", what, exc)
        return None


def _parse_each(model: type[BaseModel], items: list[Any], what: str) -> list[Any]:
    """Validate every item; an invalid one is dropped instead of failing the list."""
    parsed = (_parse_one(model, item, what) for item in items)
    return [item for item in parsed if item is not None]


def parse_router_models(body: Any) -> list[RouterModel]:
    """Models from a ``/v1/models`` body (``{"data": [...]}`` or a bare list)."""
    items = body.get("data") if isinstance(body, dict) else body
    return _parse_each(RouterModel, items if isinstance(items, list) else [], "router model")


def parse_router_model(body: Any, model_id: str) -> RouterModel | None:
    """The model in a ``/v1/models/{id}`` body: the object, ``{"data": {...}}`` or a list."""
    data = body.get("data", body) if isinstance(body, dict) else body
    candidates = data if isinstance(data, list) else [data]
    models: list[RouterModel] = _parse_each(RouterModel, candidates, "router model")
    return next((model for model in models if model.id == model_id), None)


def parse_hub_models(body: Any) -> list[HubModel]:
    """Models from a Hub ``/api/models`` page (a JSON array)."""
    return _parse_each(HubModel, body if isinstance(body, list) else [], "Hub model")


def parse_hub_model(body: Any) -> HubModel | None:
    """One model from ``/api/models/{id}``."""
    parsed = _parse_each(HubModel, [body], "Hub model")
    return parsed[0] if parsed else None
