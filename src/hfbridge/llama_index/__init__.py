"""LlamaIndex adapters: LLM, embedding model and reranking postprocessor backed by Hugging Face.

Needs ``llama-index-core``: ``pip install 'hfbridge[llama-index]'``. Names load lazily (PEP 562), so
importing one adapter does not import the others.
"""

from __future__ import annotations

from hfbridge._lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "HFRerank": "hfbridge.llama_index.postprocessor",
    "HFEmbedding": "hfbridge.llama_index.embeddings",
    "HFLLM": "hfbridge.llama_index.llms",
}

__all__ = ["HFLLM", "HFEmbedding", "HFRerank"]


__getattr__, __dir__ = lazy_exports(
    __name__, globals(), _EXPORTS, requires=("llama_index.core", "llama-index")
)
