"""httpx, imported on first use.

httpx takes 35 to 60 ms to import, more than the rest of hfbridge, and a program that imports an
adapter (to build its chain, or only to list what is installed) may never send a request. So the
transport modules read httpx through :data:`httpx`, a stand-in that imports the module the first
time one of its names is read, then keeps each name it has read as its own attribute: after that
first read, ``httpx.Request`` costs what a module attribute costs. Type checkers see the module.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any


class LazyModule:
    """A module imported the first time one of its attributes is read (thread-safe)."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name
        self._lazy_module: ModuleType | None = None
        self._lazy_lock = threading.Lock()

    def _load(self) -> ModuleType:
        module = self._lazy_module
        if module is None:
            with self._lazy_lock:
                module = self._lazy_module
                if module is None:
                    module = self._lazy_module = importlib.import_module(self._lazy_name)
        return module

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._load(), name)
        setattr(self, name, value)  # found directly next time, without this method
        return value

    def __repr__(self) -> str:
        state = "imported" if self._lazy_module is not None else "not imported yet"
        return f"<lazy module {self._lazy_name!r} ({state})>"


httpx: Any = LazyModule("httpx")
"""The ``httpx`` module, imported on first use."""
