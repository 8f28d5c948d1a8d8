"""What models and providers exist, what each can do, and how to route a request to them.

The small, framework-free API every adapter uses:

- :class:`Catalog` (one per process via :func:`default_catalog`, injectable): router ``/v1/models``
  and Hub ``/api/models`` with a TTL cache in memory and on disk.
- :func:`capabilities` / :func:`acapabilities`: a model's providers and what they support; never
  raises on catalog trouble (one :class:`CatalogUnavailableWarning`, then unknowns).
- :func:`plan_route` / :func:`aplan_route`: ``model:provider`` and failover targets for a request
  that needs tools, a JSON schema or a long context.
- :func:`is_failover_error`, :func:`estimate_cost`.
- Aliases: :func:`resolve_model`, :func:`alias_table`, :func:`alias_sources`, :func:`check_aliases`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hfbridge._lazy_exports import lazy_exports

# Imports are lazy (PEP 562): adapters import `aliases` and `spec` at start-up, and the
# catalog client, its pydantic models and routing only load when first used.
_EXPORTS: dict[str, str] = {
    "AliasIssue": "hfbridge.catalog.aliases",
    "AliasWarning": "hfbridge.catalog.capability",
    "BUILTIN_ALIASES": "hfbridge.catalog.aliases",
    "Catalog": "hfbridge.catalog.catalog",
    "CatalogUnavailableWarning": "hfbridge.catalog.answers",
    "HubModel": "hfbridge.catalog.models",
    "ModelCapabilities": "hfbridge.catalog.capability",
    "ModelKind": "hfbridge.catalog.aliases",
    "ModelSpec": "hfbridge.catalog.spec",
    "ModelStatus": "hfbridge.catalog.models",
    "Pricing": "hfbridge.catalog.models",
    "ProviderInfo": "hfbridge.catalog.capability",
    "ProviderMapping": "hfbridge.catalog.models",
    "RoutePlan": "hfbridge.catalog.routing",
    "RouterModel": "hfbridge.catalog.models",
    "RouterProvider": "hfbridge.catalog.models",
    "acapabilities": "hfbridge.catalog.capability",
    "alias_sources": "hfbridge.catalog.aliases",
    "alias_table": "hfbridge.catalog.aliases",
    "aplan_route": "hfbridge.catalog.routing",
    "capabilities": "hfbridge.catalog.capability",
    "check_aliases": "hfbridge.catalog.aliases",
    "decide_route": "hfbridge.catalog.routing",
    "default_catalog": "hfbridge.catalog.catalog",
    "estimate_cost": "hfbridge.catalog.routing",
    "is_failover_error": "hfbridge.catalog.routing",
    "parse_model_spec": "hfbridge.catalog.spec",
    "plan_route": "hfbridge.catalog.routing",
    "resolve_model": "hfbridge.catalog.aliases",
}

if TYPE_CHECKING:
    from hfbridge.catalog.aliases import (
        BUILTIN_ALIASES,
        AliasIssue,
        ModelKind,
        alias_sources,
        alias_table,
        check_aliases,
        resolve_model,
    )
    from hfbridge.catalog.answers import CatalogUnavailableWarning
    from hfbridge.catalog.capability import (
        AliasWarning,
        ModelCapabilities,
        ProviderInfo,
        acapabilities,
        capabilities,
    )
    from hfbridge.catalog.catalog import (
        Catalog,
        default_catalog,
    )
    from hfbridge.catalog.models import (
        HubModel,
        ModelStatus,
        Pricing,
        ProviderMapping,
        RouterModel,
        RouterProvider,
    )
    from hfbridge.catalog.routing import (
        RoutePlan,
        aplan_route,
        decide_route,
        estimate_cost,
        is_failover_error,
        plan_route,
    )
    from hfbridge.catalog.spec import (
        ModelSpec,
        parse_model_spec,
    )


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)


__all__ = [
    "BUILTIN_ALIASES",
    "AliasIssue",
    "AliasWarning",
    "Catalog",
    "CatalogUnavailableWarning",
    "HubModel",
    "ModelCapabilities",
    "ModelKind",
    "ModelSpec",
    "ModelStatus",
    "Pricing",
    "ProviderInfo",
    "ProviderMapping",
    "RoutePlan",
    "RouterModel",
    "RouterProvider",
    "acapabilities",
    "alias_sources",
    "alias_table",
    "aplan_route",
    "capabilities",
    "check_aliases",
    "decide_route",
    "default_catalog",
    "estimate_cost",
    "is_failover_error",
    "parse_model_spec",
    "plan_route",
    "resolve_model",
]
