"""Model strings: ``org/name``, ``org/name:provider``, ``org/name:fastest|cheapest|preferred``.

Parsing is strict so that a typo fails with :class:`~hfbridge.errors.HFConfigError` before any
request, and lenient where the Hub is: names without an org are allowed (self-hosted endpoints
serve models under any name, e.g. ``tgi`` or a llama.cpp alias).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from hfbridge.errors import HFConfigError

Policy = Literal["fastest", "cheapest", "preferred"]
POLICIES: tuple[str, ...] = get_args(Policy)
_PROVIDER = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_NAME_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_MODEL_ID = re.compile(rf"^(?:{_NAME_PART}/)?{_NAME_PART}$")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A parsed model string: which model, and optionally which provider or routing policy."""

    model_id: str
    provider: str | None = None
    policy: Policy | None = None
    alias: str | None = None

    @property
    def router_model(self) -> str:
        """The ``model`` value for the router: the id with its ``:provider`` or ``:policy``."""
        suffix = self.provider or self.policy
        return f"{self.model_id}:{suffix}" if suffix else self.model_id

    def with_provider(self, provider: str | None) -> ModelSpec:
        """This spec pinned to ``provider`` (``None`` unpins); pinning drops the policy."""
        return ModelSpec(self.model_id, provider, None if provider else self.policy, self.alias)

    def __str__(self) -> str:
        return self.router_model


def is_provider_slug(name: object) -> bool:
    """Whether ``name`` can be a provider (``together``, ``hf-inference``).

    The one rule for names typed by users, listed by the catalog, or sent back in a header.
    """
    return isinstance(name, str) and _PROVIDER.match(name) is not None


def parse_model_spec(text: str, *, alias: str | None = None) -> ModelSpec:
    """Parse a model string; raise :class:`HFConfigError` when it cannot be a model id."""
    if not isinstance(text, str) or not text.strip():
        raise HFConfigError(
            f"model must be a non-empty model id such as 'meta-llama/Llama-3.1-8B-Instruct' or an "
            f"alias ('default', 'large', 'small', 'agent'), got {text!r}."
        )
    model_id, _, suffix = text.strip().partition(":")
    provider: str | None = None
    policy: Policy | None = None
    if suffix:
        if suffix in POLICIES:
            policy = suffix  # type: ignore[assignment]
        elif is_provider_slug(suffix):
            provider = suffix
        else:
            raise HFConfigError(
                f"model {text!r}: {suffix!r} is neither a provider slug (e.g. 'together') nor a "
                f"policy ({', '.join(POLICIES)})."
            )
    if not _MODEL_ID.match(model_id):
        raise HFConfigError(
            f"model {text!r} is not a valid model id: use 'org/name' (letters, digits, '.', '_', "
            "'-'), optionally followed by ':provider' or ':fastest|cheapest|preferred'."
        )
    return ModelSpec(model_id, provider, policy, alias)
