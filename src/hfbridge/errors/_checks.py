"""How a bad numeric setting becomes an error, one verdict for every layer.

"A positive integer" and "a positive number of seconds" are judged here for every layer that takes
such a setting.

``True`` is never a number here (``bool`` is an ``int`` in Python, and ``max_concurrency=True`` is a
mistake, not ``1``); a float is not an integer; infinity and NaN are not seconds. The message
names the setting, what its number means, and the value received.
"""

from __future__ import annotations

import math

from hfbridge.errors._kinds import HFConfigError


def positive_int(name: str, value: object, *, unit: str = "integer", meaning: str = "") -> int:
    """``value`` if it is an ``int`` >= 1 (not a ``bool``); :class:`HFConfigError` otherwise.

    ``unit`` words the number ("number of bytes"); ``meaning`` (e.g. "the most requests in
    flight") is added in parentheses.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        hint = f" ({meaning})" if meaning else ""
        raise HFConfigError(f"{name} must be a positive {unit}{hint}, got {value!r}.")
    return value


def positive_seconds(name: str, value: object, *, advice: str = "") -> float:
    """``value`` as a float if it is a finite number > 0 (not a ``bool``).

    Otherwise :class:`HFConfigError`, followed by ``advice`` when given.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        tail = f": {advice}" if advice else "."
        raise HFConfigError(f"{name} must be a positive number of seconds, got {value!r}{tail}")
    return float(value)
