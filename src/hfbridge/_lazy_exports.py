"""Package names that load their module on first use (PEP 562), so one import does not pull all.

A package lists ``{name: "module.path"}`` and takes ``__getattr__`` and ``__dir__`` from
:func:`lazy_exports`; a name, once loaded, is stored in the package like any other.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str,
    namespace: dict[str, Any],
    exports: Mapping[str, str],
    *,
    requires: tuple[str, str] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose globals are ``namespace``.

    ``requires`` is ``(module, extra)``: a module the package cannot work without, checked now,
    and the extra that installs it (``ImportError`` with the ``pip install`` hint otherwise).
    """
    if requires is not None:
        module, extra = requires
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(f"{package} needs {module}: pip install 'hfbridge[{extra}]'") from exc

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's name
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the module hook's name
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
