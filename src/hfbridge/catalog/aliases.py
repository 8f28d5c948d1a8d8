"""Alias tables: short names (``default``, ``large``, ``small``, ``agent``) for model ids.

Resolution order, highest first: per-call ``overrides``, per-instance ``overrides`` (passed the
same way by adapters), then the built-in tables below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from hfbridge.catalog.spec import ModelSpec, parse_model_spec
from hfbridge.errors import HFConfigError

ModelKind = Literal["chat", "embeddings"]

BUILTIN_ALIASES: dict[ModelKind, dict[str, str]] = {
    "chat": {
        "default": "meta-llama/Llama-3.1-8B-Instruct",
        "large": "meta-llama/Llama-3.3-70B-Instruct",
        "small": "microsoft/Phi-3-mini-4k-instruct",
        "agent": "Qwen/Qwen2.5-72B-Instruct",
    },
    "embeddings": {
        "default": "sentence-transformers/all-mpnet-base-v2",
        "large": "sentence-transformers/sentence-t5-large",
        "small": "sentence-transformers/all-MiniLM-L6-v2",
    },
}


def alias_table(kind: ModelKind, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The effective alias table for ``kind``."""
    table = dict(BUILTIN_ALIASES[kind])
    if overrides:
        table.update(overrides)
    return table


def resolve_model(
    model: str | None,
    *,
    kind: ModelKind,
    overrides: Mapping[str, str] | None = None,
    custom_endpoint: bool = False,
) -> ModelSpec:
    """Turn a model string or alias into a :class:`ModelSpec` (``None`` means ``default``).

    An alias may carry a suffix itself (``'agent:cheapest'`` resolves ``agent`` then applies
    the policy). With ``custom_endpoint=True`` (a self-hosted server), a name that is not an alias
    is kept verbatim: such servers name their models freely (``tgi``, ``qwen2.5:0.5b``).
    """
    table = alias_table(kind, overrides)
    name = "default" if model is None else model
    if not isinstance(name, str):
        raise HFConfigError(f"model must be a string, got {type(name).__name__}.")
    base, sep, suffix = name.strip().partition(":")
    if base in table:
        target = table[base]
        spec = parse_model_spec(target, alias=base)
        return parse_model_spec(f"{spec.model_id}:{suffix}", alias=base) if sep else spec
    if custom_endpoint:
        if not name.strip() or any(char.isspace() for char in name.strip()):
            raise HFConfigError(f"model must be a non-empty name without spaces, got {name!r}.")
        return ModelSpec(name.strip())
    if "/" not in base and base.islower() and base.isalpha() and base not in table:
        known = ", ".join(sorted(table))
        raise HFConfigError(
            f"unknown {kind} alias {base!r}: known aliases are {known}. "
            "Pass a full model id ('org/name') or define the alias (HFBRIDGE_ALIASES or hfbridge.toml)."
        )
    return parse_model_spec(name)
