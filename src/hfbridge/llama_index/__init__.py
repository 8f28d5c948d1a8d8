"""LlamaIndex adapters: LLM and embedding model backed by Hugging Face.

Needs ``llama-index-core``: ``pip install 'hfbridge[llama-index]'``. Names load lazily (PEP 562), so
importing one adapter does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    import llama_index.core  # noqa: F401 - fail early, with the install hint
except ImportError as exc:  # pragma: no cover - exercised only without the extra installed
    raise ImportError(
        "hfbridge.llama_index needs llama-index-core: pip install 'hfbridge[llama-index]'"
    ) from exc

_EXPORTS: dict[str, str] = {
    "HFEmbedding": "hfbridge.llama_index.embeddings",
    "HFLLM": "hfbridge.llama_index.llms",
}

__all__ = ["HFLLM", "HFEmbedding"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hfbridge.llama_index' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
