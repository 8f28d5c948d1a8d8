"""LangChain adapters: chat model, text-generation LLM and embeddings backed by Hugging Face.

Needs ``langchain-core``: ``pip install 'hfbridge[langchain]'``. Names load lazily (PEP 562), so
importing one adapter does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    import langchain_core  # noqa: F401 - fail early, with the install hint
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        "hfbridge.langchain needs langchain-core: pip install 'hfbridge[langchain]'"
    ) from exc

_EXPORTS: dict[str, str] = {
    "ChatHF": "hfbridge.langchain.chat_models",
    "HFEmbeddings": "hfbridge.langchain.embeddings",
    "HFTextGen": "hfbridge.langchain.llms",
}

__all__ = ["ChatHF", "HFEmbeddings", "HFTextGen"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hfbridge.langchain' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
