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

from hfbridge.catalog.aliases import (
    BUILTIN_ALIASES,
    AliasIssue,
    ModelKind,
    alias_sources,
    alias_table,
    check_aliases,
    resolve_model,
)
from hfbridge.catalog.capabilities import (
    AliasWarning,
    ModelCapabilities,
    ProviderInfo,
    acapabilities,
    capabilities,
)
from hfbridge.catalog.catalog import Catalog, CatalogUnavailableWarning, default_catalog
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
from hfbridge.catalog.spec import ModelSpec, parse_model_spec

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
