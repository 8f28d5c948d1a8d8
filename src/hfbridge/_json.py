"""JSON decoding for answers and stream events: pydantic-core's parser, the standard one as backup.

pydantic-core (already a dependency, through pydantic) parses a streamed chunk in about half the
time ``json.loads`` takes, which is a third of hfbridge's own cost per token. It is imported on
first use, so ``import hfbridge`` does not pay for it. Whatever it refuses goes to ``json.loads``,
which then either parses it (it accepts lone UTF-16 surrogate escapes and deeper nesting) or
raises the error callers already handle, so behaviour on odd input is the standard library's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_parse: Callable[[str | bytes], Any] | None = None


def loads(data: str | bytes) -> Any:
    """Parse a JSON document; raises ``ValueError`` (or ``RecursionError``) as ``json.loads``."""
    global _parse  # noqa: PLW0603 - the parser is bound once, on first use
    if _parse is None:
        from pydantic_core import from_json  # noqa: PLC0415 - lazy: ~40 ms to import

        _parse = from_json
    try:
        return _parse(data)
    except ValueError:
        return json.loads(data)
