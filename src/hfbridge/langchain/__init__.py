"""LangChain adapters: chat model, text-generation LLM, embeddings and reranker on Hugging Face.

Needs ``langchain-core``: ``pip install 'hfbridge[langchain]'``. Names load lazily (PEP 562), so
importing one adapter does not import the others.
"""

from __future__ import annotations

from hfbridge._lazy_exports import lazy_exports

_EXPORTS: dict[str, str] = {
    "HFReranker": "hfbridge.langchain.rerank",
    "ChatHF": "hfbridge.langchain.chat_models",
    "HFEmbeddings": "hfbridge.langchain.embeddings",
    "HFTextGen": "hfbridge.langchain.llms",
}

__all__ = ["ChatHF", "HFEmbeddings", "HFReranker", "HFTextGen"]


__getattr__, __dir__ = lazy_exports(
    __name__, globals(), _EXPORTS, requires=("langchain_core", "langchain")
)
