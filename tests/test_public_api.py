"""The public ``__all__`` lists are deliberate and complete.

Deliberate: the names users import from the public packages are written down here; adding or
removing one is a decision this test makes visible (update the list in the same change).
Complete: every module that declares ``__all__`` lists each public name it defines, and every
name it lists exists.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

PUBLIC: dict[str, list[str]] = {
    "hfbridge": ["__version__"],
    "hfbridge.errors": [
        "HFAuthenticationError", "HFBadRequestError", "HFBatchError", "HFCapabilityError",
        "HFConfigError", "HFConnectionError", "HFError", "HFModelLoadingError", "HFNotFoundError",
        "HFPayloadTooLargeError", "HFPaymentRequiredError", "HFPermissionError", "HFQuotaExceededError",
        "HFRateLimitError", "HFResponseError", "HFResponseTooLargeError", "HFServerError",
        "HFStatusError", "HFStreamError", "HFTimeoutError", "HFUnprocessableError",
        "RETRIED_STATUSES", "config_error_from", "error_from_response", "extract_error_message",
        "request_id_from",
    ],
    "hfbridge.transport": [
        "AsyncEventStream", "AsyncHFClient", "BulkJob", "CallContext", "ClientConfig", "EventStream",
        "HFClient", "HFResponse", "RetryPolicy", "Secret", "SecretHeaders", "hf_inference_url",
        "provider_url",
        "bulk_job", "router_url", "router_v1_url",
    ],
    "hfbridge.catalog": [
        "AliasIssue", "AliasWarning", "BUILTIN_ALIASES", "Catalog", "CatalogUnavailableWarning",
        "HubModel", "ModelCapabilities", "ModelKind", "ModelSpec", "ModelStatus", "Pricing",
        "ProviderInfo", "ProviderMapping", "RoutePlan", "RouterModel", "RouterProvider",
        "acapabilities", "alias_sources", "alias_table", "aplan_route", "capabilities",
        "check_aliases", "decide_route", "default_catalog", "estimate_cost", "is_failover_error",
        "parse_model_spec", "plan_route", "resolve_model",
    ],
    "hfbridge.langchain": ["ChatHF", "HFEmbeddings", "HFReranker", "HFTextGen"],
    "hfbridge.llama_index": ["HFEmbedding", "HFLLM", "HFRerank"],
}  # fmt: skip


CONVENTIONAL = frozenset({"logger", "dispatcher"})
"""Module-level helpers every library has and nobody imports (the logger, an event dispatcher)."""


def modules_with_all() -> list[str]:
    names = []
    for path in sorted((SRC / "hfbridge").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(_assigns(node, "__all__") for node in tree.body):
            parts = path.relative_to(SRC).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _assigns(node: ast.stmt, name: str) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else []
    if isinstance(node, ast.AnnAssign):
        targets = [node.target]
    return any(isinstance(target, ast.Name) and target.id == name for target in targets)


def defined_public_names(module: str) -> set[str]:
    """Public names a module defines itself (not those it imports)."""
    path = SRC / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_") and name not in CONVENTIONAL}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_lists_are_the_deliberate_ones(module):
    assert sorted(importlib.import_module(module).__all__) == sorted(PUBLIC[module])


@pytest.mark.parametrize("module", modules_with_all())
def test_every_listed_name_exists(module):
    imported = importlib.import_module(module)
    missing = [name for name in imported.__all__ if not hasattr(imported, name)]
    assert not missing
    assert len(set(imported.__all__)) == len(imported.__all__), "a name is listed twice"


@pytest.mark.parametrize("module", modules_with_all())
def test_every_public_name_a_module_defines_is_listed(module):
    listed = set(importlib.import_module(module).__all__)
    unlisted = sorted(defined_public_names(module) - listed)
    assert not unlisted, f"{module} defines {unlisted} without listing them in __all__"


def test_the_list_of_modules_is_found():
    assert {"hfbridge.errors", "hfbridge.transport", "hfbridge.catalog"} <= set(modules_with_all())
