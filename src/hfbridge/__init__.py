"""hfbridge: Hugging Face inference as a first-class backend for LangChain and LlamaIndex."""

from hfbridge._version import __version__

__all__ = ["__version__"]
